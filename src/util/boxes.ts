/**
 * Boxes of a detection head: the rows of the normalised detection tensor [A, D] (one row per anchor:
 * 4 box numbers, the objectness where there is one, the nc class scores), IoU and its gradient, decoding
 * with score and IoU thresholds (class-aware greedy NMS), and the box target (what a map of one detection
 * explains). Browser-safe, no model knowledge beyond `BoxHead`; in util/ because the box target (cam/targets.ts)
 * and the detector (detect/) both use it.
 */

/** x1, y1, x2, y2 in input pixels. */
export type Box = [number, number, number, number];
export type BoxCoords = 'xyxy' | 'cxcywh';

/** How to read one anchor row. */
export interface BoxHead {
  anchors: number;
  classes: number;
  /** Row width: 4 + (objectness ? 1 : 0) + classes. */
  width: number;
  coords: BoxCoords;
  objectness: boolean;
}



/** The xyxy box of anchor a in a row tensor s [A, D]. */
export function anchorBox(s: ArrayLike<number>, head: BoxHead, a: number): Box {
  const o = a * head.width;
  const [p, q, r, t] = [s[o]!, s[o + 1]!, s[o + 2]!, s[o + 3]!];
  return head.coords === 'xyxy' ? [p, q, r, t] : [p - r / 2, q - t / 2, p + r / 2, q + t / 2];
}

/** The score of class c at anchor a: the class score, times the objectness where there is one. */
export function anchorScore(s: ArrayLike<number>, head: BoxHead, a: number, c: number): number {
  const o = a * head.width;
  return head.objectness ? s[o + 4]! * s[o + 5 + c]! : s[o + 4 + c]!;
}

export function iou(p: Box, q: Box): number {
  const iw = Math.max(0, Math.min(p[2], q[2]) - Math.max(p[0], q[0]));
  const ih = Math.max(0, Math.min(p[3], q[3]) - Math.max(p[1], q[1]));
  const inter = iw * ih;
  const union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** d IoU(p, q) / d p (xyxy), the gradient torchvision's box_iou gives. */
export function iouGradient(p: Box, q: Box): Box {
  const iwr = Math.min(p[2], q[2]) - Math.max(p[0], q[0]);
  const ihr = Math.min(p[3], q[3]) - Math.max(p[1], q[1]);
  const iw = Math.max(0, iwr);
  const ih = Math.max(0, ihr);
  const I = iw * ih;
  const pw = p[2] - p[0];
  const ph = p[3] - p[1];
  const U = pw * ph + (q[2] - q[0]) * (q[3] - q[1]) - I;
  if (!(U > 0)) return [0, 0, 0, 0];
  const dI = (U + I) / (U * U); // d iou / d I (U depends on I)
  const dA = -I / (U * U); // d iou / d area(p)
  // d iw / d p: the max/min pick p's side; 0 where the clamp is active
  const dw = iwr > 0 ? [p[0] > q[0] ? -1 : 0, p[2] < q[2] ? 1 : 0] : [0, 0];
  const dh = ihr > 0 ? [p[1] > q[1] ? -1 : 0, p[3] < q[3] ? 1 : 0] : [0, 0];
  return [
    dI * dw[0]! * ih + dA * -ph,
    dI * dh[0]! * iw + dA * -pw,
    dI * dw[1]! * ih + dA * ph,
    dI * dh[1]! * iw + dA * pw,
  ];
}

/** Adds g (d/d xyxy of anchor a's box) into seed, through the head's box coordinates. */
function addBoxGradient(seed: Float32Array, head: BoxHead, a: number, g: Box): void {
  const o = a * head.width;
  if (head.coords === 'xyxy') {
    for (let k = 0; k < 4; k++) seed[o + k] = seed[o + k]! + g[k]!;
    return;
  }
  // x1 = cx − w/2, x2 = cx + w/2 (same for y)
  seed[o] = seed[o]! + g[0] + g[2];
  seed[o + 1] = seed[o + 1]! + g[1] + g[3];
  seed[o + 2] = seed[o + 2]! + (g[2] - g[0]) / 2;
  seed[o + 3] = seed[o + 3]! + (g[3] - g[1]) / 2;
}

export interface Detection {
  /** The image of the batch. */
  image: number;
  /** The anchor (row of the detection tensor) that produced the box. */
  anchor: number;
  box: Box;
  class: number;
  label?: string;
  score: number;
}

export interface DecodeOptions {
  /** Keep anchors whose best class score is at least this (default 0.25). */
  scoreThreshold?: number;
  /** NMS: drop a box whose IoU with a better box of the same class exceeds this (default 0.45). */
  iouThreshold?: number;
  /** Keep the K best detections per image (default: all). */
  top?: number;
}

export const DEFAULT_SCORE_THRESHOLD = 0.25;
export const DEFAULT_NMS_IOU = 0.45;

/**
 * Detections of one image's rows s [A, D]: per anchor its best class (one label per anchor, as YOLO's
 * exporters decode), kept when its score ≥ scoreThreshold, then greedy NMS per class, best first.
 */
export function decodeDetections(s: ArrayLike<number>, head: BoxHead, opts: DecodeOptions = {}, image = 0, labels?: string[]): Detection[] {
  const thr = opts.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD;
  const nmsIou = opts.iouThreshold ?? DEFAULT_NMS_IOU;
  const cands: Detection[] = [];
  for (let a = 0; a < head.anchors; a++) {
    let best = 0;
    let score = -Infinity;
    for (let c = 0; c < head.classes; c++) {
      const v = anchorScore(s, head, a, c);
      if (v > score) { score = v; best = c; }
    }
    if (score >= thr) cands.push({ image, anchor: a, box: anchorBox(s, head, a), class: best, label: labels?.[best], score });
  }
  cands.sort((x, y) => y.score - x.score || x.anchor - y.anchor);
  const kept: Detection[] = [];
  for (const d of cands) {
    if (kept.some((k) => k.class === d.class && iou(k.box, d.box) > nmsIou)) continue;
    kept.push(d);
    if (opts.top !== undefined && kept.length >= opts.top) break;
  }
  return kept;
}

/** How a box target gathers the anchors behind a detection. */

export interface BoxTargetOptions {
  /** Anchors whose box overlaps the target box at least this much are matched (default 0.5). */
  iouThreshold?: number;
  /**
   * 'sum' (default): the class score summed over every matched anchor (IoU ≥ threshold);
   * 'best': pytorch-grad-cam's FasterRCNNBoxScoreTarget — the best-overlapping anchor only, if its IoU
   * exceeds the threshold and its arg-max class is the class.
   */
  match?: 'sum' | 'best';
  /** Add the matched anchors' IoU with the target box (as FasterRCNNBoxScoreTarget; always with 'best'). */
  iouTerm?: boolean;
}

/** The box target's value and seed on one image's rows s [A, D]. */
export function boxTargetValue(s: ArrayLike<number>, head: BoxHead, box: Box, c: number, opts: BoxTargetOptions): { value: number; seed: Float32Array; anchors: number[] } {
  const thr = opts.iouThreshold ?? 0.5;
  const match = opts.match ?? 'sum';
  const iouTerm = match === 'best' || !!opts.iouTerm;
  const seed = new Float32Array(head.anchors * head.width);
  const ious = Array.from({ length: head.anchors }, (_, a) => iou(anchorBox(s, head, a), box));
  let anchors: number[];
  if (match === 'best') {
    let a = 0;
    for (let k = 1; k < ious.length; k++) if (ious[k]! > ious[a]!) a = k;
    let label = 0;
    for (let k = 1; k < head.classes; k++) if (anchorScore(s, head, a, k) > anchorScore(s, head, a, label)) label = k;
    anchors = ious[a]! > thr && label === c ? [a] : [];
  } else anchors = ious.flatMap((v, a) => (v >= thr ? [a] : []));
  let value = 0;
  for (const a of anchors) {
    const o = a * head.width;
    value += anchorScore(s, head, a, c);
    if (head.objectness) {
      seed[o + 4] = seed[o + 4]! + s[o + 5 + c]!;
      seed[o + 5 + c] = seed[o + 5 + c]! + s[o + 4]!;
    } else seed[o + 4 + c] = seed[o + 4 + c]! + 1;
    if (iouTerm) {
      value += ious[a]!;
      addBoxGradient(seed, head, a, iouGradient(anchorBox(s, head, a), box));
    }
  }
  return { value, seed, anchors };
}

/**
 * pytorch-grad-cam's renormalize_cam_in_bounding_boxes for one box: the map min-max scaled inside the
 * box (pixels x1 ≤ x < x2, y1 ≤ y < y2 after rounding, clipped to the picture), zero outside.
 */
export function renormalizeInBox(map: Float32Array, width: number, height: number, box: Box): Float32Array {
  const out = new Float32Array(map.length);
  const x1 = Math.max(0, Math.min(width, Math.round(box[0])));
  const x2 = Math.max(0, Math.min(width, Math.round(box[2])));
  const y1 = Math.max(0, Math.min(height, Math.round(box[1])));
  const y2 = Math.max(0, Math.min(height, Math.round(box[3])));
  let lo = Infinity;
  let hi = -Infinity;
  for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) { const v = map[y * width + x]!; lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!(hi >= lo)) return out;
  for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) out[y * width + x] = Math.fround((map[y * width + x]! - lo) / (1e-7 + hi - lo));
  return out;
}
