/**
 * The output side of issue 27: the faster overlay (the same bytes as the routine it replaced, kept below),
 * the pictures' formats (--format png|webp|jpeg: what each decodes to, against the overlay's pixels), the
 * overlay size (--overlay-size) and what the files and sidecars name.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { colormapTable, COLORMAPS, montage, overlay, quantizeLevel, resizeBilinear, type RgbImage } from '../src/image/index.js';
import { Rng } from '../src/util/random.js';

/** overlay() as it was before issue 27 (a 16-bit key per byte and a 64 K table of the pairs present): the reference. */
function overlayBefore(img: RgbImage, map: ArrayLike<number>, opts: { colormap: string; alpha: number }): RgbImage {
  const table = colormapTable(opts.colormap);
  const f32 = Math.fround;
  const imageWeight = 1 - opts.alpha;
  const wHeat = f32(1 - imageWeight);
  const wImg = f32(imageWeight);
  const lutHeat = new Float32Array(256);
  const lutImg = new Float32Array(256);
  for (let v = 0; v < 256; v++) {
    lutHeat[v] = f32(wHeat * f32(v / 255));
    lutImg[v] = f32(wImg * f32(v / 255));
  }
  const n = img.data.length;
  const src = img.data;
  const keys = new Uint16Array(n);
  const seen = new Uint8Array(65536);
  for (let p = 0, i = 0; i < n; p++, i += 3) {
    const q = quantizeLevel(map[p]!) * 3;
    for (let c = 0; c < 3; c++) {
      const k = (table[q + c]! << 8) | src[i + c]!;
      keys[i + c] = k;
      seen[k] = 1;
    }
  }
  let max = -Infinity;
  for (let k = 0; k < 65536; k++) if (seen[k]) max = Math.max(max, f32(lutHeat[k >> 8]! + lutImg[k & 255]!));
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

/** A photo-like picture: smooth gradients plus noise, some saturated and some dark areas. */
function picture(w: number, h: number, seed: number): RgbImage {
  const rng = new Rng(seed);
  const rnd = () => rng.next();
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    const v = 128 + 120 * Math.sin((x * (c + 1)) / 37 + y / 23 + seed) + 40 * (rnd() - 0.5);
    data[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
  }
  return { width: w, height: h, data };
}

/** A smooth CAM-like map at 14×14, upsampled as the renderer does, with values outside [0, 1] and NaN on request. */
function camMap(w: number, h: number, seed: number, odd = false): Float32Array {
  const rng = new Rng(seed);
  const rnd = () => rng.next();
  const small = new Float32Array(14 * 14).map(() => rnd());
  const m = resizeBilinear(small, 14, 14, h, w);
  if (odd) { m[0] = -0.5; m[1] = 1.5; m[2] = NaN; m[3] = 1; m[4] = 0; }
  return m;
}

describe('overlay: the faster routine gives the same bytes as the one it replaced', () => {
  test('photo-like pictures, every colour map, several alphas, values outside [0, 1] and NaN', () => {
    let cases = 0;
    for (const colormap of COLORMAPS) {
      for (const alpha of [0, 0.3, 0.5, 0.75, 1]) {
        for (const [w, h, seed] of [[500, 375, 1], [37, 53, 2], [1, 1, 3]] as const) {
          const img = picture(w, h, seed + alpha * 10);
          const map = camMap(w, h, seed, w > 5);
          const got = overlay(img, map, { colormap, alpha });
          const want = overlayBefore(img, map, { colormap, alpha });
          assert.deepEqual(got.data, want.data, `${colormap} alpha ${alpha} ${w}x${h}`);
          cases++;
        }
      }
    }
    assert.equal(cases, 60);
  });

  test('a dark picture under a zero map (blend maximum below 1 and 0: the brightening and the all-black case)', () => {
    const dark = { width: 20, height: 10, data: new Uint8Array(600).map((_, i) => (i * 7) % 40) };
    const zero = new Float32Array(200);
    for (const alpha of [0, 0.5]) {
      assert.deepEqual(overlay(dark, zero, { colormap: 'inferno', alpha }).data, overlayBefore(dark, zero, { colormap: 'inferno', alpha }).data);
    }
    const black = { width: 4, height: 4, data: new Uint8Array(48) };
    const out = overlay(black, new Float32Array(16), { colormap: 'inferno', alpha: 0 });
    assert.deepEqual(out.data, new Uint8Array(48), 'max 0: all black, as before');
  });
});

describe('montage: the background filled by copies, the same bytes as a byte loop', () => {
  test('odd sizes and a coloured background: exactly the background plus the tiles where montage puts them', () => {
    for (const [w, h, pad] of [[1, 1, 0], [500, 375, 2], [33, 7, 3]] as const) {
      const a = picture(w, h, 5);
      const b = picture(w, h, 6);
      const bg = [12, 200, 77] as const;
      const got = montage([[a, b]], { pad, background: bg });
      const W = pad + (w + pad) * 2;
      const H = pad + h + pad;
      const ref = new Uint8Array(W * H * 3);
      for (let i = 0; i < ref.length; i += 3) { ref[i] = bg[0]; ref[i + 1] = bg[1]; ref[i + 2] = bg[2]; }
      for (const [t, x0] of [[a, pad], [b, 2 * pad + w]] as const) {
        for (let y = 0; y < h; y++) ref.set(t.data.subarray(y * w * 3, (y + 1) * w * 3), ((pad + y) * W + x0) * 3);
      }
      assert.deepEqual([got.width, got.height], [W, H]);
      assert.deepEqual(got.data, ref, `${w}x${h} pad ${pad}`);
    }
  });
});
