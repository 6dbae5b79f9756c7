/**
 * --decode fast (JPEG shrink-on-load, src/image/node.ts openImageFile + dataset/inputs.ts prepareInputs)
 * against the exact decode: how far the model's input and the Grad-CAM map move, on the demo photos
 * (demo/photos/*.jpg, 320 px, enlarged with libvips' lanczos to several sizes and saved as JPEG quality 92:
 * the fast path only starts at 3× the model's input) and on a grainy version of one (noise of ±24 levels
 * per pixel, the hardest case for a decode that skips detail). Where it does not apply (PNG, a JPEG under
 * 3× what is needed) fast is the exact decode, bit for bit.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadExplainer, prepareInputs } from '../src/node.js';
import { fastDecodeSize, onceMore, openImageFile, readImageFile, shrinkPicture } from '../src/image/node.js';
import { boundPicture, fastNeed } from '../src/dataset/inputs.js';
import type { Explainer } from '../src/explainer.js';
import { gradcam, oneError } from './helpers/cli.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const PHOTOS = path.join(ROOT, 'demo', 'photos');
let dir: string;
let ex: Explainer;

/** A demo photo enlarged to w × h (JPEG quality 92); with `grain`, ±grain levels of noise per pixel first. */
async function photo(name: string, w: number, h: number, grain = 0): Promise<string> {
  let buf = await sharp(path.join(PHOTOS, `${name}.jpg`)).resize(w, h, { fit: 'fill', kernel: 'lanczos3' }).removeAlpha().raw().toBuffer();
  if (grain) {
    let s = 12345;
    for (let i = 0; i < buf.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      buf[i] = Math.min(255, Math.max(0, buf[i]! + ((s >>> 8) % (2 * grain + 1)) - grain));
    }
  }
  const f = path.join(dir, `${name}-${w}x${h}${grain ? '-grain' : ''}.jpg`);
  fs.writeFileSync(f, await sharp(buf, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 92 }).toBuffer());
  return f;
}

/** max and mean |a − b|. */
function diff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mean: number } {
  assert.equal(a.length, b.length);
  let max = 0, sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum += d;
    if (d > max) max = d;
  }
  return { max, mean: sum / a.length };
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-decode-'));
  ex = await loadExplainer(path.join(ROOT, 'demo', 'models', 'where.onnx'), { cache: false });
});
after(async () => {
  await ex?.release();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('--decode fast: shrink-on-load, and how far it is from the exact decode', () => {
  test('the rule: at least 3× on both axes, the decoded size of the photo\'s aspect covering the need', () => {
    assert.equal(fastDecodeSize(500, 375, [224, 224]), undefined); // 1.7×: exact
    assert.equal(fastDecodeSize(671, 900, [224, 224]), undefined); // 2.99×
    assert.deepEqual(fastDecodeSize(4000, 3000, [224, 224]), [299, 224]);
    assert.deepEqual(fastDecodeSize(3000, 4000, [256, 341]), [256, 342]);
    // the picture kept counts: a 2048 bound leaves a 12-MP photo exact, an audit's 512 does not
    assert.deepEqual(fastNeed([224, 224], [4000, 3000], 2048), [2048, 1536]);
    assert.equal(fastDecodeSize(4000, 3000, fastNeed([224, 224], [4000, 3000], 2048)), undefined);
    assert.deepEqual(fastDecodeSize(4000, 3000, fastNeed([224, 224], [4000, 3000], 512)), [512, 384]);
    assert.deepEqual(fastNeed([128, 128], undefined, 512), [128, 128]);
  });

  // [photo, w, h, grain, maxSide (undefined: no picture kept), shrink-on-load factor sharp uses]
  const cases: [string, number, number, number, number | undefined][] = [
    ['astronaut', 1600, 1600, 0, undefined], // 12.5× the 128 input: 1/8
    ['astronaut', 900, 900, 0, undefined], // 7×: 1/4
    ['chelsea', 1200, 799, 0, undefined], // 6.2×: 1/4
    ['coffee', 640, 426, 0, undefined], // 3.3×: 1/2
    ['rocket', 3000, 2006, 0, 512], // the picture (512) sets the need: 5.9×, 1/4
    ['astronaut', 1600, 1600, 24, undefined], // grain: the worst case
  ];
  for (const [name, w, h, grain, maxSide] of cases) {
    test(`${name} ${w}×${h}${grain ? ' grainy' : ''}${maxSide ? `, picture ≤ ${maxSide}` : ''}: input and Grad-CAM map close to the exact decode's`, async () => {
      const f = await photo(name, w, h, grain);
      const common = { view: true, ...(maxSide ? { maxSide } : { picture: false }) };
      const [exact] = await prepareInputs(ex, f, { ...common, decode: 'exact' });
      const [fast] = await prepareInputs(ex, f, { ...common, decode: 'fast' });
      assert.equal(exact!.fast, undefined);
      assert.equal(fast!.fast, true, 'shrink-on-load applies');
      assert.deepEqual(fast!.sourceSize, [w, h]);
      if (maxSide) assert.ok(Math.max(fast!.image!.width, fast!.image!.height) === maxSide, 'the picture is still maxSide long');
      const px = diff(fast!.view!.data, exact!.view!.data);
      const tensor = diff(fast!.tensor, exact!.tensor);
      // the exact input's top class, explained on both
      const me = (await ex.explain(exact!.tensor, exact!.dims, { method: 'gradcam' })).explanations[0]!;
      const mf = (await ex.explain(fast!.tensor, fast!.dims, { method: 'gradcam', classes: [me.target.index] })).explanations[0]!;
      assert.equal(mf.target.index, me.target.index);
      const map = diff(mf!.map, me!.map);
      const what = `${path.basename(f)}: pixels max ${px.max} mean ${px.mean.toFixed(3)} levels; tensor max ${tensor.max.toFixed(4)} mean ${tensor.mean.toFixed(5)}; Grad-CAM map max ${map.max.toFixed(4)} mean ${map.mean.toFixed(5)}`;
      // measured (sharp 0.34.5, libvips 8.17): pixels max 11-21, mean 0.36-1.77 levels; tensor (ImageNet
      // normalisation) max 0.19-0.37, mean 0.006-0.031; map max 0.02-0.14, mean 0.004-0.017
      assert.ok(px.max > 0, `fast is not the exact decode: ${what}`);
      assert.ok(px.max <= 32 && px.mean <= 2.5, `the model's picture within 32 levels, 2.5 on average: ${what}`);
      assert.ok(tensor.max <= 0.6 && tensor.mean <= 0.05, `the input tensor within 0.6, 0.05 on average: ${what}`);
      assert.ok(map.max <= 0.25 && map.mean <= 0.03, `the Grad-CAM map (in [0, 1]) within 0.25, 0.03 on average: ${what}`);
    });
  }

  test('where it does not apply, fast is the exact decode bit for bit: a PNG, and a JPEG under 3× the need', async () => {
    const jpg = await photo('chelsea', 500, 375); // 2.9× of 128 on the short side
    const png = path.join(dir, 'big.png');
    await sharp(await photo('astronaut', 1600, 1600)).png({ compressionLevel: 1 }).toFile(png);
    for (const f of [jpg, png]) {
      const [exact] = await prepareInputs(ex, f, { decode: 'exact', picture: false, view: true });
      const [fast] = await prepareInputs(ex, f, { decode: 'fast', picture: false, view: true });
      assert.equal(fast!.fast, undefined, f);
      assert.deepEqual(new Uint32Array(fast!.tensor.buffer), new Uint32Array(exact!.tensor.buffer), f);
    }
    // the header alone, then the decode on the same bytes
    const opened = await openImageFile(png);
    assert.deepEqual(opened.header, { width: 1600, height: 1600, bits: 8, format: 'png' });
    const img = await opened.decode({ fastTo: [128, 128] });
    assert.equal(img.width, 1600);
    assert.equal(img.fast, undefined);
  });
});

describe('the overlay picture of a photo above --max-overlay', () => {
  test('is shrunk by libvips (shrinkPicture), within a few levels of Pillow\'s shrink (boundPicture)', async () => {
    for (const [name, w, h, side] of [['rocket', 3000, 2006, 2048], ['chelsea', 1200, 799, 500], ['astronaut', 900, 900, 256]] as const) {
      const img = await readImageFile(await photo(name, w, h, name === 'astronaut' ? 24 : 0));
      const pillow = boundPicture(img, side);
      const vips = await shrinkPicture(img, side);
      assert.deepEqual([vips.width, vips.height], [pillow.width, pillow.height]);
      const d = diff(vips.data, pillow.data);
      // measured: max 2 (9 on the grainy one), mean 0.03-0.25 levels
      assert.ok(d.max <= 16 && d.mean <= 0.6, `${name} ${w}×${h} -> ${side}: max ${d.max} mean ${d.mean.toFixed(3)} levels`);
    }
    const small = await readImageFile(path.join(PHOTOS, 'coffee.jpg'));
    assert.equal(await shrinkPicture(small, 2048), small, 'a picture within the bound is kept as it is');
  });
});

describe('--decode on the command line', () => {
  test('a bad value is one line naming the choices', () => {
    const r = gradcam('explain', path.join(PHOTOS, 'astronaut.jpg'), '--model', path.join(ROOT, 'demo', 'models', 'where.onnx'), '--decode', 'quick', '--out', path.join(dir, 'bad'));
    assert.equal(r.code, 2, r.err);
    oneError(r.err, /--decode.*exact, fast/);
    assert.ok(!fs.existsSync(path.join(dir, 'bad')));
  });

  test('audit decodes fast by default, says so in its settings, a resume cannot mix exact into it, and a folder begun exact goes on exact', async () => {
    const imgs = path.join(dir, 'audit-in');
    fs.mkdirSync(imgs);
    fs.copyFileSync(await photo('astronaut', 1600, 1600), path.join(imgs, 'a.jpg'));
    fs.copyFileSync(await photo('rocket', 3000, 2006), path.join(imgs, 'b.jpg'));
    const out = path.join(dir, 'audit-out');
    const model = path.join(ROOT, 'demo', 'models', 'where.onnx');
    const r = gradcam('audit', imgs, '--model', model, '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    const rows = fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { status?: string });
    assert.equal(rows.filter((x) => x.status === 'ok').length, 2);
    const again = gradcam('audit', imgs, '--model', model, '--out', out, '--decode', 'exact', '--quiet');
    assert.equal(again.code, 1);
    assert.match(again.err, /other settings \(decode: "fast" vs \(none\)\)/);
    const exact = gradcam('audit', imgs, '--model', model, '--out', path.join(dir, 'audit-exact'), '--decode', 'exact', '--quiet');
    assert.equal(exact.code, 0, exact.err);
    // a folder begun with the exact decode (as every audit before the fast default) goes on without --decode
    fs.copyFileSync(await photo('astronaut', 900, 700), path.join(imgs, 'c.jpg'));
    const resumed = gradcam('audit', imgs, '--model', model, '--out', path.join(dir, 'audit-exact'), '--quiet');
    assert.equal(resumed.code, 0, resumed.err);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'audit-exact', 'audit.json'), 'utf8')) as { decode?: string };
    assert.equal(cfg.decode, undefined);
    assert.equal(fs.readFileSync(path.join(dir, 'audit-exact', 'results.jsonl'), 'utf8').trim().split('\n').length, 3);
  });
});

describe("libvips' shared error buffer (onceMore)", () => {
  test("a call that failed with libvips' 'Unknown error' is made again (at most three calls in all); any other failure is not", async () => {
    let calls = 0;
    const flaky = () => (++calls === 1 ? Promise.reject(new Error('Input buffer has corrupt header: VipsJpeg: Unknown error')) : Promise.resolve(calls));
    assert.equal(await onceMore(flaky), 2);
    // three times without a reason: the message says what such a failure is, and the call is not made again
    calls = 0;
    const never = () => { calls++; return Promise.reject(new Error('Input buffer has corrupt header: VipsJpeg: Unknown error')); };
    await assert.rejects(onceMore(never), /^Error: Input buffer has corrupt header: VipsJpeg: corrupt, truncated or unsupported data/);
    assert.equal(calls, 3);
    calls = 0;
    const corrupt = () => { calls++; return Promise.reject(new Error('VipsJpeg: Premature end of input file')); };
    await assert.rejects(onceMore(corrupt), /Premature end/);
    assert.equal(calls, 1);
    // a corrupt JPEG read while other threads decode and encode still names its reason
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gc-vips-'));
    try {
      const good = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 30, b: 90 } } }).jpeg().toBuffer();
      const bad = path.join(dir, 'bad.jpg');
      fs.writeFileSync(bad, good.subarray(0, good.length >> 1));
      const busy = Array.from({ length: 8 }, () => sharp({ create: { width: 256, height: 256, channels: 3, background: '#808080' } }).webp().toBuffer());
      const errors = await Promise.all(Array.from({ length: 8 }, () => readImageFile(bad).then(() => 'decoded', (e: Error) => e.message)));
      await Promise.all(busy);
      for (const m of errors) assert.match(m, /^cannot decode image .*bad\.jpg: (?!.*Unknown error$)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
