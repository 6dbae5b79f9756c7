/**
 * The input path's fast routines (src/image/resample.ts) against the routines they replaced, kept here
 * verbatim as the reference: Pillow-bilinear resizeRgb, torchvision's CenterCrop and imageToTensor as
 * they were before issue 27. The new ones must give the same bits (max difference 0) on odd sizes, up and
 * down, with and without a crop (padding included), in both layouts and channel orders. (The PIL /
 * torchvision goldens themselves are held by test/image.test.ts and test/input-parity.test.ts.)
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { resizeRgb, centerCropOffsets, shortSideSize } from '../src/image/resize.js';
import { resizeCrop, resizeCropPlan } from '../src/image/view.js';
import { imageToTensor, resolveNormalization, type NormalizeOptions } from '../src/image/normalize.js';
import { modelInputTensor, modelViewRgb } from '../src/image/resample.js';
import { simdKernels, useSimd } from '../src/image/resample-simd.js';
import type { RgbImage } from '../src/image/types.js';

// ---- the reference: src/image/resize.ts and normalize.ts before issue 27 (commit c4f1b7e) ----
const PRECISION_BITS = 32 - 8 - 2;

interface PilCoeffs { ksize: number; bounds: Int32Array; kk: Int32Array }

function pilCoeffs(inSize: number, outSize: number, antialias: boolean): PilCoeffs {
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
  return { ksize, bounds, kk };
}

function clip8(ss: number): number {
  // ss is an int32 (8-bit values times 22-bit coefficients): the shift is Pillow's floor division
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

function oldResizeRgb(img: RgbImage, outW: number, outH: number, opts: { antialias?: boolean } = {}): RgbImage {
  const antialias = opts.antialias ?? true;
  const { width: w, height: h, data } = img;
  if (w === outW && h === outH) return { width: w, height: h, data: data.slice() };
  const needH = outW !== w;
  const needV = outH !== h;
  const half = 1 << (PRECISION_BITS - 1);

  const cv = pilCoeffs(h, outH, antialias);
  // Only rows [yFirst, yLast) of the source are needed by the vertical pass.
  const yFirst = needV ? cv.bounds[0]! : 0;
  const yLast = needV ? cv.bounds[outH * 2 - 2]! + cv.bounds[outH * 2 - 1]! : h;

  let cur = data;
  let curW = w;
  let rowOffset = 0; // source row of cur's row 0
  if (needH) {
    const ch = pilCoeffs(w, outW, antialias);
    const rows = needV ? yLast - yFirst : h;
    const tmp = new Uint8Array(outW * rows * 3);
    const { bounds, kk, ksize } = ch;
    for (let yy = 0; yy < rows; yy++) {
      const srow = (yy + (needV ? yFirst : 0)) * w * 3;
      let o = yy * outW * 3;
      for (let xx = 0; xx < outW; xx++, o += 3) {
        const kb = xx * ksize;
        const taps = bounds[xx * 2 + 1]!;
        let p = srow + bounds[xx * 2]! * 3;
        let s0 = half, s1 = half, s2 = half;
        for (let x = 0; x < taps; x++, p += 3) {
          const kv = kk[kb + x]!;
          s0 += data[p]! * kv;
          s1 += data[p + 1]! * kv;
          s2 += data[p + 2]! * kv;
        }
        tmp[o] = clip8(s0);
        tmp[o + 1] = clip8(s1);
        tmp[o + 2] = clip8(s2);
      }
    }
    cur = tmp;
    curW = outW;
    rowOffset = needV ? yFirst : 0;
  }
  if (!needV) return { width: outW, height: h, data: cur };
  // vertical pass row by row: each output row is a weighted sum of a few whole source rows (contiguous)
  const out = new Uint8Array(outW * outH * 3);
  const rowStride = curW * 3;
  const acc = new Int32Array(rowStride);
  const { bounds, kk, ksize } = cv;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2]! - rowOffset;
    const taps = bounds[yy * 2 + 1]!;
    const kb = yy * ksize;
    acc.fill(half);
    for (let y = 0; y < taps; y++) {
      const kv = kk[kb + y]!;
      const r = (y + ymin) * rowStride;
      for (let i = 0; i < rowStride; i++) acc[i] += cur[r + i]! * kv;
    }
    const o = yy * rowStride;
    for (let i = 0; i < rowStride; i++) out[o + i] = clip8(acc[i]!);
  }
  return { width: outW, height: outH, data: out };
}
function oldCenterCrop(img: RgbImage, outW: number, outH: number): RgbImage {
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
function oldImageToTensor(img: RgbImage, opts: NormalizeOptions & { layout: "NCHW" | "NHWC" }): Float32Array {
  const spec = resolveNormalization(opts);
  const f32 = Math.fround;
  const { width, height, data } = img;
  const hw = width * height;
  const out = new Float32Array(hw * 3);
  const div = spec.divisor;
  const m = spec.mean.map(f32);
  const s = spec.std.map(f32);
  const src = spec.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  // value lookup per channel (256 entries) keeps this exact and fast
  for (let c = 0; c < 3; c++) {
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = f32(f32(f32(v / div) - m[c]!) / s[c]!);
    const sc = src[c]!;
    if (opts.layout === 'NCHW') {
      const base = c * hw;
      for (let i = 0; i < hw; i++) out[base + i] = lut[data[i * 3 + sc]!]!;
    } else {
      for (let i = 0; i < hw; i++) out[i * 3 + c] = lut[data[i * 3 + sc]!]!;
    }
  }
  return out;
}

// ---- the comparisons ----

/** A deterministic picture: smooth gradients, sharp edges and noise (every code path of the clip and the taps). */
function picture(w: number, h: number, seed: number): RgbImage {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      data[i] = Math.round((255 * x) / Math.max(1, w - 1));
      data[i + 1] = (x >> 2) % 2 === (y >> 2) % 2 ? 255 : 0;
      data[i + 2] = Math.floor(rnd() * 256);
    }
  }
  return { width: w, height: h, data };
}

/** The largest |a - b| over two arrays of the same length (Infinity when the lengths differ). */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// [w, h] -> [outW, outH]: down, up, one axis only, mixed, tiny, the bench's 500×375 -> 224
const SIZES: [number, number, number, number][] = [
  [500, 375, 224, 224], [333, 217, 101, 77], [37, 23, 64, 50], [120, 45, 61, 90], [100, 80, 100, 33],
  [81, 64, 40, 64], [1, 1, 5, 3], [7, 1, 3, 2], [641, 479, 299, 299], [64, 48, 32, 24], [13, 1000, 11, 97], [1000, 40, 57, 30],
];

describe('resample.ts is the old Pillow path, bit for bit', () => {
  test('resizeRgb: max difference 0 from the old routine, antialiased and not', () => {
    for (const [k, [w, h, ow, oh]] of SIZES.entries()) {
      const img = picture(w, h, 7 + k);
      for (const antialias of [true, false]) {
        const want = oldResizeRgb(img, ow, oh, { antialias });
        const got = resizeRgb(img, ow, oh, { antialias });
        assert.equal(got.width, ow);
        assert.equal(got.height, oh);
        assert.equal(maxDiff(got.data, want.data), 0, `${w}x${h} -> ${ow}x${oh}, antialias ${antialias}`);
      }
    }
  });

  test('Resize(N) + CenterCrop (view.ts resizeCrop): the window alone equals the whole resize then the crop, padding included', () => {
    const cases: [number, number, number, [number, number]][] = [
      [500, 375, 256, [224, 224]], [375, 500, 256, [224, 224]], [333, 217, 97, [81, 63]], [50, 30, 32, [40, 48]],
      [41, 77, 40, [50, 20]], [640, 480, 480, [480, 640]], [17, 19, 64, [57, 71]], [300, 200, 200, [200, 300]],
    ];
    for (const [k, [w, h, resize, crop]] of cases.entries()) {
      const img = picture(w, h, 100 + k);
      const [rw, rh] = shortSideSize(w, h, resize);
      const want = oldCenterCrop(oldResizeRgb(img, rw, rh), crop[1], crop[0]);
      const got = resizeCrop(img, { resize, crop }).image;
      assert.equal(maxDiff(got.data, want.data), 0, `${w}x${h} resize ${resize} crop ${crop.join('x')}`);
      // and a window cut straight from modelViewRgb at the centre-crop offsets
      const { left, top } = centerCropOffsets(rw, rh, crop[1], crop[0]);
      assert.equal(maxDiff(modelViewRgb(img, { resized: [rw, rh], left, top, crop }).data, want.data), 0);
    }
  });

  test('modelInputTensor: max difference 0 from resize, crop and imageToTensor done one after another', () => {
    const norms: NormalizeOptions[] = [{ preset: 'imagenet' }, { preset: 'caffe' }, { preset: 'symmetric' }, { mean: [0.5, 0.25, 0.125], std: [0.3, 0.2, 0.1], channelOrder: 'BGR' }];
    let checked = 0;
    for (const [k, [w, h, ow, oh]] of SIZES.entries()) {
      const img = picture(w, h, 300 + k);
      for (const norm of norms) {
        for (const layout of ['NCHW', 'NHWC'] as const) {
          const spec = resolveNormalization(norm);
          // the plain resize to the model's input
          const want = oldImageToTensor(oldResizeRgb(img, ow, oh), { ...norm, layout });
          const got = modelInputTensor(img, { resized: [ow, oh], left: 0, top: 0, crop: [oh, ow] }, spec, layout);
          assert.equal(maxDiff(got, want), 0, `${w}x${h} -> ${ow}x${oh} ${layout} ${JSON.stringify(norm)}`);
          // Resize(short side) + CenterCrop(oh, ow), which may pad
          const resize = Math.max(1, Math.round(Math.min(ow, oh) * 1.14));
          const plan = resizeCropPlan(w, h, { resize, crop: [oh, ow] });
          const wantC = oldImageToTensor(oldCenterCrop(oldResizeRgb(img, plan.resized[0], plan.resized[1]), ow, oh), { ...norm, layout });
          const gotC = modelInputTensor(img, { resized: plan.resized, left: plan.left, top: plan.top, crop: [oh, ow] }, spec, layout);
          assert.equal(maxDiff(gotC, wantC), 0, `${w}x${h} resize ${resize} crop ${oh}x${ow} ${layout} ${JSON.stringify(norm)}`);
          // the same values bit for bit (also -0 and 0 apart)
          assert.deepEqual(new Uint32Array(gotC.buffer), new Uint32Array(wantC.buffer));
          checked += 2;
        }
      }
    }
    assert.equal(checked, SIZES.length * 4 * 2 * 2);
  });

  test('imageToTensor (now on the shared lookup tables) is the old routine', () => {
    const img = picture(53, 29, 5);
    for (const norm of [{ preset: 'imagenet' }, { preset: 'caffe' }, { preset: 'unit' }] as NormalizeOptions[]) {
      for (const layout of ['NCHW', 'NHWC'] as const) assert.equal(maxDiff(imageToTensor(img, { ...norm, layout }), oldImageToTensor(img, { ...norm, layout })), 0);
    }
  });
});

describe('the WebAssembly SIMD passes (resample-simd.ts) and the JavaScript ones give the same bytes', () => {
  test('Node has WebAssembly SIMD: the SIMD passes are the ones in use here (not a silent fallback)', () => {
    assert.ok(simdKernels(), 'Node 20 validates and compiles the module');
  });

  test('resizeRgb and modelInputTensor, SIMD on and off: max difference 0 from the old routines; a picture wider than a band, cut into several', () => {
    const sizes: [number, number, number, number][] = [...SIZES, [2000, 700, 224, 224], [1200, 900, 1500, 1100], [640, 480, 640, 200], [640, 480, 300, 480]];
    const spec = resolveNormalization({ preset: 'imagenet' });
    let checked = 0;
    try {
      for (const simd of [true, false]) {
        useSimd(simd);
        for (const [k, [w, h, ow, oh]] of sizes.entries()) {
          const img = picture(w, h, 900 + k);
          for (const antialias of [true, false]) {
            assert.equal(maxDiff(resizeRgb(img, ow, oh, { antialias }).data, oldResizeRgb(img, ow, oh, { antialias }).data), 0, `simd ${simd}: ${w}x${h} -> ${ow}x${oh}, antialias ${antialias}`);
            checked++;
          }
          const plan = resizeCropPlan(w, h, { resize: Math.round(Math.min(ow, oh) * 1.14), crop: [oh, ow] });
          const want = oldImageToTensor(oldCenterCrop(oldResizeRgb(img, plan.resized[0], plan.resized[1]), ow, oh), { preset: 'imagenet', layout: 'NCHW' });
          assert.equal(maxDiff(modelInputTensor(img, { resized: plan.resized, left: plan.left, top: plan.top, crop: [oh, ow] }, spec, 'NCHW'), want), 0, `simd ${simd}: ${w}x${h} crop`);
          checked++;
        }
      }
    } finally {
      useSimd(true);
    }
    assert.equal(checked, 2 * (SIZES.length + 4) * 3);
  });
});
