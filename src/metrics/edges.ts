/** The Sobel edge map of an image: the reference that "explanations" which only show edges resemble. */
import type { RgbImage } from '../image/types.js';

/** ITU-R BT.601 luma in [0, 1], [H, W]. */
export function luminance(img: RgbImage): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(n);
  for (let p = 0; p < n; p++) out[p] = (0.299 * img.data[p * 3]! + 0.587 * img.data[p * 3 + 1]! + 0.114 * img.data[p * 3 + 2]!) / 255;
  return out;
}

/**
 * Sobel gradient magnitude √(Gx² + Gy²) of a [height, width] map with replicated borders, scaled so
 * that its maximum is 1 (an all-flat input gives all zeros).
 */
export function sobel(gray: ArrayLike<number>, height: number, width: number): Float32Array {
  const at = (y: number, x: number) => gray[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))]!;
  const out = new Float32Array(height * width);
  let hi = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const gx = at(y - 1, x + 1) + 2 * at(y, x + 1) + at(y + 1, x + 1) - at(y - 1, x - 1) - 2 * at(y, x - 1) - at(y + 1, x - 1);
      const gy = at(y + 1, x - 1) + 2 * at(y + 1, x) + at(y + 1, x + 1) - at(y - 1, x - 1) - 2 * at(y - 1, x) - at(y - 1, x + 1);
      const m = Math.hypot(gx, gy);
      out[y * width + x] = m;
      if (m > hi) hi = m;
    }
  }
  if (hi > 0) for (let i = 0; i < out.length; i++) out[i]! /= hi;
  return out;
}

/** The Sobel edge map of an RGB image, [H, W] in [0, 1]. */
export function edgeMap(img: RgbImage): Float32Array {
  return sobel(luminance(img), img.height, img.width);
}
