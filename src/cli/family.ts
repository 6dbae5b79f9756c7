/**
 * `gradcam explain` for the CAM family: any method, several methods or layers (--grid comparisons),
 * targets, top-k, contrastive and counterfactual maps, smoothing. Files follow the core scheme
 * `<out>/<stem>.<method>.png|.npy|.json` (`<stem>-top<r>` with --top-k; `<stem>.grid.png|json` with --grid).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CAM_METHODS, camMethod } from '../cam/index.js';
import { explainMany } from '../cam/runner.js';
import { parseTargetKind, type TargetSpec } from '../cam/targets.js';
import { COLORMAPS } from '../image/colormap.js';
import { readImageFile } from '../image/node.js';
import { encodePng } from '../image/png.js';
import { parseNpy, toFloat32, writeNpy } from '../image/npy.js';
import { heatmapImage, overlay } from '../image/overlay.js';
import { montage } from '../image/montage.js';
import { resizeBilinear, resizeRgb } from '../image/resize.js';
import { NORMALIZE_PRESETS, type NormalizeOptions } from '../image/normalize.js';
import type { RgbImage } from '../image/types.js';
import { InputError, type ClassChoice, type ClassScore, type Explanation } from '../explainer.js';
import { loadExplainer, prepareInputs, stackByShape, type PreparedInput } from '../node.js';
import { CliError, usageError, parse, parseNumbers, parseSize, Progress } from './common.js';
import { baseImage, batchPictures, layoutJson, boundedOverlay, checkOutputName, pictureLimits, uniqueStems, EXPLAIN_USAGE } from './explain.js';
import { StagedOutputs } from './output.js';
import { resizeCropOptions } from './inputs.js';

interface Output {
  path: string;
  bytes: Uint8Array;
}

export async function runFamilyExplain(args: string[]): Promise<number> {
  const { values: o, positionals } = parse(args, {
    model: { type: 'string' }, method: { type: 'string' }, methods: { type: 'string' }, layer: { type: 'string' }, layers: { type: 'string' }, layout: { type: 'string' },
    grid: { type: 'boolean', default: false }, class: { type: 'string', default: 'top' }, output: { type: 'string' }, out: { type: 'string', default: 'gradcam-out' },
    target: { type: 'string', default: 'logit' }, index: { type: 'string' }, mask: { type: 'string' }, reference: { type: 'string' },
    'top-k': { type: 'string' }, contrast: { type: 'string' }, counterfactual: { type: 'boolean', default: false },
    'aug-smooth': { type: 'boolean', default: false }, 'eigen-smooth': { type: 'boolean', default: false },
    'cam-batch': { type: 'string' }, 'score-top': { type: 'string' }, seed: { type: 'string', default: '0' },
    raw: { type: 'boolean', default: false }, heatmap: { type: 'boolean', default: false },
    colormap: { type: 'string', default: 'jet' }, alpha: { type: 'string', default: '0.5' }, 'no-caption': { type: 'boolean', default: false },
    labels: { type: 'string' }, size: { type: 'string' }, normalize: { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' },
    resize: { type: 'string' }, crop: { type: 'string' },
    'batch-size': { type: 'string', default: '8' }, 'max-pixels': { type: 'string' }, 'max-overlay': { type: 'string' }, quiet: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
  }, EXPLAIN_USAGE);
  if (o.help) {
    console.log(EXPLAIN_USAGE);
    return 0;
  }
  if (!o.model) throw usageError(`--model FILE is required`, EXPLAIN_USAGE);
  if (positionals.length === 0) throw usageError(`no inputs given`, EXPLAIN_USAGE);
  if (o.method && o.methods) throw new CliError('give --method or --methods, not both');
  if (o.layer && o.layers) throw new CliError('give --layer or --layers, not both');
  const methodNames = list(o.methods ?? o.method ?? 'gradcam');
  for (const m of methodNames) {
    if (!CAM_METHODS[m.toLowerCase()]) throw new CliError(`unknown method '${m}'; choose one of: ${Object.keys(CAM_METHODS).join(', ')} (see 'gradcam methods')`);
  }
  const methods = methodNames.map((m) => camMethod(m).name);
  if (new Set(methods).size !== methods.length) throw new CliError(`--methods names a method twice: ${methodNames.join(',')}`);
  const layers = list(o.layers ?? o.layer ?? 'auto');
  if (!(COLORMAPS as readonly string[]).includes(o.colormap!)) throw new CliError(`unknown colour map '${o.colormap}'; choose one of: ${COLORMAPS.join(', ')}`);
  const alpha = Number(o.alpha);
  if (!(alpha >= 0 && alpha <= 1)) throw new CliError(`--alpha must be a number between 0 and 1, got '${o.alpha}'`);
  const batchSize = positiveInt('--batch-size', o['batch-size']!);
  const camBatch = o['cam-batch'] === undefined ? undefined : positiveInt('--cam-batch', o['cam-batch']);
  const topK = o['top-k'] === undefined ? undefined : positiveInt('--top-k', o['top-k']);
  const scoreTop = o['score-top'] === undefined ? undefined : positiveInt('--score-top', o['score-top']);
  const seed = Number(o.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 32 - 1) throw new CliError(`--seed must be an integer from 0 to 2^32−1, got '${o.seed}'`);
  const size = parseSize(o.size);
  const norm: NormalizeOptions = { preset: o.normalize, mean: parseNumbers('--mean', o.mean), std: parseNumbers('--std', o.std) };
  if (!o.normalize && (norm.mean || norm.std)) norm.preset = undefined;
  if (!o.normalize && !norm.mean && !norm.std) norm.preset = 'imagenet';
  const classChoice = choice(o.class!);
  const contrast = o.contrast === undefined ? undefined : choice(o.contrast);
  let kind;
  try {
    kind = parseTargetKind(o.target!);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const index = o.index === undefined ? undefined : parseNumbers('--index', o.index)!;
  if (index && index.some((v) => !Number.isInteger(v) || v < 0)) throw new CliError(`--index must be non-negative integers, got '${o.index}'`);
  if (kind.kind === 'element' && !index) throw new CliError('--target element needs --index I[,J..]');
  if (o.mask && kind.kind !== 'segmentation') throw new CliError('--mask goes with --target segmentation');
  if (o.reference && kind.kind !== 'similarity') throw new CliError('--reference goes with --target similarity');
  if (kind.kind === 'similarity' && !o.reference) throw new CliError('--target similarity needs --reference FILE (the image to compare with)');

  const limits = pictureLimits(o['max-pixels'], o['max-overlay']);
  const rc = resizeCropOptions(o);

  const explainer = await loadExplainer(o.model, { labelsFile: o.labels });
  const staged = new StagedOutputs(o.out!, [...positionals, ...(o.mask ? [o.mask] : []), ...(o.reference ? [o.reference] : [])]);
  try {
    checkOutputName(explainer, o.output);
    const inputs: PreparedInput[] = [];
    for (const file of positionals) inputs.push(...(await prepareInputs(explainer, file, { ...norm, size, maxPixels: limits.maxPixels, picture: false, ...rc })));
    let target: TargetSpec;
    switch (kind.kind) {
      case 'logit': case 'softmax': target = { kind: kind.kind }; break;
      case 'binary': target = { kind: 'binary', negative: !!kind.negative, index: index?.[0] }; break;
      case 'regression': target = { kind: 'regression', index: index?.[0] }; break;
      case 'element': target = { kind: 'element', index: index! }; break;
      case 'segmentation': target = { kind: 'segmentation', mask: o.mask ? await readMask(o.mask) : undefined }; break;
      case 'similarity': {
        const ref = await prepareInputs(explainer, o.reference!, { ...norm, size, maxPixels: limits.maxPixels, picture: false, ...rc });
        if (ref.length !== 1) throw new InputError(`--reference ${o.reference} holds ${ref.length} inputs; give one`);
        target = { kind: 'similarity', referenceInput: { data: ref[0]!.tensor, dims: ref[0]!.dims } };
        break;
      }
    }
    const groups: string[][] = o.grid && layers.length > 1 ? [...layers.map((l) => [l]), layers] : [layers];
    const stems = uniqueStems(inputs);
    const progress = new Progress(inputs.length, o.quiet);
    const lines: string[] = [];
    for (let start = 0; start < inputs.length; start += batchSize) {
      const batch = inputs.slice(start, start + batchSize);
      const pictures = await batchPictures(batch, limits);
      for (const { index: idx, data, dims } of stackByShape(batch)) {
        const r = await explainMany(explainer, data, dims, {
          methods, layers: groups, layout: o.layout, classes: classChoice, output: o.output, target, topK, contrast, counterfactual: o.counterfactual,
          augSmooth: o['aug-smooth'], eigenSmooth: o['eigen-smooth'], batchSize: camBatch, scoreCamTopN: scoreTop, randomSeed: seed,
          onProgress: progress.passes,
        });
        const rows = r.results[0]!.explanations.length;
        for (let row = 0; row < rows; row++) {
          const first = r.results[0]!.explanations[row]!;
          const j = first.image ?? row;
          const inp = batch[idx[j]!]!;
          const stem = stems[start + idx[j]!]! + (topK !== undefined ? `-top${first.rank}` : '');
          const base = pictures[idx[j]!] ?? baseImage(inp, explainer.layout, norm);
          const common = {
            input: inp.file, model: o.model, target: targetJson(first), class: first.target.index >= 0 ? classJson(first.target) : null,
            predicted: classJson(first.predicted), explained_is_predicted: first.target.index === first.predicted.index,
            ...(topK !== undefined ? { rank: first.rank } : {}), ...(contrast !== undefined ? { contrast: String(contrast) } : {}),
            counterfactual: o.counterfactual, aug_smooth: o['aug-smooth'], eigen_smooth: o['eigen-smooth'],
            input_size: [first.height, first.width],
            timings_ms: { compile: round(r.timings.compileMs), session: round(r.timings.sessionMs), run: round(r.timings.runMs), cam: round(r.timings.camMs) },
          };
          if (o.grid) {
            const tiles = r.results.map((res) => res.explanations[row]!);
            const png = gridImage(tiles, methods, groups, base, { colormap: o.colormap!, alpha });
            const file = path.join(o.out!, `${stem}.grid.png`);
            const json = { ...common, methods, layers: groups, tiles: tiles.map((e) => ({ method: e.method, layers: e.layers, warnings: e.warnings })), files: [path.basename(file)] };
            await staged.add(file, encodePng(png));
            await staged.add(path.join(o.out!, `${stem}.grid.json`), new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`));
            lines.push(`${inp.file}: ${describeTarget(first)} → ${file}`);
            warn(inp.file, tiles.flatMap((e) => e.warnings.map((w) => `${e.method} @ ${e.layers.join('+')}: ${w}`)));
          } else {
            for (const res of r.results) {
              const e = res.explanations[row]!;
              const produced = render(e, base, stem, o.out!, { colormap: o.colormap!, alpha, caption: !o['no-caption'], heatmap: o.heatmap!, raw: o.raw!, maxSide: limits.maxSide });
              const json = {
                ...common, method: e.method, layer: e.layers.length === 1 ? e.layers[0] : e.layers, layer_layout: layoutJson(e.layouts),
                raw_map: { shape: [e.rawHeight, e.rawWidth], min: min(e.raw), max: max(e.raw) }, warnings: e.warnings,
                files: produced.map((p) => path.basename(p.path)),
              };
              produced.push({ path: path.join(o.out!, `${stem}.${e.method}.json`), bytes: new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`) });
              for (const p of produced) await staged.add(p.path, p.bytes);
              lines.push(`${inp.file}: ${e.method}: ${describeTarget(e)} → ${produced[0]!.path}`);
              warn(inp.file, e.warnings);
            }
          }
          const next = r.results[0]!.explanations[row + 1];
          if (!next || next.image !== first.image) progress.step(start + idx[j]! + 1, path.basename(inp.file));
        }
      }
    }
    await staged.commit();
    for (const l of lines) console.log(l);
    return 0;
  } catch (e) {
    await staged.abort();
    throw e;
  } finally {
    await explainer.release();
  }
}

function list(s: string): string[] {
  const v = s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
  if (!v.length) throw new CliError(`empty list '${s}'`);
  return v;
}

function positiveInt(name: string, s: string): number {
  const v = Number(s);
  if (!Number.isInteger(v) || v < 1) throw new CliError(`${name} must be a positive integer, got '${s}'`);
  return v;
}

function choice(s: string): ClassChoice {
  return s === 'top' ? 'top' : /^\d+$/.test(s) ? Number(s) : s;
}

const seen = new Set<string>();
function warn(file: string, warnings: string[]): void {
  for (const w of warnings) {
    const line = `gradcam: warning: ${file}: ${w}\n`;
    if (seen.has(line)) continue;
    seen.add(line);
    process.stderr.write(line);
  }
}

/** A segmentation mask: .npy [h,w] (or [1,h,w]) of any numeric dtype, or an image (non-black pixels). */
async function readMask(file: string): Promise<Float32Array> {
  if (file.toLowerCase().endsWith('.npy')) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await fs.promises.readFile(file));
    } catch {
      throw new InputError(`mask not found: ${file}`);
    }
    let npy;
    try {
      npy = parseNpy(bytes);
    } catch (e) {
      throw new InputError(`mask ${file} cannot be used: ${(e as Error).message.replace(/^parseNpy: /, '')}`);
    }
    const shape = npy.shape.filter((d) => d !== 1);
    if (shape.length !== 2) throw new InputError(`mask ${file} has shape [${npy.shape.join(', ')}]; expected [h, w]`);
    return toFloat32(npy).map((v) => (v !== 0 ? 1 : 0));
  }
  const img = await readImageFile(file);
  const m = new Float32Array(img.width * img.height);
  for (let i = 0; i < m.length; i++) m[i] = img.data[3 * i]! || img.data[3 * i + 1]! || img.data[3 * i + 2]! ? 1 : 0;
  return m;
}

function label(c: ClassScore): string {
  return c.label ? `${c.index} '${c.label}'` : `${c.index}`;
}

/** One line on what was explained, e.g. "logit 3 − logit 5 = 1.234; predicted 3 p=0.512". */
function describeTarget(e: Explanation): string {
  const what = e.targetName ?? `logit ${e.target.index}`;
  const value = e.targetValue ?? e.target.logit;
  const cls = e.target.index >= 0 && Number.isFinite(e.target.probability) ? ` (class ${label(e.target)}, p=${e.target.probability.toFixed(3)})` : '';
  const pred = Number.isFinite(e.predicted.probability) ? (e.predicted.index === e.target.index ? ', the predicted class' : `; predicted ${label(e.predicted)} p=${e.predicted.probability.toFixed(3)}`) : '';
  return `${what} = ${value.toFixed(3)}${cls}${pred}`;
}

function targetJson(e: Explanation) {
  return { kind: e.targetKind ?? 'logit', name: e.targetName ?? `logit ${e.target.index}`, value: e.targetValue ?? e.target.logit };
}

function classJson(c: ClassScore) {
  return { index: c.index, label: c.label ?? null, logit: c.logit, probability: Number.isFinite(c.probability) ? c.probability : null };
}

function caption(e: Explanation): string {
  const head = `${e.method}: ${e.targetName ?? `logit ${e.target.index}`}${e.target.label ? ` '${e.target.label}'` : ''}`;
  const p = Number.isFinite(e.target.probability) ? ` p=${e.target.probability.toFixed(3)}` : ` = ${(e.targetValue ?? 0).toFixed(3)}`;
  const pred = !Number.isFinite(e.predicted.probability) ? '' : e.predicted.index === e.target.index ? '(the predicted class)' : `predicted: ${label(e.predicted)} p=${e.predicted.probability.toFixed(3)}`;
  return pred ? `${head}${p}\n${pred}` : `${head}${p}`;
}

function render(e: Explanation, base: RgbImage | undefined, stem: string, outDir: string, opt: { colormap: string; alpha: number; caption: boolean; heatmap: boolean; raw: boolean; maxSide: number }): Output[] {
  const out: Output[] = [];
  const file = (suffix: string) => path.join(outDir, `${stem}.${e.method}${suffix}`);
  // small model inputs are enlarged (at least 224 px wide) so that the map and its caption can be read;
  // the PNG's long side stays at most maxSide (--max-overlay)
  const pic = base ?? heatmapImage(e.map, e.width, e.height, 'viridis');
  const img = boundedOverlay(pic, e.map, e.width, e.height, {
    colormap: opt.colormap, alpha: opt.alpha, maxSide: opt.maxSide, minWidth: 224,
    decorate: opt.caption ? (x: RgbImage) => {
      const scale = Math.max(1, Math.floor(x.width / 320));
      return montage([[x]], { labels: [[caption(e)]], pad: 2 * scale, textScale: scale });
    } : undefined,
  });
  out.push({ path: file('.png'), bytes: encodePng(img) });
  if (opt.heatmap) out.push({ path: file('.heatmap.png'), bytes: encodePng(heatmapImage(e.map, e.width, e.height, opt.colormap)) });
  if (opt.raw) {
    out.push({ path: file('.npy'), bytes: writeNpy(e.map, [e.height, e.width]) });
    out.push({ path: file('.raw.npy'), bytes: writeNpy(e.raw, [e.rawHeight, e.rawWidth]) });
  }
  return out;
}

/** Methods (rows) × layer groups (columns): overlays with a caption naming method, layer, target and score. */
function gridImage(tiles: Explanation[], methods: string[], groups: string[][], base: RgbImage | undefined, opt: { colormap: string; alpha: number }): RgbImage {
  const e0 = tiles[0]!;
  const tw = Math.max(192, Math.min(320, e0.width));
  const th = Math.max(1, Math.round((tw * e0.height) / e0.width));
  const pic = base ? resizeRgb(base, tw, th) : undefined;
  const rows: RgbImage[][] = [];
  const labels: string[][] = [];
  methods.forEach((m, mi) => {
    rows.push([]);
    labels.push([]);
    groups.forEach((g, gi) => {
      const e = tiles[mi * groups.length + gi]!;
      const map = resizeBilinear(e.map, e.height, e.width, th, tw);
      rows[mi]!.push(overlay(pic ?? heatmapImage(map, tw, th, 'viridis'), map, { colormap: opt.colormap, alpha: opt.alpha }));
      const where = g.length > 1 ? `mean of ${g.length} layers` : shortLayer(g[0]!);
      const score = Number.isFinite(e.target.probability) ? `p=${e.target.probability.toFixed(3)}` : `${(e.targetValue ?? 0).toFixed(3)}`;
      labels[mi]!.push(`${m} @ ${where}\n${e.targetName ?? `logit ${e.target.index}`}${e.target.label ? ` '${e.target.label}'` : ''} ${score}${e.warnings.some((w) => w.startsWith('the map is all zero')) ? '\n(all zero)' : ''}`);
    });
  });
  return montage(rows, { labels, pad: 4 });
}

/** '/layer3/layer3.0/relu2/Relu_output_0' → 'layer3.0/relu2/Relu' (enough to tell layers apart). */
function shortLayer(name: string): string {
  const s = name.replace(/_output_\d+$/, '').replace(/^\//, '');
  const parts = s.split('/');
  return parts.length > 3 ? parts.slice(-3).join('/') : s;
}

const round = (v: number) => Math.round(v * 100) / 100;
const min = (a: Float32Array) => a.reduce((m, v) => Math.min(m, v), Infinity);
const max = (a: Float32Array) => a.reduce((m, v) => Math.max(m, v), -Infinity);
