/**
 * Pillow's 8-bit bilinear resampling (libImaging/Resample.c: BILINEAR filter, support 1, antialiased when
 * downscaling, 22-bit fixed-point coefficients, horizontal pass first), browser-safe. The one implementation
 * behind resizeRgb, torchvision's Resize + CenterCrop (view.ts resizeCrop) and the model's input tensor
 * (modelInputTensor: resize, crop and normalisation in one go). Every output pixel depends only on its own
 * coefficients, so a window of the resized picture (the part a centre crop keeps) is computed on its own —
 * only the source rows and columns it needs — with the very bits of the whole resize followed by the crop.
 */
import type { RgbImage } from './types.js';
import { normalizeLuts, type NormalizeSpec, type TensorLayout } from './normalize.js';
import { simdKernels } from './resample-simd.js';
import { grownMemory } from './wasm.js';

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
/** Pillow's clip8 bound: sums at or above this are 255. */
const TOP = 255 << PRECISION_BITS;

/** Per-axis coefficients: output i reads `bounds[2i + 1]` inputs from `bounds[2i]`, weights kk[i·ksize ...]. */
export interface PilCoeffs { ksize: number; bounds: Int32Array; kk: Int32Array }

const coeffCache = new Map<string, PilCoeffs>();

/** ImagingResample's precompute_coeffs + normalize_coeffs_8bpc for one axis (cached: a dataset's images share sizes). */
export function pilCoeffs(inSize: number, outSize: number, antialias: boolean): PilCoeffs {
  const key = `${inSize},${outSize},${antialias ? 1 : 0}`;
  const hit = coeffCache.get(key);
  if (hit) return hit;
  const scale = inSize / outSize;
  const filterscale = antialias ? Math.max(scale, 1) : 1;
  const support = 1 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      let t = (x + xmin - center + 0.5) * ss;
      if (t < 0) t = -t;
      const wgt = t < 1 ? 1 - t : 0;
      k[x] = wgt;
      ww += wgt;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? k[x]! / ww : k[x]!;
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  const c = { ksize, bounds, kk };
  if (coeffCache.size >= 32) coeffCache.delete(coeffCache.keys().next().value!);
  coeffCache.set(key, c);
  return c;
}

/** A window [x0, x1) × [y0, y1) of the picture resized to rw × rh. */
export interface ResampleWindow { rw: number; rh: number; x0: number; x1: number; y0: number; y1: number }

/**
 * Resizes `img` to window.rw × window.rh (Pillow BILINEAR) and hands over only the window's rows, top to
 * bottom: `emit(y, row, off)` with the (x1 - x0) RGB pixels of resized row y at row[off ...] (the buffer is
 * reused: copy what you keep). Bit-exact with Pillow's `img.resize((rw, rh), BILINEAR)` cut to the window.
 * `reserve`: bytes at the start of the WebAssembly passes' memory that they leave to the caller (the rows
 * then lie in that memory: modelInputTensor normalises them there).
 */
export function resampleRgb(img: RgbImage, win: ResampleWindow, antialias: boolean, emit: (y: number, row: Uint8Array, off: number) => void, reserve = 0): void {
  const { width: w, height: h, data } = img;
  const { rw, rh, x0, x1, y0, y1 } = win;
  if (x1 <= x0 || y1 <= y0) return;
  const needH = rw !== w;
  const needV = rh !== h;
  const n3 = (x1 - x0) * 3;
  const ch = needH ? pilCoeffs(w, rw, antialias) : undefined;
  const cv = needV ? pilCoeffs(h, rh, antialias) : undefined;
  // the source rows the window's rows read
  const sy0 = cv ? cv.bounds[y0 * 2]! : y0;
  const sy1 = cv ? cv.bounds[(y1 - 1) * 2]! + cv.bounds[(y1 - 1) * 2 + 1]! : y1;
  if ((ch || cv) && simdPasses(img, win, { ch, cv, sy0, sy1 }, emit, reserve)) return;
  let cur: Uint8Array = data;
  let stride = w * 3;
  let first = 0; // source row of cur's row 0
  let col = x0 * 3; // the window's first byte within a row of cur
  if (ch) {
    cur = horizontalPass(data, w, ch, x0, x1, sy0, sy1);
    stride = n3;
    first = sy0;
    col = 0;
  }
  if (!cv) {
    for (let y = y0; y < y1; y++) emit(y, cur, (y - first) * stride + col);
    return;
  }
  // vertical pass row by row: each output row is a weighted sum of a few whole (contiguous) rows, four
  // rows at a time (missing ones weigh 0); sums stay below 2^31 (the weights are positive and add up to 2^22)
  const { bounds, kk, ksize } = cv;
  const row = new Uint8Array(n3);
  const acc = new Int32Array(n3);
  for (let yy = y0; yy < y1; yy++) {
    const taps = bounds[yy * 2 + 1]!;
    const r = (bounds[yy * 2]! - first) * stride + col;
    for (let t = 0; t < taps; t += 4) {
      const kb = yy * ksize + t;
      const k0 = kk[kb]!, k1 = t + 1 < taps ? kk[kb + 1]! : 0, k2 = t + 2 < taps ? kk[kb + 2]! : 0, k3 = t + 3 < taps ? kk[kb + 3]! : 0;
      const r0 = r + t * stride, r1 = k1 ? r0 + stride : r0, r2 = k2 ? r0 + 2 * stride : r0, r3 = k3 ? r0 + 3 * stride : r0;
      const last = t + 4 >= taps;
      if (t === 0 && last) {
        for (let i = 0; i < n3; i++) {
          const v = HALF + cur[r0 + i]! * k0 + cur[r1 + i]! * k1 + cur[r2 + i]! * k2 + cur[r3 + i]! * k3;
          row[i] = v <= 0 ? 0 : v >= TOP ? 255 : v >> PRECISION_BITS;
        }
      } else if (t === 0) {
        for (let i = 0; i < n3; i++) acc[i] = HALF + cur[r0 + i]! * k0 + cur[r1 + i]! * k1 + cur[r2 + i]! * k2 + cur[r3 + i]! * k3;
      } else if (!last) {
        for (let i = 0; i < n3; i++) acc[i] += cur[r0 + i]! * k0 + cur[r1 + i]! * k1 + cur[r2 + i]! * k2 + cur[r3 + i]! * k3;
      } else {
        for (let i = 0; i < n3; i++) {
          const v = acc[i]! + cur[r0 + i]! * k0 + cur[r1 + i]! * k1 + cur[r2 + i]! * k2 + cur[r3 + i]! * k3;
          row[i] = v <= 0 ? 0 : v >= TOP ? 255 : v >> PRECISION_BITS;
        }
      }
    }
    emit(yy, row, 0);
  }
}

/** Source bytes copied into WebAssembly memory at a time for the horizontal pass (a band of whole rows). */
const BAND_BYTES = 1 << 20;
/** Above this much WebAssembly memory (the horizontal pass's output, mostly) the JavaScript passes run instead. */
const SIMD_MAX_BYTES = 64 << 20;
const up16 = (n: number) => (n + 31) & ~15; // with 16 bytes of slack

/**
 * resampleRgb's passes in WebAssembly SIMD (resample-simd.ts: the same integer sums, so the same bytes):
 * the source in bands of rows through the horizontal pass into the window's columns, then each output row
 * by the vertical pass (`plan`: resampleRgb's coefficients of the axes that change and the source rows the
 * window reads). False (nothing emitted) where SIMD is missing or the memory it needs is too large.
 */
function simdPasses(img: RgbImage, win: ResampleWindow, plan: { ch?: PilCoeffs; cv?: PilCoeffs; sy0: number; sy1: number }, emit: (y: number, row: Uint8Array, off: number) => void, reserve: number): boolean {
  const K = simdKernels();
  if (!K) return false;
  const { width: w, data } = img;
  const { x0, x1, y0, y1 } = win;
  const { ch, cv, sy0, sy1 } = plan;
  const w3 = w * 3;
  const n3 = (x1 - x0) * 3;
  const band = ch ? Math.max(1, Math.min(sy1 - sy0, Math.floor(BAND_BYTES / w3))) : 0;
  // layout: [source band][horizontal output: the needed rows × the window][a row][h taps][h coefficients][v coefficients]
  const bandOff = reserve ? up16(reserve) : 0; // the caller's region first (modelInputTensor's tensor)
  const tmpOff = bandOff + (ch ? up16(band * w3) : 0);
  const rowOff = tmpOff + up16((sy1 - sy0) * n3);
  const hbOff = rowOff + up16(n3);
  const hkOff = hbOff + (ch ? (x1 - x0) * 8 : 0);
  const vkOff = hkOff + (ch ? (x1 - x0) * ch.ksize * 4 : 0);
  const total = vkOff + (cv ? (y1 - y0) * cv.ksize * 4 : 0) + 16;
  if (total > SIMD_MAX_BYTES) return false;
  for (let x = x0; ch && x < x1; x++) if (ch.bounds[x * 2 + 1]! < 1) return false;
  for (let y = y0; cv && y < y1; y++) if (cv.bounds[y * 2 + 1]! < 1) return false;
  const buf = grownMemory(K.memory, total);
  if (!buf) return false; // the memory cannot grow: the JavaScript passes
  const u8 = new Uint8Array(buf);
  const i32 = new Int32Array(buf);
  if (ch) {
    for (let x = x0; x < x1; x++) {
      i32[(hbOff >> 2) + (x - x0) * 2] = ch.bounds[x * 2]! * 3;
      i32[(hbOff >> 2) + (x - x0) * 2 + 1] = ch.bounds[x * 2 + 1]!;
    }
    i32.set(ch.kk.subarray(x0 * ch.ksize, x1 * ch.ksize), hkOff >> 2);
    for (let r = sy0; r < sy1; r += band) {
      const rows = Math.min(band, sy1 - r);
      u8.set(data.subarray(r * w3, (r + rows) * w3), bandOff);
      K.h(bandOff, w3, rows, tmpOff + (r - sy0) * n3, n3, x1 - x0, hbOff, hkOff, ch.ksize * 4);
    }
  } else {
    for (let r = sy0; r < sy1; r++) u8.set(data.subarray(r * w3 + x0 * 3, r * w3 + x0 * 3 + n3), tmpOff + (r - sy0) * n3);
  }
  if (!cv) {
    for (let y = y0; y < y1; y++) emit(y, u8, tmpOff + (y - sy0) * n3);
    return true;
  }
  i32.set(cv.kk.subarray(y0 * cv.ksize, y1 * cv.ksize), vkOff >> 2);
  for (let y = y0; y < y1; y++) {
    K.v(tmpOff + (cv.bounds[y * 2]! - sy0) * n3, n3, n3, cv.bounds[y * 2 + 1]!, vkOff + (y - y0) * cv.ksize * 4, rowOff);
    emit(y, u8, rowOff);
  }
  return true;
}

/**
 * Pillow's horizontal pass over source rows [sy0, sy1), output columns [x0, x1) (RGB, 8-bit). Kernels of
 * up to 8 taps (upscales, downscales to about 1/3.5) go column by column, the taps unrolled; wider ones
 * pixel by pixel.
 */
function horizontalPass(data: Uint8Array, w: number, c: PilCoeffs, x0: number, x1: number, sy0: number, sy1: number): Uint8Array {
  const { bounds, kk, ksize } = c;
  const n3 = (x1 - x0) * 3;
  const w3 = w * 3;
  const tmp = new Uint8Array(n3 * (sy1 - sy0));
  // wider kernels (large downscales): row by row, every pixel's taps in a loop (a column's rows lie far apart)
  for (let xx = x0; xx < x1; xx++) if (bounds[xx * 2 + 1]! > 8) return horizontalWide(data, w, c, x0, x1, sy0, sy1, tmp);
  for (let xx = x0; xx < x1; xx++) {
    const taps = bounds[xx * 2 + 1]!;
    const start = bounds[xx * 2]! * 3;
    const kb = xx * ksize;
    let o = (xx - x0) * 3;
    switch (taps) {
      case 1: {
        const k0 = kk[kb]!;
        for (let sy = sy0, q = sy0 * w3 + start; sy < sy1; sy++, q += w3, o += n3) {
          const v0 = HALF + data[q]! * k0;
          const v1 = HALF + data[q + 1]! * k0;
          const v2 = HALF + data[q + 2]! * k0;
          tmp[o] = v0 <= 0 ? 0 : v0 >= TOP ? 255 : v0 >> PRECISION_BITS;
          tmp[o + 1] = v1 <= 0 ? 0 : v1 >= TOP ? 255 : v1 >> PRECISION_BITS;
          tmp[o + 2] = v2 <= 0 ? 0 : v2 >= TOP ? 255 : v2 >> PRECISION_BITS;
        }
        continue;
      }
      case 2: {
        const k0 = kk[kb]!, k1 = kk[kb + 1]!;
        for (let sy = sy0, q = sy0 * w3 + start; sy < sy1; sy++, q += w3, o += n3) {
          const v0 = HALF + data[q]! * k0 + data[q + 3]! * k1;
          const v1 = HALF + data[q + 1]! * k0 + data[q + 4]! * k1;
          const v2 = HALF + data[q + 2]! * k0 + data[q + 5]! * k1;
          tmp[o] = v0 <= 0 ? 0 : v0 >= TOP ? 255 : v0 >> PRECISION_BITS;
          tmp[o + 1] = v1 <= 0 ? 0 : v1 >= TOP ? 255 : v1 >> PRECISION_BITS;
          tmp[o + 2] = v2 <= 0 ? 0 : v2 >= TOP ? 255 : v2 >> PRECISION_BITS;
        }
        continue;
      }
      case 3: {
        const k0 = kk[kb]!, k1 = kk[kb + 1]!, k2 = kk[kb + 2]!;
        for (let sy = sy0, q = sy0 * w3 + start; sy < sy1; sy++, q += w3, o += n3) {
          const v0 = HALF + data[q]! * k0 + data[q + 3]! * k1 + data[q + 6]! * k2;
          const v1 = HALF + data[q + 1]! * k0 + data[q + 4]! * k1 + data[q + 7]! * k2;
          const v2 = HALF + data[q + 2]! * k0 + data[q + 5]! * k1 + data[q + 8]! * k2;
          tmp[o] = v0 <= 0 ? 0 : v0 >= TOP ? 255 : v0 >> PRECISION_BITS;
          tmp[o + 1] = v1 <= 0 ? 0 : v1 >= TOP ? 255 : v1 >> PRECISION_BITS;
          tmp[o + 2] = v2 <= 0 ? 0 : v2 >= TOP ? 255 : v2 >> PRECISION_BITS;
        }
        continue;
      }
      case 4: {
        const k0 = kk[kb]!, k1 = kk[kb + 1]!, k2 = kk[kb + 2]!, k3 = kk[kb + 3]!;
        for (let sy = sy0, q = sy0 * w3 + start; sy < sy1; sy++, q += w3, o += n3) {
          const v0 = HALF + data[q]! * k0 + data[q + 3]! * k1 + data[q + 6]! * k2 + data[q + 9]! * k3;
          const v1 = HALF + data[q + 1]! * k0 + data[q + 4]! * k1 + data[q + 7]! * k2 + data[q + 10]! * k3;
          const v2 = HALF + data[q + 2]! * k0 + data[q + 5]! * k1 + data[q + 8]! * k2 + data[q + 11]! * k3;
          tmp[o] = v0 <= 0 ? 0 : v0 >= TOP ? 255 : v0 >> PRECISION_BITS;
          tmp[o + 1] = v1 <= 0 ? 0 : v1 >= TOP ? 255 : v1 >> PRECISION_BITS;
          tmp[o + 2] = v2 <= 0 ? 0 : v2 >= TOP ? 255 : v2 >> PRECISION_BITS;
        }
        continue;
      }
      case 5: {
        const k0 = kk[kb]!, k1 = kk[kb + 1]!, k2 = kk[kb + 2]!, k3 = kk[kb + 3]!, k4 = kk[kb + 4]!;
        for (let sy = sy0, q = sy0 * w3 + start; sy < sy1; sy++, q += w3, o += n3) {
          const v0 = HALF + data[q]! * k0 + data[q + 3]! * k1 + data[q + 6]! * k2 + data[q + 9]! * k3 + data[q + 12]! * k4;
          const v1 = HALF + data[q + 1]! * k0 + data[q + 4]! * k1 + data[q + 7]! * k2 + data[q + 10]! * k3 + data[q + 13]! * k4;
          const v2 = HALF + data[q + 2]! * k0 + data[q + 5]! * k1 + data[q + 8]! * k2 + data[q + 11]! * k3 + data[q + 14]! * k4;
          tmp[o] = v0 <= 0 ? 0 : v0 >= TOP ? 255 : v0 >> PRECISION_BITS;
          tmp[o + 1] = v1 <= 0 ? 0 : v1 >= TOP ? 255 : v1 >> PRECISION_BITS;
          tmp[o + 2] = v2 <= 0 ? 0 : v2 >= TOP ? 255 : v2 >> PRECISION_BITS;
        }
        continue;
      }
      case 6: {
        const k0 = kk[kb]!, k1 = kk[kb + 1]!, k2 = kk[kb + 2]!, k3 = kk[kb + 3]!, k4 = kk[kb + 4]!, k5 = kk[kb + 5]!;
        for (let sy = sy0, q = sy0 * w3 + start; sy < sy1; sy++, q += w3, o += n3) {
          const v0 = HALF + data[q]! * k0 + data[q + 3]! * k1 + data[q + 6]! * k2 + data[q + 9]! * k3 + data[q + 12]! * k4 + data[q + 15]! * k5;
          const v1 = HALF + data[q + 1]! * k0 + data[q + 4]! * k1 + data[q + 7]! * k2 + data[q + 10]! * k3 + data[q + 13]! * k4 + data[q + 16]! * k5;
          const v2 = HALF + data[q + 2]! * k0 + data[q + 5]! * k1 + data[q + 8]! * k2 + data[q + 11]! * k3 + data[q + 14]! * k4 + data[q + 17]! * k5;
          tmp[o] = v0 <= 0 ? 0 : v0 >= TOP ? 255 : v0 >> PRECISION_BITS;
          tmp[o + 1] = v1 <= 0 ? 0 : v1 >= TOP ? 255 : v1 >> PRECISION_BITS;
          tmp[o + 2] = v2 <= 0 ? 0 : v2 >= TOP ? 255 : v2 >> PRECISION_BITS;
        }
        continue;
      }
      case 7: {
        const k0 = kk[kb]!, k1 = kk[kb + 1]!, k2 = kk[kb + 2]!, k3 = kk[kb + 3]!, k4 = kk[kb + 4]!, k5 = kk[kb + 5]!, k6 = kk[kb + 6]!;
        for (let sy = sy0, q = sy0 * w3 + start; sy < sy1; sy++, q += w3, o += n3) {
          const v0 = HALF + data[q]! * k0 + data[q + 3]! * k1 + data[q + 6]! * k2 + data[q + 9]! * k3 + data[q + 12]! * k4 + data[q + 15]! * k5 + data[q + 18]! * k6;
          const v1 = HALF + data[q + 1]! * k0 + data[q + 4]! * k1 + data[q + 7]! * k2 + data[q + 10]! * k3 + data[q + 13]! * k4 + data[q + 16]! * k5 + data[q + 19]! * k6;
          const v2 = HALF + data[q + 2]! * k0 + data[q + 5]! * k1 + data[q + 8]! * k2 + data[q + 11]! * k3 + data[q + 14]! * k4 + data[q + 17]! * k5 + data[q + 20]! * k6;
          tmp[o] = v0 <= 0 ? 0 : v0 >= TOP ? 255 : v0 >> PRECISION_BITS;
          tmp[o + 1] = v1 <= 0 ? 0 : v1 >= TOP ? 255 : v1 >> PRECISION_BITS;
          tmp[o + 2] = v2 <= 0 ? 0 : v2 >= TOP ? 255 : v2 >> PRECISION_BITS;
        }
        continue;
      }
      case 8: {
        const k0 = kk[kb]!, k1 = kk[kb + 1]!, k2 = kk[kb + 2]!, k3 = kk[kb + 3]!, k4 = kk[kb + 4]!, k5 = kk[kb + 5]!, k6 = kk[kb + 6]!, k7 = kk[kb + 7]!;
        for (let sy = sy0, q = sy0 * w3 + start; sy < sy1; sy++, q += w3, o += n3) {
          const v0 = HALF + data[q]! * k0 + data[q + 3]! * k1 + data[q + 6]! * k2 + data[q + 9]! * k3 + data[q + 12]! * k4 + data[q + 15]! * k5 + data[q + 18]! * k6 + data[q + 21]! * k7;
          const v1 = HALF + data[q + 1]! * k0 + data[q + 4]! * k1 + data[q + 7]! * k2 + data[q + 10]! * k3 + data[q + 13]! * k4 + data[q + 16]! * k5 + data[q + 19]! * k6 + data[q + 22]! * k7;
          const v2 = HALF + data[q + 2]! * k0 + data[q + 5]! * k1 + data[q + 8]! * k2 + data[q + 11]! * k3 + data[q + 14]! * k4 + data[q + 17]! * k5 + data[q + 20]! * k6 + data[q + 23]! * k7;
          tmp[o] = v0 <= 0 ? 0 : v0 >= TOP ? 255 : v0 >> PRECISION_BITS;
          tmp[o + 1] = v1 <= 0 ? 0 : v1 >= TOP ? 255 : v1 >> PRECISION_BITS;
          tmp[o + 2] = v2 <= 0 ? 0 : v2 >= TOP ? 255 : v2 >> PRECISION_BITS;
        }
        continue;
      }
    }
  }
  return tmp;
}

/** horizontalPass for kernels wider than 8 taps: row-major, taps in a loop. */
function horizontalWide(data: Uint8Array, w: number, c: PilCoeffs, x0: number, x1: number, sy0: number, sy1: number, tmp: Uint8Array): Uint8Array {
  const { bounds, kk, ksize } = c;
  const w3 = w * 3;
  for (let sy = sy0, o = 0; sy < sy1; sy++) {
    const srow = sy * w3;
    for (let xx = x0; xx < x1; xx++, o += 3) {
      let s0 = HALF, s1 = HALF, s2 = HALF;
      for (let k = xx * ksize, end = k + bounds[xx * 2 + 1]!, p = srow + bounds[xx * 2]! * 3; k < end; k++, p += 3) {
        const kv = kk[k]!;
        s0 += data[p]! * kv;
        s1 += data[p + 1]! * kv;
        s2 += data[p + 2]! * kv;
      }
      tmp[o] = s0 <= 0 ? 0 : s0 >= TOP ? 255 : s0 >> PRECISION_BITS;
      tmp[o + 1] = s1 <= 0 ? 0 : s1 >= TOP ? 255 : s1 >> PRECISION_BITS;
      tmp[o + 2] = s2 <= 0 ? 0 : s2 >= TOP ? 255 : s2 >> PRECISION_BITS;
    }
  }
  return tmp;
}

/**
 * What the model sees of a picture: resized to `resized` [w, h] (Pillow BILINEAR), then the window
 * `crop` [H, W] from (left, top) in the resized picture — torchvision's CenterCrop offsets; where the window
 * reaches outside the resized picture it is black, as torchvision pads. The plain resize is
 * { resized: [W, H], left: 0, top: 0, crop: [H, W] }.
 */
export interface ModelView { resized: [number, number]; left: number; top: number; crop: [number, number] }

function viewWindow(v: ModelView): ResampleWindow & { pads: boolean } {
  const [rw, rh] = v.resized;
  const [ch, cw] = v.crop;
  const x0 = Math.max(0, v.left), x1 = Math.min(rw, v.left + cw);
  const y0 = Math.max(0, v.top), y1 = Math.min(rh, v.top + ch);
  return { rw, rh, x0, x1, y0, y1, pads: x0 !== v.left || y0 !== v.top || x1 - x0 !== cw || y1 - y0 !== ch };
}

/** The model's picture (8-bit RGB, crop[1] × crop[0]): exactly resizeRgb to `resized` followed by the crop. */
export function modelViewRgb(img: RgbImage, v: ModelView, antialias = true): RgbImage {
  const [ch, cw] = v.crop;
  const win = viewWindow(v);
  const out = new Uint8Array(cw * ch * 3);
  const n3 = (win.x1 - win.x0) * 3;
  const dx = (win.x0 - v.left) * 3;
  resampleRgb(img, win, antialias, (y, row, off) => out.set(row.subarray(off, off + n3), (y - v.top) * cw * 3 + dx));
  return { width: cw, height: ch, data: out };
}

/**
 * The model's input tensor [3, H, W] ('NCHW') or [H, W, 3] ('NHWC') of a picture: modelViewRgb then
 * imageToTensor with `spec`, bit for bit, in one pass (no intermediate picture, no second sweep), only
 * over the source rows and columns the window reads.
 */
export function modelInputTensor(img: RgbImage, v: ModelView, spec: NormalizeSpec, layout: TensorLayout, antialias = true): Float32Array {
  const [ch, cw] = v.crop;
  const hw = cw * ch;
  const out = new Float32Array(hw * 3);
  const win = viewWindow(v);
  const [l0, l1, l2] = normalizeLuts(spec);
  // the tensor's channel c reads the picture's channel s[c]
  const [s0, s1, s2] = spec.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  if (win.pads) {
    // black (pixel 0) where the crop reaches outside the picture
    const z = [l0[0]!, l1[0]!, l2[0]!];
    if (layout === 'NCHW') for (let c = 0; c < 3; c++) out.fill(z[c]!, c * hw, (c + 1) * hw);
    else for (let i = 0; i < hw * 3; i++) out[i] = z[i % 3]!;
  }
  const n = win.x1 - win.x0;
  const dx = win.x0 - v.left;
  const js: (y: number, row: Uint8Array, off: number) => void = layout === 'NCHW' ? (y, row, off) => {
    const p = (y - v.top) * cw + dx;
    for (let j = 0, q = off; j < n; j++, q += 3) {
      out[p + j] = l0[row[q + s0]!]!;
      out[hw + p + j] = l1[row[q + s1]!]!;
      out[2 * hw + p + j] = l2[row[q + s2]!]!;
    }
  } : (y, row, off) => {
    let p = ((y - v.top) * cw + dx) * 3;
    for (let j = 0, q = off; j < n; j++, q += 3, p += 3) {
      out[p] = l0[row[q + s0]!]!;
      out[p + 1] = l1[row[q + s1]!]!;
      out[p + 2] = l2[row[q + s2]!]!;
    }
  };
  // where the passes run in WebAssembly, the rows are normalised there too (resample-simd.ts n: the same
  // tables) into a region the passes leave free at the start of its memory: [3 tables][the tensor]
  const K = simdKernels();
  const T = 3072;
  let tensor: Float32Array | undefined;
  let first = true;
  resampleRgb(img, win, antialias, (y, row, off) => {
    if (first) {
      first = false;
      // every row comes from one path: the WebAssembly one where the first row lies in its memory
      if (K && row.buffer === K.memory.buffer) {
        const tables = new Float32Array(K.memory.buffer, 0, 768);
        tables.set(l0, 0);
        tables.set(l1, 256);
        tables.set(l2, 512);
        tensor = new Float32Array(K.memory.buffer, T, hw * 3);
        if (win.pads) tensor.set(out);
      }
    }
    if (!tensor) return js(y, row, off);
    const p = (y - v.top) * cw + dx;
    if (layout === 'NCHW') K!.n(off + s0, off + s1, off + s2, n, 0, 1024, 2048, T + p * 4, T + (hw + p) * 4, T + (2 * hw + p) * 4, 4);
    else K!.n(off + s0, off + s1, off + s2, n, 0, 1024, 2048, T + p * 12, T + p * 12 + 4, T + p * 12 + 8, 12);
  }, K ? T + hw * 12 : 0);
  if (tensor) out.set(tensor);
  return out;
}
