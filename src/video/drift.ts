/**
 * Attention drift across video frames (issue 26): where a map's peak and energy lie, how a frame's map
 * differs from the previous explained frame's (the peak's jump, the overlap of the two top-20% regions),
 * whether it left the explained box, and the exponential moving average that `--smooth K` draws.
 * Browser-safe: the CLI (`gradcam video`) and the web app's camera mode use the same functions.
 *
 * Every measure is taken on the map quantised to 8 bits (`quantizeMap`, the levels a colour map shows),
 * the form kept on disk between frames: a resumed run measures the previous frame exactly as an
 * uninterrupted one did.
 */

/** The share of the map's pixels in its "top" region (the top 20%). */
export const TOP_SHARE = 0.2;

/** Drift thresholds: a frame is flagged when its peak moved more than `peakJump` (a fraction of the image diagonal) or its top region overlaps the previous one's by less than `overlap` (IoU). */
export interface DriftThresholds {
  peakJump: number;
  overlap: number;
}

export const DEFAULT_DRIFT: DriftThresholds = { peakJump: 0.25, overlap: 0.3 };

/** A map in [0, 1] as 8-bit levels (round(v · 255), clamped). */
export function quantizeMap(map: ArrayLike<number>): Uint8Array {
  const q = new Uint8Array(map.length);
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    q[i] = v >= 1 ? 255 : v > 0 ? Math.round(v * 255) : 0;
  }
  return q;
}

export function dequantizeMap(q: Uint8Array): Float32Array {
  const m = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) m[i] = q[i]! / 255;
  return m;
}

/** Where a (quantised) map's attention is: its peak and energy centroid as fractions of the width and height, and its top region. */
export interface MapPlace {
  /** The first pixel of the maximum (row-major), its centre as [x, y] in [0, 1]; null for an all-zero map. */
  peak: [number, number] | null;
  /** The energy-weighted mean position [x, y] in [0, 1]; null for an all-zero map. */
  centroid: [number, number] | null;
  /** The top-20% region: the pixels at or above the level that at least TOP_SHARE of the pixels reach (empty for an all-zero map). */
  top: Uint8Array;
  width: number;
  height: number;
}

export function mapPlace(q: Uint8Array, width: number, height: number): MapPlace {
  if (q.length !== width * height) throw new RangeError(`mapPlace: a map of ${q.length} values is not ${width}×${height}`);
  const hist = new Uint32Array(256);
  let peakAt = 0;
  let sum = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const v = q[i]!;
      hist[v]!++;
      if (v > q[peakAt]!) peakAt = i;
      sum += v;
      sx += v * (x + 0.5);
      sy += v * (y + 0.5);
    }
  }
  const top = new Uint8Array(q.length);
  if (sum === 0) return { peak: null, centroid: null, top, width, height };
  // the highest level t with at least TOP_SHARE of the pixels at or above it (never level 0: zero is "nothing")
  const need = Math.ceil(TOP_SHARE * q.length);
  let t = 255;
  for (let n = 0; t > 1; t--) {
    n += hist[t]!;
    if (n >= need) break;
  }
  for (let i = 0; i < q.length; i++) top[i] = q[i]! >= t ? 1 : 0;
  const r = (v: number) => Math.round(v * 1e4) / 1e4;
  return {
    peak: [r(((peakAt % width) + 0.5) / width), r((Math.floor(peakAt / width) + 0.5) / height)],
    centroid: [r(sx / sum / width), r(sy / sum / height)],
    top, width, height,
  };
}

/** IoU of two masks of the same size (null when both are empty). */
export function maskIoU(a: Uint8Array, b: Uint8Array): number | null {
  if (a.length !== b.length) throw new RangeError(`maskIoU: masks of ${a.length} and ${b.length} pixels`);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) union++;
  }
  return union === 0 ? null : inter / union;
}

/** How a frame's map moved from the previous explained frame's, and what is flagged. */
export interface FrameDrift {
  /** Distance between the two peaks as a fraction of the image diagonal (null without a previous map or with an all-zero map). */
  peak_jump: number | null;
  /** IoU of the two top-20% regions (null without a previous map). */
  overlap: number | null;
  /** The explained box holds the map's peak (null without a box). */
  peak_in_box: boolean | null;
  /** 'peak-jump', 'low-overlap', 'outside-box', 'empty-map'. */
  flags: string[];
}

/**
 * The drift of `cur` against `prev` (the previous explained frame's place; undefined for the first),
 * with `box` ([x1, y1, x2, y2] in the map's pixels) the region the map should stay in.
 */
export function frameDrift(cur: MapPlace, prev: MapPlace | undefined, box: readonly number[] | undefined, t: DriftThresholds = DEFAULT_DRIFT): FrameDrift {
  const flags: string[] = [];
  const r = (v: number) => Math.round(v * 1e4) / 1e4;
  let jump: number | null = null;
  let overlap: number | null = null;
  if (!cur.peak) flags.push('empty-map');
  if (prev && prev.width === cur.width && prev.height === cur.height) {
    if (cur.peak && prev.peak) {
      const dx = (cur.peak[0] - prev.peak[0]) * cur.width;
      const dy = (cur.peak[1] - prev.peak[1]) * cur.height;
      jump = r(Math.hypot(dx, dy) / Math.hypot(cur.width, cur.height));
      if (jump > t.peakJump) flags.push('peak-jump');
    }
    const iou = maskIoU(cur.top, prev.top);
    overlap = iou === null ? null : r(iou);
    if (overlap !== null && overlap < t.overlap) flags.push('low-overlap');
  }
  let inBox: boolean | null = null;
  if (box && cur.peak) {
    const [px, py] = [cur.peak[0] * cur.width, cur.peak[1] * cur.height];
    inBox = px >= box[0]! && px <= box[2]! && py >= box[1]! && py <= box[3]!;
    if (!inBox) flags.push('outside-box');
  }
  return { peak_jump: jump, overlap, peak_in_box: inBox, flags };
}

/** The share of a map's energy inside a box ([x1, y1, x2, y2] in the map's pixels; pixel centres inside); null for an all-zero map. */
export function energyInBox(q: Uint8Array, width: number, height: number, box: readonly number[]): number | null {
  let all = 0;
  let inside = 0;
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const v = q[i]!;
      all += v;
      if (x + 0.5 >= box[0]! && x + 0.5 <= box[2]! && y + 0.5 >= box[1]! && y + 0.5 <= box[3]!) inside += v;
    }
  }
  return all === 0 ? null : Math.round((inside / all) * 1e4) / 1e4;
}

/**
 * `--smooth K`: the exponential moving average of the maps across explained frames (weight 2 / (K + 1)
 * on the newest, pandas' span K), a display aid: it changes what is shown, never the rows' measures.
 * K = 1 shows each frame's own map.
 */
export class MapSmoother {
  private readonly weight: number;
  private state: Float32Array | undefined;

  constructor(span: number) {
    if (!(span >= 1)) throw new RangeError(`the smoothing span must be at least 1, got ${span}`);
    this.weight = 2 / (span + 1);
  }

  push(map: Float32Array): Float32Array {
    const s = this.state;
    if (!s || s.length !== map.length) {
      this.state = map.slice();
      return this.state;
    }
    const w = this.weight;
    for (let i = 0; i < s.length; i++) s[i] = w * map[i]! + (1 - w) * s[i]!;
    return s;
  }
}
