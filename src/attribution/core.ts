/**
 * Path, noise and input-times-gradient attributions as pure computations over one narrow interface: a
 * `GradientSource` gives, for a batch of inputs of one image, d(target)/d(input) and the target's value
 * (the explained class logit, or Σ seed·score for seed rows). Nothing here knows about sessions or layers.
 *
 * - Integrated Gradients (Sundararajan et al. 2017) exactly as Captum's IntegratedGradients._attribute
 *   (captum/attr/_core/integrated_gradients.py): scaled inputs b + α_s·(x − b) at the rule's alphas, their
 *   gradients weighted by the step sizes and summed, × (x − b) (multiply_by_inputs=True).
 * - NoiseTunnel (Smilkov et al. 2017) as Captum's NoiseTunnel (captum/attr/_core/noise_tunnel.py): the
 *   attribution of `samples` noisy copies x + N(0, σ²); smoothgrad = their mean, smoothgrad_sq = the mean of
 *   their squares, vargrad = mean of squares − square of the mean. σ is a fraction of the image's input
 *   range (max − min over its whole input tensor, after normalisation), as the SmoothGrad paper defines its
 *   noise level; Captum takes an absolute stdev.
 * - Input × Gradient (Shrikumar et al. 2016) as Captum's InputXGradient: x · d(target)/d(x).
 */
import { Rng } from '../metrics/random.js';
import { quadrature, type IntegrationRule } from './approximation.js';

export interface GradientSource {
  /** d(target)/d(input) for `count` inputs of one image ([count, ...image], model layout) and the target's value for each. */
  gradients(inputs: Float32Array, count: number): Promise<{ gradients: Float32Array; values: Float32Array }>;
  /** Inputs per model run (a memory budget); the computations split their passes into runs of at most this many. */
  batch: number;
  /** Called after each run with the passes done so far (progress). */
  onPasses?: (done: number) => void;
}

/** `count` inputs through the source in runs of at most `source.batch`. */
export async function gradientsInRuns(source: GradientSource, inputs: Float32Array, count: number): Promise<{ gradients: Float32Array; values: Float32Array }> {
  const size = inputs.length / count;
  const batch = Math.max(1, Math.floor(source.batch));
  if (count <= batch) return source.gradients(inputs, count);
  const gradients = new Float32Array(inputs.length);
  const values = new Float32Array(count);
  for (let s = 0; s < count; s += batch) {
    const k = Math.min(batch, count - s);
    const r = await source.gradients(inputs.subarray(s * size, (s + k) * size), k);
    gradients.set(r.gradients, s * size);
    values.set(r.values, s);
  }
  return { gradients, values };
}

export interface IntegratedGradientsOptions {
  /** Number of integration points (Captum's n_steps, default 50). */
  steps?: number;
  /** Captum's method (default gausslegendre). */
  rule?: IntegrationRule;
}

/** The completeness check (Sundararajan et al.'s axiom): Σ attributions against F(x) − F(baseline). */
export interface Completeness {
  /** Σ of the attributions over every input value. */
  sum: number;
  /** F(x) − F(baseline): the target's value at the input and at the baseline. */
  expected: number;
  /** F(x) and F(baseline). */
  atInput: number;
  atBaseline: number;
  /** sum − expected (Captum's convergence delta). */
  delta: number;
}

/**
 * Integrated Gradients of one image `x` against `baseline` (same shape, model layout). The steps go
 * through the source in as few runs as its batch allows, with the baseline itself as one more input
 * (weight 0) for F(baseline); `atInput` is F(x), which the caller already has from its first run.
 */
export async function integratedGradients(source: GradientSource, x: Float32Array, baseline: Float32Array, atInput: number, opts: IntegratedGradientsOptions = {}): Promise<{ attribution: Float32Array; completeness: Completeness }> {
  const { alphas, stepSizes } = quadrature(opts.rule ?? 'gausslegendre', opts.steps ?? 50);
  const n = alphas.length;
  const size = x.length;
  if (baseline.length !== size) throw new RangeError(`the baseline has ${baseline.length} values, the input ${size}`);
  const total = new Float64Array(size);
  let atBaseline = NaN;
  const batch = Math.max(1, Math.floor(source.batch));
  const points = n + 1; // the last one is the baseline itself (α = 0, weight 0)
  for (let s0 = 0; s0 < points; s0 += batch) {
    const k = Math.min(batch, points - s0);
    const scaled = new Float32Array(k * size);
    for (let j = 0; j < k; j++) {
      const s = s0 + j;
      const a = s < n ? alphas[s]! : 0;
      const o = j * size;
      for (let i = 0; i < size; i++) scaled[o + i] = baseline[i]! + a * (x[i]! - baseline[i]!);
    }
    const r = await source.gradients(scaled, k);
    for (let j = 0; j < k; j++) {
      const s = s0 + j;
      if (s === n) { atBaseline = r.values[j]!; continue; }
      const w = stepSizes[s]!;
      const o = j * size;
      const g = r.gradients;
      for (let i = 0; i < size; i++) total[i] = total[i]! + w * g[o + i]!;
    }
    source.onPasses?.(Math.min(s0 + k, points));
  }
  const attribution = new Float32Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const v = total[i]! * (x[i]! - baseline[i]!);
    attribution[i] = v;
    sum += v;
  }
  const expected = atInput - atBaseline;
  return { attribution, completeness: { sum, expected, atInput, atBaseline, delta: sum - expected } };
}

/** Input × Gradient: x · g, elementwise. */
export function inputTimesGradient(x: ArrayLike<number>, g: ArrayLike<number>): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < out.length; i++) out[i] = x[i]! * g[i]!;
  return out;
}

export const NOISE_TYPES = ['smoothgrad', 'smoothgrad_sq', 'vargrad'] as const;
export type NoiseType = (typeof NOISE_TYPES)[number];

export interface NoiseOptions {
  /** Captum's nt_type (default smoothgrad). */
  type?: NoiseType;
  /** Noisy copies (Captum's nt_samples, default 5). */
  samples?: number;
  /** σ as a fraction of the image's input range, max − min of its input tensor (default 0.15, the SmoothGrad paper's 10–20%). */
  sigma?: number;
  /** Seed of the noise (default 0): the same image and seed give the same noise (see gaussianNoise). */
  seed?: number;
}

export const NOISE_DEFAULTS = { type: 'smoothgrad', samples: 5, sigma: 0.15, seed: 0 } as const;

/** max − min over the values. */
export function valueRange(x: ArrayLike<number>): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return x.length ? hi - lo : 0;
}

/**
 * `samples` noisy copies of x: x + σ·z, z standard normal from `Rng(seed)` (mulberry32 + Box–Muller,
 * src/metrics/random.ts), drawn sample after sample, each in the input tensor's memory order. A fresh
 * Rng per image: an image's noise does not depend on the batch it came in.
 */
export function noisyCopies(x: Float32Array, samples: number, stdev: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(samples * x.length);
  for (let s = 0; s < samples; s++) {
    const o = s * x.length;
    for (let i = 0; i < x.length; i++) out[o + i] = x[i]! + stdev * rng.normal();
  }
  return out;
}

/**
 * NoiseTunnel over `attribute` (the attributions of `count` inputs of this image, [count, size], any
 * size): smoothgrad, smoothgrad_sq or vargrad of its attributions of the noisy copies of x.
 */
export async function noiseTunnel(x: Float32Array, attribute: (inputs: Float32Array, count: number) => Promise<Float32Array>, opts: NoiseOptions = {}): Promise<Float32Array> {
  const type = opts.type ?? NOISE_DEFAULTS.type;
  const samples = opts.samples ?? NOISE_DEFAULTS.samples;
  const sigma = opts.sigma ?? NOISE_DEFAULTS.sigma;
  if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`noise samples must be a positive integer, got ${samples}`);
  if (!(sigma >= 0) || !Number.isFinite(sigma)) throw new RangeError(`noise sigma must be a finite fraction ≥ 0 of the input range, got ${sigma}`);
  const noisy = noisyCopies(x, samples, sigma * valueRange(x), opts.seed ?? NOISE_DEFAULTS.seed);
  const a = await attribute(noisy, samples);
  return smooth(a, samples, type);
}

/** Captum's _compute_smoothing over `samples` rows of attributions. */
export function smooth(a: Float32Array, samples: number, type: NoiseType): Float32Array {
  const size = a.length / samples;
  const mean = new Float64Array(size);
  const sq = new Float64Array(size);
  for (let s = 0; s < samples; s++) {
    const o = s * size;
    for (let i = 0; i < size; i++) {
      const v = a[o + i]!;
      mean[i] = mean[i]! + v;
      sq[i] = sq[i]! + v * v;
    }
  }
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const m = mean[i]! / samples;
    const q = sq[i]! / samples;
    out[i] = type === 'smoothgrad' ? m : type === 'smoothgrad_sq' ? q : q - m * m;
  }
  return out;
}

/** The options of the attribution methods (ExplainOptions takes them). */
export interface AttributionOptions {
  /** Integrated Gradients' baseline: 'black' (default: zeros in the model's input tensor, Captum's), 'blur', 'uniform', or an image in the model's input space (one image's values, or one per image; model layout). */
  baseline?: BaselineKind | Float32Array;
  /** Integrated Gradients' integration points (default 50). */
  steps?: number;
  /** Integrated Gradients' rule (default gausslegendre, Captum's). */
  integration?: IntegrationRule;
  /** A NoiseTunnel around the method: smoothgrad, smoothgrad_sq or vargrad. */
  noise?: NoiseType;
  /** Noisy samples (default 5, Captum's nt_samples). */
  noiseSamples?: number;
  /** Noise σ as a fraction of each image's input range (max − min of its input tensor; default 0.15). */
  noiseSigma?: number;
}

/** What an explanation of these methods records (the JSON sidecar writes it). */
export interface AttributionFacts {
  baseline?: string;
  steps?: number;
  integration?: IntegrationRule;
  noise?: { type: NoiseType; samples: number; sigma: number; stdev: number; seed: number };
  completeness?: Completeness;
  /** FullGrad: the bias layers used (Conv / BatchNormalization outputs). */
  biasLayers?: number;
}

export const BASELINES = ['black', 'blur', 'uniform', 'image'] as const;
export type BaselineKind = (typeof BASELINES)[number];

/**
 * IG's uniform-noise baseline: values uniform in [min, max) of the image's input tensor, from
 * `Rng(seed).next()` in the tensor's memory order.
 */
export function uniformBaseline(x: Float32Array, seed: number): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const rng = new Rng(seed);
  const out = new Float32Array(x.length);
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * rng.next();
  return out;
}
