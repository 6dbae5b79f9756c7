/**
 * src/image/jpeg-header.ts: the JPEG header read in JavaScript (openImageFile's shortcut past sharp's
 * metadata()) says what sharp says, on the demo photos and on JPEGs written by libvips in every EXIF
 * orientation, greyscale, progressive, with both byte orders of EXIF; what it is unsure of (CMYK, a broken
 * segment, two EXIF blocks, not a JPEG) it leaves to sharp (undefined), and openImageFile's header and
 * pixels are the same either way.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { jpegHeader } from '../src/image/jpeg-header.js';
import { openImageFile } from '../src/image/node.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const PHOTOS = path.join(ROOT, 'demo', 'photos');

/** sharp's view of the same header: the frame as stored, and the orientation (1 where none). */
async function sharpHeader(b: Buffer) {
  const m = await sharp(b).metadata();
  return { width: m.width, height: m.height, bits: m.depth === 'uchar' ? 8 : 16, components: m.channels, orientation: m.orientation ?? 1 };
}

/** A JPEG with an EXIF block in the given byte order holding only the orientation (a minimal TIFF IFD0). */
function withExif(jpeg: Buffer, orientation: number, le: boolean): Buffer {
  const tiff = Buffer.alloc(26);
  if (le) {
    tiff.write('II', 0); tiff.writeUInt16LE(42, 2); tiff.writeUInt32LE(8, 4); tiff.writeUInt16LE(1, 8);
    tiff.writeUInt16LE(0x0112, 10); tiff.writeUInt16LE(3, 12); tiff.writeUInt32LE(1, 14); tiff.writeUInt16LE(orientation, 18);
  } else {
    tiff.write('MM', 0); tiff.writeUInt16BE(42, 2); tiff.writeUInt32BE(8, 4); tiff.writeUInt16BE(1, 8);
    tiff.writeUInt16BE(0x0112, 10); tiff.writeUInt16BE(3, 12); tiff.writeUInt32BE(1, 14); tiff.writeUInt16BE(orientation, 18);
  }
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const seg = Buffer.alloc(4);
  seg[0] = 0xff; seg[1] = 0xe1; seg.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), seg, payload, jpeg.subarray(2)]);
}

describe('jpegHeader reads what sharp reads', () => {
  test('the demo photos, and JPEGs from libvips in every orientation, greyscale and progressive', async () => {
    const cases: Buffer[] = [];
    for (const f of fs.readdirSync(PHOTOS).filter((n) => n.endsWith('.jpg'))) cases.push(fs.readFileSync(path.join(PHOTOS, f)));
    const base = sharp(path.join(PHOTOS, 'chelsea.jpg')).resize(301, 173, { fit: 'fill' });
    for (let o = 1; o <= 8; o++) cases.push(await base.clone().withMetadata({ orientation: o }).jpeg({ quality: 85 }).toBuffer());
    cases.push(await base.clone().greyscale().jpeg().toBuffer());
    cases.push(await base.clone().jpeg({ progressive: true }).toBuffer());
    const plain = await base.clone().jpeg().toBuffer();
    for (let o = 1; o <= 8; o++) for (const le of [true, false]) cases.push(withExif(plain, o, le));
    let read = 0;
    for (const b of cases) {
      const h = jpegHeader(b);
      assert.ok(h, 'a plain JPEG is read here, not left to sharp');
      assert.deepEqual(h, await sharpHeader(b));
      read++;
    }
    assert.equal(read, 4 + 8 + 2 + 16);
  });

  test('left to sharp (undefined): CMYK, two EXIF blocks, an orientation of 9, a cut header, not a JPEG', async () => {
    const plain = await sharp(path.join(PHOTOS, 'coffee.jpg')).jpeg().toBuffer();
    const cmyk = await sharp(path.join(PHOTOS, 'coffee.jpg')).toColourspace('cmyk').jpeg().toBuffer();
    assert.equal((await sharp(cmyk).metadata()).channels, 4);
    assert.equal(jpegHeader(cmyk), undefined);
    assert.equal(jpegHeader(withExif(withExif(plain, 3, true), 6, false)), undefined);
    assert.equal(jpegHeader(withExif(plain, 9, true)), undefined);
    assert.equal(jpegHeader(plain.subarray(0, 40)), undefined);
    assert.equal(jpegHeader(await sharp(path.join(PHOTOS, 'coffee.jpg')).png().toBuffer()), undefined);
    assert.equal(jpegHeader(new Uint8Array([0xff, 0xd8])), undefined);
  });

  test('openImageFile: the same header and pixels as sharp’s full pipeline (plain, P3 profile, grey, rotated; a CMYK one takes sharp’s way)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jpeg-header-'));
    try {
      const plain = await sharp(path.join(PHOTOS, 'rocket.jpg')).resize(200, 120, { fit: 'fill' }).jpeg().toBuffer();
      // o1 and p3 (an embedded Display P3 profile, left unapplied either way: test/icc.test.ts) take
      // openImageFile's plain path (no rotate / flatten / colour steps); the others the full one (CMYK
      // Pillow's way: test/icc.test.ts)
      const cases = [['o1.jpg', withExif(plain, 1, true)], ['p3.jpg', await sharp(plain).withIccProfile('p3').jpeg().toBuffer()], ['grey.jpg', await sharp(plain).greyscale().jpeg().toBuffer()],
        ['o6.jpg', withExif(plain, 6, false)], ['o3.jpg', withExif(plain, 3, true)], ['cmyk.jpg', await sharp(plain).toColourspace('cmyk').jpeg().toBuffer()]] as const;
      assert.ok((await sharp(cases[1][1]).metadata()).icc, 'the P3 JPEG carries its profile');
      for (const [name, b] of cases) {
        const f = path.join(dir, name);
        fs.writeFileSync(f, b);
        const o = await openImageFile(f);
        const m = await sharp(b).metadata();
        const [w, h] = (m.orientation ?? 1) >= 5 ? [m.height, m.width] : [m.width, m.height];
        assert.deepEqual(o.header, { width: w, height: h, bits: 8, format: 'jpeg' }, name);
        const img = await o.decode();
        // CMYK: Pillow's conversion, not libvips' (test/icc.test.ts); its size here
        const ref = await sharp(b, { ignoreIcc: true }).rotate().toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
        assert.deepEqual([img.width, img.height], [ref.info.width, ref.info.height], name);
        if (name === 'cmyk.jpg') continue;
        assert.ok(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength).equals(ref.data), `${name}: the same pixels`);
      }
      await assert.rejects(async () => (await openImageFile(path.join(dir, 'none.jpg'))).decode(), /image not found/);
      fs.writeFileSync(path.join(dir, 'cut.jpg'), plain.subarray(0, 400));
      await assert.rejects(async () => (await openImageFile(path.join(dir, 'cut.jpg'))).decode(), /cannot decode image .*cut\.jpg/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
