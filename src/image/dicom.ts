/**
 * DICOM images and series (browser-safe), parsed with dicom-parser: uncompressed pixel data (implicit or
 * explicit VR little endian, explicit big endian, deflated), 8/16/32-bit, signed or not (Bits Stored
 * sign-extended), MONOCHROME1 inverted to MONOCHROME2, Rescale Slope/Intercept applied (Hounsfield units
 * for CT), Window Center/Width presets kept, multi-frame files as volumes. Several single-frame files of
 * one series are stacked by Image Position (Patient) along the slice normal (Instance Number where
 * positions are missing). Compressed transfer syntaxes (JPEG, JPEG-LS, JPEG 2000, RLE) are refused with
 * one line saying how to convert them.
 */
import dicomParser from 'dicom-parser';
import { inflateBounded, InflateLimitError } from './inflate.js';
import { checkScanSize, volumeError, voxelLimit, type ScanLimits, type Volume, type Window } from './volume.js';

const UNCOMPRESSED: Record<string, string> = {
  '1.2.840.10008.1.2': 'implicit VR little endian',
  '1.2.840.10008.1.2.1': 'explicit VR little endian',
  '1.2.840.10008.1.2.2': 'explicit VR big endian',
  '1.2.840.10008.1.2.1.99': 'deflated explicit VR little endian',
};

const COMPRESSED: Record<string, string> = {
  '1.2.840.10008.1.2.4.50': 'JPEG baseline', '1.2.840.10008.1.2.4.51': 'JPEG extended', '1.2.840.10008.1.2.4.57': 'JPEG lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG lossless SV1', '1.2.840.10008.1.2.4.80': 'JPEG-LS lossless', '1.2.840.10008.1.2.4.81': 'JPEG-LS near-lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 lossless', '1.2.840.10008.1.2.4.91': 'JPEG 2000', '1.2.840.10008.1.2.5': 'RLE lossless',
  '1.2.840.10008.1.2.4.201': 'HTJ2K lossless', '1.2.840.10008.1.2.4.203': 'HTJ2K',
};

/** Whether bytes look like a DICOM Part 10 file ('DICM' at byte 128). */
export function isDicom(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

/** One DICOM file: its frames as a volume, plus what stacking a series needs. */
export interface DicomFile extends Volume {
  series?: string;
  instance?: number;
  /** Image Position (Patient), LPS mm. */
  position?: [number, number, number];
  /** Image Orientation (Patient): row and column direction cosines. */
  orientation?: [number, number, number, number, number, number];
  /** Pixel Spacing: [between rows, between columns] mm. */
  pixelSpacing: [number, number];
  sliceSpacing: number;
}

function numbers(ds: dicomParser.DataSet, tag: string): number[] | undefined {
  const s = ds.string(tag);
  if (s === undefined) return undefined;
  const v = s.split('\\').map((x) => Number(x.trim())).filter((x) => Number.isFinite(x));
  return v.length ? v : undefined;
}

/**
 * Reads one DICOM Part 10 file. The declared size (rows × columns × frames) is checked against `limits`
 * before the pixels are converted; a deflated data set is inflated to at most what a scan of the
 * budget's size at 32 bits could take (plus 1 MB of attributes).
 */
export function readDicom(bytes: Uint8Array, source = 'DICOM file', limits: ScanLimits = {}): DicomFile {
  if (!isDicom(bytes)) throw volumeError(`${source}: not a DICOM Part 10 file (no 'DICM' at byte 128)`);
  let ds: dicomParser.DataSet;
  const inflateLimit = Math.min(voxelLimit(limits) * 4 + 2 ** 20, 2 ** 31);
  let overflow = false;
  try {
    ds = dicomParser.parseDicom(bytes, {
      inflater: (arr: Uint8Array, position: number) => {
        let inflated: Uint8Array;
        try {
          inflated = inflateBounded(arr.subarray(position), 'deflate', inflateLimit);
        } catch (e) {
          if (e instanceof InflateLimitError) overflow = true;
          throw e;
        }
        const out = new Uint8Array(position + inflated.length);
        out.set(arr.subarray(0, position), 0);
        out.set(inflated, position);
        return out;
      },
    } as dicomParser.ParseDicomOptions);
  } catch (e) {
    if (overflow) throw volumeError(`${source}: the deflated data set inflates to more than ${inflateLimit} bytes, beyond any scan within the limit of ${voxelLimit(limits)} voxels; raise it with --max-pixels N (0 for no limit) if this scan is meant`);
    const msg = typeof e === 'string' ? e : (e as { exception?: string }).exception ?? (e as Error).message;
    throw volumeError(`${source}: not a readable DICOM file (${String(msg).replace(/^dicomParser\.\w+: /, '')}); is it truncated?`);
  }
  const ts = ds.string('x00020010')?.replace(/\0/g, '').trim() ?? '1.2.840.10008.1.2';
  if (!UNCOMPRESSED[ts]) {
    const name = COMPRESSED[ts] ?? 'an unknown transfer syntax';
    throw volumeError(`${source}: transfer syntax ${ts} (${name}) holds compressed pixel data that gradcam does not decode; convert the file to uncompressed explicit VR little endian first (e.g. 'gdcmconv --raw' or 'dcmdjpeg')`);
  }
  const px = ds.elements['x7fe00010'];
  if (!px) throw volumeError(`${source}: no pixel data (7FE0,0010): not an image`);
  const rows = ds.uint16('x00280010') ?? 0;
  const cols = ds.uint16('x00280011') ?? 0;
  const spp = ds.uint16('x00280002') ?? 1;
  const alloc = ds.uint16('x00280100') ?? 16;
  const stored = ds.uint16('x00280101') ?? alloc;
  const signed = (ds.uint16('x00280103') ?? 0) === 1;
  const frames = Math.max(1, Math.round(numbers(ds, 'x00280008')?.[0] ?? 1));
  const photometric = ds.string('x00280004')?.trim() ?? 'MONOCHROME2';
  if (!rows || !cols) throw volumeError(`${source}: rows × columns is ${rows} × ${cols}`);
  if (spp !== 1 || !photometric.startsWith('MONOCHROME')) throw volumeError(`${source}: ${photometric} with ${spp} samples per pixel; gradcam reads grayscale (MONOCHROME1/2) DICOM`);
  if (alloc !== 8 && alloc !== 16 && alloc !== 32) throw volumeError(`${source}: ${alloc} bits allocated per pixel (8, 16 or 32 are read)`);
  checkScanSize(source, [frames, rows, cols], 1, limits);
  const count = rows * cols * frames;
  const bpp = alloc / 8;
  if (px.dataOffset + count * bpp > ds.byteArray.length || px.length < count * bpp) {
    throw volumeError(`${source}: the pixel data holds ${Math.min(px.length, ds.byteArray.length - px.dataOffset)} bytes, ${count * bpp} expected for ${frames} frame(s) of ${cols}×${rows} at ${alloc} bits: truncated`);
  }
  const le = ts !== '1.2.840.10008.1.2.2';
  const view = new DataView(ds.byteArray.buffer, ds.byteArray.byteOffset + px.dataOffset, count * bpp);
  const slope = numbers(ds, 'x00281053')?.[0] ?? 1;
  const intercept = numbers(ds, 'x00281052')?.[0] ?? 0;
  const data = new Float32Array(count);
  const shift = 32 - stored;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < count; i++) {
    let raw = alloc === 8 ? view.getUint8(i) : alloc === 16 ? view.getUint16(i * 2, le) : view.getUint32(i * 4, le);
    // keep Bits Stored, sign-extended for signed pixels
    raw = stored < 32 ? (signed ? (raw << shift) >> shift : raw & (2 ** stored - 1)) : signed ? raw | 0 : raw >>> 0;
    if (raw < lo) lo = raw;
    if (raw > hi) hi = raw;
    data[i] = raw;
  }
  if (photometric === 'MONOCHROME1') for (let i = 0; i < count; i++) data[i] = lo + hi - data[i]!;
  for (let i = 0; i < count; i++) data[i] = data[i]! * slope + intercept;
  const centers = numbers(ds, 'x00281050') ?? [];
  const widths = numbers(ds, 'x00281051') ?? [];
  const names = ds.string('x00281055')?.split('\\');
  const windows: Window[] = centers.slice(0, widths.length).map((c, k) => ({ center: c, width: widths[k]!, ...(names?.[k] ? { name: names[k]!.trim() } : {}) })).filter((w) => w.width > 0);
  const pos = numbers(ds, 'x00200032');
  const ori = numbers(ds, 'x00200037');
  const ps = numbers(ds, 'x00280030');
  const pixelSpacing: [number, number] = ps && ps.length >= 2 && ps[0]! > 0 && ps[1]! > 0 ? [ps[0]!, ps[1]!] : [1, 1];
  const sliceSpacing = numbers(ds, 'x00180088')?.[0] ?? numbers(ds, 'x00180050')?.[0] ?? 1;
  const position = pos && pos.length === 3 ? (pos as [number, number, number]) : undefined;
  const orientation = ori && ori.length === 6 ? (ori as [number, number, number, number, number, number]) : undefined;
  const file: DicomFile = {
    data, channels: 1, dims: [frames, rows, cols], affine: dicomAffine(position, orientation, pixelSpacing, sliceSpacing > 0 ? sliceSpacing : 1),
    windows, bits: stored, source: 'dicom',
    description: `DICOM ${cols}×${rows}${frames > 1 ? `×${frames} frames` : ''} ${signed ? 'int' : 'uint'}${stored} ${photometric} (${UNCOMPRESSED[ts]})`,
    series: ds.string('x0020000e')?.trim(), instance: numbers(ds, 'x00200013')?.[0], position, orientation, pixelSpacing,
    sliceSpacing: sliceSpacing > 0 ? sliceSpacing : 1,
  };
  return file;
}

function cross(a: number[], b: number[]): [number, number, number] {
  return [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
}

/** voxel (column, row, slice) → RAS mm from the DICOM geometry (LPS, so x and y are negated). */
function dicomAffine(position: number[] | undefined, orientation: number[] | undefined, ps: [number, number], slice: number): Float64Array {
  const r = orientation ? orientation.slice(0, 3) : [1, 0, 0];
  const c = orientation ? orientation.slice(3, 6) : [0, 1, 0];
  const n = cross(r, c);
  const p = position ?? [0, 0, 0];
  const a = new Float64Array(16);
  for (let k = 0; k < 3; k++) {
    const sign = k < 2 ? -1 : 1;
    a[k * 4] = sign * r[k]! * ps[1];
    a[k * 4 + 1] = sign * c[k]! * ps[0];
    a[k * 4 + 2] = sign * n[k]! * slice;
    a[k * 4 + 3] = sign * p[k]!;
  }
  a[15] = 1;
  return a;
}

/**
 * Single-frame files of one series stacked into a volume, ordered along the slice normal by Image
 * Position (or by Instance Number); the slice spacing is the distance between neighbouring positions.
 */
export function stackSeries(files: DicomFile[], what = 'the DICOM series'): Volume {
  if (files.length === 1) return files[0]!;
  const first = files[0]!;
  for (const f of files) {
    if (f.dims[0] !== 1) throw volumeError(`${what}: a multi-frame file (${f.dims[0]} frames) cannot be stacked with others; give it alone`);
    if (f.dims[1] !== first.dims[1] || f.dims[2] !== first.dims[2]) throw volumeError(`${what}: slices of ${first.dims[2]}×${first.dims[1]} and ${f.dims[2]}×${f.dims[1]} pixels cannot be stacked`);
    if (f.series !== first.series) throw volumeError(`${what}: files of two series (${first.series ?? '?'} and ${f.series ?? '?'}); give one series per run`);
  }
  const n = first.orientation ? cross(first.orientation.slice(0, 3), first.orientation.slice(3, 6)) : undefined;
  const key = (f: DicomFile) => (n && f.position ? f.position[0] * n[0] + f.position[1] * n[1] + f.position[2] * n[2] : f.instance ?? 0);
  const sorted = [...files].sort((a, b) => key(a) - key(b));
  for (let k = 1; k < sorted.length; k++) if (key(sorted[k]!) === key(sorted[k - 1]!)) throw volumeError(`${what}: two slices at the same position (${key(sorted[k]!)}); is a file given twice?`);
  const [, H, W] = first.dims;
  const data = new Float32Array(sorted.length * H * W);
  sorted.forEach((f, k) => data.set(f.data, k * H * W));
  const spacing = sorted.length > 1 && n && sorted[0]!.position ? Math.abs(key(sorted[1]!) - key(sorted[0]!)) || first.sliceSpacing : first.sliceSpacing;
  const base = sorted[0]!;
  return {
    data, channels: 1, dims: [sorted.length, H, W], affine: dicomAffine(base.position, base.orientation, base.pixelSpacing, spacing),
    windows: first.windows, bits: first.bits, source: 'dicom', description: `DICOM series of ${sorted.length} slices, ${W}×${H}`,
  };
}
