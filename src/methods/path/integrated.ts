/**
 * Integrated Gradients (Sundararajan et al. 2017) as a computation over one narrow interface, a
 * `GradientSource` (d(target)/d(input) and the target's value for a batch of inputs of one image), exactly
 * as Captum's IntegratedGradients._attribute (captum/attr/_core/integrated_gradients.py): scaled inputs
 * b + α_s·(x − b) at the rule's alphas, their gradients weighted by the step sizes and summed,
 * × (x − b) (multiply_by_inputs=True); the convergence delta as Captum's compute_convergence_delta.
 */
import { Rng } from '../../util/random.js';
import { quadrature, type IntegrationRule } from './approximation.js';
import type { AttributionContext } from '../types.js';
import type { Rectifier } from '../../autodiff/rule.js';

export interface GradientSource {
  /** d(target)/d(input) for `count` inputs of one image ([count, ...image], model layout) and the target's value for each. */
  gradients(inputs: Float32Array, count: number): Promise<{ gradients: Float32Array; values: Float32Array }>;
  /** Inputs per model run (a memory budget). */
  batch: number;
  /** Called after each run with the number of passes it made. */
  onPasses?: (passes: number) => void;
}

/** Image `image`'s gradient source on an AttributionContext (its target, the context's batch size). */
export function imageSource(ctx: AttributionContext, image: number, rectifier?: Rectifier): GradientSource {
  return {
    batch: ctx.batchSize,
    gradients: async (inputs, count) => {
      const r = await ctx.inputGradients(inputs, Array<number>(count).fill(image), rectifier ? { rectifier } : undefined);
      return { gradients: r.gradients, values: r.scores };
    },
    onPasses: (k) => ctx.progress(k),
  };
}

/**
 * Inputs per run for `count` passes with at most `max` per run: as few runs as `max` allows, of equal
 * sizes (51 passes at most 32 a run: 26 + 25, not 32 + 19 — the measured faster split).
 */
export function evenBatch(count: number, max: number): number {
  const m = Math.max(1, Math.floor(max));
  return Math.ceil(count / Math.ceil(count / m));
}

/** `count` inputs through the source in as few runs as `source.batch` allows, of equal sizes. */
export async function gradientsInRuns(source: GradientSource, inputs: Float32Array, count: number): Promise<{ gradients: Float32Array; values: Float32Array }> {
  const size = inputs.length / count;
  const batch = evenBatch(count, source.batch);
  const gradients = new Float32Array(inputs.length);
  const values = new Float32Array(count);
  for (let s = 0; s < count; s += batch) {
    const k = Math.min(batch, count - s);
    const r = await source.gradients(inputs.subarray(s * size, (s + k) * size), k);
    gradients.set(r.gradients, s * size);
    values.set(r.values, s);
    source.onPasses?.(k);
  }
  return { gradients, values };
}

/** The completeness check (Sundararajan et al.'s axiom): Σ attributions against F(x) − F(baseline). */
export interface Completeness {
  /** Σ of the attributions over every input value. */
  sum: number;
  /** F(x) − F(baseline). */
  expected: number;
  atInput: number;
  atBaseline: number;
  /** sum − expected (Captum's convergence delta). */
  delta: number;
}

/**
 * Integrated Gradients of one image `x` against `baseline` (same shape, model layout), with `steps` points
 * of `rule`. The points go through the source in as few runs as its batch allows (of equal sizes), the baseline itself as
 * one more input (weight 0) for F(baseline); `atInput` is F(x), which the caller has already.
 */
export async function integratedGradients(source: GradientSource, x: Float32Array, baseline: Float32Array, atInput: number, steps = 50, rule: IntegrationRule = 'gausslegendre'): Promise<{ attribution: Float32Array; completeness: Completeness }> {
  const { alphas, stepSizes } = quadrature(rule, steps);
  const n = alphas.length;
  const size = x.length;
  const total = new Float64Array(size);
  let atBaseline = NaN;
  const points = n + 1; // the last one is the baseline (α = 0, weight 0)
  const batch = evenBatch(points, source.batch);
  for (let s0 = 0; s0 < points; s0 += batch) {
    const k = Math.min(batch, points - s0);
    const scaled = new Float32Array(k * size);
    for (let j = 0; j < k; j++) {
      const a = s0 + j < n ? alphas[s0 + j]! : 0;
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
    source.onPasses?.(k);
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

export const BASELINES = ['black', 'blur', 'uniform', 'image'] as const;
export type BaselineKind = (typeof BASELINES)[number];

/** The uniform-noise baseline: values uniform in [min, max) of the image's input tensor, `Rng(seed).next()` in memory order. */
export function uniformBaseline(x: Float32Array, seed: number): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const rng = new Rng(seed);
  const out = new Float32Array(x.length);
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * rng.next();
  return out;
}
