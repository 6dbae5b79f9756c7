/**
 * An embedded ICC profile is not applied (src/image/node.ts) and CMYK is converted by Pillow's formula: the
 * model gets the values Pillow (torchvision's loader) and the browser app (colorSpaceConversion 'none')
 * read. test/fixtures/icc/ holds small crops of the demo photos carrying a Display P3 profile (a baseline
 * 4:2:0 JPEG, a progressive 4:4:4 JPEG, a PNG with an iCCP chunk), CMYK JPEGs as libvips and Pillow write
 * them, and Pillow's pixels of each (scripts/fixtures/make_icc_fixtures.ts and .py).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { openImageFile } from '../src/image/node.js';
import { readScanFile } from '../src/image/scan-node.js';
import { parseNpy } from '../src/image/npy.js';
import { FIXTURES } from './helpers/fixtures.js';

const DIR = path.join(FIXTURES, 'icc');
const NAMES = ['p3_baseline.jpg', 'p3_progressive444.jpg', 'p3.png', 'cmyk_plain.jpg', 'cmyk_pillow.jpg'];

function pillow(name: string): { data: Uint8Array; h: number; w: number } {
  const a = parseNpy(new Uint8Array(fs.readFileSync(path.join(DIR, `${name}.pil.npy`))));
  assert.deepEqual(a.shape.length, 3);
  return { data: a.data as Uint8Array, h: a.shape[0]!, w: a.shape[1]! };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('ICC-tagged pictures decode to the values Pillow gives a model', () => {
  for (const name of NAMES) {
    test(`${name}: openImageFile equals Pillow bit for bit; libvips' colour management would move it`, async () => {
      const ref = pillow(name);
      const file = path.join(DIR, name);
      const bytes = fs.readFileSync(file);
      const meta = await sharp(bytes).metadata();
      if (name.startsWith('p3')) assert.ok(meta.icc, 'the fixture carries its profile');
      else assert.equal(meta.space, 'cmyk');
      const img = await (await openImageFile(file)).decode();
      assert.deepEqual([img.width, img.height], [ref.w, ref.h]);
      assert.equal(maxDiff(img.data, ref.data), 0);
      // it matters: converted to sRGB by libvips (the P3 profile; CMYK through libvips' CMYK profile) the pixels are several levels away
      const managed = await sharp(bytes).toColourspace('srgb').removeAlpha().raw().toBuffer();
      assert.ok(maxDiff(managed, ref.data) >= 5, `libvips' conversion moves pixels (max ${maxDiff(managed, ref.data)})`);
    });
  }

  for (const name of ['p3.png', 'cmyk_pillow.jpg']) test(`readScanFile (the picture reader of scans and 16-bit images) reads the same values: ${name}`, async () => {
    const ref = pillow(name);
    const v = await readScanFile(path.join(DIR, name), { channels: 3 });
    assert.deepEqual([v.channels, ...v.dims], [3, 1, ref.h, ref.w]);
    const n = ref.h * ref.w;
    // the volume holds [C, 1, H, W] channel planes
    const planes = Float32Array.from({ length: 3 * n }, (_, i) => ref.data[(i % n) * 3 + Math.floor(i / n)]!);
    const scale = v.data.reduce((m, x) => Math.max(m, x), 0) / planes.reduce((m, x) => Math.max(m, x), 0);
    assert.ok(maxDiff(Float32Array.from(v.data, (x) => x / scale), planes) < 1e-3, 'the same values (up to the reader\'s scale)');
  });

});
