/**
 * Resizing, browser-safe.
 *
 * - resizeBilinear / resizeBatch: one float32 channel, bit-for-bit OpenCV `cv2.resize(src, (outW, outH))`
 *   (INTER_LINEAR) semantics for float32, which is what pytorch-grad-cam uses to upsample CAMs.
 * - resizeRgb: 8-bit RGB for preparing model inputs, Pillow `Image.resize(size, Image.BILINEAR)` semantics
 *   (antialiased when downscaling, Pillow's fixed-point arithmetic), which torchvision's Resize uses on PIL
 *   images.
 */
import { overlayKernels } from './overlay-simd.js';
import { grownMemory } from './wasm.js';
import type { RgbImage } from './types.js';
import { assertRgbImage } from './types.js';
import { modelViewRgb } from './resample.js';
import { quantizeLevel } from './colormap.js';

const f32 = Math.fround;

function checkDims(fn: string, h: number, w: number, outH: number, outW: number): void {
  for (const [name, v] of [['h', h], ['w', w], ['outH', outH], ['outW', outW]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${fn}: ${name} must be a positive integer, got ${v}`);
  }
}

interface LinearPlan {
  h: number; w: number; outH: number; outW: number;
  /** 'copy': same size; 'area2': exact 2x downscale (OpenCV switches to INTER_AREA); 'linear' otherwise. */
  mode: 'copy' | 'area2' | 'linear';
  xofs: Int32Array; xa0: Float32Array; xa1: Float32Array;
  /** first x from which OpenCV copies S[xofs] (right border) */
  xmax: number;
  y0: Int32Array; y1: Int32Array; yb0: Float32Array; yb1: Float32Array;
}

/**
 * Mirrors cv::resize (modules/imgproc/src/resize.cpp) for INTER_LINEAR on CV_32F:
 *   scale = 1 / (dst/src) in double; f = (float)((d + 0.5) * scale - 0.5); s = floor(f); f -= s.
 *   x: s < 0 -> (s, f) = (0, 0); s >= w - 1 -> (s, f) = (w - 1, 0), D = S[s].
 *   y: weights (1 - f, f) are kept, the two source rows are clamped to [0, h - 1].
 *   Horizontal pass first (float32 accumulations), then vertical: D = T0 * b0 + T1 * b1.
 */
function planLinear(h: number, w: number, outH: number, outW: number): LinearPlan {
  const scaleX = 1 / (outW / w);
  const scaleY = 1 / (outH / h);
  let mode: LinearPlan['mode'] = 'linear';
  if (h === outH && w === outW) mode = 'copy';
  else if (scaleX === 2 && scaleY === 2) mode = 'area2';

  const xofs = new Int32Array(outW);
  const xa0 = new Float32Array(outW);
  const xa1 = new Float32Array(outW);
  let xmax = outW;
  for (let dx = 0; dx < outW; dx++) {
    let fx = f32((dx + 0.5) * scaleX - 0.5);
    let sx = Math.floor(fx);
    fx = f32(fx - sx);
    if (sx < 0) { fx = 0; sx = 0; }
    if (sx + 1 >= w) {
      if (dx < xmax) xmax = dx;
      if (sx >= w - 1) { fx = 0; sx = w - 1; }
    }
    xofs[dx] = sx;
    xa0[dx] = f32(1 - fx);
    xa1[dx] = fx;
  }
  const y0 = new Int32Array(outH);
  const y1 = new Int32Array(outH);
  const yb0 = new Float32Array(outH);
  const yb1 = new Float32Array(outH);
  for (let dy = 0; dy < outH; dy++) {
    let fy = f32((dy + 0.5) * scaleY - 0.5);
    const sy = Math.floor(fy);
    fy = f32(fy - sy);
    y0[dy] = Math.min(Math.max(sy, 0), h - 1);
    y1[dy] = Math.min(Math.max(sy + 1, 0), h - 1);
    yb0[dy] = f32(1 - fy);
    yb1[dy] = fy;
  }
  return { h, w, outH, outW, mode, xofs, xa0, xa1, xmax, y0, y1, yb0, yb1 };
}

/** The resize into dst; `horizontalOnly`: only the horizontal pass, into `tmp` (h rows of outW). */
function runLinear(p: LinearPlan, src: Float32Array, srcOff: number, dst: Float32Array, dstOff: number, tmp: Float32Array, horizontalOnly = false): void {
  const { h, w, outH, outW } = p;
  if (p.mode === 'copy') {
    dst.set(src.subarray(srcOff, srcOff + h * w), dstOff);
    return;
  }
  if (p.mode === 'area2') {
    // resizeAreaFast_: 4-lane SIMD blocks compute ((a + b) + (c + d)) * 0.25, the scalar tail
    // (((a + b) + c) + d) * 0.25 (float32 throughout).
    const simdEnd = outW - (outW % 4);
    for (let dy = 0; dy < outH; dy++) {
      const r0 = srcOff + 2 * dy * w;
      const r1 = r0 + w;
      const o = dstOff + dy * outW;
      for (let dx = 0; dx < outW; dx++) {
        const a = src[r0 + 2 * dx]!, b = src[r0 + 2 * dx + 1]!, c = src[r1 + 2 * dx]!, d = src[r1 + 2 * dx + 1]!;
        const s = dx < simdEnd ? f32(f32(a + b) + f32(c + d)) : f32(f32(f32(a + b) + c) + d);
        dst[o + dx] = f32(s * 0.25);
      }
    }
    return;
  }
  const { xofs, xa0, xa1, xmax, y0, y1, yb0, yb1 } = p;
  for (let sy = 0; sy < h; sy++) {
    const row = srcOff + sy * w;
    const t = sy * outW;
    let dx = 0;
    for (; dx < xmax; dx++) {
      const sx = row + xofs[dx]!;
      tmp[t + dx] = f32(f32(src[sx]! * xa0[dx]!) + f32(src[sx + 1]! * xa1[dx]!));
    }
    for (; dx < outW; dx++) tmp[t + dx] = src[row + xofs[dx]!]!;
  }
  if (horizontalOnly) return;
  for (let dy = 0; dy < outH; dy++) {
    const t0 = y0[dy]! * outW;
    const t1 = y1[dy]! * outW;
    const b0 = yb0[dy]!;
    const b1 = yb1[dy]!;
    const o = dstOff + dy * outW;
    for (let dx = 0; dx < outW; dx++) {
      dst[o + dx] = f32(f32(tmp[t0 + dx]! * b0) + f32(tmp[t1 + dx]! * b1));
    }
  }
}

/**
 * Resizes one float32 channel `[h, w]` to `[outH, outW]` exactly like OpenCV's
 * `cv2.resize(src, (outW, outH), interpolation=cv2.INTER_LINEAR)` on float32 data:
 * half-pixel centres (sx = (x + 0.5) * w / outW - 0.5), edge clamping, no antialiasing.
 */
export function resizeBilinear(src: Float32Array, h: number, w: number, outH: number, outW: number): Float32Array {
  checkDims('resizeBilinear', h, w, outH, outW);
  if (src.length !== h * w) throw new RangeError(`resizeBilinear: src has ${src.length} values, expected ${h}*${w} = ${h * w}`);
  const plan = planLinear(h, w, outH, outW);
  const out = new Float32Array(outH * outW);
  runLinear(plan, src, 0, out, 0, new Float32Array(plan.mode === 'linear' ? h * outW : 0));
  return out;
}

/**
 * The levels quantizeLevel gives the values of resizeBilinear(src, h, w, outH, outW) (the same bytes),
 * computed row by row in one pass: no float32 map at the output's size (what an overlay needs).
 */
export function resizeBilinearLevels(src: Float32Array, h: number, w: number, outH: number, outW: number): Uint8Array {
  checkDims('resizeBilinearLevels', h, w, outH, outW);
  if (src.length !== h * w) throw new RangeError(`resizeBilinearLevels: src has ${src.length} values, expected ${h}*${w} = ${h * w}`);
  const p = planLinear(h, w, outH, outW);
  const out = new Uint8Array(outH * outW);
  if (p.mode !== 'linear') {
    const m = p.mode === 'copy' ? src : resizeBilinear(src, h, w, outH, outW);
    for (let i = 0; i < m.length; i++) out[i] = quantizeLevel(m[i]!);
    return out;
  }
  const { y0, y1, yb0, yb1 } = p;
  // both passes and the quantisation in WebAssembly where it runs (overlay-simd.ts hx, lv: the same
  // float32 steps), in its memory laid out as
  // [the horizontal pass's rows][y0][y1][yb0][yb1][levels][the map][xofs][xa0][xa1]
  const K = (h * outW + outH * 4 + h * w + outW * 3) * 4 + outH * outW + 128 <= (64 << 20) ? overlayKernels() : undefined;
  const ys = (h * outW * 4 + 31) & ~15;
  const lv = ys + outH * 16;
  const mapAt = (lv + outH * outW + 32 + 15) & ~15;
  const xAt = mapAt + h * w * 4;
  const buf = K && grownMemory(K.memory, xAt + outW * 12);
  if (K && buf) {
    new Float32Array(buf, mapAt, h * w).set(src);
    new Int32Array(buf, xAt, outW).set(p.xofs);
    new Float32Array(buf, xAt + outW * 4, outW).set(p.xa0);
    new Float32Array(buf, xAt + outW * 8, outW).set(p.xa1);
    K.hx(mapAt, h, w, outW, p.xmax, xAt, xAt + outW * 4, xAt + outW * 8, 0);
    new Int32Array(buf, ys, outH).set(y0);
    new Int32Array(buf, ys + outH * 4, outH).set(y1);
    new Float32Array(buf, ys + outH * 8, outH).set(yb0);
    new Float32Array(buf, ys + outH * 12, outH).set(yb1);
    K.lv(0, outW, outH, ys, ys + outH * 4, ys + outH * 8, ys + outH * 12, lv);
    // one row of outW levels after another: outW need not be a multiple of 16 (a row's tail is
    // overwritten by the next row's start, in order)
    out.set(new Uint8Array(buf, lv, outH * outW));
    return out;
  }
  const tmp = new Float32Array(h * outW);
  runLinear(p, src, 0, tmp, 0, tmp, true);
  for (let dy = 0; dy < outH; dy++) {
    const t0 = y0[dy]! * outW;
    const t1 = y1[dy]! * outW;
    const b0 = yb0[dy]!;
    const b1 = yb1[dy]!;
    for (let dx = 0, o = dy * outW; dx < outW; dx++, o++) out[o] = quantizeLevel(f32(tmp[t0 + dx]! * b0) + f32(tmp[t1 + dx]! * b1));
  }
  return out;
}

/**
 * resizeBilinear as two matrices, for upsampling or an equal size (not cv2's 2× downscale, which averages
 * areas): `rows` [outH, h] and `cols` [outW, w] hold cv2.resize's INTER_LINEAR coefficients (rows clamped at
 * the borders add up where they meet), so that the resized map is rows · map · colsᵀ up to float32 rounding
 * (the gradient graph's in-graph Grad-CAM maps use them as MatMuls).
 */
export function bilinearMatrices(h: number, w: number, outH: number, outW: number): { rows: Float32Array; cols: Float32Array } {
  checkDims('bilinearMatrices', h, w, outH, outW);
  if (outH < h || outW < w) throw new RangeError(`bilinearMatrices: ${h}×${w} → ${outH}×${outW} is a downscale`);
  const p = planLinear(h, w, outH, outW);
  const rows = new Float32Array(outH * h);
  for (let dy = 0; dy < outH; dy++) {
    rows[dy * h + p.y0[dy]!] += p.yb0[dy]!;
    rows[dy * h + p.y1[dy]!] += p.yb1[dy]!;
  }
  const cols = new Float32Array(outW * w);
  for (let dx = 0; dx < outW; dx++) {
    if (dx < p.xmax) {
      cols[dx * w + p.xofs[dx]!] += p.xa0[dx]!;
      cols[dx * w + p.xofs[dx]! + 1] += p.xa1[dx]!;
    } else cols[dx * w + p.xofs[dx]!] = 1;
  }
  return { rows, cols };
}

/**
 * resizeBilinear into `dst` at `dstOff` (the same values), returning the output's minimum and maximum
 * (the range the final min-max scaling needs).
 */
export function resizeBilinearInto(src: Float32Array, h: number, w: number, outH: number, outW: number, dst: Float32Array, dstOff: number): [number, number] {
  checkDims('resizeBilinearInto', h, w, outH, outW);
  if (src.length !== h * w) throw new RangeError(`resizeBilinearInto: src has ${src.length} values, expected ${h}*${w} = ${h * w}`);
  const p = planLinear(h, w, outH, outW);
  runLinear(p, src, 0, dst, dstOff, new Float32Array(p.mode === 'linear' ? h * outW : 0));
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = dstOff, end = dstOff + outH * outW; i < end; i++) {
    const v = dst[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** resizeBilinear over a stack of `n` maps `[n, h, w]` -> `[n, outH, outW]` (coefficients computed once). */
export function resizeBatch(maps: Float32Array, n: number, h: number, w: number, outH: number, outW: number): Float32Array {
  checkDims('resizeBatch', h, w, outH, outW);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`resizeBatch: n must be a non-negative integer, got ${n}`);
  if (maps.length !== n * h * w) {
    throw new RangeError(`resizeBatch: maps has ${maps.length} values, expected ${n}*${h}*${w} = ${n * h * w}`);
  }
  const plan = planLinear(h, w, outH, outW);
  const out = new Float32Array(n * outH * outW);
  const tmp = new Float32Array(plan.mode === 'linear' ? h * outW : 0);
  for (let i = 0; i < n; i++) runLinear(plan, maps, i * h * w, out, i * outH * outW, tmp);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Pillow-compatible 8-bit resampling: resample.ts (libImaging/Resample.c, BILINEAR filter, support 1).

/** Options for resizeRgb. */
export interface ResizeRgbOptions {
  /**
   * Widen the bilinear kernel by the downscale factor (Pillow's behaviour, the default). With false,
   * plain 2-tap bilinear with half-pixel centres is used in every direction.
   */
  antialias?: boolean;
}

/**
 * Resizes an 8-bit RGB image like Pillow's `img.resize((outW, outH), Image.BILINEAR)` (bit-exact with
 * antialias on, the default): separable, horizontal pass first, 22-bit fixed-point coefficients.
 */
export function resizeRgb(img: RgbImage, outW: number, outH: number, opts: ResizeRgbOptions = {}): RgbImage {
  assertRgbImage(img, 'resizeRgb');
  checkDims('resizeRgb', img.height, img.width, outH, outW);
  const { width: w, height: h, data } = img;
  if (w === outW && h === outH) return { width: w, height: h, data: data.slice() };
  return modelViewRgb(img, { resized: [outW, outH], left: 0, top: 0, crop: [outH, outW] }, opts.antialias ?? true);
}

/**
 * torchvision `Resize(size)` with an int size: the size [width, height] whose shorter side is `size`
 * and whose longer one is `int(size * long / short)` (torchvision 0.14's F_pil.resize; a square stays square).
 */
export function shortSideSize(w: number, h: number, size: number): [number, number] {
  if (!Number.isInteger(size) || size <= 0) throw new RangeError(`resize: size must be a positive integer, got ${size}`);
  const [short, long] = w <= h ? [w, h] : [h, w];
  const newLong = Math.floor((size * long) / short);
  return w <= h ? [size, newLong] : [newLong, size];
}

/**
 * torchvision `Resize(size)` with an int size: the shorter side becomes `size`, the longer one
 * `floor(size * long / short)`; resampled with resizeRgb (Pillow BILINEAR).
 */
export function resizeShortSide(img: RgbImage, size: number, opts: ResizeRgbOptions = {}): RgbImage {
  assertRgbImage(img, 'resizeShortSide');
  if (!Number.isInteger(size) || size <= 0) throw new RangeError(`resizeShortSide: size must be a positive integer, got ${size}`);
  const [outW, outH] = shortSideSize(img.width, img.height, size);
  return resizeRgb(img, outW, outH, opts);
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The top-left corner of torchvision's `CenterCrop((outH, outW))` in a w×h image: round((h - outH) / 2),
 * round((w - outW) / 2) with Python's rounding; where the crop is larger, torchvision pads
 * (crop - size) // 2 on the left/top first, which is a negative offset.
 */
export function centerCropOffsets(w: number, h: number, outW: number, outH: number): { left: number; top: number } {
  const top = outH > h ? -Math.floor((outH - h) / 2) : roundHalfEven((h - outH) / 2);
  const left = outW > w ? -Math.floor((outW - w) / 2) : roundHalfEven((w - outW) / 2);
  return { left, top };
}

/**
 * torchvision `CenterCrop((outH, outW))`: top = round((H - outH) / 2), left = round((W - outW) / 2)
 * (Python rounding); a crop larger than the image is padded with black, as torchvision does.
 */
export function centerCrop(img: RgbImage, outW: number, outH: number): RgbImage {
  assertRgbImage(img, 'centerCrop');
  checkDims('centerCrop', img.height, img.width, outH, outW);
  const { width: w, height: h, data } = img;
  const { left, top } = centerCropOffsets(w, h, outW, outH);
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= h) continue;
    for (let x = 0; x < outW; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= w) continue;
      const s = (sy * w + sx) * 3;
      const o = (y * outW + x) * 3;
      out[o] = data[s]!;
      out[o + 1] = data[s + 1]!;
      out[o + 2] = data[s + 2]!;
    }
  }
  return { width: outW, height: outH, data: out };
}

/** Nearest-neighbour enlargement by an integer factor (keeps gradient pictures' pixels crisp). */
export function enlargeNearest(img: RgbImage, f: number): RgbImage {
  if (f === 1) return img;
  const W = img.width * f;
  const data = new Uint8Array(W * img.height * f * 3);
  for (let y = 0; y < img.height * f; y++) {
    for (let x = 0; x < W; x++) {
      const s = (Math.floor(y / f) * img.width + Math.floor(x / f)) * 3;
      data.set(img.data.subarray(s, s + 3), (y * W + x) * 3);
    }
  }
  return { width: W, height: img.height * f, data };
}
