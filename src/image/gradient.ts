/** Pictures of input gradients. */
import type { RgbImage } from './types.js';

/**
 * The usual deprocessing (pytorch-grad-cam's deprocess_image): standardise over all values,
 * × 0.1, + 0.5, clip to [0, 1], to 8 bits. `hwc` is [H, W, C] with C = 1 or 3.
 */
export function deprocessGradient(hwc: Float32Array, width: number, height: number): RgbImage {
  const n = hwc.length;
  const c = n / (width * height);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += hwc[i]!;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (hwc[i]! - mean) ** 2;
  const std = Math.sqrt(v / n);
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let k = 0; k < 3; k++) {
      const x = hwc[p * c + (c === 3 ? k : 0)]!;
      const y = Math.min(Math.max(((x - mean) / (std + 1e-5)) * 0.1 + 0.5, 0), 1);
      data[p * 3 + k] = Math.floor(Math.fround(y * 255));
    }
  }
  return { width, height, data };
}

/** Grayscale magnitude: max over channels of |g|, scaled so the largest is white. */
/** Per pixel, max over channels of |g|, scaled to [0, 1] (all zero where the gradient is); `max` is the scale. */
export function gradientMagnitudeMap(hwc: Float32Array, width: number, height: number): { map: Float32Array; max: number } {
  const c = hwc.length / (width * height);
  const m = new Float32Array(width * height);
  let hi = 0;
  for (let p = 0; p < m.length; p++) {
    let v = 0;
    for (let k = 0; k < c; k++) v = Math.max(v, Math.abs(hwc[p * c + k]!));
    m[p] = v;
    hi = Math.max(hi, v);
  }
  if (hi > 0) for (let p = 0; p < m.length; p++) m[p] = m[p]! / hi;
  return { map: m, max: hi };
}

export function gradientMagnitude(hwc: Float32Array, width: number, height: number): RgbImage {
  const { map } = gradientMagnitudeMap(hwc, width, height);
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < map.length; p++) data[p * 3] = data[p * 3 + 1] = data[p * 3 + 2] = Math.round(map[p]! * 255);
  return { width, height, data };
}
