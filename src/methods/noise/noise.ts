/**
 * NoiseTunnel (Smilkov et al. 2017, SmoothGrad) as Captum's NoiseTunnel (captum/attr/_core/noise_tunnel.py):
 * the attributions of `samples` noisy copies x + N(0, σ²); smoothgrad = their mean, smoothgrad_sq = the
 * mean of their squares, vargrad = mean of squares − square of the mean (_compute_smoothing). σ is a
 * fraction of the image's input range (max − min over its whole model-input tensor, after normalisation),
 * as the SmoothGrad paper states its noise level; Captum takes an absolute stdev.
 */
import { Rng } from '../../util/random.js';

export const NOISE_TYPES = ['smoothgrad', 'smoothgrad_sq', 'vargrad'] as const;
export type NoiseType = (typeof NOISE_TYPES)[number];

/** max − min over the values. */
export function valueRange(x: ArrayLike<number>): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) { const v = x[i]!; if (v < lo) lo = v; if (v > hi) hi = v; }
  return x.length ? hi - lo : 0;
}

/**
 * `samples` noisy copies of x: x + stdev·z, z standard normal from `Rng(seed)` (mulberry32 + Box–Muller,
 * src/util/random.ts), drawn sample after sample in the input tensor's memory order. A fresh Rng per
 * image: an image's noise does not depend on the batch it came in.
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

/** Captum's _compute_smoothing over `samples` rows of attributions. */
export function smooth(a: Float32Array, samples: number, type: NoiseType): Float32Array {
  const size = a.length / samples;
  const mean = new Float64Array(size);
  const sq = new Float64Array(size);
  for (let s = 0; s < samples; s++) {
    const o = s * size;
    for (let i = 0; i < size; i++) { const v = a[o + i]!; mean[i] = mean[i]! + v; sq[i] = sq[i]! + v * v; }
  }
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const m = mean[i]! / samples;
    const q = sq[i]! / samples;
    out[i] = type === 'smoothgrad' ? m : type === 'smoothgrad_sq' ? q : q - m * m;
  }
  return out;
}
