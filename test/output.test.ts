/**
 * The output side of issue 27: the faster overlay (the same bytes as the routine it replaced, kept below),
 * the pictures' formats (--format png|webp|jpeg: what each decodes to, against the overlay's pixels), the
 * overlay size (--overlay-size) and what the files and sidecars name.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { colormapTable, COLORMAPS, decodePng, montage, overlay, quantizeLevel, resizeBilinear, resizeRgb, type RgbImage } from '../src/image/index.js';
import { resizeBilinearLevels } from '../src/image/resize.js';
import { overlayKernels, useOverlaySimd } from '../src/image/overlay-simd.js';
import { readImageFile } from '../src/node.js';
import { captionText, overlayPicture, overlaySize, pictureBytes, type CaptionFacts } from '../src/render/index.js';
import { parseSideOrHxW } from '../src/util/size.js';
import { encodePicture, LOSSY } from '../src/image/encode.js';
import { Rng } from '../src/util/random.js';
import { FIXTURES } from './helpers/fixtures.js';
import { ROOT, gradcam, oneError } from './helpers/cli.js';

let tmp: string;
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-output-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

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

  test('the map upsampled straight to its levels (resizeBilinearLevels): the levels of resizeBilinear, up, down, 2× down and equal sizes', () => {
    for (const [h, w, oh, ow] of [[7, 7, 375, 500], [14, 14, 7, 7], [7, 7, 7, 7], [9, 13, 53, 37], [224, 224, 100, 150], [1, 1, 3, 5]] as const) {
      const m = new Float32Array(h * w).map((_, i) => Math.abs(Math.sin(i * 1.7)) * 1.1 - 0.05);
      m[0] = NaN;
      const want = Uint8Array.from(resizeBilinear(m, h, w, oh, ow), quantizeLevel);
      assert.deepEqual(resizeBilinearLevels(m, h, w, oh, ow), want, `${h}x${w} -> ${oh}x${ow}`);
    }
  });

  test('the captioned overlay drawn into its caption frame: the bytes of the overlay then montage (the old routine)', () => {
    const e: CaptionFacts & { map: Float32Array; width: number; height: number } = {
      method: 'gradcam', target: { index: 3, logit: 2, probability: 0.25, label: 'cat' }, predicted: { index: 5, logit: 3, probability: 0.5 },
      map: new Float32Array(49).map((_, i) => Math.abs(Math.sin(i))), width: 7, height: 7,
    };
    for (const [w, h, size] of [[500, 375, undefined], [100, 80, undefined], [640, 480, { side: 333 }], [7, 7, undefined]] as const) {
      const pic = picture(w, h, 9);
      for (const [colormap, alpha] of [['jet', 0.5], ['viridis', 0.3]] as const) {
        const got = overlayPicture(e, pic, { colormap, alpha, caption: true, size });
        const [ow, oh] = overlaySize(w, h, 256, 2048, size);
        const base = ow === w && oh === h ? pic : resizeRgb(pic, ow, oh);
        const ov = overlayBefore(base, resizeBilinear(e.map, 7, 7, oh, ow), { colormap, alpha });
        const scale = Math.max(1, Math.floor(ow / 320));
        const want = montage([[ov]], { labels: [[captionText(e)]], pad: 2 * scale, textScale: scale });
        assert.deepEqual([got.width, got.height], [want.width, want.height]);
        assert.deepEqual(got.data, want.data, `${w}x${h} ${colormap}`);
      }
    }
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

/** Mean and largest absolute difference of two byte arrays of one length. */
function difference(a: ArrayLike<number>, b: ArrayLike<number>): { mean: number; max: number } {
  assert.equal(a.length, b.length);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: sum / a.length, max };
}

async function decoded(bytes: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

const FACTS = { method: 'gradcam', target: { index: 281, label: 'tabby', logit: 9.5, probability: 0.61 }, predicted: { index: 281, label: 'tabby', logit: 9.5, probability: 0.61 } } as CaptionFacts;

/** A Grad-CAM-like map (a 7×7 grid upsampled to 224×224) over a demo photo, captioned: what explain writes. */
async function photoOverlay(photo: string, size?: { side: number } | { width: number; height: number }, caption = true): Promise<RgbImage> {
  const img = await readImageFile(path.join(ROOT, 'demo', 'photos', `${photo}.jpg`));
  const small = new Float32Array(49).map((_, i) => ((i * 37) % 11) / 10);
  const map = resizeBilinear(small, 7, 7, 224, 224);
  return overlayPicture({ ...FACTS, map, width: 224, height: 224 }, img, { colormap: 'jet', alpha: 0.5, caption, size });
}

/**
 * The lossy formats' stated distance from the overlay's pixels (levels 0..255 over every byte), measured
 * on the demo photos' overlays: WebP q80 mean 2.8–3.2, max 44–66 (at the caption's glyphs and sharp colour
 * edges; q90 was 2.0–2.4 / 43–61, for 30–40% more CPU); JPEG q90 4:4:4 mean 1.6–1.9, max 22–26.
 */
const LOSSY_BOUNDS = { webp: { mean: 3.6, max: 80 }, jpeg: { mean: 2.5, max: 40 } } as const;

describe('--format: each format decodes to the overlay pixels (png exactly, webp and jpeg within the stated distance)', () => {
  test('the Node encoder (libvips in the thread pool) on three photos', async () => {
    assert.deepEqual(LOSSY, { webp: { quality: 80, effort: 0 }, jpeg: { quality: 90, chroma: '4:4:4' } }, 'the settings the bounds were measured with');
    for (const photo of ['astronaut', 'chelsea', 'coffee']) {
      const pic = await photoOverlay(photo);
      const png = await pictureBytes(pic, 'png', true);
      assert.deepEqual([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
      assert.deepEqual((await decoded(png)).data, pic.data, `${photo}: png is lossless`);
      assert.deepEqual(decodePng(png).data, pic.data, `${photo}: and png.ts reads it`);
      assert.deepEqual((await decoded(pictureBytes(pic, 'png') as Uint8Array)).data, pic.data, `${photo}: png on this thread (png.ts), the same pixels`);
      for (const f of ['webp', 'jpeg'] as const) {
        const bytes = await pictureBytes(pic, f, true);
        const meta = await sharp(bytes).metadata();
        assert.equal(meta.format, f);
        assert.deepEqual([meta.width, meta.height], [pic.width, pic.height]);
        const d = difference((await decoded(bytes)).data, pic.data);
        assert.ok(d.mean > 0.3 && d.mean <= LOSSY_BOUNDS[f].mean, `${photo} ${f}: mean difference ${d.mean.toFixed(3)}`);
        assert.ok(d.max <= LOSSY_BOUNDS[f].max, `${photo} ${f}: max difference ${d.max}`);
        assert.ok(bytes.length < png.length / 4, `${photo} ${f}: ${bytes.length} bytes against png's ${png.length}`);
      }
    }
  });
});

describe('--format: the formats\' size limits', () => {
  test('WebP holds at most 16383 px on a side: a clear error naming the way out; JPEG and PNG take the same picture', async () => {
    const wide = { width: 16384, height: 1, data: new Uint8Array(16384 * 3).fill(90) };
    await assert.rejects(encodePicture(wide, 'webp'), /a webp picture is at most 16383 px on a side, this one is 16384x1; use --format png/);
    for (const f of ['png', 'jpeg'] as const) {
      const meta = await sharp(await encodePicture(wide, f)).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], [f, 16384, 1]);
    }
  });
});

describe('--overlay-size: the overlay at the size asked for, close to the full-size overlay resized', () => {
  test('a longest side (aspect kept), HxW, enlarging; within mean 3 / max 10 levels of the full-size overlay resized (Pillow bilinear)', async () => {
    for (const photo of ['astronaut', 'chelsea']) {
      const full = await photoOverlay(photo, undefined, false);
      for (const [size, want] of [[{ side: 200 }, photo === 'chelsea' ? [200, 133] : [200, 200]], [{ width: 150, height: 100 }, [150, 100]], [{ side: 640 }, photo === 'chelsea' ? [640, 426] : [640, 640]]] as const) {
        const small = await photoOverlay(photo, size, false);
        assert.deepEqual([small.width, small.height], want, `${photo} ${JSON.stringify(size)}`);
        const d = difference(small.data, resizeRgb(full, small.width, small.height).data);
        // measured: mean 0.40–2.60, max 3–9 (the blend's brightening by its maximum differs a little between sizes)
        assert.ok(d.mean <= 3 && d.max <= 10, `${photo} ${JSON.stringify(size)}: mean ${d.mean.toFixed(3)}, max ${d.max}`);
      }
    }
    // captioned: the caption's strip comes on top of the size asked for
    const cap = await photoOverlay('chelsea', { side: 200 });
    assert.equal(cap.width, 200 + 4);
    assert.ok(cap.height > 133 + 4);
  });
});

describe('--overlay-size: parsing and the size it gives', () => {
  test('N is a longest side, HxW a height and width (util/size.ts parseHxW); at most --max-overlay, the aspect kept', () => {
    assert.deepEqual(parseSideOrHxW('512', '--overlay-size'), { side: 512 });
    assert.deepEqual(parseSideOrHxW(' 375x500 ', '--overlay-size'), { width: 500, height: 375 });
    assert.deepEqual(parseSideOrHxW('300×200', '--overlay-size'), { width: 200, height: 300 });
    for (const bad of ['', '0', '512x', 'x5', '-3', '2.5', 'big']) assert.throws(() => parseSideOrHxW(bad, '--overlay-size'), /--overlay-size must be N \(the longest side\) or HxW/, bad);
    assert.deepEqual(overlaySize(500, 375, 256, 2048, { side: 250 }), [250, 188]);
    assert.deepEqual(overlaySize(500, 375, 256, 2048, { side: 1000 }), [1000, 750], 'enlarged on request');
    assert.deepEqual(overlaySize(500, 375, 256, 800, { side: 1000 }), [800, 600], 'capped by --max-overlay');
    assert.deepEqual(overlaySize(500, 375, 256, 2048, { width: 100, height: 300 }), [100, 300], 'HxW as given');
    assert.deepEqual(overlaySize(500, 375, 256, 2048), [500, 375], 'default: the picture');
    assert.deepEqual(overlaySize(100, 50, 256, 2048), [300, 150], 'default: a small picture enlarged by a whole factor');
  });
});

describe('gradcam explain --format / --overlay-size', () => {
  const MODEL = path.join(FIXTURES, 'resnet_like', 'model.onnx');
  const PHOTO = path.join(ROOT, 'demo', 'photos', 'chelsea.jpg');
  test('webp and jpeg files named in the sidecar and the printed line, decoding to the pixels of the png run within the stated distance', async () => {
    const runs: Record<string, string> = {};
    for (const f of ['png', 'webp', 'jpeg']) {
      const out = path.join(tmp, f);
      const r = gradcam('explain', PHOTO, '--model', MODEL, '--out', out, '--class', '3', '--heatmap', '--format', f, '--overlay-size', '240');
      assert.equal(r.code, 0, r.err);
      const ext = f === 'jpeg' ? '.jpg' : `.${f}`;
      assert.deepEqual(fs.readdirSync(out).sort(), ['chelsea.gradcam.heatmap' + ext, 'chelsea.gradcam.json', 'chelsea.gradcam' + ext].sort());
      const json = JSON.parse(fs.readFileSync(path.join(out, 'chelsea.gradcam.json'), 'utf8'));
      assert.deepEqual(json.files, ['chelsea.gradcam' + ext, 'chelsea.gradcam.heatmap' + ext]);
      assert.match(r.out, new RegExp(`→ .*chelsea\\.gradcam\\${ext}\n`));
      runs[f] = path.join(out, 'chelsea.gradcam' + ext);
    }
    const png = await decoded(new Uint8Array(fs.readFileSync(runs.png!)));
    assert.equal(png.width, 240 + 4, '--overlay-size 240: the overlay 240 wide, and the caption padding');
    for (const f of ['webp', 'jpeg'] as const) {
      const pic = await decoded(new Uint8Array(fs.readFileSync(runs[f]!)));
      assert.deepEqual([pic.width, pic.height], [png.width, png.height]);
      const d = difference(pic.data, png.data);
      assert.ok(d.mean <= LOSSY_BOUNDS[f].mean && d.max <= LOSSY_BOUNDS[f].max, `${f}: mean ${d.mean.toFixed(3)}, max ${d.max}`);
    }
  });

  test('detect: --format jpeg --overlay-size 128, the files, sidecars and lines name .jpg', async () => {
    const out = path.join(tmp, 'detect');
    const street = path.join(ROOT, 'demo', 'models', 'street_glare.onnx');
    const r = gradcam('detect', path.join(ROOT, 'demo', 'detect', 'street_00.png'), '--model', street, '--out', out, '--format', 'jpeg', '--overlay-size', '128', '--quiet');
    assert.equal(r.code, 0, r.err);
    const pictures = fs.readdirSync(out).filter((f) => !f.endsWith('.json')).sort();
    assert.ok(pictures.length >= 1 && pictures.every((f) => /^street_00\.det\d+\.gradcam\.jpg$/.test(f)), pictures.join(', '));
    for (const f of pictures) {
      const side = JSON.parse(fs.readFileSync(path.join(out, f.replace(/\.jpg$/, '.json')), 'utf8'));
      assert.deepEqual(side.files, [f]);
      assert.ok(r.out.includes(path.join(out, f)), r.out);
      const meta = await sharp(path.join(out, f)).metadata();
      assert.equal(meta.format, 'jpeg');
      // the 96×96 scene's overlay at 128×128, the caption's padding (2 px a side) and its line on top
      assert.equal(meta.width, 128 + 4);
      assert.ok(meta.height! > 128 + 4 && meta.height! < 128 + 30, `${meta.width}x${meta.height}`);
    }
  });

  test('bad values: one line naming the choices, exit 2, nothing written', () => {
    for (const [args, re] of [
      [['--format', 'gif'], /unknown --format 'gif'; choose one of: png, webp, jpeg/],
      [['--overlay-size', '3x'], /--overlay-size must be N \(the longest side\) or HxW .*got '3x'/],
      [['--overlay-size', '0'], /--overlay-size must be N/],
    ] as const) {
      const out = path.join(tmp, 'bad');
      const r = gradcam('explain', PHOTO, '--model', MODEL, '--out', out, ...args);
      assert.equal(r.code, 2, r.err);
      oneError(r.err, re);
      assert.ok(!fs.existsSync(out), 'nothing written');
    }
  });
});

describe('the overlay\'s WebAssembly passes (overlay-simd.ts) and the JavaScript ones give the same bytes', () => {
  test('on by default in Node; overlay, the map\'s levels and the captioned overlay with them on and off equal the old routines', () => {
    assert.ok(overlayKernels(), 'Node 20 compiles the module');
    let cases = 0;
    try {
      for (const on of [true, false]) {
        useOverlaySimd(on);
        for (const [w, h, seed] of [[500, 375, 1], [37, 53, 2], [1, 1, 3], [17, 16, 4]] as const) {
          for (const [colormap, alpha] of [['jet', 0.5], ['turbo', 0.3], ['inferno', 1]] as const) {
            const img = picture(w, h, seed + 20);
            const map = camMap(w, h, seed, w > 5);
            assert.deepEqual(overlay(img, map, { colormap, alpha }).data, overlayBefore(img, map, { colormap, alpha }).data, `${on} ${colormap} ${w}x${h}`);
            cases++;
          }
        }
        // levels: up, down, odd widths (rows not a multiple of 16 wide), NaN and values outside [0, 1]
        for (const [h, w, oh, ow] of [[224, 224, 375, 500], [7, 7, 375, 500], [9, 13, 53, 37], [5, 3, 1, 17], [224, 224, 100, 150], [2, 2, 1, 1]] as const) {
          const m = new Float32Array(h * w).map((_, i) => Math.abs(Math.sin(i * 1.7)) * 1.1 - 0.05);
          m[0] = NaN;
          m[m.length - 1] = -Infinity;
          assert.deepEqual(resizeBilinearLevels(m, h, w, oh, ow), Uint8Array.from(resizeBilinear(m, h, w, oh, ow), quantizeLevel), `${on} ${h}x${w} -> ${oh}x${ow}`);
          cases++;
        }
        const dark = { width: 20, height: 10, data: new Uint8Array(600).map((_, i) => (i * 7) % 40) };
        assert.deepEqual(overlay(dark, new Float32Array(200), { colormap: 'inferno', alpha: 0 }).data, overlayBefore(dark, new Float32Array(200), { colormap: 'inferno', alpha: 0 }).data);
        const e = { method: 'gradcam', target: { index: 3, logit: 2, probability: 0.25, label: 'cat' }, predicted: { index: 3, logit: 2, probability: 0.25 }, map: camMap(224, 224, 5, true), width: 224, height: 224 };
        const pic = picture(500, 375, 31);
        const got = overlayPicture(e, pic, { colormap: 'jet', alpha: 0.5, caption: true });
        const want = montage([[overlayBefore(pic, resizeBilinear(e.map, 224, 224, 375, 500), { colormap: 'jet', alpha: 0.5 })]], { labels: [[captionText(e)]], pad: 2, textScale: 1 });
        assert.deepEqual(got.data, want.data, `${on}: the captioned overlay`);
        cases++;
      }
    } finally {
      useOverlaySimd(true);
    }
    assert.equal(cases, 2 * (12 + 6 + 1));
  });
});
