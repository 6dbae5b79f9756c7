/**
 * Per-image audit numbers (map metrics against boxes or masks), browser-safe; their thumbnails are drawn by src/render.
 */
import { resizeBilinear, resizeRgb } from '../image/resize.js';
import { overlay } from '../image/overlay.js';
import type { RgbImage } from '../image/types.js';
import type { Box, MapMetrics } from './types.js';

/** An object region: [H, W] uint8, 1 = object. */
export interface Region {
  data: Uint8Array;
  width: number;
  height: number;
  kind: 'mask' | 'boxes';
}

/** Rasterises boxes at (width, height): a pixel is inside when its centre is (x0 <= x + 0.5 < x1). */
export function boxesRegion(boxes: Box[], width: number, height: number): Region {
  const data = new Uint8Array(width * height);
  for (const [x0, y0, x1, y1] of boxes) {
    const xa = Math.max(0, Math.ceil(x0 - 0.5));
    const xb = Math.min(width, Math.ceil(x1 - 0.5));
    const ya = Math.max(0, Math.ceil(y0 - 0.5));
    const yb = Math.min(height, Math.ceil(y1 - 0.5));
    for (let y = ya; y < yb; y++) data.fill(1, y * width + xa, y * width + Math.max(xa, xb));
  }
  return { data, width, height, kind: 'boxes' };
}

/** A mask ([h, w], non-zero = object) at (width, height), nearest-neighbour where the sizes differ. */
export function maskRegion(mask: { data: Uint8Array; width: number; height: number }, width: number, height: number): Region {
  if (mask.width === width && mask.height === height) return { data: mask.data.map((v) => (v ? 1 : 0)), width, height, kind: 'mask' };
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(mask.height - 1, Math.floor(((y + 0.5) * mask.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(mask.width - 1, Math.floor(((x + 0.5) * mask.width) / width));
      data[y * width + x] = mask.data[sy * mask.width + sx] ? 1 : 0;
    }
  }
  return { data, width, height, kind: 'mask' };
}

/** A region at another size (nearest-neighbour), e.g. for drawing on a thumbnail. */
export function scaleRegion(r: Region, width: number, height: number): Region {
  return { ...maskRegion(r, width, height), kind: r.kind };
}

/** The map's numbers; `map` is [height, width] in [0, 1], `region` (if any) the same size. */
export function mapMetrics(map: Float32Array, width: number, height: number, region?: Region): MapMetrics {
  let peak = 0;
  let sum = 0;
  let inside = 0;
  let hot = 0;
  let area = 0;
  const r = region?.data;
  if (region && (region.width !== width || region.height !== height)) throw new RangeError(`mapMetrics: region is ${region.width}x${region.height}, map ${width}x${height}`);
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    if (v > map[peak]!) peak = i;
    sum += v;
    if (v >= 0.5) hot++;
    if (r && r[i]) {
      inside += v;
      area++;
    }
  }
  const n = width * height;
  return {
    peak: [peak % width, Math.floor(peak / width)],
    coverage: round6(hot / n),
    energy_in_object: r && sum > 0 ? round6(inside / sum) : null,
    object_area: r ? round6(area / n) : null,
    lift: r && sum > 0 && area > 0 ? round6(inside / sum / (area / n)) : null,
    peak_in_object: r ? (sum > 0 ? r[peak] === 1 : false) : null,
    region: region?.kind ?? null,
  };
}

/**
 * Whether an image is flagged as looking mostly outside the object: its lift is below `flag_lift`, or its
 * energy on the object below `flag_below` (either rule may be off). Never without an object or for an
 * all-zero map.
 */
export function isFlagged(m: MapMetrics, rule: { flag_lift: number | null; flag_below: number | null }): boolean {
  if (m.energy_in_object === null) return false;
  if (rule.flag_below !== null && m.energy_in_object < rule.flag_below) return true;
  return rule.flag_lift !== null && m.lift !== null && m.lift < rule.flag_lift;
}

/** The flag rule in words. */
export function flagRuleText(rule: { flag_lift: number | null; flag_below: number | null }): string {
  const parts: string[] = [];
  if (rule.flag_lift !== null) parts.push(rule.flag_lift === 1 ? 'the object gets less of the map\'s energy than its share of the image (lift < 1)' : `lift (energy on the object / object area) < ${rule.flag_lift}`);
  if (rule.flag_below !== null) parts.push(`less than ${Math.round(rule.flag_below * 1000) / 10}% of the map's energy is on the object`);
  return parts.length ? parts.join(', or ') : 'never (flagging off)';
}

/** Rounds to 6 significant digits (stable, short JSON). */
export function round6(v: number): number {
  return v === 0 || !Number.isFinite(v) ? v : Number(v.toPrecision(6));
}

