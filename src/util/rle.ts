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

/** Decodes an RLE mask to [H, W] uint8 (1 = object), row-major, whatever its own order. */
export function decodeRle(rle: RleMask): Uint8Array {
  const [h, w] = rle.size;
  const out = new Uint8Array(h * w);
  const rowMajor = (rle.order ?? DEFAULT_RLE_ORDER) === 'row-major';
  let p = 0;
  rle.counts.forEach((c, i) => {
    if (i % 2 === 1) {
      const end = Math.min(p + c, h * w);
      if (rowMajor) out.fill(1, p, end);
      else for (let k = p; k < end; k++) out[(k % h) * w + Math.floor(k / h)] = 1;
    }
    p += c;
  });
  if (p !== h * w) throw new RleError(`mask run lengths cover ${p} pixels, expected ${h}×${w} = ${h * w}`);
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
