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

/**
 * Above this many pixels a photo is shrunk while decoding (64 MP = 192 MB of RGB), and by default a scan
 * (NIfTI, DICOM) of more voxels is refused from its header: a volume is not shrunk while decoding, and at
 * 4 bytes a voxel 64 M voxels are 256 MB. `--max-pixels N` sets the scans' limit (0: none).
 */
export const DEFAULT_MAX_DECODE_PIXELS = 64 * 1024 * 1024;

/** The budget a scan reader checks the header's declared size against, before allocating or inflating. */
export interface ScanLimits {
  /** Voxels (W × H × D × channels) at most; default DEFAULT_MAX_DECODE_PIXELS; 0 or Infinity: no limit. */
  maxVoxels?: number;
  /** A further check of the declared size (e.g. the inputs a 2-D model makes of its slices); throws to refuse. */
  check?: (dims: [number, number, number], channels: number, what: string) => void;
}

const mega = (n: number) => (n >= 1e7 ? `${(n / 1e6).toFixed(0)} M` : n >= 1e5 ? `${(n / 1e6).toFixed(1)} M` : `${n}`);

/** The voxel budget of `limits`. */
export function voxelLimit(limits: ScanLimits = {}): number {
  const m = limits.maxVoxels;
  return m === undefined ? DEFAULT_MAX_DECODE_PIXELS : m > 0 ? m : Infinity;
}

/**
 * Refuses (one line naming --max-pixels) a scan whose declared size is above the budget; called by the
 * readers with the header's numbers, before anything is allocated or inflated.
 */
export function checkScanSize(what: string, dims: readonly [number, number, number], channels: number, limits: ScanLimits = {}): void {
  const [D, H, W] = dims;
  const count = D * H * W * channels;
  const limit = voxelLimit(limits);
  if (count > limit) {
    throw volumeError(`${what}: ${W}×${H}×${D}${channels > 1 ? `×${channels}` : ''} voxels (${mega(count)}) is above the limit of ${mega(limit)} voxels for a scan; raise it with --max-pixels N (0 for no limit) if this scan is meant`);
  }
  limits.check?.([D, H, W], channels, what);
}

/** Voxel sizes (mm) along W, H, D: the norms of the affine's columns. */
export function voxelSpacing(affine: Float64Array): [number, number, number] {
  const col = (k: number) => Math.hypot(affine[k]!, affine[4 + k]!, affine[8 + k]!) || 1;
  return [col(0), col(1), col(2)];
}

/** An intensity mapping: y = (x − shift) / div (0 where div is 0), clipped to [0, 1] where `clip`. */
interface IntensityMap {
  shift: number;
  div: number;
  clip: boolean;
}

/** The intensity mapping of one channel's values `v` (read, not changed), by `opts` and what the scan offers. */
function intensityMap(v: Float32Array, vol: Pick<Volume, 'windows' | 'bits' | 'source'>, opts: IntensityOptions, what: string): IntensityMap {
  const mode = opts.intensity ?? (vol.source === 'image' ? 'unit' : 'none');
  if (!(INTENSITY_MODES as readonly string[]).includes(mode)) throw volumeError(`unknown --intensity '${mode}'; choose one of: ${INTENSITY_MODES.join(', ')}`);
  if (mode === 'unit') {
    if (!vol.bits) throw volumeError(`${what}: --intensity unit divides by the stored bit depth's maximum, which only 8- and 16-bit unsigned PNG/TIFF images and DICOM files have${vol.source === 'image' ? ' (this picture\'s samples have no fixed range)' : ''}; choose one of: none, minmax, zscore, window`);
    return { shift: 0, div: 2 ** vol.bits - 1, clip: false };
  }
  if (mode === 'minmax') {
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of v) { if (x < lo) lo = x; if (x > hi) hi = x; }
    const r = hi - lo;
    return { shift: lo, div: r > 0 ? r : 0, clip: false };
  }
  if (mode === 'zscore') {
    let s = 0;
    for (const x of v) s += x;
    const m = s / v.length;
    let q = 0;
    for (const x of v) q += (x - m) ** 2;
    const sd = Math.sqrt(q / v.length);
    return { shift: m, div: sd > 0 ? sd : 0, clip: false };
  }
  if (mode === 'window') {
    const w = opts.window ? { center: opts.window[0], width: opts.window[1] } : vol.windows?.[0];
    if (!w) throw volumeError(`${what}: --intensity window needs --window CENTRE,WIDTH (the file has no window preset)`);
    if (!(w.width > 0)) throw volumeError(`${what}: the window width must be positive, got ${w.width}`);
    return { shift: w.center - w.width / 2, div: w.width, clip: true };
  }
  return { shift: 0, div: 1, clip: false };
}

/** `m` applied to `v` in place. */
function mapInPlace(v: Float32Array, m: IntensityMap): Float32Array {
  if (m.shift === 0 && m.div === 1 && !m.clip) return v;
  for (let i = 0; i < v.length; i++) {
    const y = m.div > 0 ? (v[i]! - m.shift) / m.div : 0;
    v[i] = m.clip ? Math.min(Math.max(y, 0), 1) : y;
  }
  return v;
}

/** The intensity mapping of one channel's values (in place), by `opts` and what the scan offers. */
export function applyIntensity(v: Float32Array, vol: Pick<Volume, 'windows' | 'bits' | 'source'>, opts: IntensityOptions, what: string): Float32Array {
  return mapInPlace(v, intensityMap(v, vol, opts, what));
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
  // the mapping's statistics over each whole channel; the values mapped one input (slice) at a time, so
  // that no second copy of the scan is made for a 2-D model
  const chans: Float32Array[] = [];
  const maps: IntensityMap[] = [];
  for (let c = 0; c < vol.channels; c++) {
    chans.push(vol.data.subarray(c * plane, (c + 1) * plane));
    maps.push(intensityMap(chans[c]!, vol, opts, what));
  }
  const C = target.channels;
  if (vol.channels !== C && vol.channels !== 1) throw volumeError(`${what} has ${vol.channels} channels but the model takes ${C}`);
  const pick = (c: number) => vol.channels === 1 ? 0 : c;
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
      const m0 = maps[pick(c)]!;
      const raw = chans[pick(c)]!.subarray(k0! * H * W, k1! * H * W);
      const same = grid.every((g, k) => g === from[k]);
      const g3: [number, number, number] = volume ? (grid as [number, number, number]) : [1, grid[0]!, grid[1]!];
      // an unclipped mapping is linear, so it is applied after the resize (to the model's grid, not the
      // scan's size: no copy of a large scan); a window clips, so it maps a copy first
      const v = same ? mapInPlace(raw.slice(), m0) : m0.clip ? resizeTrilinear(mapInPlace(raw.slice(), m0), [d, H, W], g3) : mapInPlace(resizeTrilinear(raw, [d, H, W], g3), m0);
      const m = per('mean', c);
      const s = per('std', c);
      for (let p = 0; p < cells; p++) tensor[target.channelsFirst ? c * cells + p : p * C + c] = (v[p]! - m) / s;
    }
    out.push({ tensor, dims: target.channelsFirst ? [1, C, ...grid] : [1, ...grid, C], grid });
  }
  return out;
}

/** The display range [lo, hi] of a scan's first channel: a window (given, or the first preset), else its 1st–99th percentiles. */
export function displayRange(vol: Volume, window?: readonly [number, number]): [number, number] {
  const [D, H, W] = vol.dims;
  const v = vol.data.subarray(0, D * H * W);
  const w = window ? { center: window[0], width: window[1] } : vol.windows?.[0];
  if (w && w.width > 0) return [w.center - w.width / 2, w.center + w.width / 2];
  // above 1 M values, a sample of every 16th
  const step = v.length > 1 << 20 ? 16 : 1;
  const sorted = new Float32Array(Math.ceil(v.length / step));
  for (let i = 0, j = 0; i < v.length; i += step) sorted[j++] = v[i]!;
  sorted.sort();
  let lo = sorted[Math.floor(0.01 * (sorted.length - 1))]!;
  let hi = sorted[Math.ceil(0.99 * (sorted.length - 1))]!;
  if (!(hi > lo)) { lo = sorted[0]!; hi = sorted[sorted.length - 1]!; }
  return [lo, hi];
}

/**
 * The gray picture of a scan's first channel for overlays: displayRange to [0, 1]. `inPlace`: written
 * over the scan's own values (no second full-size copy) where the caller needs them no more.
 */
export function displayVolume(vol: Volume, window?: readonly [number, number], inPlace = false): Float32Array {
  const [D, H, W] = vol.dims;
  const [lo, hi] = displayRange(vol, window);
  const r = hi - lo || 1;
  const v = vol.data.subarray(0, D * H * W);
  const out = inPlace ? v : new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Math.min(Math.max((v[i]! - lo) / r, 0), 1);
  return out;
}
