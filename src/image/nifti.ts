/**
 * NIfTI-1 volumes (.nii, .nii.gz), browser-safe (fflate for gzip): reading into a Volume and writing maps
 * with the input's geometry.
 *
 * Reading: either byte order; data types uint8/int8/int16/uint16/int32/uint32/float32/float64, scaled by
 * scl_slope/scl_inter when the slope is set; 3-D volumes, or 4-D with the 4th axis as channels; the
 * affine from the sform (sform_code > 0), else the qform (quaternion, qfac), else the voxel sizes.
 * Refused with one line naming the problem: NIfTI-2, .hdr/.img pairs, complex/RGB data, truncated files,
 * bytes beyond the declared data, more than 4 axes, non-finite or negative sizes and offsets, and a
 * declared size above the voxel budget (checked from the header, before allocating or inflating).
 */
import { Gzip } from 'fflate';
import { inflateStream } from './inflate.js';
import { checkScanSize, volumeError, type ScanLimits, type Volume } from './volume.js';

const HEADER = 348;

const DTYPES: Record<number, { name: string; bytes: number }> = {
  2: { name: 'uint8', bytes: 1 }, 4: { name: 'int16', bytes: 2 }, 8: { name: 'int32', bytes: 4 }, 16: { name: 'float32', bytes: 4 },
  64: { name: 'float64', bytes: 8 }, 256: { name: 'int8', bytes: 1 }, 512: { name: 'uint16', bytes: 2 }, 768: { name: 'uint32', bytes: 4 },
};

/** Whether bytes look like a NIfTI-1 file (gzipped or not): the .nii magic at byte 344. */
export function isNifti(bytes: Uint8Array): boolean {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return true;
  return bytes.length >= 348 && bytes[344] === 0x6e && (bytes[345] === 0x2b || bytes[345] === 0x69) && bytes[346] === 0x31;
}

/** What the header says about the data: where it is, its type and size. */
interface NiftiLayout {
  le: boolean;
  view: DataView;
  dt: { name: string; bytes: number };
  nx: number; ny: number; nz: number; channels: number;
  offset: number;
  count: number;
  /** offset + count × bytes: the file's declared length. */
  end: number;
}

/** Parses and checks the 348-byte header (every size finite, positive and within `limits`) before anything is allocated. */
function niftiLayout(bytes: Uint8Array, source: string, limits: ScanLimits): NiftiLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER);
  let le = true;
  const size = view.getInt32(0, true);
  if (size !== HEADER) {
    if (view.getInt32(0, false) === HEADER) le = false;
    else if (size === 540 || view.getInt32(0, false) === 540) throw volumeError(`${source}: NIfTI-2 files are not supported; save it as NIfTI-1 (e.g. nibabel.Nifti1Image)`);
    else throw volumeError(`${source}: not a NIfTI-1 file (header size ${size}, expected 348)`);
  }
  const magic = String.fromCharCode(bytes[344]!, bytes[345]!, bytes[346]!);
  if (magic === 'ni1') throw volumeError(`${source}: a .hdr/.img pair; give a single-file .nii or .nii.gz`);
  if (magic !== 'n+1') throw volumeError(`${source}: no NIfTI-1 magic ('n+1') at byte 344`);
  const ndim = view.getInt16(40, le);
  const dim = Array.from({ length: 7 }, (_, k) => view.getInt16(42 + 2 * k, le));
  if (ndim < 1 || ndim > 7) throw volumeError(`${source}: dim[0] = ${ndim} is not a number of axes from 1 to 7`);
  const shape = dim.slice(0, ndim);
  if (shape.some((d) => d < 1)) throw volumeError(`${source}: axis sizes [${shape.join(', ')}] must be positive`);
  while (shape.length < 3) shape.push(1);
  if (shape.slice(4).some((d) => d !== 1)) throw volumeError(`${source}: ${ndim} axes [${shape.join(', ')}]; gradcam reads 3-D volumes, or 4-D with the 4th axis as channels`);
  const [nx, ny, nz] = shape as [number, number, number];
  const channels = shape[3] ?? 1;
  const code = view.getInt16(70, le);
  const dt = DTYPES[code];
  if (!dt) throw volumeError(`${source}: NIfTI data type ${code} is not supported (uint8, int8, int16, uint16, int32, uint32, float32, float64)`);
  const vox = view.getFloat32(108, le);
  // Math.max(NaN, 348) is NaN: a non-finite offset would read the header as voxels
  if (!Number.isFinite(vox) || vox < 0 || vox > 2 ** 31) throw volumeError(`${source}: vox_offset ${vox} is not a byte offset (a finite number from 352 up)`);
  const offset = Math.max(Math.round(vox), HEADER);
  checkScanSize(source, [nz, ny, nx], channels, limits);
  const count = nx * ny * nz * channels;
  return { le, view, dt, nx, ny, nz, channels, offset, count, end: offset + count * dt.bytes };
}

/**
 * Reads a .nii or .nii.gz file's bytes into a Volume ([C, D, H, W] with D = nz, H = ny, W = nx). The
 * header's size is checked against `limits` before anything is allocated; a .nii.gz is inflated piece
 * by piece straight into the voxels (never more than the header declares: bytes beyond the declared data
 * are refused, as in a .nii).
 */
export function readNifti(input: Uint8Array, source = 'NIfTI file', limits: ScanLimits = {}): Volume {
  let L: NiftiLayout | undefined;
  let head: Uint8Array = new Uint8Array(0);
  let data: Float32Array | undefined;
  let scaled = false;
  let slope = 1;
  let inter = 0;
  let read: (v: DataView, o: number) => number = () => 0;
  let vi = 0;
  const carry = new Uint8Array(8);
  let carryN = 0;
  const put = (v: DataView, o: number) => {
    const x = read(v, o);
    const y = scaled ? x * slope + inter : x;
    if (!Number.isFinite(y)) throw volumeError(`${source}: voxel ${vi} is ${y} (not finite)`);
    data![vi++] = y;
  };
  /** Voxel bytes, in order, in pieces of any length. */
  const feed = (b: Uint8Array) => {
    const n = L!.dt.bytes;
    let i = 0;
    if (carryN) {
      const take = Math.min(n - carryN, b.length);
      carry.set(b.subarray(0, take), carryN);
      carryN += take;
      i = take;
      if (carryN < n) return;
      put(new DataView(carry.buffer), 0);
      carryN = 0;
    }
    const whole = Math.floor((b.length - i) / n);
    const v = new DataView(b.buffer, b.byteOffset + i, whole * n);
    for (let k = 0; k < whole; k++) put(v, k * n);
    const rest = b.length - i - whole * n;
    if (rest) {
      carry.set(b.subarray(b.length - rest), 0);
      carryN = rest;
    }
  };
  const start = (hdr: Uint8Array, layout?: NiftiLayout) => {
    L = layout ?? niftiLayout(hdr, source, limits);
    const { view, le } = L;
    slope = view.getFloat32(112, le);
    const i0 = view.getFloat32(116, le);
    scaled = Number.isFinite(slope) && slope !== 0;
    inter = Number.isFinite(i0) ? i0 : 0;
    read = {
      uint8: (v: DataView, o: number) => v.getUint8(o), int8: (v: DataView, o: number) => v.getInt8(o), int16: (v: DataView, o: number) => v.getInt16(o, le),
      uint16: (v: DataView, o: number) => v.getUint16(o, le), int32: (v: DataView, o: number) => v.getInt32(o, le), uint32: (v: DataView, o: number) => v.getUint32(o, le),
      float32: (v: DataView, o: number) => v.getFloat32(o, le), float64: (v: DataView, o: number) => v.getFloat64(o, le),
    }[L.dt.name]!;
    data = new Float32Array(L.count);
  };
  const declared = () => `the header declares ${L!.nx}×${L!.ny}×${L!.nz}${L!.channels > 1 ? `×${L!.channels}` : ''} ${L!.dt.name} voxels (${L!.count * L!.dt.bytes} bytes from byte ${L!.offset})`;
  if (input.length >= 2 && input[0] === 0x1f && input[1] === 0x8b) {
    // NIfTI stores x fastest, then y, z, t: exactly [C][D][H][W] in row-major order
    let pos = 0;
    let total: number;
    try {
      total = inflateStream(input, 'gzip', (piece) => {
        let p = piece;
        if (!L) {
          const h = new Uint8Array(head.length + p.length);
          h.set(head, 0);
          h.set(p, head.length);
          if (h.length < HEADER) { head = h; return; }
          head = h.slice(0, HEADER);
          start(head);
          p = h;
        }
        const from = pos;
        pos += p.length;
        if (pos > L!.end) throw volumeError(`${source}: the gzip stream inflates beyond the declared data: ${declared()}`);
        if (pos > L!.offset) feed(p.subarray(Math.max(0, L!.offset - from)));
      });
    } catch (e) {
      if ((e as Error).name === 'InputError') throw e;
      throw volumeError(`${source}: not a readable gzip stream (${(e as Error).message}); is the .nii.gz file truncated?`);
    }
    if (!L) throw volumeError(`${source}: ${total} bytes, shorter than a NIfTI-1 header (348); the file is truncated or not NIfTI`);
    if (pos < L.end) throw volumeError(`${source}: ${declared()} but the file inflates to ${pos} bytes: truncated`);
  } else {
    if (input.length < HEADER) throw volumeError(`${source}: ${input.length} bytes, shorter than a NIfTI-1 header (348); the file is truncated or not NIfTI`);
    head = input.slice(0, HEADER);
    const layout = niftiLayout(input, source, limits);
    if (layout.end > input.length) throw volumeError(`${source}: the header promises ${layout.nx}×${layout.ny}×${layout.nz}${layout.channels > 1 ? `×${layout.channels}` : ''} ${layout.dt.name} voxels (${layout.count * layout.dt.bytes} bytes from byte ${layout.offset}) but the file has ${input.length} bytes: truncated`);
    start(head, layout);
    if (L!.end < input.length) throw volumeError(`${source}: ${input.length - L!.end} bytes after the voxel data: ${declared()}, the file has ${input.length}`);
    feed(input.subarray(L!.offset, L!.end));
  }
  const { view, le, nx, ny, nz, channels, dt } = L!;
  const f32 = (o: number) => view.getFloat32(o, le);
  const pixdim = Array.from({ length: 8 }, (_, k) => f32(76 + 4 * k));
  const spacing = [1, 2, 3].map((k) => (Number.isFinite(pixdim[k]!) && pixdim[k]! > 0 ? pixdim[k]! : 1));
  const affine = niftiAffine(view, le, pixdim, spacing);
  if (!affine.every(Number.isFinite)) throw volumeError(`${source}: the header's orientation (qform/sform) holds a non-finite number`);
  // maps are written little-endian with this header (geometry kept); a big-endian one is not reused
  return { data: data!, channels, dims: [nz, ny, nx], affine, ...(le ? { header: head } : {}), source: 'nifti', description: `NIfTI ${nx}×${ny}×${nz}${channels > 1 ? `×${channels}` : ''} ${dt.name}` };
}

/** voxel (i, j, k) → world (x, y, z) mm, row-major 4×4. */
function niftiAffine(view: DataView, le: boolean, pixdim: number[], spacing: number[]): Float64Array {
  const i16 = (o: number) => view.getInt16(o, le);
  const f32 = (o: number) => view.getFloat32(o, le);
  const a = new Float64Array(16);
  a[15] = 1;
  if (i16(254) > 0) {
    for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) a[r * 4 + c] = f32(280 + r * 16 + c * 4);
    return a;
  }
  if (i16(252) > 0) {
    const [b, c, d] = [f32(256), f32(260), f32(264)];
    const aq = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
    const R = [
      aq * aq + b * b - c * c - d * d, 2 * (b * c - aq * d), 2 * (b * d + aq * c),
      2 * (b * c + aq * d), aq * aq + c * c - b * b - d * d, 2 * (c * d - aq * b),
      2 * (b * d - aq * c), 2 * (c * d + aq * b), aq * aq + d * d - c * c - b * b,
    ];
    const qfac = pixdim[0]! < 0 ? -1 : 1;
    const s = [spacing[0]!, spacing[1]!, spacing[2]! * qfac];
    for (let r = 0; r < 3; r++) for (let k = 0; k < 3; k++) a[r * 4 + k] = R[r * 3 + k]! * s[k]!;
    a[3] = f32(268);
    a[7] = f32(272);
    a[11] = f32(276);
    return a;
  }
  a[0] = spacing[0]!;
  a[5] = spacing[1]!;
  a[10] = spacing[2]!;
  return a;
}

/**
 * A float32 NIfTI-1 file of `data` ([D, H, W], one channel) with the geometry of `like`: its own header
 * (qform, sform, voxel sizes, units kept) when it came from a little-endian NIfTI file, else a header
 * whose sform is the volume's affine. gzip: .nii.gz bytes.
 */
export function writeNifti(data: Float32Array, like: Pick<Volume, 'dims' | 'affine' | 'header'>, opts: { gzip?: boolean; description?: string } = {}): Uint8Array {
  const [D, H, W] = like.dims;
  if (data.length !== D * H * W) throw new RangeError(`writeNifti: ${data.length} values for a ${W}×${H}×${D} volume`);
  const out = new Uint8Array(opts.gzip ? 352 : 352 + data.length * 4);
  const v = new DataView(out.buffer);
  if (like.header && like.header.length === HEADER) out.set(like.header, 0);
  else {
    v.setInt32(0, HEADER, true);
    const a = like.affine;
    for (let k = 0; k < 3; k++) v.setFloat32(80 + 4 * k, Math.hypot(a[k]!, a[4 + k]!, a[8 + k]!) || 1, true);
    v.setFloat32(76, 1, true);
    v.setInt16(252, 0, true); // qform_code: unknown
    v.setInt16(254, 1, true); // sform_code: scanner
    for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) v.setFloat32(280 + r * 16 + c * 4, a[r * 4 + c]!, true);
    out[123] = 2; // xyzt_units: mm
  }
  v.setInt16(40, 3, true);
  [W, H, D, 1, 1, 1, 1].forEach((d, k) => v.setInt16(42 + 2 * k, d, true));
  v.setInt16(70, 16, true); // float32
  v.setInt16(72, 32, true);
  v.setFloat32(108, 352, true);
  v.setFloat32(112, 1, true);
  v.setFloat32(116, 0, true);
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of data) { if (x < lo) lo = x; if (x > hi) hi = x; }
  v.setFloat32(124, hi, true); // cal_max
  v.setFloat32(128, lo, true); // cal_min
  const descrip = (opts.description ?? 'gradcam map').slice(0, 79);
  for (let i = 0; i < 80; i++) out[148 + i] = i < descrip.length ? descrip.charCodeAt(i) & 0x7f : 0;
  out.set([0x6e, 0x2b, 0x31, 0], 344);
  v.setUint32(348, 0, true); // no extensions
  if (!opts.gzip) {
    const body = new DataView(out.buffer, 352);
    for (let i = 0; i < data.length; i++) body.setFloat32(i * 4, data[i]!, true);
    return out;
  }
  // gzipped a piece at a time: a large map's uncompressed file is never held whole
  const pieces: Uint8Array[] = [];
  const z = new Gzip({ level: 6, mtime: 0 }, (p) => { pieces.push(p); });
  const STEP = 1 << 18;
  const buf = new Uint8Array(STEP * 4);
  const bv = new DataView(buf.buffer);
  z.push(out.subarray(0, 352), data.length === 0);
  for (let i0 = 0; i0 < data.length; i0 += STEP) {
    const n = Math.min(STEP, data.length - i0);
    for (let i = 0; i < n; i++) bv.setFloat32(i * 4, data[i0 + i]!, true);
    z.push(buf.slice(0, n * 4), i0 + n >= data.length);
  }
  const total = pieces.reduce((a, p) => a + p.length, 0);
  const gz = new Uint8Array(total);
  let o = 0;
  for (const p of pieces) { gz.set(p, o); o += p.length; }
  return gz;
}
