/**
 * NIfTI-1 volumes (.nii, .nii.gz), browser-safe (fflate for gzip): reading into a Volume and writing maps
 * with the input's geometry.
 *
 * Reading: either byte order; data types uint8/int8/int16/uint16/int32/uint32/float32/float64, scaled by
 * scl_slope/scl_inter when the slope is set; 3-D volumes, or 4-D with the 4th axis as channels; the
 * affine from the sform (sform_code > 0), else the qform (quaternion, qfac), else the voxel sizes.
 * Refused with one line naming the problem: NIfTI-2, .hdr/.img pairs, complex/RGB data, truncated files,
 * more than 4 axes.
 */
import { gunzipSync, gzipSync } from 'fflate';
import { volumeError, type Volume } from './volume.js';

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

/** Reads a .nii or .nii.gz file's bytes into a Volume ([C, D, H, W] with D = nz, H = ny, W = nx). */
export function readNifti(input: Uint8Array, source = 'NIfTI file'): Volume {
  let bytes = input;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw volumeError(`${source}: not a readable gzip stream (${(e as Error).message}); is the .nii.gz file truncated?`);
    }
  }
  if (bytes.length < HEADER) throw volumeError(`${source}: ${bytes.length} bytes, shorter than a NIfTI-1 header (348); the file is truncated or not NIfTI`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
  const i16 = (o: number) => view.getInt16(o, le);
  const f32 = (o: number) => view.getFloat32(o, le);
  const ndim = i16(40);
  const dim = Array.from({ length: 7 }, (_, k) => i16(42 + 2 * k));
  if (ndim < 1 || ndim > 7) throw volumeError(`${source}: dim[0] = ${ndim} is not a number of axes from 1 to 7`);
  const shape = dim.slice(0, ndim).map((d) => Math.max(d, 1));
  if (shape.some((d) => d < 1)) throw volumeError(`${source}: axis sizes [${dim.slice(0, ndim).join(', ')}] must be positive`);
  while (shape.length < 3) shape.push(1);
  if (shape.slice(4).some((d) => d !== 1)) throw volumeError(`${source}: ${ndim} axes [${shape.join(', ')}]; gradcam reads 3-D volumes, or 4-D with the 4th axis as channels`);
  const [nx, ny, nz] = shape as [number, number, number];
  const channels = shape[3] ?? 1;
  const code = i16(70);
  const dt = DTYPES[code];
  if (!dt) throw volumeError(`${source}: NIfTI data type ${code} is not supported (uint8, int8, int16, uint16, int32, uint32, float32, float64)`);
  const offset = Math.max(Math.round(f32(108)), HEADER);
  const count = nx * ny * nz * channels;
  if (offset + count * dt.bytes > bytes.length) {
    throw volumeError(`${source}: the header promises ${nx}×${ny}×${nz}${channels > 1 ? `×${channels}` : ''} ${dt.name} voxels (${count * dt.bytes} bytes from byte ${offset}) but the file has ${bytes.length} bytes: truncated`);
  }
  const slope = f32(112);
  const inter = f32(116);
  const scaled = Number.isFinite(slope) && slope !== 0;
  const data = new Float32Array(count);
  const read: (o: number) => number = {
    uint8: (o: number) => view.getUint8(o), int8: (o: number) => view.getInt8(o), int16: (o: number) => view.getInt16(o, le),
    uint16: (o: number) => view.getUint16(o, le), int32: (o: number) => view.getInt32(o, le), uint32: (o: number) => view.getUint32(o, le),
    float32: (o: number) => view.getFloat32(o, le), float64: (o: number) => view.getFloat64(o, le),
  }[dt.name]!;
  // NIfTI stores x fastest, then y, z, t: exactly [C][D][H][W] in row-major order
  for (let i = 0; i < count; i++) {
    const v = read(offset + i * dt.bytes);
    data[i] = scaled ? v * slope + (Number.isFinite(inter) ? inter : 0) : v;
  }
  for (let i = 0; i < count; i++) if (!Number.isFinite(data[i]!)) throw volumeError(`${source}: voxel ${i} is ${data[i]} (not finite)`);
  const pixdim = Array.from({ length: 8 }, (_, k) => f32(76 + 4 * k));
  const spacing = [1, 2, 3].map((k) => (Number.isFinite(pixdim[k]!) && pixdim[k]! > 0 ? pixdim[k]! : 1));
  const affine = niftiAffine(view, le, pixdim, spacing);
  // maps are written little-endian with this header (geometry kept); a big-endian one is not reused
  const header = bytes.slice(0, HEADER);
  return { data, channels, dims: [nz, ny, nx], affine, ...(le ? { header } : {}), source: 'nifti', description: `NIfTI ${nx}×${ny}×${nz}${channels > 1 ? `×${channels}` : ''} ${dt.name}` };
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
  const out = new Uint8Array(352 + data.length * 4);
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
  const body = new DataView(out.buffer, 352);
  for (let i = 0; i < data.length; i++) body.setFloat32(i * 4, data[i]!, true);
  return opts.gzip ? gzipSync(out, { level: 6, mtime: 0 }) : out;
}
