import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

import {
  applyColormap,
  centerCrop,
  colormapTable,
  COLORMAPS,
  crc32,
  createRgbImage,
  decodePng,
  drawText,
  encodePng,
  glyphPixel,
  grayscaleImage,
  heatmapImage,
  imageToTensor,
  imagesToBatch,
  measureText,
  montage,
  overlay,
  parseNpy,
  quantizeLevel,
  resizeBatch,
  resizeBilinear,
  resizeRgb,
  resizeShortSide,
  tensorToRgb,
  toFloat32,
  toRgbImage,
  writeNpy,
  type NpyArray,
  type RgbImage,
} from '../src/image/index.js';
import { readImageFile, readNpyFile, writePng } from '../src/image/node.js';
import { writeFileAtomic } from '../src/util/write-node.js';

const FIX = fileURLToPath(new URL('./fixtures/image/', import.meta.url));
const manifest = JSON.parse(readFileSync(join(FIX, 'manifest.json'), 'utf8'));
const npy = (name: string): NpyArray => parseNpy(new Uint8Array(readFileSync(join(FIX, name))));

// The same 32-bit LCG as scripts/image_golden.py, so inputs need not be stored.
function lcgU32(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s;
  }
  return out;
}
const lcgF32 = (n: number, seed: number) => Float32Array.from(lcgU32(n, seed), (s) => (s >>> 8) / 16777216);
const lcgU8 = (n: number, seed: number) => Uint8Array.from(lcgU32(n, seed), (s) => s >>> 24);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('npy', () => {
  test('reads numpy-written dtypes with exact values and shapes', () => {
    const f4 = npy('npy/f4.npy');
    assert.equal(f4.dtype, '<f4');
    assert.deepEqual(f4.shape, [2, 3]);
    assert.ok(f4.data instanceof Float32Array);
    assert.deepEqual(Array.from(f4.data), [1.5, -2.25, 3, Math.fround(0.1), Math.fround(1e-8), -0]);
    assert.ok(Object.is(f4.data[5], -0));

    const f8 = npy('npy/f8.npy');
    assert.equal(f8.dtype, '<f8');
    assert.deepEqual(Array.from(f8.data as Float64Array), [Math.PI, -Math.E, 1e300]);

    const i4 = npy('npy/i4.npy');
    assert.deepEqual(i4.shape, [2, 2]);
    assert.deepEqual(Array.from(i4.data as Int32Array), [-1, 2, 2147483647, -2147483648]);

    const i8 = npy('npy/i8.npy');
    assert.ok(i8.data instanceof BigInt64Array);
    assert.deepEqual(Array.from(i8.data), [-(2n ** 40n), 7n, 2n ** 53n + 1n]);
    assert.deepEqual(Array.from(toFloat32(i8)), [-(2 ** 40), 7, 2 ** 53]);

    const u1 = npy('npy/u1.npy');
    assert.equal(u1.dtype, '|u1');
    assert.deepEqual(u1.shape, [1, 3]);
    assert.deepEqual(Array.from(u1.data as Uint8Array), [0, 1, 255]);

    const b1 = npy('npy/b1.npy');
    assert.equal(b1.dtype, '|b1');
    assert.deepEqual(Array.from(b1.data as Uint8Array), [1, 0, 1, 1]);

    const scalar = npy('npy/scalar.npy');
    assert.deepEqual(scalar.shape, []);
    assert.deepEqual(Array.from(scalar.data as Float32Array), [2.5]);

    const empty = npy('npy/empty.npy');
    assert.deepEqual(empty.shape, [0, 3]);
    assert.equal(empty.data.length, 0);

    const big = npy('npy/big4d.npy');
    assert.deepEqual(big.shape, [2, 3, 4, 5]);
    assert.equal(big.data[119], 119);
    assert.equal(big.data[1 * 60 + 2 * 20 + 3 * 5 + 4], 119); // C order
    assert.equal(big.data[37], 37);
  });

  test('reads format versions 2.0 and 3.0', () => {
    for (const v of ['f4_v2.npy', 'f4_v3.npy']) {
      const a = npy('npy/' + v);
      assert.deepEqual(a.shape, [2, 3]);
      assert.deepEqual(Array.from(a.data as Float32Array), [1.5, -2.25, 3, Math.fround(0.1), Math.fround(1e-8), -0]);
    }
    const raw = new Uint8Array(readFileSync(join(FIX, 'npy/f4_v3.npy')));
    assert.equal(raw[6], 3);
  });

  test('clear errors for fortran order, big-endian, complex, bad magic, truncation', () => {
    assert.throws(() => npy('npy/fortran.npy'), /Fortran-ordered arrays are not supported/);
    assert.throws(() => npy('npy/bigendian.npy'), /unsupported dtype '>f4' \(supported: <f4, <f8, <i4, <i8, \|u1, \|b1\)/);
    assert.throws(() => npy('npy/complex.npy'), /unsupported dtype '<c8'/);
    assert.throws(() => parseNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])), /not a \.npy file/);
    const good = new Uint8Array(readFileSync(join(FIX, 'npy/f4.npy')));
    assert.throws(() => parseNpy(good.subarray(0, good.length - 4)), /truncated data: shape \(2, 3\) <f4 needs 24 bytes, file has 20/);
  });

  test('writeNpy: numpy-style v1.0 header padded to 64 bytes, round trip', () => {
    const data = Float32Array.from([1, -2.5, 3.25, 1e-20, 7, 8]);
    const bytes = writeNpy(data, [2, 3]);
    assert.deepEqual(Array.from(bytes.subarray(0, 8)), [0x93, 78, 85, 77, 80, 89, 1, 0]);
    const hlen = bytes[8]! | (bytes[9]! << 8);
    assert.equal((10 + hlen) % 64, 0);
    assert.equal(bytes.length, 10 + hlen + 24);
    const header = new TextDecoder().decode(bytes.subarray(10, 10 + hlen));
    assert.equal(header.trimEnd(), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    assert.equal(header[header.length - 1], '\n');
    const back = parseNpy(bytes);
    assert.deepEqual(back.shape, [2, 3]);
    assert.deepEqual(Array.from(back.data as Float32Array), Array.from(data));

    // 1-d shapes use the (n,) tuple form; 0-d is ()
    assert.match(new TextDecoder().decode(writeNpy(new Float32Array(4), [4]).subarray(10, 64)), /'shape': \(4,\)/);
    assert.deepEqual(parseNpy(writeNpy(Float32Array.from([9]), [])).shape, []);
    // other dtypes
    assert.deepEqual(Array.from(parseNpy(writeNpy(Int32Array.from([-7, 5]), [2])).data as Int32Array), [-7, 5]);
    assert.equal(parseNpy(writeNpy(Float64Array.from([Math.PI]), [1])).data[0], Math.PI);
    assert.equal(parseNpy(writeNpy(Uint8Array.from([200]), [1, 1])).dtype, '|u1');
    // an unaligned subarray view still writes its own elements
    const big = Float32Array.from([0, 1, 2, 3, 4]);
    assert.deepEqual(Array.from(parseNpy(writeNpy(big.subarray(2, 5), [3])).data as Float32Array), [2, 3, 4]);
    assert.throws(() => writeNpy(new Float32Array(5), [2, 3]), /shape \[2, 3\] holds 6 elements, data has 5/);
  });

  test('readNpyFile reads fixtures and reports missing files', async () => {
    const a = await readNpyFile(join(FIX, 'npy/i4.npy'));
    assert.equal(a.data[3], -2147483648);
    await assert.rejects(readNpyFile(join(FIX, 'nope.npy')), /npy file not found: .*nope\.npy/);
  });
});

describe('resize (cv2 INTER_LINEAR float32 parity)', () => {
  const golden = toFloat32(npy('resize_cv2.npy'));
  for (const c of manifest.resize_cv2 as {
    h: number; w: number; outH: number; outW: number; seed: number; rows: number[] | null; cols: number[] | null;
    offset: number; count: number;
  }[]) {
    test(`${c.h}x${c.w} -> ${c.outH}x${c.outW}`, () => {
      const src = lcgF32(c.h * c.w, c.seed);
      const out = resizeBilinear(src, c.h, c.w, c.outH, c.outW);
      assert.equal(out.length, c.outH * c.outW);
      let mine: number[];
      if (c.rows === null) {
        mine = Array.from(out);
      } else {
        mine = [];
        for (const r of c.rows) for (let x = 0; x < c.outW; x++) mine.push(out[r * c.outW + x]!);
        for (const col of c.cols!) for (let y = 0; y < c.outH; y++) mine.push(out[y * c.outW + col]!);
      }
      const ref = golden.subarray(c.offset, c.offset + c.count);
      assert.equal(mine.length, ref.length);
      const err = maxAbsDiff(mine, ref);
      assert.ok(err <= 1e-5, `max abs error ${err}`);
      // in practice the port is bit-exact with OpenCV 4.6 (SSE build)
      assert.equal(err, 0, `expected bit-exact parity, max abs error ${err}`);
    });
  }

  test('hand-checked values: 2x2 -> 4x4 and edge clamping', () => {
    const out = resizeBilinear(Float32Array.from([0, 1, 2, 3]), 2, 2, 4, 4);
    // sx = (x + 0.5) / 2 - 0.5 -> -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    assert.deepEqual(Array.from(out.subarray(0, 4)), [0, 0.25, 0.75, 1]);
    assert.deepEqual(Array.from(out.subarray(12, 16)), [2, 2.25, 2.75, 3]);
    assert.deepEqual(Array.from(out.subarray(4, 8)), [0.5, 0.75, 1.25, 1.5]);
    // downscale without antialiasing: 4 -> 2 samples midway between pairs
    assert.deepEqual(Array.from(resizeBilinear(Float32Array.from([0, 4, 8, 12]), 1, 4, 1, 2)), [2, 10]);
  });

  test('resizeBatch equals per-map resizeBilinear', () => {
    const n = 3, h = 5, w = 6;
    const maps = lcgF32(n * h * w, 99);
    const batch = resizeBatch(maps, n, h, w, 13, 11);
    for (let i = 0; i < n; i++) {
      const one = resizeBilinear(maps.subarray(i * h * w, (i + 1) * h * w), h, w, 13, 11);
      assert.deepEqual(Array.from(batch.subarray(i * 143, (i + 1) * 143)), Array.from(one));
    }
    assert.throws(() => resizeBatch(maps, 2, h, w, 4, 4), /expected 2\*5\*6 = 60/);
    assert.throws(() => resizeBilinear(maps, 0, 3, 4, 4), /h must be a positive integer/);
  });
});

describe('resizeRgb (Pillow BILINEAR parity)', () => {
  const golden = npy('resize_pil.npy').data as Uint8Array;
  for (const c of manifest.resize_pil as { w: number; h: number; outW: number; outH: number; seed: number; offset: number; count: number }[]) {
    test(`${c.w}x${c.h} -> ${c.outW}x${c.outH}`, () => {
      const img: RgbImage = { width: c.w, height: c.h, data: lcgU8(c.w * c.h * 3, c.seed) };
      const out = resizeRgb(img, c.outW, c.outH);
      assert.equal(out.width, c.outW);
      assert.equal(out.height, c.outH);
      const ref = golden.subarray(c.offset, c.offset + c.count);
      const err = maxAbsDiff(out.data, ref);
      assert.ok(err <= 1, `max level difference ${err}`);
      assert.equal(err, 0, `expected bit-exact parity with Pillow, max diff ${err}`);
    });
  }

  test('antialias on averages, off samples (3x downscale of a 0/255/0 pattern)', () => {
    const w = 9;
    const data = new Uint8Array(w * 3);
    for (let x = 0; x < w; x++) data.fill(x % 3 === 1 ? 255 : 0, x * 3, x * 3 + 3);
    const img = { width: w, height: 1, data };
    const off = resizeRgb(img, 3, 1, { antialias: false });
    assert.deepEqual(Array.from(off.data), [255, 255, 255, 255, 255, 255, 255, 255, 255]);
    const on = resizeRgb(img, 3, 1);
    // triangle kernel of radius 3: middle output weights x=2..6 by 1/3, 2/3, 1, 2/3, 1/3 -> 255 / 3 = 85;
    // at the edges the kernel is cut and renormalised: 255 * 1 / (2/3 + 1 + 2/3 + 1/3) = 95.6 -> 96
    assert.deepEqual(Array.from(on.data), [96, 96, 96, 85, 85, 85, 96, 96, 96]);
    // same size returns an equal copy
    const same = resizeRgb(img, 9, 1);
    assert.deepEqual(same.data, img.data);
    assert.notEqual(same.data, img.data);
  });

  test('resizeShortSide and centerCrop follow torchvision', () => {
    const img = createRgbImage(300, 200, [10, 20, 30]);
    const r = resizeShortSide(img, 100);
    assert.equal(r.width, 150);
    assert.equal(r.height, 100);
    assert.deepEqual(Array.from(r.data.subarray(0, 3)), [10, 20, 30]);
    const tall = resizeShortSide(createRgbImage(7, 10), 3);
    assert.deepEqual([tall.width, tall.height], [3, 4]); // floor(3 * 10 / 7) = 4

    // 5 wide, crop 2: left = round(1.5) = 2 (Python rounds half to even); 6 high, crop 3: top = round(1.5) = 2
    const grid: RgbImage = { width: 5, height: 6, data: Uint8Array.from({ length: 90 }, (_, i) => Math.floor(i / 3)) };
    const c = centerCrop(grid, 2, 3);
    assert.deepEqual(Array.from(c.data.filter((_, i) => i % 3 === 0)), [12, 13, 17, 18, 22, 23]);
    // 7 -> 4: round(1.5) = 2; 9 -> 4: round(2.5) = 2
    const g2: RgbImage = { width: 7, height: 9, data: Uint8Array.from({ length: 189 }, (_, i) => Math.floor(i / 3)) };
    assert.equal(centerCrop(g2, 4, 4).data[0], 2 * 7 + 2);
    // larger than the image: zero padding, (crop - size) // 2 on the left/top
    const p = centerCrop(createRgbImage(2, 2, [9, 9, 9]), 5, 4);
    assert.deepEqual([p.width, p.height], [5, 4]);
    const px = (x: number, y: number) => p.data[(y * 5 + x) * 3];
    assert.deepEqual([px(0, 0), px(1, 1), px(2, 1), px(3, 1), px(1, 2), px(2, 2), px(3, 2), px(1, 3)], [0, 9, 9, 0, 9, 9, 0, 0]);
  });
});

describe('normalize', () => {
  const img: RgbImage = { width: 2, height: 1, data: Uint8Array.from([255, 0, 128, 10, 20, 30]) };

  test('imagenet NCHW and NHWC', () => {
    const nchw = imageToTensor(img, { preset: 'imagenet', layout: 'NCHW' });
    const expected = [
      (1 - 0.485) / 0.229, (10 / 255 - 0.485) / 0.229,
      (0 - 0.456) / 0.224, (20 / 255 - 0.456) / 0.224,
      (128 / 255 - 0.406) / 0.225, (30 / 255 - 0.406) / 0.225,
    ];
    assert.ok(maxAbsDiff(nchw, expected) < 1e-6);
    assert.ok(Math.abs(nchw[0]! - 2.2489083) < 1e-6);
    const nhwc = imageToTensor(img, { layout: 'NHWC' }); // imagenet is the default
    assert.deepEqual(Array.from(nhwc), [nchw[0], nchw[2], nchw[4], nchw[1], nchw[3], nchw[5]]);
  });

  test('unit, symmetric, caffe (BGR), custom', () => {
    assert.deepEqual(Array.from(imageToTensor(img, { preset: 'unit', layout: 'NHWC' })), Array.from(Float32Array.from([1, 0, 128 / 255, 10 / 255, 20 / 255, 30 / 255])));
    const sym = imageToTensor(img, { preset: 'symmetric', layout: 'NHWC' });
    assert.equal(sym[0], 1);
    assert.equal(sym[1], -1);
    assert.ok(Math.abs(sym[2]! - (128 / 127.5 - 1)) < 1e-7);
    const caffe = imageToTensor(img, { preset: 'caffe', layout: 'NCHW' });
    // channel 0 is B - 103.939, channel 2 is R - 123.68
    // float32 arithmetic with float32 means, as Keras does on a float32 array
    const f = Math.fround;
    assert.deepEqual(Array.from(caffe), [128 - f(103.939), 30 - f(103.939), 0 - f(116.779), 20 - f(116.779), 255 - f(123.68), 10 - f(123.68)].map(f));
    assert.ok(Math.abs(caffe[0]! - 24.061) < 1e-5);
    const custom = imageToTensor(img, { mean: [0.5], std: [0.25, 0.5, 1], layout: 'NCHW' });
    assert.ok(maxAbsDiff(custom, [2, (10 / 255 - 0.5) / 0.25, -1, (20 / 255 - 0.5) / 0.5, 128 / 255 - 0.5, 30 / 255 - 0.5]) < 1e-6);
  });

  test('imagesToBatch stacks images', () => {
    const other: RgbImage = { width: 2, height: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) };
    const batch = imagesToBatch([img, other], { preset: 'unit', layout: 'NCHW' });
    assert.equal(batch.length, 12);
    assert.deepEqual(Array.from(batch.subarray(6)), Array.from(imageToTensor(other, { preset: 'unit', layout: 'NCHW' })));
    assert.equal(batch[6], Math.fround(1 / 255));
    assert.equal(batch[7], Math.fround(4 / 255));
    assert.throws(() => imagesToBatch([img, createRgbImage(1, 2)], { layout: 'NCHW' }), /image 1 is 1x2, image 0 is 2x1/);
  });

  test('tensorToRgb inverts every preset exactly', () => {
    const big: RgbImage = { width: 16, height: 16, data: Uint8Array.from({ length: 768 }, (_, i) => (i * 7) % 256) };
    for (const preset of ['imagenet', 'unit', 'symmetric', 'caffe'] as const) {
      for (const layout of ['NCHW', 'NHWC'] as const) {
        const t = imageToTensor(big, { preset, layout });
        assert.deepEqual(tensorToRgb(t, 16, 16, { preset, layout }).data, big.data, `${preset} ${layout}`);
      }
    }
    // clipping
    const clipped = tensorToRgb(Float32Array.from([-5, 0.5, 9]), 1, 1, { preset: 'unit', layout: 'NHWC' });
    assert.deepEqual(Array.from(clipped.data), [0, 128, 255]);
  });

  test('clear errors', () => {
    assert.throws(() => imageToTensor(img, { preset: 'vgg', layout: 'NCHW' }), /unknown normalisation preset 'vgg' \(valid: imagenet, unit, symmetric, caffe\)/);
    assert.throws(() => imageToTensor(img, { mean: [0.5, 0.5], layout: 'NCHW' }), /mean must have 3 values \(one per channel\) or 1, got 2/);
    assert.throws(() => imageToTensor(img, { std: [1, 0, 1], layout: 'NCHW' }), /std must not contain 0/);
    assert.throws(() => imageToTensor(img, { layout: 'CHW' as 'NCHW' }), /layout must be 'NCHW' or 'NHWC'/);
    assert.throws(() => tensorToRgb(new Float32Array(5), 1, 2, { layout: 'NCHW' }), /expected 3\*2\*1 = 6/);
  });
});

describe('colormap', () => {
  const tables = npy('colormap_tables.npy').data as Uint8Array;
  const names = manifest.colormap_tables as string[];

  test('all 256 entries equal OpenCV 4.6 tables', () => {
    assert.deepEqual(names, [...COLORMAPS]);
    names.forEach((name, k) => {
      assert.deepEqual(colormapTable(name), tables.subarray(k * 768, (k + 1) * 768), name);
    });
    // spot values (RGB): cv2 JET starts dark blue and ends dark red
    const jet = colormapTable('jet');
    assert.deepEqual(Array.from(jet.subarray(0, 3)), [0, 0, 128]);
    assert.deepEqual(Array.from(jet.subarray(255 * 3)), [128, 0, 0]);
    assert.deepEqual(Array.from(jet.subarray(128 * 3, 129 * 3)), [130, 255, 126]);
    assert.deepEqual(Array.from(colormapTable('viridis').subarray(0, 3)), [68, 1, 84]);
    assert.deepEqual(Array.from(colormapTable('inferno').subarray(765)), [252, 255, 164]);
  });

  test('applyColormap quantises like np.uint8(255 * mask) (cv2 golden, exact)', () => {
    const mask = toFloat32(npy('colormap_mask.npy'));
    const applied = npy('colormap_applied.npy').data as Uint8Array;
    names.forEach((name, k) => {
      const mine = applyColormap(mask, name);
      const ref = applied.subarray(k * mask.length * 3, (k + 1) * mask.length * 3);
      assert.equal(maxAbsDiff(mine, ref), 0, name);
    });
    // float32 product rounding: 255 * f32(0.2) is 51.000000759 -> 51 but 255 * f32(1/3) rounds to exactly 85
    assert.equal(quantizeLevel(0.2), 51);
    assert.equal(quantizeLevel(1 / 3), 85);
    assert.equal(quantizeLevel(0.999999), 254);
    assert.equal(quantizeLevel(-0.5), 0);
    assert.equal(quantizeLevel(1.5), 255);
    assert.equal(quantizeLevel(NaN), 0);
  });

  test('unknown colormap lists the valid names', () => {
    assert.throws(() => applyColormap(new Float32Array(1), 'hot'), /unknown colormap 'hot' \(valid: jet, turbo, viridis, inferno\)/);
  });
});

describe('overlay (pytorch-grad-cam show_cam_on_image parity)', () => {
  const o = manifest.overlay;
  const rgb = lcgU8(o.w * o.h * 3, o.img_seed).map((v) => v >> 1);
  const mask = lcgF32(o.w * o.h, o.mask_seed);
  mask[0] = 0;
  mask[1] = 1;
  const golden = npy('overlay.npy').data as Uint8Array;
  const size = o.w * o.h * 3;
  (o.cases as { colormap: string; alpha: number; mask_scale?: number }[]).forEach((c, k) => {
    test(`${c.colormap} alpha=${c.alpha}${c.mask_scale ? ` mask*${c.mask_scale}` : ''}`, () => {
      const m = c.mask_scale ? mask.map((v) => Math.fround(v * c.mask_scale!)) : mask;
      const out = overlay({ width: o.w, height: o.h, data: rgb }, m, { colormap: c.colormap, alpha: c.alpha });
      const err = maxAbsDiff(out.data, golden.subarray(k * size, (k + 1) * size));
      assert.ok(err <= 1, `max level difference ${err}`);
      assert.equal(err, 0, `expected exact parity, max diff ${err}`);
    });
  });

  test('hand-checked pixel, heatmapImage, grayscaleImage, errors', () => {
    // one pixel: mask 1 -> jet (128,0,0); image (100,100,100); alpha 0.5 -> cam = (0.5*128/255 + 0.5*100/255, ...)
    // max = 0.4470588 -> R = 255, G = B = uint8(255 * (50/255) / (114/255)) = 111
    const out = overlay({ width: 1, height: 1, data: Uint8Array.from([100, 100, 100]) }, [1]);
    assert.deepEqual(Array.from(out.data), [255, 111, 111]);
    const hm = heatmapImage(Float32Array.from([0, 1]), 2, 1, 'jet');
    assert.deepEqual(Array.from(hm.data), [0, 0, 128, 128, 0, 0]);
    const g = grayscaleImage(Float32Array.from([0, 0.5, 1]), 3, 1);
    assert.deepEqual(Array.from(g.data), [0, 0, 0, 127, 127, 127, 255, 255, 255]);
    assert.throws(() => overlay(createRgbImage(2, 2), new Float32Array(3)), /map has 3 values, expected 2\*2 = 4/);
    assert.throws(() => overlay(createRgbImage(1, 1), [0], { alpha: 1.5 }), /alpha must be in \[0, 1\]/);
    assert.throws(() => heatmapImage([0], 1, 1, 'nope'), /unknown colormap 'nope'/);
  });
});

describe('png', () => {
  const rgb: RgbImage = { width: 37, height: 23, data: lcgU8(37 * 23 * 3, 5) };

  test('crc32 check value', () => {
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  });

  test('round trip for 1-4 channels', () => {
    for (const channels of [1, 2, 3, 4] as const) {
      const data = lcgU8(19 * 11 * channels, 7 + channels);
      const dec = decodePng(encodePng({ width: 19, height: 11, data, channels }));
      assert.deepEqual([dec.width, dec.height, dec.channels], [19, 11, channels]);
      assert.deepEqual(dec.data, data);
    }
    // smooth images compress well thanks to filtering
    const ramp: RgbImage = { width: 64, height: 64, data: Uint8Array.from({ length: 64 * 64 * 3 }, (_, i) => Math.floor(i / 3) % 64 * 4) };
    assert.ok(encodePng(ramp).length < 1000);
  });

  test('sharp decodes what we encode', async () => {
    const { data, info } = await sharp(encodePng(rgb)).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [37, 23, 3]);
    assert.deepEqual(new Uint8Array(data), rgb.data);
    const rgba = lcgU8(5 * 4 * 4, 77);
    const r2 = await sharp(encodePng({ width: 5, height: 4, data: rgba, channels: 4 })).raw().toBuffer({ resolveWithObject: true });
    assert.equal(r2.info.channels, 4);
    assert.deepEqual(new Uint8Array(r2.data), rgba);
  });

  test('decodes sharp/libpng output: RGB, RGBA, grey, palette, 16-bit', async () => {
    const raw = sharp(Buffer.from(rgb.data), { raw: { width: 37, height: 23, channels: 3 } });
    const a = decodePng(new Uint8Array(await raw.clone().png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer()));
    assert.equal(a.channels, 3);
    assert.deepEqual(a.data, rgb.data);

    const withAlpha = await raw.clone().ensureAlpha(0.5).png().toBuffer();
    const b = decodePng(new Uint8Array(withAlpha));
    assert.equal(b.channels, 4);
    const alpha = b.data[3]!;
    assert.ok(alpha === 127 || alpha === 128, `alpha ${alpha}`);
    assert.ok(b.data.every((v, i) => i % 4 !== 3 || v === alpha));
    assert.deepEqual(b.data.filter((_, i) => i % 4 !== 3), rgb.data);
    // composited over white: round((v * a + 255 * (255 - a)) / 255)
    assert.equal(toRgbImage(b).data[0], Math.round((rgb.data[0]! * alpha + 255 * (255 - alpha)) / 255));

    const grey = await raw.clone().greyscale().png().toBuffer();
    const greyRef = await sharp(grey).raw().toBuffer({ resolveWithObject: true });
    const g = decodePng(new Uint8Array(grey));
    assert.equal(g.channels, greyRef.info.channels);
    assert.deepEqual(g.data, new Uint8Array(greyRef.data));
    const gr = toRgbImage(g);
    assert.deepEqual([gr.data[0], gr.data[1], gr.data[2]], [g.data[0], g.data[0], g.data[0]]);

    // palette images at 1, 2 and 4 bits per index (libvips picks the smallest depth); compare with sharp's decoding
    for (const [colours, bits] of [[2, 1], [4, 2], [16, 4]] as const) {
      const levels = Array.from({ length: colours }, (_, i) => Math.round((i * 255) / (colours - 1)));
      const img = Uint8Array.from({ length: 17 * 8 * 3 }, (_, i) => levels[(Math.floor(i / 3) * 7) % colours]!);
      const pal = await sharp(Buffer.from(img), { raw: { width: 17, height: 8, channels: 3 } }).png({ palette: true, colours, dither: 0 }).toBuffer();
      assert.equal(pal[25], 3, 'colour type 3 (palette)');
      assert.equal(pal[24], bits, 'bit depth');
      const palRef = await sharp(pal).raw().toBuffer({ resolveWithObject: true });
      const p = decodePng(new Uint8Array(pal));
      assert.equal(p.channels, palRef.info.channels);
      assert.deepEqual(p.data, new Uint8Array(palRef.data));
    }

    const deep = await raw.clone().toColourspace('rgb16').png().toBuffer();
    assert.equal(deep[24], 16, 'bit depth 16');
    const d = decodePng(new Uint8Array(deep));
    assert.equal(d.channels, 3);
    assert.ok(maxAbsDiff(d.data, rgb.data) <= 1);
  });

  test('errors', () => {
    assert.throws(() => decodePng(new Uint8Array([1, 2, 3])), /not a PNG file/);
    const bad = encodePng(rgb);
    bad[50] = bad[50]! ^ 0xff; // IDAT data (signature 8 + IHDR 25 + IDAT length/type 8 = 41)
    assert.throws(() => decodePng(bad), /CRC mismatch in IDAT chunk/);
    assert.throws(() => encodePng({ width: 2, height: 2, data: new Uint8Array(11) }), /of 2\*2\*3 bytes, got 11/);
  });
});

describe('montage and text', () => {
  test('drawText draws the 5x7 glyphs at the requested scale', () => {
    const img = createRgbImage(20, 20, [255, 255, 255]);
    drawText(img, 3, 2, 'H', [255, 0, 0], 2);
    const red = (x: number, y: number) => img.data[(y * 20 + x) * 3 + 1] === 0;
    // 'H': columns 0 and 4 full, middle row (3) across
    for (let row = 0; row < 7; row++) {
      for (let col = 0; col < 5; col++) {
        const on = col === 0 || col === 4 || row === 3;
        assert.equal(glyphPixel('H', col, row), on);
        for (const [dx, dy] of [[0, 0], [1, 1]]) assert.equal(red(3 + col * 2 + dx!, 2 + row * 2 + dy!), on);
      }
    }
    let count = 0;
    for (let i = 0; i < 400; i++) if (img.data[i * 3 + 1] === 0) count++;
    assert.equal(count, (7 + 7 + 3) * 4);
    assert.deepEqual(measureText('cat p=0.91', 1), { width: 59, height: 7 });
    assert.deepEqual(measureText('a\nbc', 2), { width: 22, height: 32 });
    // clipping at the border does not throw
    drawText(img, 17, 17, 'WWW', [0, 0, 0], 3);
  });

  test('montage grid geometry, tile placement and captions', () => {
    const a = createRgbImage(10, 8, [255, 0, 0]);
    const b = createRgbImage(6, 12, [0, 255, 0]);
    const c = createRgbImage(10, 10, [0, 0, 255]);
    const m = montage([[a, b], [c]], { labels: [["class 3 'cat' p=0.91", 'x'], ['']], pad: 2, background: [50, 50, 50] });
    // columns: max(10, 10) and 6; rows: label 9 + max(8, 12), then no label + 10
    assert.equal(m.width, 2 + 10 + 2 + 6 + 2);
    assert.equal(m.height, 2 + 9 + 12 + 2 + 10 + 2);
    const px = (x: number, y: number) => Array.from(m.data.subarray((y * m.width + x) * 3, (y * m.width + x) * 3 + 3));
    assert.deepEqual(px(0, 0), [50, 50, 50]);
    assert.deepEqual(px(2, 11), [255, 0, 0]); // tile a at (2, 2 + 9)
    assert.deepEqual(px(11, 18), [255, 0, 0]);
    assert.deepEqual(px(11, 19), [50, 50, 50]); // below a (8 rows tall) in a 12-row cell
    assert.deepEqual(px(14, 11), [0, 255, 0]);
    assert.deepEqual(px(2, 25), [0, 0, 255]); // second row starts at 2 + 9 + 12 + 2
    assert.deepEqual(px(14, 25), [50, 50, 50]); // missing cell
    // the caption is cut to the 10-pixel column, room for 1 character: 'c' (0x38: left column on rows 3-5)
    const black = (x: number, y: number) => px(x, y).every((v) => v === 0);
    assert.ok(black(2, 2 + 3) && black(2, 2 + 4) && black(2, 2 + 5));
    assert.ok(!black(2, 2 + 2) && !black(2, 2 + 6));
    let dark = 0;
    for (let y = 2; y < 11; y++) for (let x = 8; x < 14; x++) if (black(x, y)) dark++;
    assert.equal(dark, 0, 'no second character');

    // a 40-pixel column holds floor(41 / 6) = 6 characters: 'abcd..'; scale 2 doubles the caption band
    const wide = montage([[createRgbImage(40, 5)]], { labels: [['abcdefgh']], pad: 1 });
    assert.equal(wide.height, 1 + 9 + 5 + 1);
    const wpx = (x: number, y: number) => wide.data[(y * wide.width + x) * 3];
    // '.' (0x00, 0x60, 0x60): columns 1-2, rows 5-6; characters 4 and 5 start at x = 1 + 24 and 1 + 30
    for (const x0 of [25, 31]) assert.deepEqual([wpx(x0 + 1, 6), wpx(x0 + 2, 7), wpx(x0 + 1, 5), wpx(x0, 6)], [0, 0, 255, 255]);
    const big = montage([[createRgbImage(40, 5)]], { labels: [['ab']], pad: 1, textScale: 2 });
    assert.equal(big.height, 1 + 18 + 5 + 1);
    assert.throws(() => montage([]), /needs at least one tile/);
    assert.throws(() => montage([[{ width: 2, height: 2, data: new Uint8Array(3) }]]), /montage tile \[0\]\[0\]: data has 3 bytes/);
  });
});

describe('node image I/O', () => {
  test('readImageFile: EXIF rotation, alpha over white, grey to RGB', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gradcam-image-'));
    try {
      // 4 wide x 2 high, orientation 6 (rotate 90 CW when displayed) -> 2 wide x 4 high
      const px = Uint8Array.from({ length: 4 * 2 * 3 }, (_, i) => (i < 3 ? 255 : 0));
      const jpg = join(dir, 'o6.jpg');
      await sharp(Buffer.from(px), { raw: { width: 4, height: 2, channels: 3 } }).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toFile(jpg);
      const rot = await readImageFile(jpg);
      assert.deepEqual([rot.width, rot.height], [2, 4]);
      // the white source pixel (0,0) is at the top-right after a 90 degree clockwise rotation
      assert.ok(rot.data[(0 * 2 + 1) * 3]! > 200, `top-right ${rot.data[3]}`);
      assert.ok(rot.data[0]! < 60);

      const rgba = Uint8Array.from([255, 0, 0, 0, 0, 0, 255, 255, 10, 20, 30, 128]);
      const pngPath = join(dir, 'a.png');
      await writeFile(pngPath, encodePng({ width: 3, height: 1, data: rgba, channels: 4 }));
      const flat = await readImageFile(pngPath);
      assert.deepEqual(flat.data.subarray(0, 6), Uint8Array.from([255, 255, 255, 0, 0, 255]));
      assert.ok(maxAbsDiff(flat.data.subarray(6), [10 * 128 / 255 + 255 * 127 / 255, 20 * 128 / 255 + 255 * 127 / 255, 30 * 128 / 255 + 255 * 127 / 255]) <= 1);
      const onBlack = await readImageFile(pngPath, { background: [0, 0, 0] });
      assert.deepEqual(Array.from(onBlack.data.subarray(0, 3)), [0, 0, 0]);

      // 16-bit RGB PNG is reduced to 8 bits
      const deepPath = join(dir, 'd16.png');
      await sharp(Buffer.from([0, 100, 200, 255, 30, 60]), { raw: { width: 2, height: 1, channels: 3 } }).toColourspace('rgb16').png().toFile(deepPath);
      assert.equal((await sharp(deepPath).metadata()).depth, 'ushort');
      assert.deepEqual(Array.from((await readImageFile(deepPath)).data), [0, 100, 200, 255, 30, 60]);

      const greyPath = join(dir, 'g.png');
      await writeFile(greyPath, encodePng({ width: 2, height: 1, data: Uint8Array.from([7, 200]), channels: 1 }));
      const grey = await readImageFile(greyPath);
      assert.deepEqual(Array.from(grey.data), [7, 7, 7, 200, 200, 200]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('readImageFile errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gradcam-image-'));
    try {
      const missing = join(dir, 'missing.jpg');
      await assert.rejects(readImageFile(missing), { message: `image not found: ${missing}` });
      const junk = join(dir, 'junk.png');
      await writeFile(junk, 'this is not an image');
      await assert.rejects(readImageFile(junk), (e: Error) => e.message.startsWith(`cannot decode image ${junk}: `) && e.message.length > `cannot decode image ${junk}: `.length);
      await assert.rejects(readImageFile(dir), new RegExp(`cannot decode image .*: it is a directory`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('writePng / writeFileAtomic leave no partial or temporary files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gradcam-image-'));
    try {
      const img: RgbImage = { width: 9, height: 7, data: lcgU8(9 * 7 * 3, 3) };
      const out = join(dir, 'out.png');
      await writeFile(out, 'old contents');
      await writePng(out, img);
      assert.deepEqual(decodePng(new Uint8Array(await readFile(out))).data, img.data);
      assert.deepEqual(await readdir(dir), ['out.png']);
      const r = await readImageFile(out);
      assert.deepEqual(r.data, img.data);

      await assert.rejects(writeFileAtomic(join(dir, 'no-such-dir', 'x.png'), new Uint8Array(4)), /ENOENT/);
      // target is a directory: rename fails, the temporary file is cleaned up
      await assert.rejects(writeFileAtomic(dir, new Uint8Array(4)));
      assert.deepEqual(await readdir(dir), ['out.png']);
      const parent = await readdir(join(dir, '..'));
      assert.ok(!parent.some((f) => f.startsWith(dir.split('/').pop()! + '.tmp-')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('bilinearMatrices', () => {
  test('rows · map · colsᵀ is resizeBilinear (cv2 INTER_LINEAR) up to float32 rounding', async () => {
    const { bilinearMatrices, resizeBilinear } = await import('../src/image/resize.js');
    for (const [h, w, H, W] of [[7, 7, 224, 224], [6, 9, 48, 36], [15, 15, 32, 32], [5, 3, 5, 3], [1, 4, 10, 17]] as const) {
      const map = new Float32Array(h * w).map((_, i) => Math.abs(Math.sin(i * 1.7)));
      const { rows, cols } = bilinearMatrices(h, w, H, W);
      const want = resizeBilinear(map, h, w, H, W);
      let worst = 0;
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        let v = 0;
        for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) v += rows[y * h + i]! * map[i * w + j]! * cols[x * w + j]!;
        worst = Math.max(worst, Math.abs(v - want[y * W + x]!));
      }
      assert.ok(worst < 1e-6, `${h}×${w} → ${H}×${W}: ${worst}`);
    }
    assert.throws(() => bilinearMatrices(8, 8, 4, 4), /downscale/);
  });
});
