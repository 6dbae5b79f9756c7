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
 * - JSON: an array of such objects, or an object with an `images` array (e.g. demo/*\/annotations.json);
 *   entries with `objects: [{class?, label?, box?, mask_rle?}]` and COCO documents ({images,
 *   annotations, categories}: bbox, polygons, RLE) are read by metrics/annotations.ts, the reader of
 *   `gradcam evaluate --annotations`, so that both commands see the same objects.
 *
 * Boxes are [x0, y0, x1, y1] in the original image's pixels, x1 and y1 exclusive.
 */
import type { Box, MaskRle } from './types.js';
import { parseRle, decodeRle as decodeRleMask, encodeRle, maskDecodeSize } from '../util/rle.js';
import { parseAnnotations, type ImageAnnotation } from '../metrics/annotations.js';

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
  // a COCO document (images + annotations + categories): read as `gradcam evaluate --annotations` reads it
  if (v && typeof v === 'object' && Array.isArray((v as { images?: unknown }).images) && Array.isArray((v as { annotations?: unknown }).annotations)) {
    let anns: ImageAnnotation[];
    try {
      anns = parseAnnotations(v);
    } catch (e) {
      throw new ManifestError(`${name}: ${(e as Error).message}`);
    }
    const annotated = new Set(anns.map((a) => a.file));
    const images = (v as { images: { file_name?: unknown }[] }).images;
    // every image is an item; those with annotations carry their objects
    return images.map((im, n) => {
      if (typeof im?.file_name !== 'string') throw new ManifestError(`${name}, image ${n}: no file_name`);
      return annotated.has(im.file_name) ? entryFromAnnotation(anns.find((a) => a.file === im.file_name)!) : { path: im.file_name };
    });
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
  if (Array.isArray(o['objects'])) {
    // gradcam's annotations form with several objects: read as `gradcam evaluate --annotations` reads it
    let ann: ImageAnnotation;
    try {
      [ann] = parseAnnotations([{ file: e.path, objects: o['objects'], width: o['width'], height: o['height'] }]) as [ImageAnnotation];
    } catch (err) {
      throw new ManifestError(`${where}: ${(err as Error).message}`);
    }
    const more = entryFromAnnotation(ann);
    if (more.boxes) e.boxes = [...(e.boxes ?? []), ...more.boxes];
    if (more.maskRle && !e.maskRle) e.maskRle = more.maskRle;
    if (e.label === undefined && more.label !== undefined) e.label = more.label;
  }
  return e;
}

/**
 * An annotated image (metrics/annotations.ts, the reader of `gradcam evaluate --annotations`) as a
 * manifest entry: its boxes; where objects have masks, one mask (row-major RLE) of every object — the
 * masks and the boxes of the objects without one, as evaluate's ground truth unites them; and the class
 * when all objects share one.
 */
export function entryFromAnnotation(a: ImageAnnotation): ManifestEntry {
  const e: ManifestEntry = { path: a.file };
  const boxes = a.objects.flatMap((o) => (o.box ? [[...o.box] as Box] : []));
  if (boxes.length) e.boxes = boxes;
  const first = a.objects.find((o) => o.mask)?.mask;
  if (first) {
    const { height: h, width: w } = first;
    const union = new Uint8Array(h * w);
    const [iw, ih] = [a.width ?? w, a.height ?? h];
    for (const o of a.objects) {
      const m = o.mask;
      if (m) {
        for (let y = 0; y < h; y++) {
          const yy = m.height === h ? y : Math.min(m.height - 1, Math.floor(((y + 0.5) * m.height) / h));
          for (let x = 0; x < w; x++) {
            const xx = m.width === w ? x : Math.min(m.width - 1, Math.floor(((x + 0.5) * m.width) / w));
            if (m.data[yy * m.width + xx]) union[y * w + x] = 1;
          }
        }
      } else if (o.box) {
        // a box (image pixels) at the mask's resolution, by pixel centres
        const [x0, y0, x1, y1] = [o.box[0] * (w / iw), o.box[1] * (h / ih), o.box[2] * (w / iw), o.box[3] * (h / ih)];
        for (let y = Math.max(0, Math.ceil(y0 - 0.5)); y < Math.min(h, Math.ceil(y1 - 0.5)); y++) {
          for (let x = Math.max(0, Math.ceil(x0 - 0.5)); x < Math.min(w, Math.ceil(x1 - 0.5)); x++) union[y * w + x] = 1;
        }
      }
    }
    e.maskRle = encodeRle(union, h, w);
  }
  const classes = a.objects.map((o) => o.class ?? o.label);
  if (classes.length && classes[0] !== undefined && classes.every((c) => c === classes[0])) e.label = classes[0];
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

/**
 * Decodes an RLE mask to uint8 (1 = object), row-major (the shared decoder, src/util/rle.ts): at its
 * size [H, W], or sampled at most MASK_DECODE_SIDE long (aspect kept) where it is larger — masks are
 * sampled at the picture's size, so a 40000×40000 mask is never allocated at its declared size.
 */
export function decodeRle(rle: MaskRle): { data: Uint8Array; height: number; width: number } {
  const [height, width] = maskDecodeSize(rle.size[0], rle.size[1]);
  return { data: decodeRleMask(rle, [height, width]), height, width };
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
