/**
 * 16-bit grayscale PNG and TIFF writers (and TIFFs of float or signed samples) for the repo's own test and demo files (our PNG encoder and
 * sharp's raw input are 8-bit): PNG with big-endian samples and filter 0; baseline uncompressed
 * little-endian TIFF, one strip.
 */
import { zlibSync } from 'fflate';
import { crc32 } from '../../src/image/png.js';

/** A 16-bit grayscale (or, with channels 3, RGB: `v` interleaved) PNG (big-endian samples, filter 0). */
export function png16(w: number, h: number, v: Uint16Array, channels: 1 | 3 = 1): Uint8Array {
  const row = channels * w;
  const raw = new Uint8Array(h * (1 + 2 * row));
  for (let y = 0; y < h; y++) for (let x = 0; x < row; x++) { const o = y * (1 + 2 * row) + 1 + 2 * x; raw[o] = v[y * row + x]! >> 8; raw[o + 1] = v[y * row + x]! & 0xff; }
  const chunk = (type: string, data: Uint8Array) => {
    const b = new Uint8Array(12 + data.length);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, data.length);
    b.set(new TextEncoder().encode(type), 4);
    b.set(data, 8);
    dv.setUint32(8 + data.length, crc32(b.subarray(4, 8 + data.length)));
    return b;
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, w);
  new DataView(ihdr.buffer).setUint32(4, h);
  ihdr.set([16, channels === 3 ? 2 : 0, 0, 0, 0], 8);
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlibSync(raw)), chunk('IEND', new Uint8Array())];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** A baseline uncompressed 16-bit grayscale TIFF (little endian, one strip). */
export function tiff16(w: number, h: number, v: Uint16Array): Uint8Array {
  return tiffGrey(w, h, v);
}

type Samples = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

/**
 * A baseline uncompressed grayscale TIFF (little endian, one strip) of any sample type: BitsPerSample and
 * SampleFormat (1 unsigned, 2 signed, 3 float) from the array's type.
 */
export function tiffGrey(w: number, h: number, v: Samples): Uint8Array {
  return tiffStack(w, h, [v]);
}

/** A multi-page TIFF (a stack): one page per array, each w × h, of one sample type. */
export function tiffStack(w: number, h: number, pages: Samples[]): Uint8Array {
  return tiffPages(pages.map((data) => ({ width: w, height: h, data })));
}

/** A multi-page TIFF of pages of any size (a pyramid, a thumbnail), one IFD and one strip each, of one sample type. */
export function tiffPages(pages: { width: number; height: number; data: Samples }[]): Uint8Array {
  const v0 = pages[0]!.data;
  const bytes = v0.BYTES_PER_ELEMENT;
  const format = v0 instanceof Float32Array || v0 instanceof Float64Array ? 3 : v0 instanceof Int8Array || v0 instanceof Int16Array || v0 instanceof Int32Array ? 2 : 1;
  const tagCount = 10;
  const ifdSize = 2 + tagCount * 12 + 4;
  const out = new Uint8Array(8 + pages.reduce((a, p) => a + ifdSize + p.width * p.height * bytes, 0));
  const dv = new DataView(out.buffer);
  out.set([0x49, 0x49], 0);
  dv.setUint16(2, 42, true);
  dv.setUint32(4, 8, true);
  let ifd = 8;
  pages.forEach(({ width: w, height: h, data: v }, k) => {
    const page = w * h * bytes;
    const data = ifd + ifdSize;
    const tags: [number, number, number, number][] = [[256, 3, 1, w], [257, 3, 1, h], [258, 3, 1, 8 * bytes], [259, 3, 1, 1], [262, 3, 1, 1], [273, 4, 1, data], [277, 3, 1, 1], [278, 3, 1, h], [279, 4, 1, page], [339, 3, 1, format]];
    dv.setUint16(ifd, tags.length, true);
    tags.forEach(([tag, type, count, value], t) => {
      const o = ifd + 2 + t * 12;
      dv.setUint16(o, tag, true);
      dv.setUint16(o + 2, type, true);
      dv.setUint32(o + 4, count, true);
      if (type === 3) dv.setUint16(o + 8, value, true);
      else dv.setUint32(o + 8, value, true);
    });
    dv.setUint32(ifd + 2 + tags.length * 12, k + 1 < pages.length ? data + page : 0, true);
    out.set(new Uint8Array(v.buffer, v.byteOffset, page), data);
    ifd = data + page;
  });
  return out;
}
