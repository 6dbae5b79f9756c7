/**
 * Run-length encoded object masks, the one reader that every command uses (`gradcam audit` manifests,
 * `gradcam evaluate --annotations`, the demo scripts). Browser-safe.
 *
 * An RLE mask is `{size: [H, W], counts, order?}`: `counts` alternate 0-runs and 1-runs, starting with a
 * 0-run (possibly empty), over the mask flattened in `order`; `counts` is a list of run lengths or COCO's
 * compressed string (pycocotools' `rleToString`).
 *
 * **Default order: column-major.** `{size, counts}` without an `order` is exactly COCO's uncompressed
 * RLE (what pycocotools' `mask.encode` and `frPyObjects` produce), which is column-major (Fortran
 * order); reading it row-major would transpose every mask that comes from the COCO tool chain. Files
 * that flatten row-major (gradcam's demo annotations) say `order: "row-major"`.
 */

export type RleOrder = 'row-major' | 'column-major';

export interface RleMask {
  size: [number, number];
  counts: number[];
  /** How the mask was flattened; default DEFAULT_RLE_ORDER (COCO's column-major). */
  order?: RleOrder;
}

/** The order of an RLE mask that does not say (COCO's uncompressed RLE is column-major). */
export const DEFAULT_RLE_ORDER: RleOrder = 'column-major';

export class RleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** COCO's compressed RLE string (maskApi rleFrString) to run lengths. */
export function cocoCountsFromString(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = 1;
    while (more) {
      if (p >= s.length) throw new RleError(`compressed RLE counts '${s.length > 40 ? `${s.slice(0, 37)}...` : s}' end in the middle of a number`);
      const c = s.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = c & 0x20;
      p++;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2]!;
    counts.push(x);
  }
  return counts;
}

/**
 * Checks a parsed JSON value as an RLE mask and returns it with run lengths (compressed strings
 * expanded) and its order (`order` read case-insensitively: 'row-major' / 'row' / 'C' or
 * 'column-major' / 'col' / 'F'; absent: DEFAULT_RLE_ORDER). `where` prefixes the error messages.
 */
export function parseRle(v: unknown, where: string): Required<RleMask> {
  const o = v as Record<string, unknown> | null;
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new RleError(`${where}: an RLE mask must be an object {size: [H, W], counts: [...]}`);
  const size = o['size'];
  if (!Array.isArray(size) || size.length !== 2 || !size.every((x) => Number.isInteger(x) && (x as number) > 0)) throw new RleError(`${where}: an RLE mask needs size [H, W] (positive integers)`);
  const raw = o['counts'];
  let counts: number[];
  if (typeof raw === 'string') counts = cocoCountsFromString(raw);
  else if (Array.isArray(raw) && raw.every((x) => Number.isInteger(x) && (x as number) >= 0)) counts = raw as number[];
  else throw new RleError(`${where}: an RLE mask needs counts, a list of run lengths (non-negative integers) or a COCO compressed string`);
  if (counts.some((c) => !(c >= 0))) throw new RleError(`${where}: the RLE counts hold a negative run length`);
  const [h, w] = size as [number, number];
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== h * w) throw new RleError(`${where}: the RLE counts add up to ${total}, expected ${h}x${w} = ${h * w}`);
  return { size: [h, w], counts, order: rleOrder(o['order'], where) };
}

function rleOrder(v: unknown, where: string): RleOrder {
  if (v === undefined || v === null) return DEFAULT_RLE_ORDER;
  const s = String(v).trim().toLowerCase();
  if (s === 'row-major' || s === 'row' || s === 'c' || s === 'rows') return 'row-major';
  if (s === 'column-major' || s === 'col' || s === 'column' || s === 'f' || s === 'col-major' || s === 'columns' || s === 'fortran') return 'column-major';
  throw new RleError(`${where}: the RLE order must be 'row-major' or 'column-major', got ${JSON.stringify(v)}`);
}

/**
 * Masks are decoded no larger than this on their long side (aspect kept): they are sampled at the
 * picture's size (at most 2048 long) or the map's, so a mask declared at 40000×40000 is never allocated
 * at its declared size. Image masks are decoded to the same bound (src/dataset/items.ts readMask).
 */
export const MASK_DECODE_SIDE = 4096;

/** The size [h, w] a mask of `height` × `width` is decoded at: shrunk (aspect kept) to at most `maxSide` long. */
export function maskDecodeSize(height: number, width: number, maxSide = MASK_DECODE_SIDE): [number, number] {
  const long = Math.max(height, width);
  if (long <= maxSide) return [height, width];
  const s = maxSide / long;
  return [Math.max(1, Math.round(height * s)), Math.max(1, Math.round(width * s))];
}

/**
 * Decodes an RLE mask to uint8 (1 = object), row-major, whatever its own order: at its own size [H, W],
 * or sampled (nearest pixel centre) at `at` [h, w] — from the runs directly, in time and memory of the
 * sampled size plus the runs, never the declared size.
 */
export function decodeRle(rle: RleMask, at?: readonly [number, number]): Uint8Array {
  const [h, w] = rle.size;
  const [th, tw] = at ?? [h, w];
  const rowMajor = (rle.order ?? DEFAULT_RLE_ORDER) === 'row-major';
  const total = rle.counts.reduce((a, c) => a + c, 0);
  if (total !== h * w) throw new RleError(`mask run lengths cover ${total} pixels, expected ${h}×${w} = ${h * w}`);
  const out = new Uint8Array(th * tw);
  if (th === h && tw === w && rowMajor) {
    let p = 0;
    rle.counts.forEach((c, i) => {
      if (i % 2 === 1) out.fill(1, p, p + c);
      p += c;
    });
    return out;
  }
  const ys = Int32Array.from({ length: th }, (_, y) => Math.min(h - 1, Math.floor(((y + 0.5) * h) / th)));
  const xs = Int32Array.from({ length: tw }, (_, x) => Math.min(w - 1, Math.floor(((x + 0.5) * w) / tw)));
  // the sampled pixels in the runs' order (their flat indices increase), walking the runs once
  const [outer, inner] = rowMajor ? [th, tw] : [tw, th];
  let run = 0;
  let end = rle.counts[0] ?? 0;
  for (let o = 0; o < outer; o++) {
    // a source row (column) sampled twice: its line again (the walk only goes forward)
    if (o > 0 && (rowMajor ? ys[o] === ys[o - 1] : xs[o] === xs[o - 1])) {
      for (let i = 0; i < inner; i++) {
        const [ty, tx] = rowMajor ? [o, i] : [i, o];
        out[ty * tw + tx] = rowMajor ? out[(ty - 1) * tw + tx]! : out[ty * tw + tx - 1]!;
      }
      continue;
    }
    for (let i = 0; i < inner; i++) {
      const [ty, tx] = rowMajor ? [o, i] : [i, o];
      const k = rowMajor ? ys[ty]! * w + xs[tx]! : xs[tx]! * h + ys[ty]!;
      while (k >= end && run + 1 < rle.counts.length) end += rle.counts[++run]!;
      if (run % 2 === 1) out[ty * tw + tx] = 1;
    }
  }
  return out;
}

/** Encodes a row-major [h, w] mask (non-zero = object) as a row-major RLE mask. */
export function encodeRle(mask: ArrayLike<number>, h: number, w: number): RleMask {
  const counts: number[] = [];
  let cur = 0;
  let n = 0;
  for (let i = 0; i < h * w; i++) {
    const v = mask[i] ? 1 : 0;
    if (v === cur) n++;
    else {
      counts.push(n);
      cur = v;
      n = 1;
    }
  }
  counts.push(n);
  return { size: [h, w], counts, order: 'row-major' };
}
