/**
 * CAM visualisation, browser-safe: colour-mapped heat maps blended over the input image.
 */
import type { RgbImage } from './types.js';
import { assertRgbImage } from './types.js';
import { applyColormap, colormapTable, quantizeLevel, type ColormapName } from './colormap.js';
import { overlayKernels } from './overlay-simd.js';
import { grownMemory } from './wasm.js';

/** Above this much WebAssembly memory the overlay's passes run in JavaScript. */
const SIMD_MAX_BYTES = 256 << 20;
const up16 = (n: number) => (n + 31) & ~15; // with 16 bytes of slack

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
  const levels = new Uint8Array(img.width * img.height);
  for (let p = 0; p < levels.length; p++) levels[p] = quantizeLevel(map[p]!);
  return overlayLevels(img, levels, opts);
}

/** Where overlayLevels draws: into `image` with the overlay's top left corner at (x, y) (it must fit). */
export interface OverlayTarget {
  image: RgbImage;
  x: number;
  y: number;
}

/**
 * overlay with the map given as its levels (quantizeLevel of each value; e.g. resize.ts
 * resizeBilinearLevels: no float32 map at the picture's size): the same bytes. Draws into `into` where
 * given (a captioned frame: no copy of the overlay), else into a new picture; returns that picture.
 */
export function overlayLevels(img: RgbImage, levels: Uint8Array, opts: OverlayOptions = {}, into?: OverlayTarget): RgbImage {
  assertRgbImage(img, 'overlay');
  checkMap('overlay', levels, img.width, img.height);
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
  // A blended value depends only on its (heat level, image level) pair, and f32(lutHeat[h] + lutImg[s]) is
  // non-decreasing in s (both tables are, and rounding keeps the order): the maximum over the pairs present
  // is, for each heat level h present, its pair with the brightest image level met with it. So: each
  // pixel's map level (times 3: its row of the colour map), the brightest image level per (map level,
  // channel), then per heat level; the final bytes come from a table of the (heat, image) pairs (the same
  // float32 steps as byte by byte, so the same bytes).
  const { width, height } = img;
  const np = width * height;
  const src = img.data;
  // the per-pixel passes in WebAssembly where it runs (overlay-simd.ts: the same steps), in a memory laid
  // out as [picture][levels][overlay][level table][row table][byRow]
  const K0 = np * 7 + 65536 + 9216 + 64 <= SIMD_MAX_BYTES ? overlayKernels() : undefined;
  const at = { src: 0, levels: up16(np * 3), out: up16(np * 3) + up16(np), level: up16(np * 3) * 2 + up16(np) };
  const rowAt = at.level + 65536;
  const byRowAt = rowAt + 3072;
  const lutImgAt = byRowAt + 3072;
  const heatAt = lutImgAt + 1024;
  const maxAt = heatAt + 2048;
  let byRow: Int16Array | Int32Array;
  const buf = K0 && grownMemory(K0.memory, maxAt + 16);
  const K = buf ? K0 : undefined;
  if (K && buf) {
    new Uint8Array(buf).set(src.subarray(0, np * 3), at.src);
    new Uint8Array(buf).set(levels.subarray(0, np), at.levels);
    byRow = new Int32Array(buf, byRowAt, 768).fill(-1);
    K.p1(at.levels, at.src, np, byRowAt);
  } else {
    byRow = new Int16Array(768).fill(-1);
    for (let p = 0, i = 0; p < np; p++, i += 3) {
      const t = levels[p]! * 3;
      const s0 = src[i]!, s1 = src[i + 1]!, s2 = src[i + 2]!;
      if (s0 > byRow[t]!) byRow[t] = s0;
      if (s1 > byRow[t + 1]!) byRow[t + 1] = s1;
      if (s2 > byRow[t + 2]!) byRow[t + 2] = s2;
    }
  }
  const brightest = new Int16Array(256).fill(-1);
  for (let t = 0; t < 768; t++) if (byRow[t]! > brightest[table[t]!]!) brightest[table[t]!] = byRow[t]!;
  let max = -Infinity;
  for (let h = 0; h < 256; h++) {
    const s = brightest[h]!;
    if (s < 0) continue;
    const c = f32(lutHeat[h]! + lutImg[s]!);
    if (c > max) max = c;
  }
  const target = into ?? { image: { width, height, data: K ? new Uint8Array(0) : new Uint8Array(np * 3) }, x: 0, y: 0 };
  const { image: dst, x: x0, y: y0 } = target;
  if (x0 < 0 || y0 < 0 || x0 + width > dst.width || y0 + height > dst.height) throw new RangeError(`overlay: a ${width}x${height} overlay at (${x0}, ${y0}) does not fit a ${dst.width}x${dst.height} picture`);
  const out = dst.data;
  // level[h · 256 + s] for every heat level present (rows of the others stay unused)
  const level = buf ? new Uint8Array(buf, at.level, 65536).fill(0) : new Uint8Array(65536);
  if (max > 0 && K && buf) {
    // the rows of the heat levels present, in WebAssembly (overlay-simd.ts lt: the same float32 steps)
    new Float32Array(buf, lutImgAt, 256).set(lutImg);
    const pairs = new Int32Array(buf, heatAt, 512);
    const lh = new Float32Array(buf, heatAt, 512);
    let count = 0;
    for (let h = 0; h < 256; h++) {
      if (brightest[h]! < 0) continue;
      pairs[count * 2] = h;
      lh[count * 2 + 1] = lutHeat[h]!;
      count++;
    }
    new Float32Array(buf, maxAt, 1)[0] = max;
    K.lt(lutImgAt, heatAt, count, maxAt, at.level);
  } else if (max > 0) {
    for (let h = 0; h < 256; h++) {
      if (brightest[h]! < 0) continue;
      const lh = lutHeat[h]!;
      for (let s = 0, k = h << 8; s < 256; s++, k++) {
        const v = f32(255 * f32(f32(lh + lutImg[s]!) / max));
        level[k] = v >= 255 ? 255 : v > 0 ? Math.trunc(v) : 0;
      }
    }
  }
  // (max ≤ 0: every byte 0, the zero row of `level`)
  const row = buf ? new Int32Array(buf, rowAt, 768) : new Int32Array(256 * 3);
  for (let t = 0; t < 768; t++) row[t] = max > 0 ? table[t]! << 8 : 0;
  if (K && buf) {
    K.p2(at.levels, at.src, np, at.level, rowAt, at.out);
    const done = new Uint8Array(buf, at.out, np * 3);
    if (!into) return { width, height, data: done.slice() };
    for (let y = 0, w3 = width * 3; y < height; y++) out.set(done.subarray(y * w3, (y + 1) * w3), ((y0 + y) * dst.width + x0) * 3);
    return dst;
  }
  for (let y = 0, p = 0, i = 0; y < height; y++) {
    for (let x = 0, o = ((y0 + y) * dst.width + x0) * 3; x < width; x++, p++, i += 3, o += 3) {
      const t = levels[p]! * 3;
      out[o] = level[row[t]! | src[i]!]!;
      out[o + 1] = level[row[t + 1]! | src[i + 1]!]!;
      out[o + 2] = level[row[t + 2]! | src[i + 2]!]!;
    }
  }
  return dst;
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
