/**
 * CAM visualisation, browser-safe: colour-mapped heat maps blended over the input image.
 */
import type { RgbImage } from './types.js';
import { assertRgbImage } from './types.js';
import { applyColormap, colormapTable, quantizeLevel, type ColormapName } from './colormap.js';

export interface OverlayOptions {
  /** colour map name (see COLORMAPS), default 'jet' */
  colormap?: ColormapName | string;
  /** weight of the heat map, in [0, 1]; the image gets 1 - alpha. Default 0.5 */
  alpha?: number;
}

function checkMap(fn: string, map: ArrayLike<number>, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`${fn}: width and height must be positive integers, got ${width}x${height}`);
  }
  if (map.length !== width * height) {
    throw new RangeError(`${fn}: map has ${map.length} values, expected ${width}*${height} = ${width * height}`);
  }
}

/**
 * Blends a colour-mapped CAM over an image exactly like pytorch-grad-cam's
 * `show_cam_on_image(img / 255, mask, use_rgb=True, colormap=..., image_weight=1 - alpha)`
 * (float32 arithmetic as numpy does it):
 *   heat = applyColorMap(uint8(255 * mask)) / 255;  cam = alpha * heat + (1 - alpha) * img / 255;
 *   cam = cam / max(cam);  out = uint8(255 * cam).
 * `map` is `[height, width]` with values in [0, 1], the same size as the image (resize it first).
 * Note the final division by max(cam), which brightens the whole image when the blend's max is below 1.
 */
export function overlay(img: RgbImage, map: Float32Array | ArrayLike<number>, opts: OverlayOptions = {}): RgbImage {
  assertRgbImage(img, 'overlay');
  checkMap('overlay', map, img.width, img.height);
  const alpha = opts.alpha ?? 0.5;
  if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) throw new RangeError(`overlay: alpha must be in [0, 1], got ${alpha}`);
  const table = colormapTable(opts.colormap ?? 'jet');
  const f32 = Math.fround;
  const imageWeight = 1 - alpha;
  const wHeat = f32(1 - imageWeight);
  const wImg = f32(imageWeight);
  // lookup tables: level -> weighted float32 contribution
  const lutHeat = new Float32Array(256);
  const lutImg = new Float32Array(256);
  for (let v = 0; v < 256; v++) {
    lutHeat[v] = f32(wHeat * f32(v / 255));
    lutImg[v] = f32(wImg * f32(v / 255));
  }
  // A blended value depends only on its (heat level, image level) pair: each byte keeps its pair's key
  // (heat · 256 + image) and the pairs present; the maximum and the final bytes are then computed once per
  // pair present instead of once per byte (the same float32 steps, so the same bytes).
  const n = img.data.length;
  const src = img.data;
  const keys = new Uint16Array(n);
  const seen = new Uint8Array(65536);
  for (let p = 0, i = 0; i < n; p++, i += 3) {
    const q = quantizeLevel(map[p]!) * 3;
    const k0 = (table[q]! << 8) | src[i]!;
    const k1 = (table[q + 1]! << 8) | src[i + 1]!;
    const k2 = (table[q + 2]! << 8) | src[i + 2]!;
    keys[i] = k0;
    keys[i + 1] = k1;
    keys[i + 2] = k2;
    seen[k0] = 1;
    seen[k1] = 1;
    seen[k2] = 1;
  }
  let max = -Infinity;
  for (let k = 0; k < 65536; k++) {
    if (!seen[k]) continue;
    const c = f32(lutHeat[k >> 8]! + lutImg[k & 255]!);
    if (c > max) max = c;
  }
  const out = new Uint8Array(n);
  if (max > 0) {
    const level = new Uint8Array(65536);
    for (let k = 0; k < 65536; k++) {
      if (!seen[k]) continue;
      const v = f32(255 * f32(f32(lutHeat[k >> 8]! + lutImg[k & 255]!) / max));
      level[k] = v >= 255 ? 255 : v > 0 ? Math.trunc(v) : 0;
    }
    for (let i = 0; i < n; i++) out[i] = level[keys[i]!]!;
  }
  return { width: img.width, height: img.height, data: out };
}

/** The colour-mapped CAM alone (`map` is `[height, width]` in [0, 1]). */
export function heatmapImage(map: Float32Array | ArrayLike<number>, width: number, height: number, colormap: ColormapName | string = 'jet'): RgbImage {
  checkMap('heatmapImage', map, width, height);
  colormapTable(colormap);
  return { width, height, data: applyColormap(map, colormap) };
}

/** The CAM as a grey image, level uint8(255 * v) (the same quantisation as the colour maps). */
export function grayscaleImage(map: Float32Array | ArrayLike<number>, width: number, height: number): RgbImage {
  checkMap('grayscaleImage', map, width, height);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < map.length; i++) {
    const q = quantizeLevel(map[i]!);
    data[i * 3] = q;
    data[i * 3 + 1] = q;
    data[i * 3 + 2] = q;
  }
  return { width, height, data };
}
