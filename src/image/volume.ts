/**
 * Grayscale scans and volumes, browser-safe: the Volume that NIfTI and DICOM readers produce (and that
 * 16-bit PNG/TIFF images become, with D = 1), explicit intensity normalisation, the adaptation to a
 * model's channels and grid, and the pieces of a volume that the renderer draws.
 *
 * Intensities (`--intensity`): `none` (the stored values, after DICOM/NIfTI rescale slope/intercept:
 * Hounsfield units for CT), `unit` (÷ (2^bits − 1): [0, 1] like ToTensor; PNG/TIFF only), `minmax` (to
 * [0, 1] over the scan), `zscore` ((x − mean)/std over the scan), `window` (clip to centre ± width/2,
 * then [0, 1]; `--window C,W` or the DICOM file's first preset). Then `--mean`/`--std` if given.
 */
import { InputError } from '../util/scores.js';
import { resizeTrilinear } from './resize3d.js';

export interface Window {
  center: number;
  width: number;
  name?: string;
}

export interface Volume {
  /** [C, D, H, W] row-major: C channels (usually 1) of D slices of H rows of W columns. */
  data: Float32Array;
  channels: number;
  /** [D, H, W]: NIfTI's nz, ny, nx; DICOM's frames (or slices), rows, columns. */
  dims: [number, number, number];
  /** voxel (column i, row j, slice k) → world mm (RAS), row-major 4×4. */
  affine: Float64Array;
  /** The NIfTI-1 header of the input (maps are written with it, so that they align in any viewer). */
  header?: Uint8Array;
  /** Window presets (DICOM's Window Center/Width). */
  windows?: Window[];
  /** Stored bits per value for integer images (PNG/TIFF 8 or 16, DICOM's Bits Stored). */
  bits?: number;
  source: 'nifti' | 'dicom' | 'image';
  /** One line: format, size, data type. */
  description: string;
}

export const INTENSITY_MODES = ['none', 'unit', 'minmax', 'zscore', 'window'] as const;
export type IntensityMode = (typeof INTENSITY_MODES)[number];

export interface IntensityOptions {
  /** Default: `unit` for PNG/TIFF images, `none` for DICOM and NIfTI. */
  intensity?: IntensityMode;
  /** [centre, width] for `window` (default: the scan's first window preset). */
  window?: readonly [number, number];
  /** After the intensity mapping: (v − mean) / std, one value or one per channel. */
  mean?: readonly number[];
  std?: readonly number[];
}

/** An InputError about a scan (one line). */
export function volumeError(message: string): InputError {
  return new InputError(message);
}

/** Voxel sizes (mm) along W, H, D: the norms of the affine's columns. */
export function voxelSpacing(affine: Float64Array): [number, number, number] {
  const col = (k: number) => Math.hypot(affine[k]!, affine[4 + k]!, affine[8 + k]!) || 1;
  return [col(0), col(1), col(2)];
}

/** The intensity mapping of one channel's values (in place), by `opts` and what the scan offers. */
export function applyIntensity(v: Float32Array, vol: Pick<Volume, 'windows' | 'bits' | 'source'>, opts: IntensityOptions, what: string): Float32Array {
  const mode = opts.intensity ?? (vol.source === 'image' ? 'unit' : 'none');
  if (!(INTENSITY_MODES as readonly string[]).includes(mode)) throw volumeError(`unknown --intensity '${mode}'; choose one of: ${INTENSITY_MODES.join(', ')}`);
  if (mode === 'unit') {
    if (!vol.bits) throw volumeError(`${what}: --intensity unit divides by the stored bit depth, which only PNG/TIFF images and DICOM files have; choose one of: none, minmax, zscore, window`);
    const d = 2 ** vol.bits - 1;
    for (let i = 0; i < v.length; i++) v[i] = v[i]! / d;
  } else if (mode === 'minmax') {
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of v) { if (x < lo) lo = x; if (x > hi) hi = x; }
    const r = hi - lo;
    for (let i = 0; i < v.length; i++) v[i] = r > 0 ? (v[i]! - lo) / r : 0;
  } else if (mode === 'zscore') {
    let s = 0;
    for (const x of v) s += x;
    const m = s / v.length;
    let q = 0;
    for (const x of v) q += (x - m) ** 2;
    const sd = Math.sqrt(q / v.length);
    for (let i = 0; i < v.length; i++) v[i] = sd > 0 ? (v[i]! - m) / sd : 0;
  } else if (mode === 'window') {
    const w = opts.window ? { center: opts.window[0], width: opts.window[1] } : vol.windows?.[0];
    if (!w) throw volumeError(`${what}: --intensity window needs --window CENTRE,WIDTH (the file has no window preset)`);
    if (!(w.width > 0)) throw volumeError(`${what}: the window width must be positive, got ${w.width}`);
    const lo = w.center - w.width / 2;
    for (let i = 0; i < v.length; i++) v[i] = Math.min(Math.max((v[i]! - lo) / w.width, 0), 1);
  }
  return v;
}

export interface VolumeTarget {
  /** The model's channels and whether they come first. */
  channels: number;
  channelsFirst: boolean;
  /** The grid the model takes ([H, W] or [D, H, W]); null where dynamic. */
  grid: (number | null)[];
}

/**
 * A scan as one model input: intensities mapped, channels adapted (a 1-channel scan is repeated into a
 * 3-channel model), resized to the model's fixed grid (trilinear, half-pixel centres) where it differs.
 * For a 2-D model (grid [H, W]) every slice of the scan is one input. Returns tensors [1, ...] in the
 * model's layout and the grid they have.
 */
export function scanToTensors(vol: Volume, target: VolumeTarget, opts: IntensityOptions, what: string): { tensor: Float32Array; dims: number[]; grid: number[] }[] {
  const [D, H, W] = vol.dims;
  const plane = D * H * W;
  const chans: Float32Array[] = [];
  for (let c = 0; c < vol.channels; c++) chans.push(applyIntensity(vol.data.slice(c * plane, (c + 1) * plane), vol, opts, what));
  const C = target.channels;
  if (vol.channels !== C && vol.channels !== 1) throw volumeError(`${what} has ${vol.channels} channels but the model takes ${C}`);
  const pick = (c: number) => chans[vol.channels === 1 ? 0 : c]!;
  const per = (name: 'mean' | 'std', c: number): number => {
    const a = opts[name];
    if (!a) return name === 'mean' ? 0 : 1;
    if (a.length !== 1 && a.length !== C) throw volumeError(`--${name} needs 1 value or ${C} (one per model channel), got ${a.length}`);
    return a.length === 1 ? a[0]! : a[c]!;
  };
  for (let c = 0; c < C; c++) if (per('std', c) === 0) throw volumeError('--std must not contain 0');
  const volume = target.grid.length === 3;
  const slices = volume ? [[0, D]] : Array.from({ length: D }, (_, k) => [k, k + 1]);
  const out: { tensor: Float32Array; dims: number[]; grid: number[] }[] = [];
  for (const [k0, k1] of slices) {
    const d = k1! - k0!;
    const from = volume ? [d, H, W] : [H, W];
    const grid = target.grid.map((g, k) => g ?? from[k]!);
    const cells = grid.reduce((a, v) => a * v, 1);
    const tensor = new Float32Array(C * cells);
    for (let c = 0; c < C; c++) {
      const src = pick(c).subarray(k0! * H * W, k1! * H * W);
      const same = grid.every((g, k) => g === from[k]);
      const g3: [number, number, number] = volume ? (grid as [number, number, number]) : [1, grid[0]!, grid[1]!];
      const v = same ? src : resizeTrilinear(src, [d, H, W], g3);
      const m = per('mean', c);
      const s = per('std', c);
      for (let p = 0; p < cells; p++) tensor[target.channelsFirst ? c * cells + p : p * C + c] = (v[p]! - m) / s;
    }
    out.push({ tensor, dims: target.channelsFirst ? [1, C, ...grid] : [1, ...grid, C], grid });
  }
  return out;
}

/** The gray picture of a scan's first channel for overlays: a window (given, the first preset, or the 1st–99th percentile range) to [0, 1]. */
export function displayVolume(vol: Volume, window?: readonly [number, number]): Float32Array {
  const [D, H, W] = vol.dims;
  const v = vol.data.subarray(0, D * H * W);
  let lo: number;
  let hi: number;
  const w = window ? { center: window[0], width: window[1] } : vol.windows?.[0];
  if (w && w.width > 0) {
    lo = w.center - w.width / 2;
    hi = w.center + w.width / 2;
  } else {
    const sorted = Float32Array.from(v.length > 1 << 20 ? v.filter((_, i) => i % 16 === 0) : v).sort();
    lo = sorted[Math.floor(0.01 * (sorted.length - 1))]!;
    hi = sorted[Math.ceil(0.99 * (sorted.length - 1))]!;
    if (!(hi > lo)) { lo = sorted[0]!; hi = sorted[sorted.length - 1]!; }
  }
  const r = hi - lo || 1;
  return Float32Array.from(v, (x) => Math.min(Math.max((x - lo) / r, 0), 1));
}
