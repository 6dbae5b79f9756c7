/** `gradcam sanity`: the model-parameter randomisation test (Adebayo et al. 2018) for one or more images. */
import path from 'node:path';
import { loadExplainer } from '../node.js';
import { createNodeSession } from '../runtime/node.js';
import { encodePng } from '../image/png.js';
import { DEFAULT_SANITY_METHODS, DEFAULT_THRESHOLD, SANITY_MODES, sanityCheck, type SanityMode, type SanityResult } from '../sanity/check.js';
import { INIT_KINDS, parameterizedLayers, shortLayerName, type InitKind } from '../sanity/randomize.js';
import { sanityCurvesSvg, sanityMontage } from '../sanity/render.js';
import { methodNames, checkMethod } from '../metrics/maps.js';
import type { ClassChoice } from '../explainer.js';
import { CliError, usageError, parse, parseMaxInput, parseNumbers, parseSize } from './common.js';
import { expandInputs, loadInputs, normalizeOptions, parseFloatOption, parseIntOption, ProgressBar, stems, writeOutputs, RESIZE_CROP_USAGE, resizeCropOptions } from './inputs.js';

export const SANITY_USAGE = `Usage: gradcam sanity <images|.npy|folder...> --model FILE [options]

The model-parameter randomisation test (Adebayo et al., "Sanity Checks for Saliency Maps", 2018):
explains the inputs with the trained model, then with copies whose parameterised layers (Conv, Gemm,
MatMul, normalisation; initializers or Constant nodes) are re-initialised in memory from the logits
down, cumulatively (cascading) and one at a time (independent), and measures how similar each map
stays to the original: Spearman rank correlation of the signed maps and of |map|, SSIM, and the
Pearson correlation of HOG features (means over the inputs). A method whose maps survive the
randomisation of the model is not explaining the model.

Options:
  --model FILE         ONNX model (required)
  --methods a,b,c      default ${DEFAULT_SANITY_METHODS.join(',')}; any of: ${methodNames().join(', ')}
  --mode M             cascading | independent | both (default both)
  --init D             own: each parameter tensor redrawn from N(its own mean, its own std) (default);
                       he: weights from He-normal N(0, 2/fan_in), other parameters as 'own'
  --seed N             random seed (default 0)
  --randomize N        randomise only the top N parameterised layers (default: all)
  --threshold T        verdict threshold on the mean Spearman |map| correlation over the cascading
                       stages: below it a method passes (default ${DEFAULT_THRESHOLD})
  --class C            'top' (the trained model's predicted class, default), an index or a label;
                       the same class is explained at every stage
  --layer NAME         the CAM layer (default auto, fixed for every stage)
  --output NAME        the model output to explain (default: the first)
  --guided-ops SET     all | relu (see gradcam explain)
  --montage-stages L   the stages the montages show, e.g. 0,1,2,6,12,18 (default: all)
  --out DIR            output folder (default gradcam-sanity)
  --labels FILE, --size H[xW], --normalize NAME, --mean a,b,c, --std a,b,c   as for gradcam explain
${RESIZE_CROP_USAGE}  --max-pixels N       refuse images larger than N pixels (default 268402689; 0: no limit)
  --max-input N        refuse model inputs above N pixels (default 4194304 = 2048×2048; 0: no limit)
  --quiet              no progress bar

Writes to DIR: sanity.json ({method: [{mode, stage, layer, spearman, spearman_abs, ssim, hog,
edges}]}, stage 0 = the trained model), sanity.meta.json (model, inputs, classes, layers, verdicts),
sanity.curves.svg (similarity against stage), and sanity.<input>.<mode>.png montages (rows = methods
and a Sobel-edge reference row, columns = stages). Prints the table and one verdict line per method.`;

export async function runSanity(args: string[]): Promise<number> {
  const { values: o, positionals } = parse(args, {
    model: { type: 'string' }, methods: { type: 'string' }, mode: { type: 'string', default: 'both' }, init: { type: 'string', default: 'own' },
    seed: { type: 'string', default: '0' }, randomize: { type: 'string' }, layers: { type: 'string' }, threshold: { type: 'string' }, class: { type: 'string', default: 'top' },
    layer: { type: 'string', default: 'auto' }, output: { type: 'string' }, 'guided-ops': { type: 'string', default: 'all' }, out: { type: 'string', default: 'gradcam-sanity' }, 'montage-stages': { type: 'string' },
    labels: { type: 'string' }, size: { type: 'string' }, normalize: { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' }, resize: { type: 'string' }, crop: { type: 'string' },
    'max-pixels': { type: 'string' }, 'max-input': { type: 'string' }, quiet: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
  }, SANITY_USAGE);
  if (o.help) {
    console.log(SANITY_USAGE);
    return 0;
  }
  if (!o.model) throw usageError(`--model FILE is required`, SANITY_USAGE);
  if (positionals.length === 0) throw usageError(`no inputs given`, SANITY_USAGE);
  const methods = o.methods ? o.methods.split(',').map((m) => m.trim()).filter(Boolean) : [...DEFAULT_SANITY_METHODS];
  for (const m of methods) {
    try { checkMethod(m); } catch (e) { throw new CliError((e as Error).message); }
  }
  const modes: SanityMode[] = o.mode === 'both' ? [...SANITY_MODES] : SANITY_MODES.includes(o.mode as SanityMode) ? [o.mode as SanityMode] : [];
  if (!modes.length) throw new CliError(`--mode must be cascading, independent or both, got '${o.mode}'`);
  if (!INIT_KINDS.includes(o.init as InitKind)) throw new CliError(`--init must be one of ${INIT_KINDS.join(', ')}, got '${o.init}'`);
  if (o['guided-ops'] !== 'all' && o['guided-ops'] !== 'relu') throw new CliError(`--guided-ops must be 'all' or 'relu', got '${o['guided-ops']}'`);
  const seed = parseIntOption('--seed', o.seed, 0)!;
  // --layers names CAM layers in explain; here the count of randomised layers is --randomize
  if (o.layers !== undefined) throw new CliError(`sanity: --layers is explain's list of CAM layers; the number of top layers to randomise is --randomize N (the CAM layer is --layer)`);
  const maxLayers = parseIntOption('--randomize', o.randomize, 1);
  const threshold = parseFloatOption('--threshold', o.threshold, -1, 1) ?? DEFAULT_THRESHOLD;
  const montageStages = parseNumbers('--montage-stages', o['montage-stages']);
  if (montageStages?.some((k) => !Number.isInteger(k) || k < 0)) throw new CliError(`--montage-stages must be stage numbers (0 = the trained model), got '${o['montage-stages']}'`);
  const norm = normalizeOptions(o);
  const rc = resizeCropOptions(o);
  const classChoice: ClassChoice = o.class === 'top' ? 'top' : /^\d+$/.test(o.class!) ? Number(o.class) : o.class!;

  const size = parseSize(o.size);
  const maxInputPixels = parseMaxInput(o['max-input']);
  const explainer = await loadExplainer(o.model, { labelsFile: o.labels, size, maxInputPixels });
  try {
    const inputs = await loadInputs(explainer, expandInputs(positionals), norm, size, parseIntOption('--max-pixels', o['max-pixels'], 0), rc, maxInputPixels);
    const dims0 = inputs[0]!.dims;
    const bad = inputs.find((i) => i.dims.join() !== dims0.join());
    if (bad) throw new CliError(`${bad.file}: all inputs of one sanity check must have the same shape ([${dims0.join(', ')}] vs [${bad.dims.join(', ')}])`);
    const per = inputs[0]!.tensor.length;
    const data = new Float32Array(per * inputs.length);
    inputs.forEach((inp, i) => data.set(inp.tensor, i * per));
    const dims = [inputs.length, ...dims0.slice(1)];
    const numLayers = Math.min(parameterizedLayers(explainer.model, o.output).length, maxLayers ?? Infinity);
    const beyond = montageStages?.find((k) => k > numLayers);
    if (beyond !== undefined) throw new CliError(`--montage-stages: stage ${beyond} does not exist; the model has ${numLayers} stages to randomise (0 = the trained model)`);
    const bar = new ProgressBar(1, o.quiet);
    const pictures = inputs.every((i) => i.picture) ? inputs.map((i) => i.picture!) : undefined;
    const t0 = performance.now();
    const r = await sanityCheck(explainer, data, dims, {
      createSession: createNodeSession, methods, modes, init: o.init as InitKind, seed, classes: classChoice, layer: o.layer, output: o.output,
      rectifierOps: o['guided-ops'] as 'all' | 'relu', maxLayers, pictures, threshold,
      onStage: (done, total, label) => { bar.total = total; bar.step(done, label); },
      onProgress: bar.passes,
    });
    const seconds = (performance.now() - t0) / 1000;
    const names = stems(inputs);
    const files: { name: string; bytes: Uint8Array | string }[] = [];
    files.push({ name: 'sanity.json', bytes: `${JSON.stringify(r.table, roundReplacer, 2)}\n` });
    const meta = {
      model: o.model, inputs: inputs.map((i) => i.file), classes: r.classes.map((k) => ({ index: k, label: explainer.labels?.[k] ?? null })),
      cam_layer: r.camLayer, methods: r.methods, modes, init: r.init, seed: r.seed, threshold,
      layers: r.layers.map((l) => ({ name: l.name, op: l.op, params: l.params.map((p) => ({ tensor: p.source.name, in: p.source.kind, role: p.role, dims: p.dims })) })),
      verdicts: r.verdicts.map((v) => ({ method: v.method, sensitive: v.sensitive, mean_spearman_abs: round(v.value), first_stage_below: v.firstBelow, text: v.text })),
      seconds: round(seconds),
    };
    files.push({ name: 'sanity.meta.json', bytes: `${JSON.stringify(meta, null, 2)}\n` });
    files.push({ name: 'sanity.curves.svg', bytes: sanityCurvesSvg(r, `Randomisation test: ${path.basename(o.model)}, ${inputs.length} input(s), init '${r.init}', seed ${r.seed}`) });
    inputs.forEach((inp, i) => {
      for (const mode of modes) files.push({ name: `sanity.${names[i]}.${mode}.png`, bytes: encodePng(sanityMontage(r, i, mode, { picture: inp.picture, stages: montageStages })) });
    });
    const written = await writeOutputs(o.out!, files, positionals);
    console.log(formatTable(r));
    console.log('');
    for (const v of r.verdicts) console.log(v.text);
    console.log(`\n${r.layers.length} parameterised layers, ${inputs.length} input(s), ${seconds.toFixed(1)} s; wrote ${written.map((p) => path.basename(p)).join(', ')} to ${o.out}`);
    return 0;
  } finally {
    await explainer.release();
  }
}

const round = (v: number) => Math.round(v * 10000) / 10000;
function roundReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isInteger(v) ? round(v) : v;
}

/** The table as text: per mode, a row per stage, per method spearman / spearman_abs / ssim / hog. */
export function formatTable(r: SanityResult): string {
  const lines: string[] = [];
  const modes = [...new Set(r.stages.map((s) => s.mode))];
  for (const mode of modes) {
    lines.push(`${mode} randomisation (similarity to the original map: spearman / spearman_abs / ssim / hog)`);
    const rows = r.table[r.methods[0]!]!.filter((e) => e.mode === mode);
    const lw = Math.max(8, ...rows.map((e) => (e.layer ? shortLayerName(e.layer).length : 8)));
    const colW = 27;
    lines.push(`${'stage'.padEnd(6)}${'layer'.padEnd(lw + 2)}${r.methods.map((m) => m.padEnd(colW)).join('')}`);
    rows.forEach((e, i) => {
      const cells = r.methods.map((m) => {
        const x = r.table[m]!.filter((q) => q.mode === mode)[i]!;
        return `${f2(x.spearman)} ${f2(x.spearman_abs)} ${f2(x.ssim)} ${f2(x.hog)}`.padEnd(colW);
      });
      lines.push(`${String(e.stage).padEnd(6)}${(e.layer ? shortLayerName(e.layer) : 'original').padEnd(lw + 2)}${cells.join('')}`);
    });
    lines.push('');
  }
  return lines.join('\n').trimEnd();
}

const f2 = (v: number) => (v >= 0 ? ' ' : '') + v.toFixed(2);
