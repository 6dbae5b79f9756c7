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

/**
 * A baseline uncompressed grayscale TIFF (little endian, one strip) of any sample type: BitsPerSample and
 * SampleFormat (1 unsigned, 2 signed, 3 float) from the array's type.
 */
export function tiffGrey(w: number, h: number, v: Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array): Uint8Array {
  const bytes = v.BYTES_PER_ELEMENT;
  const format = v instanceof Float32Array || v instanceof Float64Array ? 3 : v instanceof Int8Array || v instanceof Int16Array || v instanceof Int32Array ? 2 : 1;
  const tags: [number, number, number, number][] = [[256, 3, 1, w], [257, 3, 1, h], [258, 3, 1, 8 * bytes], [259, 3, 1, 1], [262, 3, 1, 1], [273, 4, 1, 0], [277, 3, 1, 1], [278, 3, 1, h], [279, 4, 1, w * h * bytes], [339, 3, 1, format]];
  const ifd = 8;
  const data = ifd + 2 + tags.length * 12 + 4;
  tags[5]![3] = data;
  const out = new Uint8Array(data + w * h * bytes);
  const dv = new DataView(out.buffer);
  out.set([0x49, 0x49], 0);
  dv.setUint16(2, 42, true);
  dv.setUint32(4, ifd, true);
  dv.setUint16(ifd, tags.length, true);
  tags.forEach(([tag, type, count, value], k) => {
    const o = ifd + 2 + k * 12;
    dv.setUint16(o, tag, true);
    dv.setUint16(o + 2, type, true);
    dv.setUint32(o + 4, count, true);
    if (type === 3) dv.setUint16(o + 8, value, true);
    else dv.setUint32(o + 8, value, true);
  });
  out.set(new Uint8Array(v.buffer, v.byteOffset, w * h * bytes), data);
  return out;
}
