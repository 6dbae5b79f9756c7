/**
 * Runs the CAM family for the Explainer: targets (per image, top-k), contrastive and counterfactual
 * seeds, the forward passes of the gradient-free methods (Score-CAM's masked inputs, Ablation-CAM's
 * masked layer), several layers and several methods over one set of runs, eigen-smooth and aug-smooth.
 *
 * Runs, per call (and per augmentation with aug-smooth):
 * - a forward pass of the plain model (with the layers as extra outputs) when a method needs no
 *   gradients or a target needs the scores first (top-k, 'top' with a contrast or a counterfactual,
 *   softmax, similarity, segmentation without a mask);
 * - one gradient run over all rows (image × target) when a method needs gradients: the compiled graph's
 *   seed is linear, so k targets of one image are k rows of the batch with the image repeated;
 * - Score-CAM: C forward passes per image in batches; Ablation-CAM: C passes of the layers after the
 *   ablated one (the "suffix" graph; the whole model with the mask inside where the suffix cannot be cut).
 */
import type { ExplainerCore as Explainer } from '../explainer/core.js';
import type { ClassScore, ExplainOptions, ExplainResult, Explanation } from '../types.js';
import { InputError, argmax, softmax } from '../util/scores.js';
import { scoreTensor } from '../autodiff/compiler.js';
import { type TensorValue } from '../runtime/session.js';
import { camMethod } from './index.js';
import { type Classifier } from './methods/cam.js';
import { gradcam, weightedSum } from './methods/gradcam.js';
import { gradcamGraphMaps, graphMaps as gradcamGraph, type GraphMaps } from './methods/gradcam-graph.js';
import { ablationModel, type AblationGraph } from './graph.js';
import { postprocess } from './pipeline.js';
import { cancellationWarning, cancelled, cancelledFromScale, degenerateWarnings } from './degenerate.js';
import { type LayerLayout } from '../layout/describe.js';
import { projection2d } from './svd.js';
import * as T from './targets.js';
import type { CamContext, CamMethod, LayerTensors } from './types.js';
import type { Job, Row } from './job.js';
import { context, forward } from './passes.js';
import { needsScoresFirst, resolveRows, scoreShape, targetSpecs } from './rows.js';
export type { FamilyOptions } from '../types.js';
/** Whether explain() needs the runner (anything beyond plain Grad-CAM of a class logit). */
export function needsFamily(o: ExplainOptions): boolean {
  return (o.method !== undefined && o.method.toLowerCase() !== 'gradcam') || o.target !== undefined || o.topK !== undefined
    || o.contrast !== undefined || !!o.counterfactual || !!o.augSmooth || !!o.eigenSmooth;
}

export type { ManyOptions } from './job.js';
import type { ManyOptions } from './job.js';

export interface ManyResult {
  /** One entry per method × layer group, methods outer. */
  results: { method: string; layers: string[]; explanations: Explanation[] }[];
  timings: ExplainResult['timings'];
}

export async function explainFamily(ex: Explainer, input: Float32Array, dims: number[], opts: ExplainOptions = {}): Promise<ExplainResult> {
  const layer = opts.layer === undefined ? 'auto' : opts.layer;
  const r = await explainMany(ex, input, dims, { ...opts, methods: [opts.method ?? 'gradcam'], layers: [layer] });
  return { explanations: r.results[0]!.explanations, timings: r.timings };
}

/** Several methods × layer groups from one set of runs (the `--grid` comparisons). */
export async function explainMany(ex: Explainer, input: Float32Array, dims: number[], opts: ManyOptions): Promise<ManyResult> {
  const methods = opts.methods.map((m) => camMethod(m));
  const size = ex.checkInput(input, dims);
  // a model whose gradients will be refused is refused before the layer search and the forward passes
  if (methods.some((m) => m.needs.layerGradient)) ex.refuseEarly(opts.layers.flat(), opts.output, false);
  const groups: string[][] = [];
  for (const g of opts.layers) groups.push(await ex.resolveLayers(Array.isArray(g) ? g : [g], size, opts.output, opts.layout));
  if (opts.topK !== undefined && !(Number.isInteger(opts.topK) && opts.topK >= 1)) throw new InputError(`--top-k must be a positive integer, got ${opts.topK}`);
  const timings = { compileMs: 0, sessionMs: 0, runMs: 0, camMs: 0 };
  const job: Job = { ex, methods, groups, opts, size, timings };
  if (opts.onProgress) job.progress = { done: 0, total: 0, cores: opts.augSmooth ? AUGMENTATIONS.length : 1 };
  const base = await computeCore(job, input, dims, undefined);
  let maps = base.maps;
  if (opts.augSmooth) maps = await augSmooth(job, input, dims, base);
  const layouts = new Map<string, LayerLayout>();
  for (const l of new Set(groups.flat())) layouts.set(l, await ex.layerLayout(l, size, opts.output, opts.layout));
  const results = methods.flatMap((m) => groups.map((g, gi) => ({
    method: m.name, layers: g,
    explanations: explanations(job, base, m, gi, maps.get(m.name)![gi]!).map((e) => ({ ...e, layouts: g.map((l) => layouts.get(l)!) })),
  })));
  return { results, timings };
}

// ---------------------------------------------------------------------------------------------------

interface GroupMaps {
  maps: Float32Array;
  empty: boolean[];
  /** The group's first layer raw map [R, h, w]. */
  raw: { raw: Float32Array; h: number; w: number };
  /** Rows whose map is rounding noise at one of the group's layers (contributions that cancel). */
  noise: boolean[];
}

interface Core {
  rows: Row[];
  /** Score rows of the images [n, S]. */
  scores: Float32Array;
  shape: number[];
  maps: Map<string, GroupMaps[]>;
}

const AUGMENTATIONS: [boolean, number][] = [[false, 0.9], [false, 1], [false, 1.1], [true, 0.9], [true, 1], [true, 1.1]];

/**
 * pytorch-grad-cam's forward_augmentation_smoothing: for every (flip, factor) of ttach's
 * HorizontalFlip × Multiply([0.9, 1, 1.1]) in product order, the final map of the augmented input is
 * flipped back, and the six are averaged (float32). The targets are fixed from the plain input first
 * (pytorch-grad-cam re-picks the arg-max class per augmentation when no target is given).
 */
async function augSmooth(job: Job, input: Float32Array, dims: number[], base: Core): Promise<Map<string, GroupMaps[]>> {
  const fixed = base.rows;
  const sums = new Map<string, Float32Array[]>();
  const [H, W] = job.size;
  for (const [flip, factor] of AUGMENTATIONS) {
    const core = !flip && factor === 1 ? base : await computeCore(job, augment(input, dims, job.ex.layout, flip, factor), dims, fixed.map((r) => ({ ...r, target: flip ? r.target.flipped() : r.target })));
    for (const m of job.methods) {
      const list = sums.get(m.name) ?? job.groups.map(() => new Float32Array(fixed.length * H * W));
      sums.set(m.name, list);
      core.maps.get(m.name)!.forEach((g, gi) => {
        const maps = flip ? flipMaps(g.maps, fixed.length, H, W) : g.maps;
        const acc = list[gi]!;
        for (let i = 0; i < acc.length; i++) acc[i] = Math.fround(acc[i]! + maps[i]!);
      });
    }
  }
  const out = new Map<string, GroupMaps[]>();
  for (const m of job.methods) {
    out.set(m.name, base.maps.get(m.name)!.map((g, gi) => {
      const acc = sums.get(m.name)![gi]!;
      for (let i = 0; i < acc.length; i++) acc[i] = Math.fround(acc[i]! / AUGMENTATIONS.length);
      return { ...g, maps: acc };
    }));
  }
  return out;
}

function augment(x: Float32Array, dims: number[], layout: 'NCHW' | 'NHWC', flip: boolean, factor: number): Float32Array {
  const out = new Float32Array(x.length);
  if (!flip) {
    for (let i = 0; i < x.length; i++) out[i] = x[i]! * factor;
    return out;
  }
  if (layout === 'NCHW') {
    const w = dims[3]!;
    for (let r = 0; r < x.length / w; r++) for (let j = 0; j < w; j++) out[r * w + j] = x[r * w + (w - 1 - j)]! * factor;
  } else {
    const [n, h, w, c] = dims as [number, number, number, number];
    for (let b = 0; b < n * h; b++) for (let j = 0; j < w; j++) for (let k = 0; k < c; k++) out[(b * w + j) * c + k] = x[(b * w + (w - 1 - j)) * c + k]! * factor;
  }
  return out;
}

function flipMaps(maps: Float32Array, n: number, h: number, w: number): Float32Array {
  const out = new Float32Array(maps.length);
  for (let r = 0; r < n * h; r++) for (let j = 0; j < w; j++) out[r * w + j] = maps[r * w + (w - 1 - j)]!;
  return out;
}

// ---------------------------------------------------------------------------------------------------

async function computeCore(job: Job, input: Float32Array, dims: number[], fixed: Row[] | undefined): Promise<Core> {
  const { ex, methods, groups, opts } = job;
  const n = dims[0]!;
  const [H, W] = job.size;
  const output = opts.output ?? ex.model.graph.output[0]!.name;
  const score = scoreTensor(ex.model, output);
  const layers = [...new Set(groups.flat())];
  const gradMethods = methods.filter((m) => m.needs.layerGradient);
  const freeMethods = methods.filter((m) => !m.needs.layerGradient);
  const specs = targetSpecs(opts, n);

  // Ablation graphs (their frontier tensors are fetched by the forward pass)
  const ablation = new Map<string, AblationGraph>();
  if (methods.some((m) => m.name === 'ablationcam')) {
    for (const l of layers) ablation.set(l, ablationModel(ex.model, l, score, ex.inputName, (opts.ablationMode ?? 'auto') !== 'full'));
  }
  const simple = !fixed && freeMethods.length === 0 && specs.every((s) => s.spec.kind === 'logit') && opts.topK === undefined && opts.contrast === undefined && !opts.counterfactual;
  const needsScores = fixed ? fixed.some((r) => !r.target.linear) : specs.some((s) => needsScoresFirst(s.spec, s.choice, opts));
  const forwardFirst = freeMethods.length > 0 || (!simple && needsScores);

  let scores: Float32Array | undefined;
  let shape: number[] | undefined;
  let fwd: Record<string, TensorValue> | undefined;
  const freeLayers = freeMethods.length ? layers : [];
  const frontier = [...new Set([...ablation.values()].filter((a) => a.suffix).flatMap((a) => a.feeds))];
  const fwdOutputs = [score, ...freeLayers, ...frontier.filter((t) => !freeLayers.includes(t) && t !== score)];
  if (forwardFirst) {
    fwd = await forward(job, fwdOutputs, input, dims, fwdOutputs);
    scores = fwd[score]!.data as Float32Array;
    shape = fwd[score]!.dims.slice(1);
    checkFinite(scores);
  }

  // rows: image × target
  let rows: Row[];
  let grad: { activations: Map<string, TensorValue>; gradients: Map<string, TensorValue> } | undefined;
  // Grad-CAM alone at one layer: its maps come from the graph where the layer allows (gradcam-graph.ts)
  let graphMaps: GraphMaps | undefined;
  if (simple && gradMethods.length) {
    const inGraph = methods.length === 1 && methods[0] === gradcam && layers.length === 1 && !opts.eigenSmooth;
    const r = await ex.run(input, dims, { layers, layout: opts.layout, classes: specs.map((s) => s.choice), output: opts.output, ...(inGraph ? { post: gradcamGraphMaps } : {}) });
    graphMaps = gradcamGraph(r);
    gradTimings(job, r.timings);
    scores = r.logits.data;
    shape = [r.numClasses];
    rows = r.targets.map((c, image) => ({ image, rank: 1, target: T.logitTarget(c, r.numClasses) }));
    grad = {
      activations: new Map(layers.map((l, j) => [l, r.activations[j]!])),
      gradients: new Map(layers.map((l, j) => [l, r.gradients[j]!])),
    };
  } else {
    if (!shape) shape = await scoreShape(job, score, dims);
    rows = fixed ?? (await resolveRows(job, specs, scores, shape, n));
    if (gradMethods.length) {
      const S = shape.reduce((a, v) => a * v, 1);
      const seeds = new Float32Array(rows.length * S);
      const zero = new Float32Array(S);
      rows.forEach((row, i) => seeds.set(row.target.seed(scores ? scores.subarray(row.image * S, (row.image + 1) * S) : zero), i * S));
      const rowInput = expandRows(input, dims, rows.map((r) => r.image));
      const r = await ex.run(rowInput, [rows.length, ...dims.slice(1)], { layers, layout: opts.layout, seeds, output: opts.output });
      gradTimings(job, r.timings);
      if (!scores) {
        scores = new Float32Array(n * S);
        rows.forEach((row, i) => scores!.set(r.logits.data.subarray(i * S, (i + 1) * S), row.image * S));
      }
      grad = {
        activations: new Map(layers.map((l, j) => [l, r.activations[j]!])),
        gradients: new Map(layers.map((l, j) => [l, r.gradients[j]!])),
      };
    }
  }
  if (!scores) throw new Error('internal: no scores');
  const S = shape.reduce((a, v) => a * v, 1);

  // raw maps per method × layer, then per group
  const t1 = performance.now();
  const run1 = job.timings.runMs;
  const maps = new Map<string, GroupMaps[]>();
  // the forward pass's layer tensors in [N, C, h, w], whatever their own layout
  const free = new Map<string, TensorValue>();
  if (fwd) for (const l of freeLayers) free.set(l, await ex.canonical(l, fwd[l] as { data: Float32Array; dims: number[] }, job.size, opts.output, opts.layout));
  const classifiers = new Map<string, Promise<Classifier>>();
  const tensors = new Map<string, LayerTensors>();
  const tensorsOf = (m: CamMethod, l: string): LayerTensors => {
    const key = `${!m.needs.layerGradient ? 'free' : 'grad'}|${l}`;
    let t = tensors.get(key);
    if (!t) tensors.set(key, (t = !m.needs.layerGradient ? freeTensors(free, l, rows) : gradTensors(grad!, l)));
    return t;
  };
  const contextOf = (l: string, t: LayerTensors, stage: string): CamContext => {
    const ctx = context(job, l, rows, scores!, S, input, dims, fwd, ablation.get(l), t.dims, classifiers, score, fwdOutputs);
    const p = job.progress;
    if (p) ctx.progress = (n) => { p.done += n; opts.onProgress!(Math.min(p.done, p.total), p.total, stage); };
    return ctx;
  };
  if (job.progress) {
    // plan the passes of this core before running any, so that `total` is known from the first report
    let planned = 0;
    for (const m of methods) if (m.passes) for (const l of layers) { const t = tensorsOf(m, l); planned += m.passes(t, contextOf(l, t, m.name)); }
    const p = job.progress;
    if (p.perCore === undefined) { p.perCore = planned; p.total = planned * p.cores; } else p.total += planned - p.perCore;
  }
  for (const m of graphMaps ? [] : methods) {
    const raws = new Map<string, { raw: Float32Array; h: number; w: number }>();
    const noise = new Map<string, boolean[]>();
    for (const l of layers) {
      const t = tensorsOf(m, l);
      const ctx = contextOf(l, t, m.name);
      let raw: Float32Array;
      if (opts.eigenSmooth && !m.projection) {
        raw = projection2d(await smoothInput(m, t, ctx), t.dims);
      } else if (m.weightsAsync) {
        raw = weightedSum(t.activations, await m.weightsAsync(t, ctx), t.dims);
      } else raw = m.compute(t);
      raws.set(l, { raw, h: t.dims[2], w: t.dims[3] });
      noise.set(l, !m.needs.layerGradient ? [] : cancelled(t.activations, t.gradients, t.dims, raw));
    }
    maps.set(m.name, groups.map((g) => {
      const list = g.map((l) => raws.get(l)!);
      const p = postprocess(list, rows.length, H, W);
      return { maps: p.maps, empty: p.empty, raw: list[0]!, noise: rows.map((_, r) => g.some((l) => noise.get(l)![r])) };
    }));
  }
  if (graphMaps) {
    const raw = { raw: graphMaps.raw, h: graphMaps.h, w: graphMaps.w };
    const noise = cancelledFromScale(graphMaps.raw, graphMaps.h * graphMaps.w, graphMaps.scale);
    maps.set(methods[0]!.name, [{ maps: graphMaps.map, empty: Array.from(graphMaps.range, (v) => v === 0), raw, noise }]);
  }
  job.timings.camMs += performance.now() - t1 - (job.timings.runMs - run1);
  return { rows, scores, shape, maps };
}

/** The gradient run's timings: the graph's (cached) compile and session times, once; run time added up. */
function gradTimings(job: Job, t: { compileMs: number; sessionMs: number; runMs: number }): void {
  if (!job.gradCounted) {
    job.timings.compileMs += t.compileMs;
    job.timings.sessionMs += t.sessionMs;
    job.gradCounted = true;
  }
  job.timings.runMs += t.runMs;
}

function checkFinite(scores: Float32Array): void {
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i]!)) throw new InputError(`the model produced a non-finite score (${scores[i]}); check the input's preprocessing`);
  }
}

/** Weighted activations (or element-wise products) that eigen-smooth projects instead of summing. */
async function smoothInput(m: CamMethod, t: LayerTensors, ctx: CamContext): Promise<Float32Array> {
  if (m.elementwise) return m.elementwise(t);
  const w = m.weightsAsync ? await m.weightsAsync(t, ctx) : m.weights?.(t);
  if (!w) throw new InputError(`${m.name} has no channel weights for --eigen-smooth`);
  const [n, c, h, wd] = t.dims;
  const hw = h * wd;
  const out = new Float32Array(t.activations.length);
  for (let b = 0; b < n * c; b++) {
    const wk = w[b]!;
    for (let i = 0; i < hw; i++) out[b * hw + i] = wk * t.activations[b * hw + i]!;
  }
  return out;
}

function gradTensors(g: { activations: Map<string, TensorValue>; gradients: Map<string, TensorValue> }, l: string): LayerTensors {
  const a = g.activations.get(l)!;
  return { activations: a.data as Float32Array, gradients: g.gradients.get(l)!.data as Float32Array, dims: a.dims as [number, number, number, number] };
}

/** The forward pass's activations of the images, one copy per row. */
function freeTensors(fwd: Map<string, TensorValue>, l: string, rows: Row[]): LayerTensors {
  const a = fwd.get(l)!;
  const [n, c, h, w] = a.dims as [number, number, number, number];
  const data = a.data as Float32Array;
  const identity = rows.length === n && rows.every((r, i) => r.image === i);
  const act = identity ? data : expandRows(data, a.dims, rows.map((r) => r.image));
  return { activations: act, gradients: new Float32Array(0), dims: [rows.length, c, h, w] };
}

/** Rows of x [n, ...] picked by `images` (repeats allowed). */
function expandRows(x: Float32Array, dims: number[], images: number[]): Float32Array {
  const per = dims.slice(1).reduce((a, v) => a * v, 1);
  if (images.length === dims[0] && images.every((v, i) => v === i)) return x;
  const out = new Float32Array(images.length * per);
  images.forEach((img, i) => out.set(x.subarray(img * per, (img + 1) * per), i * per));
  return out;
}

// ---------------------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------------------
// explanations

function explanations(job: Job, core: Core, m: CamMethod, gi: number, g: GroupMaps): Explanation[] {
  const { ex, opts } = job;
  const [H, W] = job.size;
  const S = core.shape.reduce((a, v) => a * v, 1);
  const layers = job.groups[gi]!;
  return core.rows.map((row, r) => {
    const s = core.scores.subarray(row.image * S, (row.image + 1) * S);
    const value = row.target.value(s);
    let target: ClassScore;
    let predicted: ClassScore;
    if (core.shape.length === 1) {
      const probs = softmax(s);
      const score = (k: number): ClassScore => ({ index: k, label: ex.labels?.[k], logit: s[k]!, probability: probs[k]! });
      predicted = score(argmax(s));
      target = row.target.class !== undefined ? score(row.target.class) : { index: -1, logit: value, probability: NaN };
    } else {
      target = { index: row.target.class ?? -1, label: row.target.class !== undefined ? ex.labels?.[row.target.class] : undefined, logit: value, probability: NaN };
      predicted = target;
    }
    const warnings: string[] = [];
    if (g.empty[r]) warnings.push(`the map is all zero: nothing at layer ${layers.join(', ')} speaks for ${row.target.name}`);
    else if (g.noise[r]) warnings.push(cancellationWarning(layers.join(', ')));
    else if (m.name !== 'random') warnings.push(...degenerateWarnings(g.raw.raw.subarray(r * g.raw.h * g.raw.w, (r + 1) * g.raw.h * g.raw.w), g.raw.h, g.raw.w, layers[0]!));
    if (m.name === 'ablationcam' && opts.counterfactual) warnings.push('ablationcam weighs channels by the relative drop (t − t_c)/t, which does not change when the target is negated: the counterfactual map equals the plain one');
    if ((m.name === 'eigencam' || m.name === 'random') && (opts.topK !== undefined || opts.contrast !== undefined || opts.counterfactual || opts.target !== undefined)) {
      warnings.push(`${m.name} does not depend on the target`);
    }
    const { raw, h, w } = g.raw;
    return {
      method: m.name, layers, target, predicted,
      map: g.maps.slice(r * H * W, (r + 1) * H * W), height: H, width: W,
      raw: raw.slice(r * h * w, (r + 1) * h * w), rawHeight: h, rawWidth: w,
      warnings, image: row.image, rank: row.rank, targetName: row.target.name, targetKind: row.target.kind, targetValue: value,
      ...(m.needs.layerGradient && job.ex.gradientNote ? { gradientNote: job.ex.gradientNote } : {}),
    };
  });
}
