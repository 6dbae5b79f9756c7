/**
 * Manifests: the list of images to audit with optional true labels, boxes and masks. Browser-safe
 * parsing of three formats:
 *
 * - CSV with a header row. Columns (case-insensitive; the first that is present wins):
 *   path: `path`, `file`, `image`, `filename`, `filepath`;
 *   true label: `label`, `class`, `true_label`, `target`, `y` (an index or a class name);
 *   boxes: `boxes` ("x0 y0 x1 y1; x0 y0 x1 y1" or a JSON array of boxes), `box` / `bbox` (one box), or
 *   the four columns `x0,y0,x1,y1` / `xmin,ymin,xmax,ymax`;
 *   mask: `mask` (a mask image file; non-zero pixels are the object).
 *   Rows that repeat a path add their boxes to it (one-row-per-box files).
 * - JSONL: one JSON object per line with the same field names; `boxes` is an array of boxes, `box` one
 *   box; `mask_rle` an RLE mask ({size: [H, W], counts: [...] or a COCO compressed string, order?:
 *   'row-major' | 'column-major'}; column-major, COCO's order, when `order` is absent: src/util/rle.ts,
 *   the reader `gradcam evaluate --annotations` uses too).
 * - JSON: an array of such objects, or an object with an `images` array (e.g. demo/*\/annotations.json).
 *
 * Boxes are [x0, y0, x1, y1] in the original image's pixels, x1 and y1 exclusive.
 */
import type { Box, MaskRle } from './types.js';
import { parseRle, decodeRle as decodeRleMask } from '../util/rle.js';

export interface ManifestEntry {
  /** The path as written in the manifest (relative paths are relative to the manifest's folder). */
  path: string;
  label?: number | string;
  boxes?: Box[];
  mask?: string;
  maskRle?: MaskRle;
}

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

const PATH_KEYS = ['path', 'file', 'image', 'filename', 'filepath', 'file_name'];
const LABEL_KEYS = ['label', 'class', 'true_label', 'target', 'y', 'category'];

export function isManifestName(file: string): boolean {
  return /\.(csv|jsonl|ndjson|json)$/i.test(file);
}

/** Parses a manifest by its file name's extension. */
export function parseManifest(text: string, name: string): ManifestEntry[] {
  const lower = name.toLowerCase();
  const entries = lower.endsWith('.csv') ? parseCsvManifest(text, name)
    : lower.endsWith('.json') ? parseJsonManifest(text, name)
    : parseJsonlManifest(text, name);
  return mergeRepeats(entries, name);
}

/** RFC 4180 CSV: quoted fields with "" escapes, CRLF or LF line ends. Returns rows of fields. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') { quoted = true; i++; continue; }
    if (c === ',') { row.push(field); field = ''; i++; continue; }
    if (c === '\n' || c === '\r') {
      row.push(field);
      field = '';
      if (!(row.length === 1 && row[0] === '')) rows.push(row);
      row = [];
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    field += c;
    i++;
  }
  if (quoted) throw new ManifestError('unterminated quoted field');
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function parseCsvManifest(text: string, name: string): ManifestEntry[] {
  let rows: string[][];
  try {
    rows = parseCsv(text);
  } catch (e) {
    throw new ManifestError(`${name}: ${(e as Error).message}`);
  }
  if (rows.length === 0) throw new ManifestError(`${name}: the manifest is empty`);
  const header = rows[0]!.map((h) => h.trim().toLowerCase());
  const col = (keys: string[]) => { for (const k of keys) { const j = header.indexOf(k); if (j >= 0) return j; } return -1; };
  const pathCol = col(PATH_KEYS);
  if (pathCol < 0) throw new ManifestError(`${name}: no path column in the header (${rows[0]!.join(', ')}); name it one of: ${PATH_KEYS.join(', ')}`);
  const labelCol = col(LABEL_KEYS);
  const boxesCol = col(['boxes']);
  const boxCol = col(['box', 'bbox']);
  const four = [['x0', 'y0', 'x1', 'y1'], ['xmin', 'ymin', 'xmax', 'ymax']].map((ks) => ks.map((k) => header.indexOf(k))).find((js) => js.every((j) => j >= 0));
  const maskCol = col(['mask', 'mask_path', 'mask_file']);
  const out: ManifestEntry[] = [];
  rows.slice(1).forEach((r, n) => {
    const where = `${name}, line ${n + 2}`;
    const p = (r[pathCol] ?? '').trim();
    if (!p) throw new ManifestError(`${where}: empty path`);
    const e: ManifestEntry = { path: p };
    if (labelCol >= 0) setLabel(e, r[labelCol], where);
    const boxes: Box[] = [];
    if (boxesCol >= 0 && (r[boxesCol] ?? '').trim()) boxes.push(...parseBoxesText(r[boxesCol]!, where));
    if (boxCol >= 0 && (r[boxCol] ?? '').trim()) boxes.push(...parseBoxesText(r[boxCol]!, where));
    if (four && four.some((j) => (r[j] ?? '').trim() !== '')) boxes.push(toBox(four.map((j) => Number((r[j] ?? '').trim())), where));
    if (boxes.length) e.boxes = boxes;
    if (maskCol >= 0 && (r[maskCol] ?? '').trim()) e.mask = r[maskCol]!.trim();
    out.push(e);
  });
  return out;
}

function parseJsonlManifest(text: string, name: string): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  text.split(/\r?\n/).forEach((line, n) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new ManifestError(`${name}, line ${n + 1}: not valid JSON (${(e as Error).message})`);
    }
    out.push(fromObject(v, `${name}, line ${n + 1}`));
  });
  if (out.length === 0) throw new ManifestError(`${name}: the manifest is empty`);
  return out;
}

function parseJsonManifest(text: string, name: string): ManifestEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${name}: not valid JSON (${(e as Error).message})`);
  }
  const list = Array.isArray(v) ? v : v && typeof v === 'object' && Array.isArray((v as { images?: unknown }).images) ? (v as { images: unknown[] }).images : null;
  if (!list) throw new ManifestError(`${name}: a JSON manifest must be an array of objects or an object with an 'images' array`);
  if (list.length === 0) throw new ManifestError(`${name}: the manifest is empty`);
  return list.map((o, n) => fromObject(o, `${name}, entry ${n}`));
}

function fromObject(v: unknown, where: string): ManifestEntry {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ManifestError(`${where}: expected an object`);
  const o = v as Record<string, unknown>;
  const pk = PATH_KEYS.find((k) => typeof o[k] === 'string' && (o[k] as string).trim());
  if (!pk) throw new ManifestError(`${where}: no path; give one of: ${PATH_KEYS.join(', ')}`);
  const e: ManifestEntry = { path: (o[pk] as string).trim() };
  // prefer a numeric class index when both an index and a name are given
  const lk = LABEL_KEYS.find((k) => typeof o[k] === 'number') ?? LABEL_KEYS.find((k) => o[k] !== undefined && o[k] !== null && o[k] !== '');
  if (lk) setLabel(e, o[lk], where);
  const boxes: Box[] = [];
  if (o['boxes'] !== undefined && o['boxes'] !== null) {
    if (!Array.isArray(o['boxes'])) throw new ManifestError(`${where}: 'boxes' must be an array of [x0, y0, x1, y1]`);
    for (const b of o['boxes']) boxes.push(toBox(b, where));
  }
  for (const k of ['box', 'bbox']) if (o[k] !== undefined && o[k] !== null) boxes.push(toBox(o[k], where));
  if (boxes.length) e.boxes = boxes;
  if (typeof o['mask'] === 'string' && o['mask'].trim()) e.mask = o['mask'].trim();
  const rle = o['mask_rle'] ?? (o['mask'] && typeof o['mask'] === 'object' ? o['mask'] : undefined);
  if (rle !== undefined && rle !== null) e.maskRle = toRle(rle, where);
  return e;
}

function setLabel(e: ManifestEntry, v: unknown, where: string): void {
  if (v === undefined || v === null) return;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) throw new ManifestError(`${where}: class index must be a non-negative integer, got ${v}`);
    e.label = v;
    return;
  }
  const s = String(v).trim();
  if (s === '') return;
  e.label = /^\d+$/.test(s) ? Number(s) : s;
}

/** "x0 y0 x1 y1; x0 y0 x1 y1", "x0,y0,x1,y1" or a JSON array (one box or an array of boxes). */
export function parseBoxesText(s: string, where: string): Box[] {
  const t = s.trim();
  if (t.startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      throw new ManifestError(`${where}: cannot read boxes '${s}'`);
    }
    if (Array.isArray(v) && v.length > 0 && Array.isArray(v[0])) return v.map((b) => toBox(b, where));
    return [toBox(v, where)];
  }
  return t.split(';').filter((p) => p.trim()).map((p) => toBox(p.trim().split(/[\s,]+/).map(Number), where));
}

function toBox(v: unknown, where: string): Box {
  if (!Array.isArray(v) || v.length !== 4 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw new ManifestError(`${where}: a box must be four numbers [x0, y0, x1, y1], got ${JSON.stringify(v)}`);
  }
  const [x0, y0, x1, y1] = v as number[];
  if (!(x1! > x0! && y1! > y0!)) throw new ManifestError(`${where}: box [${v.join(', ')}] is empty (need x1 > x0 and y1 > y0; boxes are [x0, y0, x1, y1], not [x, y, w, h] with w/h smaller than x/y)`);
  return [x0!, y0!, x1!, y1!];
}

/** The shared RLE reader (src/util/rle.ts): column-major (COCO) unless `order: "row-major"`. */
function toRle(v: unknown, where: string): MaskRle {
  try {
    return parseRle(v, `${where}: mask_rle`);
  } catch (e) {
    throw new ManifestError((e as Error).message);
  }
}

/** Decodes an RLE mask to [H, W] uint8 (1 = object), row-major (the shared decoder, src/util/rle.ts). */
export function decodeRle(rle: MaskRle): { data: Uint8Array; height: number; width: number } {
  return { data: decodeRleMask(rle), height: rle.size[0], width: rle.size[1] };
}

/** Rows that repeat a path (one row per box) become one entry with all the boxes. */
function mergeRepeats(entries: ManifestEntry[], name: string): ManifestEntry[] {
  const byPath = new Map<string, ManifestEntry>();
  const out: ManifestEntry[] = [];
  for (const e of entries) {
    const prev = byPath.get(e.path);
    if (!prev) {
      byPath.set(e.path, e);
      out.push(e);
      continue;
    }
    if (e.label !== undefined && prev.label !== undefined && e.label !== prev.label) {
      throw new ManifestError(`${name}: '${e.path}' is listed twice with different labels (${prev.label} and ${e.label})`);
    }
    if (prev.label === undefined) prev.label = e.label;
    if (e.boxes) prev.boxes = [...(prev.boxes ?? []), ...e.boxes];
    if (e.mask && prev.mask && e.mask !== prev.mask) throw new ManifestError(`${name}: '${e.path}' is listed twice with different masks`);
    if (e.mask && !prev.mask) prev.mask = e.mask;
    if (e.maskRle && !prev.maskRle) prev.maskRle = e.maskRle;
  }
  return out;
}
