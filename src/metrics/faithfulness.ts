/**
 * Faithfulness metrics: does the model's score follow the map? Browser-safe; the model is a `Forward`
 * (see ./forward.ts), and every perturbed input of one map is scored in batched calls.
 *
 * - Deletion / insertion (Petsiuk et al., RISE, BMVC 2018): rank pixels by the map, then remove
 *   (deletion: replace by a substrate) or insert (insertion: copy from the original into a blurred
 *   copy) them, most important first, in `steps` equal steps; the curve is the softmax probability of
 *   the class after each step (steps + 1 points, the first on the untouched start image), and the score
 *   its area under the curve by the trapezoid rule over the fraction of pixels [0, 1]. Deletion: lower
 *   is better; insertion: higher is better.
 * - Average Drop % and Increase in Confidence % (Chattopadhyay et al., Grad-CAM++, WACV 2018):
 *   Y = probability on the image, O = probability on image × map; per image drop = max(0, Y − O) / Y ·
 *   100 and increase = 100 if O > Y else 0; a data set's values are the means.
 * - ROAD (Rong et al., ICML 2022): remove a fraction of the pixels, most relevant first (MoRF) or least
 *   relevant first (LeRF), fill them by noisy linear imputation (./road.ts) and take the probability;
 *   the score is the mean over the fractions. MoRF: lower is better; LeRF: higher is better.
 *
 * All perturbations act on the model's input tensor (after normalisation): the "zero" substrate and
 * image × map therefore move pixels towards the normalisation mean colour, as RISE's and
 * pytorch-grad-cam's code do with normalised tensors. A pixel is one spatial position (all channels).
 */
import { classProbabilities, type Forward } from './forward.js';
import { noisyLinearImpute } from './road.js';
import { deriveSeed } from '../util/random.js';
import { at, fromPlanar, gaussianBlur, geometry, toPlanar, type ImageInput, type Layout } from '../image/planes.js';

export { fromPlanar, gaussianBlur, geometry, toPlanar };
export type { ImageInput, Layout };

/** Pixel indices sorted by the map, largest first; ties keep raster order (a stable sort). */
export function rankPixels(map: ArrayLike<number>): Uint32Array {
  const idx = new Uint32Array(map.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return idx.sort((a, b) => map[b]! - map[a]! || a - b);
}

/** Trapezoid area under `curve` sampled at equal steps over [0, 1]. */
export function auc(curve: ArrayLike<number>): number {
  const n = curve.length;
  if (n < 2) throw new RangeError('auc: needs at least two points');
  let s = 0;
  for (let i = 0; i < n - 1; i++) s += (curve[i]! + curve[i + 1]!) / 2;
  return s / (n - 1);
}

export type Substrate = 'zero' | 'mean' | 'blur';

/** A substrate image: zeros, the image's per-channel mean, or its Gaussian blur. */
export function substrate(img: ImageInput, kind: Substrate): Float32Array {
  if (kind === 'blur') return gaussianBlur(img);
  if (kind === 'zero') return new Float32Array(img.data.length);
  const planes = toPlanar(img).map((p) => {
    const m = p.reduce((a, v) => a + v, 0) / p.length;
    return new Float32Array(p.length).fill(m);
  });
  return fromPlanar(planes, img.layout);
}

/** ROAD's default fractions of removed pixels. */
export const ROAD_FRACTIONS: readonly number[] = [0.2, 0.4, 0.6, 0.8];

export type FaithfulnessMetric = 'deletion' | 'insertion' | 'average_drop' | 'road';
export const FAITHFULNESS_METRICS: readonly FaithfulnessMetric[] = ['deletion', 'insertion', 'average_drop', 'road'];

export interface FaithfulnessOptions {
  metrics?: readonly FaithfulnessMetric[];
  /** Deletion/insertion steps (default 50: 51 points). */
  steps?: number;
  /** What deleted pixels become (default 'zero': the normalisation mean colour). */
  deletionSubstrate?: Substrate;
  /** What insertion starts from (default 'blur'). */
  insertionSubstrate?: Substrate;
  /** Fractions of pixels ROAD removes (default 0.2, 0.4, 0.6, 0.8, as pytorch-grad-cam's ROADCombined). */
  roadFractions?: readonly number[];
  /** ROAD's imputation noise (default 0.01) and seed (default 0). */
  roadNoise?: number;
  seed?: number;
  /**
   * The [0, 1] map for Average Drop's image × map (default: the map divided by its maximum, negatives
   * as 0). Give it where the ranking map is not in [0, 1] (e.g. Σ|gradient|).
   */
  mask?: ArrayLike<number>;
  /** Inputs scored per model call (the Forward chunks further where it must); default 64. */
  chunk?: number;
}

export interface FaithfulnessResult {
  /** Probability of the class on the untouched image. */
  probability: number;
  deletion?: { auc: number; curve: number[] };
  insertion?: { auc: number; curve: number[] };
  /** Probability on image × map, and this image's Average Drop % and Increase in Confidence % terms. */
  average_drop?: { masked: number; drop: number; increase: number };
  road?: { fractions: number[]; morf: number[]; lerf: number[]; morf_mean: number; lerf_mean: number };
}

/** Pixel count after step k of `steps` over n pixels. */
export function stepCount(k: number, steps: number, n: number): number {
  return Math.min(n, Math.round((k * n) / steps));
}

/**
 * Faithfulness of one map ([H, W] at input resolution, larger = more important) for class `cls` of one
 * image: every perturbed input is generated lazily and scored in chunks.
 */
export async function faithfulness(forward: Forward, img: ImageInput, map: ArrayLike<number>, cls: number, opts: FaithfulnessOptions = {}): Promise<FaithfulnessResult> {
  const { c, h, w } = geometry(img);
  const hw = h * w;
  if (map.length !== hw) throw new RangeError(`faithfulness: the map has ${map.length} values, expected ${h}×${w} = ${hw}`);
  const metrics = new Set(opts.metrics ?? FAITHFULNESS_METRICS);
  const steps = opts.steps ?? 50;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  const fractions = [...(opts.roadFractions ?? ROAD_FRACTIONS)];
  for (const f of fractions) if (!(f > 0 && f < 1)) throw new RangeError(`ROAD fractions must lie strictly between 0 and 1, got ${f}`);
  const order = rankPixels(map);
  const jobs: (() => Float32Array)[] = [];
  const take = (from: Float32Array, to: Float32Array, count: number): Float32Array => {
    const out = from.slice();
    for (let i = 0; i < count; i++) {
      const p = order[i]!;
      for (let k = 0; k < c; k++) { const j = at(img.layout, k, p, c, hw); out[j] = to[j]!; }
    }
    return out;
  };
  jobs.push(() => img.data);
  let del = -1;
  let ins = -1;
  let ad = -1;
  let road = -1;
  if (metrics.has('deletion')) {
    const sub = substrate(img, opts.deletionSubstrate ?? 'zero');
    del = jobs.length;
    for (let k = 0; k <= steps; k++) jobs.push(() => take(img.data, sub, stepCount(k, steps, hw)));
  }
  if (metrics.has('insertion')) {
    const start = substrate(img, opts.insertionSubstrate ?? 'blur');
    ins = jobs.length;
    for (let k = 0; k <= steps; k++) jobs.push(() => take(start, img.data, stepCount(k, steps, hw)));
  }
  if (metrics.has('average_drop')) {
    ad = jobs.length;
    let mask = opts.mask;
    if (mask && mask.length !== hw) throw new RangeError(`faithfulness: the mask has ${mask.length} values, expected ${hw}`);
    if (!mask) {
      let hi = 0;
      for (let p = 0; p < hw; p++) hi = Math.max(hi, map[p]!);
      const m = new Float32Array(hw);
      if (hi > 0) for (let p = 0; p < hw; p++) m[p] = Math.max(0, map[p]!) / hi;
      mask = m;
    }
    const mk = mask;
    jobs.push(() => {
      const out = img.data.slice();
      for (let k = 0; k < c; k++) for (let p = 0; p < hw; p++) { const j = at(img.layout, k, p, c, hw); out[j] = out[j]! * mk[p]!; }
      return out;
    });
  }
  if (metrics.has('road')) {
    road = jobs.length;
    const planes = toPlanar(img);
    const seed = opts.seed ?? 0;
    for (const [o, mostFirst] of [[0, true], [1, false]] as const) {
      fractions.forEach((f, fi) => jobs.push(() => {
        const count = Math.round(f * hw);
        const remove = new Uint8Array(hw);
        for (let i = 0; i < count; i++) remove[order[mostFirst ? i : hw - 1 - i]!] = 1;
        return fromPlanar(noisyLinearImpute(planes, h, w, remove, { noise: opts.roadNoise ?? 0.01, seed: deriveSeed(seed, o * 1000 + fi) }), img.layout);
      }));
    }
  }
  const chunk = Math.max(1, opts.chunk ?? 64);
  const probs: number[] = [];
  const per = img.data.length;
  for (let s = 0; s < jobs.length; s += chunk) {
    const m = Math.min(chunk, jobs.length - s);
    const batch = new Float32Array(m * per);
    for (let i = 0; i < m; i++) batch.set(jobs[s + i]!(), i * per);
    probs.push(...(await classProbabilities(forward, batch, [m, ...img.dims.slice(1)], cls)));
  }
  const result: FaithfulnessResult = { probability: probs[0]! };
  if (del >= 0) { const curve = probs.slice(del, del + steps + 1); result.deletion = { auc: auc(curve), curve }; }
  if (ins >= 0) { const curve = probs.slice(ins, ins + steps + 1); result.insertion = { auc: auc(curve), curve }; }
  if (ad >= 0) {
    const y = probs[0]!;
    const o = probs[ad]!;
    result.average_drop = { masked: o, drop: y > 0 ? (Math.max(0, y - o) / y) * 100 : 0, increase: o > y ? 100 : 0 };
  }
  if (road >= 0) {
    const morf = probs.slice(road, road + fractions.length);
    const lerf = probs.slice(road + fractions.length, road + 2 * fractions.length);
    const mean = (a: number[]) => a.reduce((x, v) => x + v, 0) / a.length;
    result.road = { fractions, morf, lerf, morf_mean: mean(morf), lerf_mean: mean(lerf) };
  }
  return result;
}

/** Deletion AUC and curve alone. */
export async function deletion(forward: Forward, img: ImageInput, map: ArrayLike<number>, cls: number, opts: Omit<FaithfulnessOptions, 'metrics'> = {}) {
  return (await faithfulness(forward, img, map, cls, { ...opts, metrics: ['deletion'] })).deletion!;
}

/** Insertion AUC and curve alone. */
export async function insertion(forward: Forward, img: ImageInput, map: ArrayLike<number>, cls: number, opts: Omit<FaithfulnessOptions, 'metrics'> = {}) {
  return (await faithfulness(forward, img, map, cls, { ...opts, metrics: ['insertion'] })).insertion!;
}
