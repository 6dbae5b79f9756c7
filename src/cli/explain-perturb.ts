/**
 * `gradcam explain --method occlusion|rise`: their options (one group of the explain command), read and
 * checked before any model run, and the rendering of one batch's explanations (files and datasets go
 * through the same explainBatch, which hands perturbation methods to `perturbBatch`).
 */
import path from 'node:path';
import type { ClassChoice, ClassScore, Explainer } from '../explainer.js';
import { isPerturbationMethod, occlusionDefaults, type PerturbationMethod, type PerturbationOptions } from '../perturb/explain.js';
import { RISE_DEFAULTS } from '../perturb/rise.js';
import { attributionFiles, attributionJson, DEFAULT_TOP_PERCENT } from '../render/attribution.js';
import { describeTarget, type FileBytes } from '../render/index.js';
import type { RgbImage } from '../image/types.js';
import { tensorPicture, type PreparedInput } from '../node.js';
import type { NormalizeOptions } from '../image/normalize.js';
import { parseNumbers } from './common.js';
import { group, num, usageError } from './spec.js';

/** Occlusion's and RISE's options. */
export const PERTURBATION = group('Occlusion and RISE (perturbation methods: forward passes only)', {
  'occlusion-window': { type: 'string', value: 'H[,W]', help: 'occlusion: the sliding window in pixels of the model input, over every channel (default 16, clipped to the input)' },
  'occlusion-stride': { type: 'string', value: 'H[,W]', help: "occlusion: the window's step (default half the window; Captum's default is 1, one pass per pixel)" },
  'occlusion-baseline': { type: 'string', value: 'V', number: {}, help: "occlusion: the value that fills the window, in the model's input units after normalisation (default 0, Captum's)" },
  'rise-masks': { type: 'string', value: 'N', number: { integer: true, min: 1 }, help: `rise: the number of random masks, one forward pass each (default ${RISE_DEFAULTS.masks})` },
  'rise-cells': { type: 'string', value: 'S', number: { integer: true, min: 1 }, help: `rise: the masks' grid, S×S cells (default ${RISE_DEFAULTS.cells})` },
  'rise-keep': { type: 'string', value: 'P', number: { min: 0, max: 1 }, help: `rise: the probability that a cell is kept (default ${RISE_DEFAULTS.keep}); the masks are numpy's after np.random.seed(--seed)` },
});

export interface PerturbSettings {
  method: PerturbationMethod;
  options: PerturbationOptions;
  /** Forward passes per model run (--cam-batch). */
  batch?: number;
  topPercent: number;
  abs: boolean;
  /** What the sidecar records of the options. */
  json: Record<string, unknown>;
}

function pair(name: string, v: string | undefined): [number, number] | undefined {
  const p = parseNumbers(name, v);
  if (!p) return undefined;
  if ((p.length !== 1 && p.length !== 2) || p.some((x) => !Number.isInteger(x) || x < 1)) throw usageError({ name: 'explain' }, `${name} must be one or two positive whole numbers (H or H,W pixels), got '${v}'`);
  return [p[0]!, p[p.length - 1]!];
}

/** The perturbation method's settings, or undefined for other methods; refuses its options with another method. */
export function readPerturbSettings(methods: string[], values: Record<string, unknown>, given: Set<string>): PerturbSettings | undefined {
  const mine = [...given].filter((k) => k in PERTURBATION.options);
  const m = methods.length === 1 && isPerturbationMethod(methods[0]!.toLowerCase()) ? methods[0]!.toLowerCase() as PerturbationMethod : undefined;
  if (!m) {
    const alone = methods.find((x) => isPerturbationMethod(x.toLowerCase()));
    if (alone) throw usageError({ name: 'explain' }, `${alone} perturbs the input: give it alone with --method ${alone}`);
    if (mine.length) throw usageError({ name: 'explain' }, `${mine.map((k) => `--${k}`).join(', ')} go with --method occlusion or rise`);
    if (given.has('top-percent')) throw usageError({ name: 'explain' }, '--top-percent goes with the pixel-attribution methods (occlusion, rise)');
    return undefined;
  }
  const other = mine.filter((k) => !k.startsWith(m));
  if (other.length) throw usageError({ name: 'explain' }, `${other.map((k) => `--${k}`).join(', ')}: not an option of --method ${m}`);
  const str = (k: string) => values[k] as string | undefined;
  const n = (k: string) => num(values[k] as number | string | undefined);
  const options: PerturbationOptions = m === 'occlusion'
    ? { occlusion: { window: pair('--occlusion-window', str('occlusion-window')), strides: pair('--occlusion-stride', str('occlusion-stride')), baseline: n('occlusion-baseline') } }
    : { rise: { masks: n('rise-masks'), cells: n('rise-cells'), keep: n('rise-keep'), seed: n('seed') ?? RISE_DEFAULTS.seed } };
  if (m === 'rise' && options.rise!.keep === 0) throw usageError({ name: 'explain' }, '--rise-keep must be above 0 (a mask that keeps nothing explains nothing)');
  const topPercent = n('top-percent') ?? DEFAULT_TOP_PERCENT;
  const defined = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const json = m === 'occlusion' ? { occlusion: defined(options.occlusion!) } : { rise: { ...RISE_DEFAULTS, ...defined(options.rise!) } };
  return { method: m, options, batch: n('cam-batch'), topPercent, abs: !!values.abs, json };
}

export interface PerturbItem {
  input: PreparedInput;
  stem: string;
  picture?: RgbImage;
}

export interface PerturbOutput {
  files: { path: string; bytes: FileBytes }[];
  lines: string[];
  warnings: string[];
  predicted: ClassScore;
  explained: ClassScore;
}

/** Explains one stacked batch with a perturbation method and renders each image's files and sidecar. */
export async function perturbBatch(
  explainer: Explainer, p: PerturbSettings, items: PerturbItem[], data: Float32Array, dims: number[],
  ctx: { model: string; out: string; output?: string; classes: ClassChoice | ClassChoice[]; norm: NormalizeOptions; look: { colormap: string; alpha: number; caption: boolean; heatmap: boolean; raw: boolean; maxSide: number }; jsonOptions: Record<string, unknown>; imageSize: (inp: PreparedInput) => [number, number] | undefined },
  onPasses?: (done: number, total: number, stage: string) => void,
): Promise<PerturbOutput[]> {
  const r = await explainer.explain(data, dims, { method: p.method, classes: ctx.classes, output: ctx.output, perturbation: p.options, batchSize: p.batch, onProgress: onPasses });
  return r.explanations.map((e, j) => {
    const { input: inp, stem: st, picture } = items[j]!;
    const base = picture ?? tensorPicture(inp, explainer.layout, ctx.norm);
    const files = attributionFiles(e, base, { ...ctx.look, abs: p.abs, topPercent: p.topPercent, background: true });
    const stem = `${st}.${e.method}`;
    const out: PerturbOutput = { files: files.map((f) => ({ path: stem + f.suffix, bytes: f.bytes })), lines: [], warnings: [...e.warnings], predicted: e.predicted, explained: e.target };
    const sidecar = attributionJson(e, { input: inp.file, model: ctx.model, timings: r.timings, imageSize: ctx.imageSize(inp), options: { ...ctx.jsonOptions, ...(p.method === 'occlusion' ? { occlusion: occlusionDefaults(p.options.occlusion, e.height, e.width) } : p.json) }, files: files.map((f) => stem + f.suffix), topPercent: p.topPercent, abs: p.abs });
    out.files.push({ path: `${stem}.json`, bytes: new TextEncoder().encode(`${JSON.stringify(sidecar, null, 2)}\n`) });
    out.lines.push(`${inp.file}: ${e.method}: ${describeTarget(e)} → ${path.join(ctx.out, `${stem}.png`)}`);
    return out;
  });
}
