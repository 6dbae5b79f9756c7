/**
 * A baseline/progressive JPEG's header read in JavaScript, browser-safe: the frame's size, sample
 * precision and component count (its SOF segment) and the EXIF orientation (APP1), so that a JPEG's
 * decode does not need a separate header pass through the decoder library first (image/node.ts
 * openImageFile: sharp's metadata() cost ~0.3–0.5 ms of CPU per file, a third of a 500×375 decode's
 * overhead). Anything unusual returns undefined and the caller asks the library, as before.
 */

/** What jpegHeader finds: the frame as stored (before EXIF rotation) and the orientation (1–8). */
export interface JpegHeader { width: number; height: number; bits: number; components: number; orientation: number }

/** The EXIF orientation in an APP1 segment's payload (from its 'Exif\0\0'), 1 where absent; undefined where malformed. */
function exifOrientation(b: Uint8Array, at: number, end: number): number | undefined {
  const t = at + 6; // the TIFF header
  if (end - t < 8) return undefined;
  const le = b[t] === 0x49 && b[t + 1] === 0x49;
  if (!le && !(b[t] === 0x4d && b[t + 1] === 0x4d)) return undefined;
  const u16 = (p: number) => (le ? b[p]! | (b[p + 1]! << 8) : (b[p]! << 8) | b[p + 1]!);
  const u32 = (p: number) => (le ? (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 2 ** 24 : b[p]! * 2 ** 24 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!));
  if (u16(t + 2) !== 42) return undefined;
  const ifd = t + u32(t + 4);
  if (ifd + 2 > end) return undefined;
  const n = u16(ifd);
  if (ifd + 2 + n * 12 > end) return undefined;
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    if (u16(e) !== 0x0112) continue;
    if (u16(e + 2) !== 3 || u32(e + 4) !== 1) return undefined; // one SHORT, as the standard says
    const v = u16(e + 8);
    return v >= 1 && v <= 8 ? v : undefined;
  }
  return 1;
}

/**
 * The header of a JPEG file's bytes, or undefined where it is not a plain one this reader is sure of (no
 * SOI, an arithmetic-coded or lossless frame, a truncated or odd segment, two EXIF blocks, a malformed
 * orientation): the caller then reads the header with the decoder library.
 */
export function jpegHeader(b: Uint8Array): JpegHeader | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let p = 2;
  let orientation: number | undefined;
  let frame: Omit<JpegHeader, 'orientation'> | undefined;
  // every segment up to the first scan (the decoder reads EXIF blocks wherever they lie before it)
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return undefined;
    const m = b[p + 1]!;
    if (m === 0xff) { p++; continue; } // fill byte
    if (m === 0xda) return frame ? { ...frame, orientation: orientation ?? 1 } : undefined;
    if (m === 0xd8 || m === 0xd9 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) return undefined;
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    const end = p + 2 + len;
    if (len < 2 || end > b.length) return undefined;
    if (m === 0xe1 && len >= 8 && b[p + 4] === 0x45 && b[p + 5] === 0x78 && b[p + 6] === 0x69 && b[p + 7] === 0x66 && b[p + 8] === 0 && b[p + 9] === 0) {
      if (orientation !== undefined) return undefined;
      orientation = exifOrientation(b, p + 4, end);
      if (orientation === undefined) return undefined;
    }
    // SOF0/1/2 (Huffman baseline, extended, progressive); the lossless and arithmetic frames go to the library
    if (m === 0xc0 || m === 0xc1 || m === 0xc2) {
      if (len < 8) return undefined;
      const bits = b[p + 4]!;
      const height = (b[p + 5]! << 8) | b[p + 6]!;
      const width = (b[p + 7]! << 8) | b[p + 8]!;
      const components = b[p + 9]!;
      if (frame || bits !== 8 || !width || !height || (components !== 1 && components !== 3) || len !== 8 + 3 * components) return undefined;
      frame = { width, height, bits, components };
    }
    if (m >= 0xc3 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return undefined;
    p = end;
  }
  return undefined;
}
