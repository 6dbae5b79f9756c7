/** `gradcam sanity`: the model-parameter randomisation test (Adebayo et al. 2018) for one or more images. */
import path from 'node:path';
import { loadExplainer } from '../node.js';
import { createNodeSession } from '../runtime/node.js';
import { encodePng } from '../image/png.js';
import { DEFAULT_SANITY_METHODS, DEFAULT_THRESHOLD, SANITY_MODES, sanityCheck, type SanityMode, type SanityResult } from '../sanity/check.js';
import { INIT_KINDS, parameterizedLayers, shortLayerName, type InitKind } from '../sanity/randomize.js';
import { sanityCurvesSvg, sanityMontage } from '../sanity/render.js';
import { methodNames, checkMethod } from '../metrics/maps.js';
import type { ClassChoice } from '../types.js';
import { CliError, parseNumbers, parseSize, ProgressDisplay } from './common.js';
import { command, group, helpText, methodGroup, num, parseCommand, pick, usageError, withDefaults, IMAGES, MODEL, RUN, TARGET } from './spec.js';
import { isDatasetInput, listInputs } from '../dataset/listing.js';
import { sanityDataset } from './sanity-dataset.js';
import { writeFiles } from '../util/write-node.js';
import { importedDefaults, loadInputs, normalizeOptions, stems, resizeCropOptions } from './inputs.js';

const SANITY_OPTIONS = group('Randomisation test', {
  methods: { type: 'string', value: 'a,b,c', help: () => `default ${DEFAULT_SANITY_METHODS.join(',')}; any of: ${methodNames().join(', ')}` },
  mode: { type: 'string', value: 'M', default: 'both', choices: ['cascading', 'independent', 'both'], help: 'cascading | independent | both (default both)' },
  init: { type: 'string', value: 'D', default: 'own', choices: INIT_KINDS, help: "own: each parameter tensor redrawn from N(its own mean, its own std) (default); he: weights from He-normal N(0, 2/fan_in), other parameters as 'own'" },
  seed: { type: 'string', value: 'N', default: '0', number: { integer: true, min: 0 }, help: 'random seed (default 0)' },
  randomize: { type: 'string', value: 'N', number: { integer: true, min: 1 }, help: 'randomise only the top N parameterised layers (default: all)' },
  threshold: { type: 'string', value: 'T', number: { min: -1, max: 1 }, help: `verdict threshold on the mean Spearman |map| correlation over the cascading stages: below it a method passes (default ${DEFAULT_THRESHOLD})` },
  'montage-stages': { type: 'string', value: 'L', help: 'the stages the montages show, e.g. 0,1,2,6,12,18 (default: all)' },
});

export const SANITY = command({
  name: 'sanity',
  synopsis: '<images|.npy|folders...> --model FILE [options]',
  summary: 'model-randomisation sanity check of the methods',
  description: `The model-parameter randomisation test (Adebayo et al., "Sanity Checks for Saliency Maps", 2018):
explains the inputs with the trained model, then with copies whose parameterised layers (Conv, Gemm,
MatMul, normalisation; initializers or Constant nodes) are re-initialised in memory from the logits
down, cumulatively (cascading) and one at a time (independent), and measures how similar each map
stays to the original: Spearman rank correlation of the signed maps and of |map|, SSIM, and the
Pearson correlation of HOG features (means over the inputs). A method whose maps survive the
randomisation of the model is not explaining the model. The class (--class) and the CAM layer
(--layer) are the same at every stage.`,
  groups: [
    MODEL, IMAGES, pick(TARGET, ['class', 'layer']), pick(methodGroup(methodNames), ['guided-ops']), SANITY_OPTIONS,
    withDefaults(pick(RUN, ['out', 'quiet', 'batch-size']), { out: { default: 'gradcam-sanity' }, quiet: { help: 'no progress bar' }, 'batch-size': { help: 'images per check on a folder, glob or manifest (default 8)' } }),
  ],
  required: ['model'],
  positionals: 'inputs',
  hints: { layers: "--layers is explain's list of CAM layers; the number of top layers to randomise is --randomize N (the CAM layer is --layer)" },
  notes: `Writes to DIR: sanity.json ({method: [{mode, stage, layer, spearman, spearman_abs, ssim, hog,
edges}]}, stage 0 = the trained model), sanity.meta.json (model, inputs, classes, layers, verdicts),
sanity.curves.svg (similarity against stage), and sanity.<input>.<mode>.png montages (rows = methods
and a Sobel-edge reference row, columns = stages). Prints the table and one verdict line per method.
A folder, quoted glob or manifest runs on the dataset engine, --batch-size images at a time, and is
resumable: each image's similarities are appended to DIR/sanity.jsonl (settings in sanity.run.json)
with its montages (sanity.<stem>-<hash>.<mode>.png); a run interrupted (Ctrl-C, kill) and started again
does only the images left; sanity.json is then the means over every image's rows. Exit status 3 when
some images failed (listed in sanity.meta.json), 130 when interrupted.`,
});

export async function runSanity(args: string[]): Promise<number> {
  const { values: o, positionals } = parseCommand(SANITY, args);
  if (o.help) {
    console.log(helpText(SANITY));
    return 0;
  }
  const methods = o.methods ? o.methods.split(',').map((m) => m.trim()).filter(Boolean) : [...DEFAULT_SANITY_METHODS];
  for (const m of methods) {
    try { checkMethod(m); } catch (e) { throw usageError(SANITY, (e as Error).message); }
  }
  const modes: SanityMode[] = o.mode === 'both' ? [...SANITY_MODES] : [o.mode as SanityMode];
  const seed = num(o.seed)!;
  const maxLayers = num(o.randomize);
  const threshold = num(o.threshold) ?? DEFAULT_THRESHOLD;
  const montageStages = parseNumbers('--montage-stages', o['montage-stages']);
  if (montageStages?.some((k) => !Number.isInteger(k) || k < 0)) throw usageError(SANITY, `--montage-stages must be stage numbers (0 = the trained model), got '${o['montage-stages']}'`);
  let norm = normalizeOptions(o);
  let rc = resizeCropOptions(o);
  const classChoice: ClassChoice = o.class === 'top' ? 'top' : /^\d+$/.test(o.class!) ? Number(o.class) : o.class!;

  let size = parseSize(o.size);
  const maxInputPixels = num(o['max-input']);
  const explainer = await loadExplainer(o.model!, { labelsFile: o.labels, size, maxInputPixels, variant: o.variant });
  try {
    ({ norm, rc, size } = importedDefaults(explainer, o, { norm, rc, size }, !!o.quiet));
    const numLayers = Math.min(parameterizedLayers(explainer.model, o.output).length, maxLayers ?? Infinity);
    const beyond = montageStages?.find((k) => k > numLayers);
    if (beyond !== undefined) throw new CliError(`--montage-stages: stage ${beyond} does not exist; the model has ${numLayers} stages to randomise (0 = the trained model)`);
    const items = await listInputs(positionals, { exclude: [o.out!] });
    if (positionals.some(isDatasetInput)) {
      // a folder, glob or manifest: image by image on the dataset engine, resumable
      return await sanityDataset(explainer, items, {
        model: o.model!, out: o.out!, methods, modes, init: o.init as InitKind, seed, classChoice, layer: o.layer, output: o.output, rectifierOps: o['guided-ops'] as 'all' | 'relu',
        maxLayers, threshold, montageStages, norm, size, rc, maxPixels: num(o['max-pixels']), maxInputPixels, batchSize: num(o['batch-size'])!, quiet: !!o.quiet, formatTable,
      });
    }
    const inputs = await loadInputs(explainer, items.map((i) => i.file), norm, size, num(o['max-pixels']), rc, maxInputPixels);
    const dims0 = inputs[0]!.dims;
    const bad = inputs.find((i) => i.dims.join() !== dims0.join());
    if (bad) throw new CliError(`${bad.file}: all inputs of one sanity check must have the same shape ([${dims0.join(', ')}] vs [${bad.dims.join(', ')}])`);
    const per = inputs[0]!.tensor.length;
    const data = new Float32Array(per * inputs.length);
    inputs.forEach((inp, i) => data.set(inp.tensor, i * per));
    const dims = [inputs.length, ...dims0.slice(1)];
    const bar = new ProgressDisplay(1, o.quiet);
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
    files.push({ name: 'sanity.curves.svg', bytes: sanityCurvesSvg(r, `Randomisation test: ${path.basename(o.model!)}, ${inputs.length} input(s), init '${r.init}', seed ${r.seed}`) });
    inputs.forEach((inp, i) => {
      for (const mode of modes) files.push({ name: `sanity.${names[i]}.${mode}.png`, bytes: encodePng(sanityMontage(r, i, mode, { picture: inp.picture, stages: montageStages })) });
    });
    const written = await writeFiles(o.out!, files, positionals);
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
