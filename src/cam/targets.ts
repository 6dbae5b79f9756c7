/**
 * Targets: what a map explains, as a function of one image's score-tensor row s (the model output, or
 * the input of a final Softmax/LogSoftmax, flattened without the batch dimension). Each target gives
 * its value t(s) and the seed dt/ds that the gradient graph back-propagates (the compiler takes the seed
 * as a graph input, so the target's own nodes never enter the graph):
 *
 * - logit c          t = s_c                               seed = onehot(c)        (pytorch-grad-cam ClassifierOutputTarget)
 * - softmax c        t = softmax(s)_c                      seed_j = p_c(δ_cj − p_j) (ClassifierOutputSoftmaxTarget)
 * - binary ±, i      t = ±s_i                              seed = ±onehot(i)        (BinaryClassifierOutputTarget)
 * - regression i     t = s_i                               seed = onehot(i)
 * - segmentation c,M t = Σ_yx s[c,y,x]·M[y,x]               seed = M on plane c      (SemanticSegmentationTarget)
 * - similarity r     t = cos(s, r)                         seed = r/(‖s‖‖r‖) − t·s/‖s‖²
 * - element i        t = s_i (i a flat or multi-dim index) seed = onehot(i)
 * - box c, B         t = Σ over the anchors matching box B of their class-c score (+ their IoU with B);
 *                    s is a detection tensor [A, D] (src/detect): seed = d t / d s (piecewise: the matched
 *                    anchors are fixed at the scores of the forward pass)      (FasterRCNNBoxScoreTarget with match 'best')
 * - contrast c vs D  t = t_c − t_D (same kind)              seed = seed_c − seed_D
 * - counterfactual   t = −t                                seed = −seed (negated gradients)
 *
 * Non-linear targets (softmax, similarity) need the scores before the backward pass: the runner does a
 * forward pass first and evaluates the seed there (two runs; no target nodes are added to the graph).
 */
import type { CamRow } from './types.js';
import { boxTargetValue } from '../util/boxes.js';
import type { Box, BoxHead, BoxTargetOptions, TargetKind } from '../types.js';
export type { ClassChoiceLike, TargetKind, TargetSpec } from '../types.js';

export const TARGET_KINDS: readonly TargetKind[] = ['logit', 'softmax', 'binary', 'regression', 'segmentation', 'similarity', 'element', 'box'];

export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** A target resolved for one image. */
export interface ResolvedTarget {
  kind: TargetKind;
  /** Human-readable (ASCII, for captions), e.g. `logit 3`, `softmax 3 - softmax 5`, `-(logit 3)`, `cosine similarity to the reference`. */
  name: string;
  /** The explained class (classifiers and segmentation), or the output index. */
  class?: number;
  contrast?: number;
  negated: boolean;
  /** The seed does not depend on the scores. */
  linear: boolean;
  value(s: Float32Array): number;
  seed(s: Float32Array): Float32Array;
  /** The same target for a horizontally flipped input (segmentation masks flip; others are unchanged). */
  flipped(): ResolvedTarget;
}

export function rowOf(t: ResolvedTarget, image: number): CamRow {
  return { image, value: (s) => t.value(s), seed: (s) => t.seed(s) };
}

/** Score-tensor shape without the batch dimension. */
export type ScoreShape = number[];

const size = (shape: ScoreShape) => shape.reduce((a, v) => a * v, 1);

function onehot(n: number, i: number, v = 1): Float32Array {
  const s = new Float32Array(n);
  s[i] = v;
  return s;
}

function basic(kind: TargetKind, name: string, linear: boolean, value: (s: Float32Array) => number, seed: (s: Float32Array) => Float32Array, extra: Partial<ResolvedTarget> = {}): ResolvedTarget {
  const t: ResolvedTarget = { kind, name, negated: false, linear, value, seed, flipped: () => t, ...extra };
  return t;
}

export function logitTarget(c: number, n: number): ResolvedTarget {
  return basic('logit', `logit ${c}`, true, (s) => s[c]!, () => onehot(n, c), { class: c });
}

export function softmaxTarget(c: number, n: number): ResolvedTarget {
  const probs = (s: Float32Array) => {
    let m = -Infinity;
    for (const v of s) m = Math.max(m, v);
    const e = new Float64Array(n);
    let z = 0;
    for (let i = 0; i < n; i++) z += e[i] = Math.exp(s[i]! - m);
    for (let i = 0; i < n; i++) e[i]! /= z;
    return e;
  };
  return basic('softmax', `softmax ${c}`, false, (s) => probs(s)[c]!, (s) => {
    const p = probs(s);
    const g = new Float32Array(n);
    for (let j = 0; j < n; j++) g[j] = p[c]! * ((j === c ? 1 : 0) - p[j]!);
    return g;
  }, { class: c });
}

export function elementTarget(kind: 'binary' | 'regression' | 'element', i: number, n: number, sign = 1, name?: string): ResolvedTarget {
  return basic(kind, name ?? `${kind} ${i}`, true, (s) => sign * s[i]!, () => onehot(n, i, sign), { class: i });
}

/** Segmentation: Σ over the mask of class plane c; `mask` is [h, w] of a score shaped [K, h, w]. */
export function segmentationTarget(c: number, mask: Float32Array, shape: ScoreShape): ResolvedTarget {
  const [k, h, w] = shape as [number, number, number];
  const hw = h * w;
  if (c < 0 || c >= k) throw new TargetError(`segmentation class ${c} is out of range: the output has ${k} class planes (0 to ${k - 1})`);
  if (mask.length !== hw) throw new TargetError(`the segmentation mask has ${mask.length} values; the output's class planes are ${h}×${w} = ${hw}`);
  let pixels = 0;
  for (const v of mask) if (v !== 0) pixels++;
  const make = (m: Float32Array): ResolvedTarget => basic('segmentation', `segmentation ${c} (${pixels} px)`, true, (s) => {
    let t = 0;
    for (let i = 0; i < hw; i++) if (m[i] !== 0) t += s[c * hw + i]! * m[i]!;
    return t;
  }, () => {
    const g = new Float32Array(k * hw);
    g.set(m, c * hw);
    return g;
  }, { class: c, flipped: () => make(flipW(m, h, w)) });
  return make(mask);
}

/** The mask of one pixel [y, x] of a [K, h, w] score row. */
export function pixelMask(pixel: [number, number], shape: ScoreShape): Float32Array {
  const [, h, w] = shape as [number, number, number];
  const [y, x] = pixel;
  if (!Number.isInteger(y) || !Number.isInteger(x) || y < 0 || y >= h || x < 0 || x >= w) throw new TargetError(`pixel ${y},${x} (y,x) is outside the output's ${h}×${w} class planes`);
  const m = new Float32Array(h * w);
  m[y * w + x] = 1;
  return m;
}

/** The pixels of a [K, h, w] score row whose arg-max class is c. */
export function argmaxMask(s: Float32Array, c: number, shape: ScoreShape): Float32Array {
  const [k, h, w] = shape as [number, number, number];
  const hw = h * w;
  const m = new Float32Array(hw);
  for (let i = 0; i < hw; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (s[j * hw + i]! > s[best * hw + i]!) best = j;
    if (best === c) m[i] = 1;
  }
  return m;
}

/**
 * The region of a one-plane output row s [h·w]: the pixels whose output is above `threshold`; `sigmoid`:
 * s is the logit of a final Sigmoid, and the threshold applies to sigmoid(s) (default 0.5; else 0).
 */
export function thresholdMask(s: Float32Array, sigmoid: boolean, threshold?: number): Float32Array {
  const t = threshold ?? (sigmoid ? 0.5 : 0);
  if (sigmoid && !(t > 0 && t < 1)) throw new TargetError(`the segmentation threshold applies to the output of the model's final Sigmoid: give one between 0 and 1 (exclusive), not ${t}`);
  // sigmoid(s) > t ⇔ s > logit(t)
  const cut = sigmoid ? Math.log(t / (1 - t)) : t;
  const m = new Float32Array(s.length);
  for (let i = 0; i < s.length; i++) if (s[i]! > cut) m[i] = 1;
  return m;
}

export { denseClassError, isDenseOutput } from '../explainer/classes.js';

/** The class with the most arg-max pixels. */
export function dominantClass(s: Float32Array, shape: ScoreShape): number {
  const [k] = shape as [number];
  let best = 0;
  let bestCount = -1;
  for (let c = 0; c < k; c++) {
    let n = 0;
    for (const v of argmaxMask(s, c, shape)) n += v;
    if (n > bestCount) { best = c; bestCount = n; }
  }
  return best;
}

/** One detection's box target on a detection tensor row s [A, D]; `width` is the input's (for the flipped box). */
export function boxTarget(head: BoxHead, box: Box, c: number, opts: BoxTargetOptions, width: number): ResolvedTarget {
  if (!Number.isInteger(c) || c < 0 || c >= head.classes) throw new TargetError(`box class ${c} is out of range: the detector has ${head.classes} classes (0 to ${head.classes - 1})`);
  if (!box.every(Number.isFinite) || box[2] <= box[0] || box[3] <= box[1]) throw new TargetError(`box ${box.join(',')} is not x1,y1,x2,y2 with x1 < x2 and y1 < y2`);
  const name = `box ${c} [${box.map((v) => Math.round(v)).join(',')}]${opts.match === 'best' ? ' best anchor' : ''}${opts.match === 'best' || opts.iouTerm ? ' + IoU' : ''}`;
  return basic('box', name, false, (s) => boxTargetValue(s, head, box, c, opts).value, (s) => boxTargetValue(s, head, box, c, opts).seed, {
    class: c,
    flipped: () => boxTarget(head, [width - box[2], box[1], width - box[0], box[3]], c, opts, width),
  });
}

export function similarityTarget(reference: Float32Array): ResolvedTarget {
  const n = reference.length;
  let rr = 0;
  for (const v of reference) rr += v * v;
  const rn = Math.sqrt(rr);
  if (!(rn > 0)) throw new TargetError('the reference embedding is all zero; cosine similarity is undefined');
  const stats = (s: Float32Array) => {
    let ss = 0;
    let sr = 0;
    for (let i = 0; i < n; i++) { ss += s[i]! * s[i]!; sr += s[i]! * reference[i]!; }
    const sn = Math.sqrt(ss);
    return { sn, cos: sn > 0 ? sr / (sn * rn) : 0 };
  };
  return basic('similarity', 'cosine similarity to the reference', false, (s) => stats(s).cos, (s) => {
    const { sn, cos } = stats(s);
    const g = new Float32Array(n);
    if (sn > 0) for (let i = 0; i < n; i++) g[i] = reference[i]! / (sn * rn) - (cos * s[i]!) / (sn * sn);
    return g;
  });
}

/** t_a − t_b. */
export function contrastTarget(a: ResolvedTarget, b: ResolvedTarget): ResolvedTarget {
  const t: ResolvedTarget = {
    kind: a.kind, name: `${a.name} - ${b.name}`, class: a.class, contrast: b.class, negated: a.negated, linear: a.linear && b.linear,
    value: (s) => a.value(s) - b.value(s),
    seed: (s) => {
      const x = a.seed(s);
      const y = b.seed(s);
      const g = new Float32Array(x.length);
      for (let i = 0; i < g.length; i++) g[i] = x[i]! - y[i]!;
      return g;
    },
    flipped: () => contrastTarget(a.flipped(), b.flipped()),
  };
  return t;
}

/** −t: the counterfactual map (what speaks against the target) from negated gradients. */
export function negatedTarget(a: ResolvedTarget): ResolvedTarget {
  return {
    ...a, name: `-(${a.name})`, negated: !a.negated,
    value: (s) => -a.value(s),
    seed: (s) => a.seed(s).map((v) => -v),
    flipped: () => negatedTarget(a.flipped()),
  };
}

function flipW(m: Float32Array, h: number, w: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = m[y * w + (w - 1 - x)]!;
  return out;
}

/** Flat index of an element index (flat number, or one index per score dimension). */
export function flatIndex(index: number | number[], shape: ScoreShape): number {
  const n = size(shape);
  if (typeof index === 'number' || index.length === 1) {
    const i = typeof index === 'number' ? index : index[0]!;
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new TargetError(`output index ${i} is out of range: the output has ${n} values per image (shape [${shape.join(', ')}])`);
    return i;
  }
  if (index.length !== shape.length) throw new TargetError(`output index [${index.join(', ')}] has ${index.length} components; the output's shape per image is [${shape.join(', ')}]`);
  let flat = 0;
  index.forEach((v, d) => {
    if (!Number.isInteger(v) || v < 0 || v >= shape[d]!) throw new TargetError(`output index [${index.join(', ')}] is out of range for shape [${shape.join(', ')}]`);
    flat = flat * shape[d]! + v;
  });
  return flat;
}

/** Indices of the k largest values, largest first. */
export function topK(row: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: row.length }, (_, i) => i)
    .sort((a, b) => row[b]! - row[a]! || a - b)
    .slice(0, k);
}

/** Parses a CLI target name: logit, softmax, binary, binary-neg, regression, segmentation, similarity, element. */
export function parseTargetKind(s: string): { kind: TargetKind; negative?: boolean } {
  const v = s.trim().toLowerCase();
  const aliases: Record<string, { kind: TargetKind; negative?: boolean }> = {
    logit: { kind: 'logit' }, class: { kind: 'logit' }, softmax: { kind: 'softmax' }, probability: { kind: 'softmax' },
    binary: { kind: 'binary' }, 'binary-pos': { kind: 'binary' }, 'binary-neg': { kind: 'binary', negative: true }, sigmoid: { kind: 'binary' },
    regression: { kind: 'regression' }, segmentation: { kind: 'segmentation' }, seg: { kind: 'segmentation' },
    similarity: { kind: 'similarity' }, cosine: { kind: 'similarity' }, embedding: { kind: 'similarity' }, element: { kind: 'element' },
  };
  const k = aliases[v];
  if (!k) throw new TargetError(`unknown target '${s}'; choose one of: logit, softmax, binary, binary-neg, regression, segmentation, similarity, element`);
  return k;
}
