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
import { loadExplainer, readImageFile } from '../src/node.js';
import { captionText, classLabel, outline, overlayPicture, overlaySize, pictureBytes, type CaptionFacts } from '../src/render/index.js';
import { gradientPicture, gridPicture } from '../src/render/panels.js';
import { attributionPicture, DEFAULT_TOP_PERCENT, pixelAttribution } from '../src/render/attribution.js';
import { divergingImage, keepMasked, normalizeAttribution, topPercentMask } from '../src/image/attribution.js';
import { deprocessGradient, gradientMagnitude } from '../src/image/gradient.js';
import { enlargeNearest, heatmapImage } from '../src/image/index.js';
import { shortLayerName } from '../src/util/text.js';
import type { Explainer } from '../src/explainer.js';
import { explainPixels } from '../src/methods/pixels.js';
import type { Explanation, PixelExplanation } from '../src/types.js';
import { parseSideOrHxW } from '../src/util/size.js';
import { encodePicture, LOSSY } from '../src/image/encode.js';
import { Rng } from '../src/util/random.js';
import { FIXTURES, loadArray, loadMeta } from './helpers/fixtures.js';
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

/** gradientPicture, attributionPicture and gridPicture as they were before --overlay-size reached them: the default's reference. */
const earlier = {
  gradient(e: PixelExplanation, base: RgbImage, opt: { colormap: string; alpha: number; abs: boolean; maxSide?: number }): RgbImage {
    const maxSide = opt.maxSide ?? 2048;
    const f = Math.max(1, Math.min(Math.ceil(256 / e.width), Math.floor(maxSide / Math.max(e.width, e.height))));
    const [W, H] = [e.width * f, e.height * f];
    const pic = resizeRgb(base, W, H);
    const cam = f === 1 ? e.cam : resizeBilinear(e.cam, e.height, e.width, H, W);
    const camOverlay = overlay(pic, cam, { colormap: opt.colormap, alpha: opt.alpha });
    const grad = enlargeNearest(opt.abs ? gradientMagnitude(e.gradient, e.width, e.height) : deprocessGradient(e.gradient, e.width, e.height), f);
    const scale = Math.max(1, Math.floor(W / 160));
    const head = `class ${classLabel(e.target)} p=${e.target.probability.toFixed(3)}`;
    const pred = e.target.index === e.predicted.index ? '(the predicted class)' : `predicted ${classLabel(e.predicted)}`;
    return montage([[camOverlay, grad]], { labels: [[`gradcam: ${head}\n${pred}`, `${e.method}${opt.abs ? ' |g|' : ''}`]], pad: 2 * scale, textScale: scale });
  },
  attribution(e: PixelExplanation, base: RgbImage, opt: { colormap: string; alpha: number; abs: boolean; maxSide?: number }): RgbImage {
    const a = pixelAttribution(e);
    const f = Math.max(1, Math.min(Math.ceil(256 / e.width), Math.floor((opt.maxSide ?? 2048) / Math.max(e.width, e.height))));
    const [W, H] = [e.width * f, e.height * f];
    const pic = resizeRgb(base, W, H);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of a) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const shown = lo > 0 && hi > lo ? Float32Array.from(a, (v) => (v - lo) / (hi - lo)) : e.cam;
    const left = overlay(pic, f === 1 ? shown : resizeBilinear(shown, e.height, e.width, H, W), { colormap: opt.colormap, alpha: opt.alpha });
    const middle = enlargeNearest(opt.abs ? heatmapImage(normalizeAttribution(a, true), e.width, e.height, opt.colormap) : divergingImage(a, e.width, e.height), f);
    const small = topPercentMask(a, DEFAULT_TOP_PERCENT, opt.abs);
    const mask = new Uint8Array(W * H);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) mask[y * W + x] = small[Math.floor(y / f) * e.width + Math.floor(x / f)]!;
    const right = keepMasked(pic, mask);
    outline(right, mask);
    const scale = Math.max(1, Math.floor(W / 160));
    const head = `${e.method}: class ${classLabel(e.target)} p=${e.target.probability.toFixed(3)}`;
    const pred = e.target.index === e.predicted.index ? '(the predicted class)' : `predicted ${classLabel(e.predicted)}`;
    const labels = [[`${head}\n${pred}`, opt.abs ? '|attribution|' : 'attribution: red < 0 < green', `top ${DEFAULT_TOP_PERCENT}% of pixels${opt.abs ? ' by |a|' : ''}`]];
    return montage([[left, middle, right]], { labels, pad: 2 * scale, textScale: scale });
  },
  grid(tiles: Explanation[], methods: string[], groups: string[][], base: RgbImage, opt: { colormap: string; alpha: number }): RgbImage {
    const e0 = tiles[0]!;
    const tw = Math.max(192, Math.min(320, e0.width));
    const th = Math.max(1, Math.round((tw * e0.height) / e0.width));
    const pic = resizeRgb(base, tw, th);
    const rows: RgbImage[][] = [];
    const labels: string[][] = [];
    methods.forEach((m, mi) => {
      rows.push([]);
      labels.push([]);
      groups.forEach((g, gi) => {
        const e = tiles[mi * groups.length + gi]!;
        rows[mi]!.push(overlay(pic, resizeBilinear(e.map, e.height, e.width, th, tw), { colormap: opt.colormap, alpha: opt.alpha }));
        const where = g.length > 1 ? `mean of ${g.length} layers` : shortLayerName(g[0]!);
        labels[mi]!.push(`${m} @ ${where}\n${e.targetName ?? `logit ${e.target.index}`}${e.target.label ? ` '${e.target.label}'` : ''} p=${e.target.probability.toFixed(3)}${e.warnings.some((w) => w.startsWith('the map is all zero')) ? '\n(all zero)' : ''}`);
      });
    });
    return montage(rows, { labels, pad: 4 });
  },
};

/** The panels of the bottom row of a montage on white: [x0, x1) runs of columns not white all through rows [y0, y1). */
function panelColumns(img: RgbImage, y0: number, y1: number): [number, number][] {
  const runs: [number, number][] = [];
  for (let x = 0; x < img.width; x++) {
    let white = true;
    for (let y = y0; y < y1 && white; y++) { const o = (y * img.width + x) * 3; white = img.data[o] === 255 && img.data[o + 1] === 255 && img.data[o + 2] === 255; }
    if (white) continue;
    if (runs.length && runs.at(-1)![1] === x) runs.at(-1)![1] = x + 1;
    else runs.push([x, x + 1]);
  }
  return runs;
}

/** A panel of `img` at (x, y), w × h. */
function crop(img: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) data.set(img.data.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + w) * 3), r * w * 3);
  return { width: w, height: h, data };
}

describe('gradient, attribution and grid pictures: --overlay-size sizes each panel, --max-overlay bounds the whole picture', () => {
  // resnet_like (a 48×48 input) on its fixture's input: saliency, occlusion, and Grad-CAM / Grad-CAM++ at two layers for the grid
  const MODEL = path.join(FIXTURES, 'resnet_like', 'model.onnx');
  const look = { colormap: 'jet', alpha: 0.5, abs: false };
  let ex: Explainer;
  let base: RgbImage;
  let sal: PixelExplanation;
  let occ: PixelExplanation;
  let tiles: Explanation[];
  const methods = ['gradcam', 'gradcam++'];
  let groups: string[][];
  before(async () => {
    ex = await loadExplainer(MODEL, { cache: false });
    const input = loadArray('resnet_like', 'input.npy');
    const dims = [1, ...input.shape.slice(1)];
    const one = input.data.slice(0, input.data.length / input.shape[0]!);
    base = await readImageFile(path.join(ROOT, 'demo', 'photos', 'chelsea.jpg'));
    const pixels = async (method: string, methodOptions?: Record<string, string>) => (await explainPixels(ex, one, dims, { method, methodOptions }, (x, d, o) => ex.explain(x, d, o))).explanations[0]!;
    sal = await pixels('saliency');
    occ = await pixels('occlusion', { window: '8', stride: '4' });
    const layers = loadMeta('resnet_like').layers.map((l: { tensor: string }) => l.tensor);
    groups = layers.map((l: string) => [l]);
    tiles = [];
    for (const method of methods) for (const g of groups) tiles.push((await ex.explain(one, dims, { method, layer: g[0] })).explanations[0]!);
  });
  after(() => ex?.release());

  test('default: the same bytes as before (panels the 48 px input × 6, grid tiles 192 px)', () => {
    const g = gradientPicture(sal, base, look);
    assert.deepEqual(g, earlier.gradient(sal, base, look));
    assert.equal(g.width, 2 * 288 + 3 * 2);
    for (const abs of [false, true]) {
      const a = attributionPicture(occ, base, { ...look, abs });
      assert.deepEqual(a, earlier.attribution(occ, base, { ...look, abs }));
      assert.equal(a.width, 3 * 288 + 4 * 2);
    }
    const grid = gridPicture(tiles, methods, groups, base, look);
    assert.deepEqual(grid, earlier.grid(tiles, methods, groups, base, look));
    assert.equal(grid.width, groups.length * 192 + (groups.length + 1) * 4);
  });

  test('N and HxW: every panel at that size; per-pixel panels nearest where a whole multiple, else resizeRgb (antialiased when shrinking)', () => {
    const grad = deprocessGradient(sal.gradient, 48, 48);
    const signed = divergingImage(pixelAttribution(occ), 48, 48);
    for (const [size, W, H] of [[{ side: 128 }, 128, 128], [{ side: 96 }, 96, 96], [{ width: 150, height: 100 }, 150, 100], [{ side: 32 }, 32, 32]] as const) {
      const want = (img: RgbImage) => (W === 96 ? enlargeNearest(img, 2) : resizeRgb(img, W, H));
      const g = gradientPicture(sal, base, { ...look, size });
      // the panels: [2, 2 + W) and [W + 4, 2W + 4), the bottom H rows above the 2 px padding
      assert.deepEqual([g.width, panelColumns(g, g.height - 2 - H, g.height - 2).map(([a, b]) => b - a)], [2 * W + 6, [W, W]], JSON.stringify(size));
      assert.deepEqual(crop(g, W + 4, g.height - 2 - H, W, H), want(grad), `the gradient panel ${JSON.stringify(size)}`);
      const a = attributionPicture(occ, base, { ...look, size });
      assert.deepEqual([a.width, panelColumns(a, a.height - 2 - H, a.height - 2).map(([x0, x1]) => x1 - x0)], [3 * W + 8, [W, W, W]], JSON.stringify(size));
      assert.deepEqual(crop(a, W + 4, a.height - 2 - H, W, H), want(signed), `the attribution panel ${JSON.stringify(size)}`);
      // the top-10 % mask resized with the panel: still about 10 % of the third panel in colour (the rest gray)
      const right = crop(a, 2 * W + 6, a.height - 2 - H, W, H);
      let colour = 0;
      for (let p = 0; p < W * H; p++) if (right.data[p * 3] !== right.data[p * 3 + 1] || right.data[p * 3 + 1] !== right.data[p * 3 + 2]) colour++;
      assert.ok(colour / (W * H) > 0.05 && colour / (W * H) < 0.2, `${JSON.stringify(size)}: ${(100 * colour / (W * H)).toFixed(1)} % in colour`);
      const grid = gridPicture(tiles, methods, groups, base, { ...look, size });
      assert.deepEqual([grid.width, panelColumns(grid, grid.height - 4 - H, grid.height - 4).map(([x0, x1]) => x1 - x0)], [groups.length * (W + 4) + 4, groups.map(() => W)], `grid ${JSON.stringify(size)}`);
    }
  });

  test('--max-overlay bounds the whole picture (captions and padding included): panels shrunk, to a whole multiple of the input unless a size was asked', () => {
    const g = gradientPicture(sal, base, { ...look, maxSide: 300 });
    assert.deepEqual([g.width, panelColumns(g, g.height - 2 - 144, g.height - 2).map(([a, b]) => b - a)], [294, [144, 144]], '3 × 48 px panels');
    assert.ok(g.height <= 300);
    const a = attributionPicture(occ, base, { ...look, maxSide: 300 });
    assert.deepEqual([a.width, panelColumns(a, a.height - 2 - 96, a.height - 2).map(([x0, x1]) => x1 - x0)], [296, [96, 96, 96]], '2 × 48 px panels');
    const grid = gridPicture(tiles, methods, groups, base, { ...look, maxSide: 300 });
    assert.ok(Math.max(grid.width, grid.height) <= 300 && Math.max(grid.width, grid.height) >= 280, `${grid.width}×${grid.height}`);
    // a size asked for beyond the bound: the picture at most as long as allowed, and not much shorter (the
    // captions' scale, and with it the padding, shrinks with the panels: 2028 px for 2048)
    for (const [pic, bound] of [[gradientPicture(sal, base, { ...look, size: { side: 1500 } }), 2048], [attributionPicture(occ, base, { ...look, size: { side: 400 }, maxSide: 700 }), 700], [gridPicture(tiles, methods, groups, base, { ...look, size: { width: 500, height: 300 }, maxSide: 800 }), 800]] as const) {
      const long = Math.max(pic.width, pic.height);
      assert.ok(long <= bound && long >= 0.98 * bound, `${pic.width}×${pic.height} for ≤ ${bound}`);
    }
  });

  test('gradcam explain --method saliency --overlay-size 128: panels of 128 px; occlusion --max-overlay 300: a picture at most 300 px long', async () => {
    const PHOTO = path.join(ROOT, 'demo', 'photos', 'chelsea.jpg');
    const out = path.join(tmp, 'panels');
    let r = gradcam('explain', PHOTO, '--model', MODEL, '--out', out, '--method', 'saliency', '--overlay-size', '128', '--quiet');
    assert.equal(r.code, 0, r.err);
    const sal = decodePng(new Uint8Array(fs.readFileSync(path.join(out, 'chelsea.saliency.png'))));
    assert.deepEqual([sal.width, panelColumns(sal, sal.height - 130, sal.height - 2)], [262, [[2, 130], [132, 260]]]);
    r = gradcam('explain', PHOTO, '--model', MODEL, '--out', out, '--method', 'occlusion', '--max-overlay', '300', '--quiet');
    assert.equal(r.code, 0, r.err);
    const occ = decodePng(new Uint8Array(fs.readFileSync(path.join(out, 'chelsea.occlusion.png'))));
    assert.ok(Math.max(occ.width, occ.height) <= 300 && occ.width >= 280, `${occ.width}×${occ.height}`);
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
