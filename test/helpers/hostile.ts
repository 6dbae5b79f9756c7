/**
 * Hostile scans and masks for the reliability tests (test/safety.test.ts measures them, the fuzz cases
 * mutate them): NIfTI headers that lie (NaN or negative offsets, negative or huge sizes), small gzip and
 * deflate bodies that inflate to hundreds of megabytes, deflated DICOM data sets, many-slice volumes.
 * Compressed bodies of zeros are built piece by piece, so that making them takes little memory.
 */
import { createGzip, createDeflateRaw } from 'node:zlib';
import { writeDicom } from '../../scripts/medical/dicom-writer.js';

export interface NiftiSpec {
  /** [nx, ny, nz, ...]: dim[1..]; dim[0] is its length unless `ndim` is given. */
  dims: number[];
  ndim?: number;
  /** NIfTI datatype code (default 16, float32) and its bytes per voxel. */
  datatype?: number;
  bitpix?: number;
  voxOffset?: number;
  slope?: number;
}

const BYTES: Record<number, number> = { 2: 1, 4: 2, 8: 4, 16: 4, 64: 8, 256: 1, 512: 2, 768: 4 };

/** A little-endian NIfTI-1 header (352 bytes: 348 and an empty extension flag). */
export function niftiHeader(spec: NiftiSpec): Uint8Array {
  const h = new Uint8Array(352);
  const v = new DataView(h.buffer);
  v.setInt32(0, 348, true);
  v.setInt16(40, spec.ndim ?? spec.dims.length, true);
  for (let k = 0; k < 7; k++) v.setInt16(42 + 2 * k, spec.dims[k] ?? 1, true);
  const dt = spec.datatype ?? 16;
  v.setInt16(70, dt, true);
  v.setInt16(72, spec.bitpix ?? (BYTES[dt] ?? 4) * 8, true);
  for (let k = 0; k < 4; k++) v.setFloat32(76 + 4 * k, 1, true);
  v.setFloat32(108, spec.voxOffset ?? 352, true);
  v.setFloat32(112, spec.slope ?? 1, true);
  h.set([0x6e, 0x2b, 0x31, 0], 344);
  return h;
}

/** The bytes a NIfTI header declares (voxels × bytes per voxel). */
export function niftiDataBytes(spec: NiftiSpec): number {
  return spec.dims.reduce((a, d) => a * d, 1) * (BYTES[spec.datatype ?? 16] ?? 4);
}

/** Compresses `head` followed by `zeros` zero bytes (gzip or raw deflate), streaming, in little memory. */
export function compressZeros(head: Uint8Array, zeros: number, format: 'gzip' | 'deflate'): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const z = format === 'gzip' ? createGzip({ level: 9 }) : createDeflateRaw({ level: 9 });
    const out: Buffer[] = [];
    z.on('data', (d: Buffer) => out.push(d));
    z.on('end', () => resolve(new Uint8Array(Buffer.concat(out))));
    z.on('error', reject);
    const piece = Buffer.alloc(1 << 20);
    let left = zeros;
    z.write(head);
    const more = () => {
      while (left > 0) {
        const n = Math.min(left, piece.length);
        left -= n;
        if (!z.write(n === piece.length ? piece : piece.subarray(0, n))) { z.once('drain', more); return; }
      }
      z.end();
    };
    more();
  });
}

/** A .nii.gz: the header of `spec`, then `dataBytes` zero bytes (default: what the header declares). */
export function niftiGz(spec: NiftiSpec, dataBytes = niftiDataBytes(spec)): Promise<Uint8Array> {
  return compressZeros(niftiHeader(spec), dataBytes, 'gzip');
}

/**
 * A deflated-explicit-VR DICOM file of rows × cols × frames 16-bit zeros: the meta group as written,
 * the data set after it raw-deflated (the pixels built as a zero run, so that a huge image stays cheap);
 * `zeros`: that many pixel bytes instead of the declared number (fewer: truncated, more: trailing).
 */
export async function deflatedDicom(rows: number, cols: number, frames = 1, zeros?: number): Promise<Uint8Array> {
  // a 1×1 file gives the attributes; the pixel data element is rebuilt at the declared length
  const small = writeDicom({ rows: 1, cols: 1, frames: 1, pixels: [0], transferSyntax: '1.2.840.10008.1.2.1.99' });
  const dv = new DataView(small.buffer, small.byteOffset, small.byteLength);
  const metaEnd = 132 + 12 + dv.getUint32(132 + 8, true);
  const body = small.subarray(metaEnd, small.length - 2 - 12); // without the 1×1 pixel data element (OW: 12-byte header + 2 bytes)
  const patched = fixSize(body, rows, cols, frames);
  const n = rows * cols * frames * 2;
  const px = new Uint8Array(12);
  const pv = new DataView(px.buffer);
  pv.setUint16(0, 0x7fe0, true);
  pv.setUint16(2, 0x0010, true);
  px.set([0x4f, 0x57], 4); // OW
  pv.setUint32(8, n, true);
  const head = new Uint8Array(patched.length + 12);
  head.set(patched, 0);
  head.set(px, patched.length);
  const deflated = await compressZeros(head, zeros ?? n, 'deflate');
  const out = new Uint8Array(metaEnd + deflated.length);
  out.set(small.subarray(0, metaEnd), 0);
  out.set(deflated, metaEnd);
  return out;
}

/** `body` (explicit VR LE elements) with Rows, Columns set and Number of Frames added when above 1. */
function fixSize(body: Uint8Array, rows: number, cols: number, frames: number): Uint8Array {
  const out = Uint8Array.from(body);
  const v = new DataView(out.buffer);
  let o = 0;
  let framesAt = -1;
  while (o + 8 <= out.length) {
    const group = v.getUint16(o, true);
    const elem = v.getUint16(o + 2, true);
    const len = v.getUint16(o + 6, true);
    if (group === 0x0028 && elem === 0x0010) v.setUint16(o + 8, rows, true);
    if (group === 0x0028 && elem === 0x0011) v.setUint16(o + 8, cols, true);
    if (group === 0x0028 && elem === 0x0004 && framesAt < 0) framesAt = o + 8 + len;
    o += 8 + len;
  }
  if (frames <= 1 || framesAt < 0) return out;
  let s = String(frames);
  if (s.length % 2) s += ' ';
  const el = new Uint8Array(8 + s.length);
  const ev = new DataView(el.buffer);
  ev.setUint16(0, 0x0028, true);
  ev.setUint16(2, 0x0008, true);
  el.set([0x49, 0x53], 4); // IS
  ev.setUint16(6, s.length, true);
  for (let i = 0; i < s.length; i++) el[8 + i] = s.charCodeAt(i);
  const r = new Uint8Array(out.length + el.length);
  r.set(out.subarray(0, framesAt), 0);
  r.set(el, framesAt);
  r.set(out.subarray(framesAt), framesAt + el.length);
  return r;
}

