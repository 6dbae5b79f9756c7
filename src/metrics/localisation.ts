/**
 * Localisation against ground truth, for maps [H, W] (larger = more important):
 * - pointing game (Zhang et al., ECCV 2016): a hit when the map's maximum lies on the object (the
 *   first maximum in raster order; within `tolerance` pixels of it where a tolerance is given; Zhang et
 *   al. use 15 px at 224 px input); a constant map points nowhere (a miss);
 * - energy-based pointing game (Wang et al., Score-CAM, CVPRW 2020): the share of the map's total mass
 *   that falls on the object;
 * - IoU with the box (Grad-CAM's localisation protocol, Selvaraju et al. 2017): threshold the map at
 *   `threshold` × its maximum (default 0.15), take the largest 8-connected segment, and compare its
 *   bounding box with the ground-truth boxes (the best IoU); `maskIoU` compares the thresholded pixels
 *   with the object's pixels directly.
 */

/** [x0, y0, x1, y1] in pixels, x1 and y1 exclusive (a pixel belongs to the box when its centre does). */
export type Box = [number, number, number, number];

/** Pixels whose centre lies in any of the boxes. */
export function boxMask(boxes: readonly Box[], height: number, width: number): Uint8Array {
  const out = new Uint8Array(height * width);
  for (const [x0, y0, x1, y1] of boxes) {
    for (let y = Math.max(0, Math.ceil(y0 - 0.5)); y < Math.min(height, Math.ceil(y1 - 0.5)); y++) {
      for (let x = Math.max(0, Math.ceil(x0 - 0.5)); x < Math.min(width, Math.ceil(x1 - 0.5)); x++) out[y * width + x] = 1;
    }
  }
  return out;
}

function checkSizes(fn: string, map: ArrayLike<number>, region: ArrayLike<number>): void {
  if (map.length !== region.length) throw new RangeError(`${fn}: map has ${map.length} values, region ${region.length}`);
}

/** Index of the first maximum, or -1 for a constant map. */
export function peak(map: ArrayLike<number>): number {
  let best = 0;
  let constant = true;
  for (let i = 1; i < map.length; i++) {
    if (map[i] !== map[0]) constant = false;
    if (map[i]! > map[best]!) best = i;
  }
  return constant ? -1 : best;
}

/** Pointing game: whether the map's peak lies on the region (or within `tolerance` pixels of it). */
export function pointingGame(map: ArrayLike<number>, region: ArrayLike<number>, width: number, tolerance = 0): boolean {
  checkSizes('pointingGame', map, region);
  const p = peak(map);
  if (p < 0) return false;
  if (region[p]) return true;
  if (tolerance <= 0) return false;
  const py = Math.floor(p / width);
  const px = p % width;
  const t2 = tolerance * tolerance;
  for (let i = 0; i < region.length; i++) {
    if (!region[i]) continue;
    const dy = Math.floor(i / width) - py;
    const dx = (i % width) - px;
    if (dx * dx + dy * dy <= t2) return true;
  }
  return false;
}

/** Energy-based pointing game: Σ map on the region / Σ map (0 for an all-zero map; negatives count as 0). */
export function energyPointing(map: ArrayLike<number>, region: ArrayLike<number>): number {
  checkSizes('energyPointing', map, region);
  let inside = 0;
  let total = 0;
  for (let i = 0; i < map.length; i++) {
    const v = Math.max(0, map[i]!);
    total += v;
    if (region[i]) inside += v;
  }
  return total > 0 ? inside / total : 0;
}

/** The thresholded map: pixels ≥ threshold × max (none for a map whose max is ≤ 0). */
export function thresholdMap(map: ArrayLike<number>, threshold: number): Uint8Array {
  let hi = -Infinity;
  for (let i = 0; i < map.length; i++) hi = Math.max(hi, map[i]!);
  const out = new Uint8Array(map.length);
  if (!(hi > 0)) return out;
  for (let i = 0; i < map.length; i++) if (map[i]! >= threshold * hi) out[i] = 1;
  return out;
}

/** Bounding box of the largest 8-connected segment of a binary mask, or undefined when it is empty. */
export function largestSegmentBox(mask: Uint8Array, height: number, width: number): Box | undefined {
  const label = new Int32Array(mask.length);
  let best: Box | undefined;
  let bestSize = 0;
  let next = 1;
  const stack: number[] = [];
  for (let s = 0; s < mask.length; s++) {
    if (!mask[s] || label[s]) continue;
    label[s] = next;
    stack.push(s);
    let size = 0;
    let [x0, y0, x1, y1] = [width, height, -1, -1];
    while (stack.length) {
      const p = stack.pop()!;
      const y = Math.floor(p / width);
      const x = p - y * width;
      size++;
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
          const q = yy * width + xx;
          if (mask[q] && !label[q]) { label[q] = next; stack.push(q); }
        }
      }
    }
    if (size > bestSize) { bestSize = size; best = [x0, y0, x1 + 1, y1 + 1]; }
    next++;
  }
  return best;
}

export function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const area = (r: Box) => Math.max(0, r[2] - r[0]) * Math.max(0, r[3] - r[1]);
  const union = area(a) + area(b) - inter;
  return union > 0 ? inter / union : 0;
}

/** Grad-CAM's box IoU: the best IoU of the largest thresholded segment's box with any ground-truth box. */
export function boxIoU(map: ArrayLike<number>, height: number, width: number, boxes: readonly Box[], threshold = 0.15): number {
  const box = largestSegmentBox(thresholdMap(map, threshold), height, width);
  if (!box || boxes.length === 0) return 0;
  return Math.max(...boxes.map((b) => iou(box, b)));
}

/** Pixel IoU of the thresholded map with the region. */
export function maskIoU(map: ArrayLike<number>, region: ArrayLike<number>, threshold = 0.15): number {
  checkSizes('maskIoU', map, region);
  const t = thresholdMap(map, threshold);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < t.length; i++) {
    const a = t[i] === 1;
    const b = !!region[i];
    if (a && b) inter++;
    if (a || b) union++;
  }
  return union > 0 ? inter / union : 0;
}

/** Ground truth at map resolution: boxes, and the object pixels (the union of masks, or of the boxes). */
export interface GroundTruth {
  boxes: Box[];
  region: Uint8Array;
}

export interface LocalisationResult {
  pointing: boolean;
  pointing_tol: boolean;
  energy: number;
  iou: number;
  mask_iou: number;
}

export interface LocalisationOptions {
  /** Pointing-game tolerance in pixels for `pointing_tol` (default 15, Zhang et al.). */
  tolerance?: number;
  /** Threshold for the IoUs, a fraction of the map's maximum (default 0.15, Grad-CAM). */
  threshold?: number;
}

export function localisation(map: ArrayLike<number>, height: number, width: number, gt: GroundTruth, opts: LocalisationOptions = {}): LocalisationResult {
  const t = opts.threshold ?? 0.15;
  return {
    pointing: pointingGame(map, gt.region, width, 0),
    pointing_tol: pointingGame(map, gt.region, width, opts.tolerance ?? 15),
    energy: energyPointing(map, gt.region),
    iou: boxIoU(map, height, width, gt.boxes, t),
    mask_iou: maskIoU(map, gt.region, t),
  };
}
