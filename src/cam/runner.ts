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
import { camBatchFromBudget } from './budget.js';
import type { ClassChoice, ClassScore, Explainer, ExplainOptions, ExplainResult, Explanation, RunResult } from '../explainer.js';
import { InputError, argmax, softmax } from '../util/scores.js';
import { onePlaneSigmoid, scoreTensor } from '../autodiff/compiler.js';
import type { ModelProto } from '../onnx/model.js';
import { runInChunks, type Session, type TensorValue } from '../runtime/session.js';
import { camMethod } from './index.js';
import { findClassifier, type Classifier } from './cam.js';
import { gradcam, weightedSum } from './gradcam.js';
import { ablationModel, forwardModel, type AblationGraph } from './graph.js';
import { postprocess } from './pipeline.js';
import { cancellationWarning, cancelled, cancelledFromScale, degenerateWarnings } from './degenerate.js';
import { channelMaskShape, type LayerLayout } from '../layout/describe.js';
import { projection2d } from './svd.js';
import * as T from './targets.js';
import type { CamContext, CamMethod, LayerTensors } from './types.js';

export interface FamilyOptions {
  /** What to explain: one target for all images or one per image. Default: the class logit (`classes`). */
  target?: T.TargetSpec | T.TargetSpec[];
  /** Explain the k best classes of every image (logit and softmax targets): k explanations per image. */
  topK?: number;
  /** Contrastive map: why the class rather than this one (score_c − score_D). 'top' = the predicted class. */
  contrast?: ClassChoice;
  /** Counterfactual map: what speaks against the target (negated gradients / negated target). */
  counterfactual?: boolean;
  /** Test-time augmentation as pytorch-grad-cam: horizontal flip × input multiplied by 0.9/1/1.1, de-augmented, averaged. */
  augSmooth?: boolean;
  /** Replace the channel sum by the first principal component of the weighted activations. */
  eigenSmooth?: boolean;
  /** Forward passes per run for Score-CAM / Ablation-CAM (default 32). */
  batchSize?: number;
  /** Score-CAM: only score the N channels with the largest activation variance. */
  scoreCamTopN?: number;
  /** Score-CAM / Ablation-CAM: score or ablate only these channels (others weigh 0); for timing on a subset. */
  channels?: number[];
  /** Ablation-CAM graph: 'auto' (default: suffix where possible), 'suffix' or 'full' (the whole model with the mask). */
  ablationMode?: 'auto' | 'suffix' | 'full';
  /** Seed of the random baseline (default 0: `np.random.seed(0)`). */
  randomSeed?: number;
  /**
   * Progress of the methods that run many passes (Score-CAM's masked inputs, Ablation-CAM's ablated
   * channels): called after each batch of them with the passes done and the total of this call (all
   * images, methods, layers and, with aug-smooth, augmentations), and the method's name. `done` grows to
   * `total`. Not called for methods that need one run.
   */
  onProgress?: (done: number, total: number, stage: string) => void;
}

/** Whether explain() needs the runner (anything beyond plain Grad-CAM of a class logit). */
export function needsFamily(o: ExplainOptions): boolean {
  return (o.method !== undefined && o.method.toLowerCase() !== 'gradcam') || o.target !== undefined || o.topK !== undefined
    || o.contrast !== undefined || !!o.counterfactual || !!o.augSmooth || !!o.eigenSmooth;
}

export interface ManyOptions extends Omit<ExplainOptions, 'method' | 'layer'> {
  methods: string[];
  /** Layer groups: each is one layer or several (aggregated as pytorch-grad-cam); 'auto' allowed. */
  layers: (string | string[])[];
}

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
  if (methods.some((m) => m.usesGradients !== false)) ex.refuseEarly(opts.layers.flat(), opts.output, false);
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

interface Job {
  ex: Explainer;
  methods: CamMethod[];
  groups: string[][];
  opts: ManyOptions;
  size: [number, number];
  timings: ExplainResult['timings'];
  gradCounted?: boolean;
  /** Passes of the gradient-free methods: done, planned (the first core's count × cores, corrected by later cores). */
  progress?: { done: number; total: number; cores: number; perCore?: number };
}

interface Row {
  image: number;
  /** 1-based rank among the image's targets (top-k), else 1. */
  rank: number;
  target: T.ResolvedTarget;
}

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
  const gradMethods = methods.filter((m) => m.usesGradients !== false);
  const freeMethods = methods.filter((m) => m.usesGradients === false);
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
  // Grad-CAM alone at one layer: its maps come from the graph where the layer allows (RunOptions.maps)
  let graphMaps: RunResult['maps'];
  if (simple && gradMethods.length) {
    const inGraph = methods.length === 1 && methods[0] === gradcam && layers.length === 1 && !opts.eigenSmooth;
    const r = await ex.run(input, dims, { layers, layout: opts.layout, classes: specs.map((s) => s.choice), output: opts.output, maps: inGraph });
    graphMaps = r.maps;
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
    const key = `${m.usesGradients === false ? 'free' : 'grad'}|${l}`;
    let t = tensors.get(key);
    if (!t) tensors.set(key, (t = m.usesGradients === false ? freeTensors(free, l, rows) : gradTensors(grad!, l)));
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
      noise.set(l, m.usesGradients === false ? [] : cancelled(t.activations, t.gradients, t.dims, raw));
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
// targets

interface ImageSpec {
  spec: T.TargetSpec;
  choice: ClassChoice;
}

function targetSpecs(opts: ManyOptions, n: number): ImageSpec[] {
  const targets = opts.target === undefined ? Array(n).fill({ kind: 'logit' }) : Array.isArray(opts.target) ? opts.target : Array(n).fill(opts.target);
  if (targets.length !== n) throw new InputError(`${targets.length} targets given for ${n} images`);
  const classes = Array.isArray(opts.classes) ? opts.classes : Array(n).fill(opts.classes ?? 'top');
  if (classes.length !== n) throw new InputError(`${classes.length} class choices given for ${n} images`);
  return targets.map((spec: T.TargetSpec, i: number) => ({ spec, choice: ('class' in spec && spec.class !== undefined ? spec.class : classes[i]) as ClassChoice }));
}

function needsScoresFirst(spec: T.TargetSpec, choice: ClassChoice, opts: ManyOptions): boolean {
  const cls = 'class' in spec && spec.class !== undefined ? spec.class : choice;
  switch (spec.kind) {
    case 'logit': return opts.topK !== undefined || cls === 'top' || opts.contrast === 'top';
    case 'softmax': case 'similarity': return true;
    case 'segmentation': return (!spec.mask && !spec.pixel) || cls === 'top';
    case 'box': return true;
    default: return false;
  }
}

async function resolveRows(job: Job, specs: ImageSpec[], scores: Float32Array | undefined, shape: number[], n: number): Promise<Row[]> {
  const { ex, opts } = job;
  const S = shape.reduce((a, v) => a * v, 1);
  const rows: Row[] = [];
  const refCache = new Map<unknown, Float32Array>();
  for (let i = 0; i < n; i++) {
    const { spec, choice } = specs[i]!;
    const s = scores?.subarray(i * S, (i + 1) * S);
    const cls = ('class' in spec && spec.class !== undefined ? spec.class : choice) as ClassChoice;
    const kindName = spec.kind;
    if ((opts.topK !== undefined || opts.contrast !== undefined) && kindName !== 'logit' && kindName !== 'softmax') {
      throw new InputError(`${opts.topK !== undefined ? '--top-k' : '--contrast'} works with the logit and softmax targets, not ${kindName}`);
    }
    let list: T.ResolvedTarget[];
    switch (spec.kind) {
      case 'logit': case 'softmax': {
        // methods that need no target (Eigen-CAM) explain a detection head or a map without a class
        if (T.isDenseOutput([n, ...shape]) && job.methods.every((m) => m.usesTarget === false) && opts.target === undefined && cls === 'top' && opts.topK === undefined && opts.contrast === undefined) {
          list = [T.noTarget(S)];
          break;
        }
        if (T.isDenseOutput([n, ...shape])) throw T.denseClassError(job.opts.output ?? ex.model.graph.output[0]!.name, [n, ...shape]);
        if (shape.length !== 1) throw new InputError(`the ${spec.kind} target needs a [batch, classes] output; this one is [batch, ${shape.join(', ')}] (use --target element or segmentation)`);
        const K = shape[0]!;
        const make = (c: number) => (spec.kind === 'logit' ? T.logitTarget(c, K) : T.softmaxTarget(c, K));
        const classes = opts.topK !== undefined ? T.topK(s!, Math.min(opts.topK, K)) : [cls === 'top' ? argmax(s!) : ex.classIndex(cls, K)];
        list = classes.map((c) => {
          let t = make(c);
          if (opts.contrast !== undefined) t = T.contrastTarget(t, make(opts.contrast === 'top' ? argmax(s!) : ex.classIndex(opts.contrast, K)));
          return t;
        });
        break;
      }
      case 'binary': case 'regression': {
        const idx = spec.index ?? (typeof cls === 'number' ? cls : /^\d+$/.test(String(cls)) ? Number(cls) : 0);
        const i0 = T.flatIndex(idx, shape);
        const neg = spec.kind === 'binary' && !!spec.negative;
        const name = spec.kind === 'binary' ? `binary ${neg ? 'negative' : 'positive'}${S > 1 ? ` (output ${i0})` : ''}` : `regression output ${i0}`;
        list = [T.elementTarget(spec.kind, i0, S, neg ? -1 : 1, name)];
        break;
      }
      case 'element':
        list = [T.elementTarget('element', T.flatIndex(spec.index, shape), S, 1, `output element [${Array.isArray(spec.index) ? spec.index.join(', ') : spec.index}]`)];
        break;
      case 'segmentation': {
        // a one-plane [batch, h, w] output is read as [batch, 1, h, w]
        const planes = shape.length === 2 ? [1, ...shape] : shape;
        if (planes.length !== 3) throw new InputError(`the segmentation target needs a [batch, classes, h, w] output (or a one-plane [batch, h, w] one); this one is [batch, ${shape.join(', ')}]`);
        const one = planes[0] === 1;
        if (spec.threshold !== undefined && !one) throw new InputError(`the segmentation threshold applies to one-plane outputs ([batch, 1, h, w] or [batch, h, w]); this one has ${planes[0]} class planes, whose region is each pixel's arg-max class`);
        const c = cls === 'top' ? T.dominantClass(s!, planes) : typeof cls === 'number' || /^\d+$/.test(String(cls)) ? Number(cls) : ex.classIndex(cls, planes[0]!);
        const region = () => (one ? T.thresholdMask(s!, onePlaneSigmoid(ex.model, job.opts.output ?? ex.model.graph.output[0]!.name), spec.threshold) : T.argmaxMask(s!, c, planes));
        list = [T.segmentationTarget(c, spec.mask ?? (spec.pixel ? T.pixelMask(spec.pixel, planes) : region()), planes)];
        break;
      }
      case 'box': {
        const D = spec.head.width;
        if (shape.length !== 2 || shape[0] !== spec.head.anchors || shape[1] !== D) throw new InputError(`the box target needs the detection tensor [batch, ${spec.head.anchors}, ${D}]; this output is [batch, ${shape.join(', ')}] (explain detectors through src/detect's Detector or \`gradcam detect\`)`);
        list = [T.boxTarget(spec.head, spec.box, spec.class, spec, job.size[1])];
        break;
      }
      case 'similarity': {
        let ref = spec.reference;
        if (!ref && spec.referenceInput) {
          ref = refCache.get(spec.referenceInput);
          if (!ref) {
            const out = job.opts.output ?? ex.model.graph.output[0]!.name;
            const sc = scoreTensor(ex.model, out);
            const r = await forward(job, [sc], spec.referenceInput.data, spec.referenceInput.dims, [sc]);
            ref = (r[sc]!.data as Float32Array).slice(0, S);
            refCache.set(spec.referenceInput, ref);
          }
        }
        if (!ref) throw new InputError('the similarity target needs a reference embedding or a reference input');
        if (ref.length !== S) throw new InputError(`the reference embedding has ${ref.length} values; the model's output has ${S} per image`);
        list = [T.similarityTarget(ref)];
        break;
      }
    }
    if (opts.counterfactual) list = list.map((t) => T.negatedTarget(t));
    list.forEach((target, k) => rows.push({ image: i, rank: k + 1, target }));
  }
  return rows;
}

/** The score tensor's shape without batch, from a one-image probe when no pass has run yet. */
async function scoreShape(job: Job, score: string, dims: number[]): Promise<number[]> {
  const one = new Float32Array(dims.slice(1).reduce((a, v) => a * v, 1));
  const r = await forward(job, [score], one, [1, ...dims.slice(1)], [score]);
  return r[score]!.dims.slice(1);
}

// ---------------------------------------------------------------------------------------------------
// sessions and passes

/** A session of the explainer's (made once per key and kept until its release()); the time to make it is counted. */
async function session(job: Job, key: string, build: () => ModelProto, inputDims?: number[]): Promise<Session> {
  const r = await job.ex.session(key, build, inputDims);
  job.timings.sessionMs += r.createdMs;
  return r.session;
}

/** A run of the plain model with `outputs` exposed; returns `fetch`. */
async function forward(job: Job, outputs: string[], data: Float32Array, dims: number[], fetch: string[]): Promise<Record<string, TensorValue>> {
  const s = await session(job, `forward|${JSON.stringify([...new Set(outputs)].sort())}`, () => forwardModel(job.ex.model, outputs), dims);
  const t0 = performance.now();
  const fixed = job.ex.inputDims[0];
  let r: Record<string, TensorValue>;
  if (typeof fixed === 'number' && fixed !== dims[0]) {
    // layer tensors are concatenated along their own batch axis (a sequence-first layer's is 1)
    const batchAxis: Record<string, number> = {};
    for (const l of new Set(job.groups.flat())) if (fetch.includes(l)) batchAxis[l] = (await job.ex.layerLayout(l, job.size, job.opts.output, job.opts.layout)).batchAxis;
    r = await runInChunks(s, { [job.ex.inputName]: { data, dims } }, fetch, dims[0]!, fixed, batchAxis);
  }
  else r = await s.run({ [job.ex.inputName]: { data, dims } }, fetch);
  job.timings.runMs += performance.now() - t0;
  return r;
}

function context(
  job: Job, layer: string, rows: Row[], scores: Float32Array, S: number, input: Float32Array, dims: number[],
  fwd: Record<string, TensorValue> | undefined, abl: AblationGraph | undefined, layerDims: number[],
  classifiers: Map<string, Promise<Classifier>>, score: string, fwdOutputs: string[],
): CamContext {
  const { ex, opts } = job;
  const batchSize = opts.batchSize ?? camBatchFromBudget(dims, layerDims);
  let mode: 'suffix' | 'full' | undefined;
  return {
    layer, scores, scoreSize: S, input, inputDims: dims, layout: ex.layout, batchSize,
    rows: rows.map((r) => ({ image: r.image, value: (s) => r.target.value(s), seed: (s) => r.target.seed(s) })),
    scoreCamTopN: opts.scoreCamTopN, channels: opts.channels, randomSeed: opts.randomSeed ?? 0,
    forward: async (inputs, count) => {
      // the session of the first forward pass (same graph; only the score is fetched)
      const r = await forward(job, fwdOutputs, inputs, [count, ...dims.slice(1)], [score]);
      return r[score]!.data as Float32Array;
    },
    forwardMasked: async (image, masks, count) => {
      if (!abl) throw new Error('internal: no ablation graph');
      const C = layerDims[1]!;
      if (!mode) {
        const usable = abl.suffix && fwd && abl.feeds.every((t) => fwd[t] && fwd[t]!.data instanceof Float32Array && fwd[t]!.dims[0] === dims[0]);
        if (abl.suffix && !usable && opts.ablationMode === 'suffix') throw new InputError(`cannot cut the graph after '${layer}': the layers after it read tensors that are not per-image float tensors`);
        mode = usable ? 'suffix' : 'full';
      }
      const graph = mode === 'suffix' ? abl : ablationModel(ex.model, layer, score, ex.inputName, false);
      const s = await session(job, `ablation|${mode}|${layer}`, () => graph.model);
      // the mask [count, C] broadcast along the layer's own channel axis (tokens, channels-last...)
      const layout = await ex.layerLayout(layer, job.size, opts.output, opts.layout);
      const feeds: Record<string, { data: Float32Array; dims: number[] }> = { [graph.mask]: { data: masks, dims: channelMaskShape(layout, count, C) } };
      if (mode === 'suffix') {
        for (const t of graph.feeds) {
          const v = fwd![t]!;
          feeds[t] = { data: repeatRow(v.data as Float32Array, v.dims, image, count), dims: [count, ...v.dims.slice(1)] };
        }
      } else {
        feeds[ex.inputName] = { data: repeatRow(input, dims, image, count), dims: [count, ...dims.slice(1)] };
      }
      const t0 = performance.now();
      const r = await s.run(feeds, [score]);
      job.timings.runMs += performance.now() - t0;
      return r[score]!.data as Float32Array;
    },
    classifier: async () => {
      let c = classifiers.get(layer);
      if (!c) {
        const out = opts.output ?? ex.model.graph.output[0]!.name;
        c = ex.layerLayout(layer, job.size, opts.output, opts.layout).then((layout) => findClassifier(ex.model, layer, scoreTensor(ex.model, out), layerDims, ex.external, layout));
        classifiers.set(layer, c);
      }
      return c;
    },
  };
}

function repeatRow(x: Float32Array, dims: number[], row: number, count: number): Float32Array {
  const per = dims.slice(1).reduce((a, v) => a * v, 1);
  const src = x.subarray(row * per, (row + 1) * per);
  const out = new Float32Array(count * per);
  for (let i = 0; i < count; i++) out.set(src, i * per);
  return out;
}

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
    if (m.usesTarget === false && (opts.topK !== undefined || opts.contrast !== undefined || opts.counterfactual || opts.target !== undefined)) {
      warnings.push(`${m.name} does not depend on the target`);
    }
    const { raw, h, w } = g.raw;
    return {
      method: m.name, layers, target, predicted,
      map: g.maps.slice(r * H * W, (r + 1) * H * W), height: H, width: W,
      raw: raw.slice(r * h * w, (r + 1) * h * w), rawHeight: h, rawWidth: w,
      warnings, image: row.image, rank: row.rank, targetName: row.target.name, targetKind: row.target.kind, targetValue: value,
      ...(m.usesGradients !== false && job.ex.gradientNote ? { gradientNote: job.ex.gradientNote } : {}),
    };
  });
}
