/**
 * Pictures of per-pixel attributions (browser-safe): signed values through a diverging colour map, their
 * magnitude, and the top-k % of pixels. The scaling and the colour map are Captum's
 * (captum/attr/_utils/visualization.py): values are divided by the 98th percentile of |a| (outlier_perc 2)
 * and clipped to [−1, 1]; signed attributions use its default "RdWhGn" map (red for negative, white at 0,
 * green for positive: matplotlib's red (255, 0, 0) and green (0, 128, 0), linear through white).
 */
import type { RgbImage } from './types.js';

/** The |a| value at the given percentile (numpy's linear interpolation), the scale of the pictures. */
export function percentileAbs(a: ArrayLike<number>, percentile = 98): number {
  const v = Float64Array.from(a, Math.abs).sort();
  if (!v.length) return 0;
  const pos = (percentile / 100) * (v.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, v.length - 1);
  return v[lo]! + (v[hi]! - v[lo]!) * (pos - lo);
}

/** Captum's _normalize_attr: a / scale clipped to [−1, 1] (scale: the 98th percentile of |a|; all 0 when it is 0). */
export function normalizeAttribution(a: ArrayLike<number>, abs: boolean, outlierPercent = 2): Float32Array {
  const scale = percentileAbs(a, 100 - outlierPercent);
  const out = new Float32Array(a.length);
  if (!(scale > 0)) return out;
  for (let i = 0; i < out.length; i++) {
    const v = (abs ? Math.abs(a[i]!) : a[i]!) / scale;
    out[i] = Math.max(-1, Math.min(1, v));
  }
  return out;
}

const RED = [255, 0, 0];
const WHITE = [255, 255, 255];
const GREEN = [0, 128, 0];

/** Captum's RdWhGn colour of a value in [−1, 1]. */
export function divergingColor(v: number): [number, number, number] {
  const t = Math.max(-1, Math.min(1, v));
  const [from, to, f] = t < 0 ? [WHITE, RED, -t] : [WHITE, GREEN, t];
  return [0, 1, 2].map((k) => Math.round(from[k]! + (to[k]! - from[k]!) * f)) as [number, number, number];
}

/** A signed attribution [H, W] as a picture: Captum's scaling and its red-white-green map. */
export function divergingImage(a: ArrayLike<number>, width: number, height: number): RgbImage {
  const n = normalizeAttribution(a, false);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(divergingColor(n[i]!), i * 3);
  return { width, height, data };
}

/**
 * The pixels of the top `percent` % of the attribution (by value; by |a| when `abs`): a mask [H, W] of
 * ⌈percent/100 · H·W⌉ pixels (ties broken by position, the first first), for the thresholded picture.
 */
export function topPercentMask(a: ArrayLike<number>, percent: number, abs = false): Uint8Array {
  const n = a.length;
  const k = Math.min(n, Math.ceil((percent / 100) * n));
  const key = (i: number) => (abs ? Math.abs(a[i]!) : a[i]!);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => key(y) - key(x) || x - y);
  const mask = new Uint8Array(n);
  for (let j = 0; j < k; j++) mask[order[j]!] = 1;
  return mask;
}

/** The picture with only the masked pixels kept; the others darkened to a quarter and greyed. */
export function keepMasked(img: RgbImage, mask: Uint8Array): RgbImage {
  const data = img.data.slice();
  for (let i = 0; i < img.width * img.height; i++) {
    if (mask[i]) continue;
    const g = (data[3 * i]! + data[3 * i + 1]! + data[3 * i + 2]!) / 12;
    data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = Math.round(g);
  }
  return { width: img.width, height: img.height, data };
}
