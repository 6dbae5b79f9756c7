/**
 * Ground-truth annotations for localisation metrics, from parsed JSON (browser-safe):
 *
 * 1. gradcam's own form (the demo's demo/scenes/annotations.json and demo/testset*\/annotations.json):
 *    `{images: [{file, class?, label?, box?: [x0,y0,x1,y1], boxes?: [...], mask_rle?: {size: [H, W],
 *    counts, order?}, objects?: [{class?, label?, box?, mask_rle?}]}], image_size?: [H, W]}` — boxes
 *    in pixels with x1/y1 exclusive; mask_rle column-major (COCO's RLE) unless `order: 'row-major'`
 *    (the demo files say so) — the same reader as `gradcam audit`'s manifests (src/util/rle.ts);
 * 2. COCO: `{images: [{id, file_name, width, height}], annotations: [{image_id, category_id,
 *    bbox: [x, y, w, h], segmentation?}], categories: [{id, name}]}` with polygon, uncompressed or
 *    compressed (string) RLE segmentations (column-major, as COCO defines them);
 * 3. a plain object `{"<file>": {class?, box?, boxes?, mask_rle?}}`.
 *
 * Images are matched by file name (the base name, or a path suffix). Coordinates are in the annotated
 * image's pixels; `groundTruthFor` scales them to the map's resolution.
 */
import type { Box, GroundTruth } from './localisation.js';
import { boxMask } from './localisation.js';
import { parseRle, decodeRle, maskDecodeSize } from '../util/rle.js';
import { boxInView, maskInView, type ImageRegion } from '../image/view.js';

export { cocoCountsFromString } from '../util/rle.js';

export interface AnnotatedObject {
  /** Class index in the model's classes, when known. */
  class?: number;
  /** Class name (COCO category name, or the file's label). */
  label?: string;
  box?: Box;
  /**
   * Object pixels at [height, width]: the annotated image's size, or smaller (aspect kept, at most
   * MASK_DECODE_SIDE long) where that is larger; `size` is then the declared [H, W].
   */
  mask?: { height: number; width: number; data: Uint8Array; size?: [number, number] };
}

export interface ImageAnnotation {
  file: string;
  /** The annotated image's size, when the file says. */
  width?: number;
  height?: number;
  objects: AnnotatedObject[];
}

export class AnnotationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function parseBox(v: unknown, where: string): Box {
  if (!Array.isArray(v) || v.length !== 4 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw new AnnotationError(`${where}: a box must be [x0, y0, x1, y1] (numbers), got ${JSON.stringify(v)}`);
  }
  const [x0, y0, x1, y1] = v as number[];
  if (x1! <= x0! || y1! <= y0!) throw new AnnotationError(`${where}: box [${v.join(', ')}] is empty (x1/y1 are exclusive ends)`);
  return [x0!, y0!, x1!, y1!];
}

/** An RLE mask (the shared reader, src/util/rle.ts: column-major unless `order` says row-major). */
function parseRleMask(v: unknown, where: string): AnnotatedObject['mask'] {
  try {
    const rle = parseRle(v, where);
    const [h, w] = maskDecodeSize(rle.size[0], rle.size[1]);
    return { height: h, width: w, data: decodeRle(rle, [h, w]), ...(h !== rle.size[0] || w !== rle.size[1] ? { size: rle.size } : {}) };
  } catch (e) {
    throw new AnnotationError((e as Error).message);
  }
}

/**
 * Rasterises polygons [x1, y1, x2, y2, …] (pixel centres inside by the even-odd rule) on a height × width
 * image; with `at` [h, w], on that grid instead (the polygons scaled to it).
 */
export function rasterisePolygons(polys: number[][], height: number, width: number, at?: readonly [number, number]): Uint8Array {
  if (at && (at[0] !== height || at[1] !== width)) {
    const [sy, sx] = [at[0] / height, at[1] / width];
    return rasterisePolygons(polys.map((p) => p.map((v, i) => v * (i % 2 ? sy : sx))), at[0], at[1]);
  }
  const out = new Uint8Array(height * width);
  for (const poly of polys) {
    const n = Math.floor(poly.length / 2);
    if (n < 3) continue;
    for (let y = 0; y < height; y++) {
      const cy = y + 0.5;
      const xs: number[] = [];
      for (let i = 0; i < n; i++) {
        const xa = poly[2 * i]!, ya = poly[2 * i + 1]!;
        const xb = poly[(2 * ((i + 1) % n))]!, yb = poly[(2 * ((i + 1) % n)) + 1]!;
        if ((ya <= cy && yb > cy) || (yb <= cy && ya > cy)) xs.push(xa + ((cy - ya) / (yb - ya)) * (xb - xa));
      }
      xs.sort((a, b) => a - b);
      for (let k = 0; k + 1 < xs.length; k += 2) {
        for (let x = Math.max(0, Math.ceil(xs[k]! - 0.5)); x < Math.min(width, Math.ceil(xs[k + 1]! - 0.5)); x++) out[y * width + x] ^= 1;
      }
    }
  }
  return out;
}

function ownObject(e: Json, where: string): AnnotatedObject[] {
  const cls = num(e.class) ?? num(e.class_index) ?? num(e.category_id);
  const label = typeof e.label === 'string' ? e.label : typeof e.class === 'string' ? e.class : undefined;
  const boxes: Box[] = [];
  if (e.box !== undefined) boxes.push(parseBox(e.box, where));
  if (Array.isArray(e.boxes)) e.boxes.forEach((b, i) => boxes.push(parseBox(b, `${where} box ${i}`)));
  const mask = e.mask_rle !== undefined ? parseRleMask(e.mask_rle, `${where} mask_rle`) : undefined;
  if (boxes.length <= 1) return [{ class: cls, label, box: boxes[0], mask }];
  return boxes.map((box, i) => ({ class: cls, label, box, mask: i === 0 ? mask : undefined }));
}

function parseOwnImage(e: unknown, i: number, size?: [number, number]): ImageAnnotation {
  if (!isObj(e)) throw new AnnotationError(`annotation ${i}: expected an object`);
  const file = typeof e.file === 'string' ? e.file : typeof e.file_name === 'string' ? e.file_name : undefined;
  if (!file) throw new AnnotationError(`annotation ${i}: no 'file'`);
  const objects = Array.isArray(e.objects)
    ? e.objects.flatMap((o, k) => { if (!isObj(o)) throw new AnnotationError(`${file} object ${k}: expected an object`); return ownObject(o, `${file} object ${k}`); })
    : ownObject(e, file);
  const real = objects.filter((o) => o.box || o.mask);
  if (real.length === 0) throw new AnnotationError(`${file}: no box or mask`);
  const m = real.find((o) => o.mask)?.mask;
  const height = num(e.height) ?? m?.size?.[0] ?? m?.height ?? size?.[0];
  const width = num(e.width) ?? m?.size?.[1] ?? m?.width ?? size?.[1];
  return { file, width, height, objects: real };
}

function parseCoco(j: Json): ImageAnnotation[] {
  const cats = new Map<number, string>();
  for (const c of (j.categories as unknown[]) ?? []) if (isObj(c) && num(c.id) !== undefined) cats.set(num(c.id)!, String(c.name ?? c.id));
  const byId = new Map<number, ImageAnnotation>();
  for (const im of j.images as unknown[]) {
    if (!isObj(im) || num(im.id) === undefined || typeof im.file_name !== 'string') throw new AnnotationError(`COCO images need id and file_name, got ${JSON.stringify(im).slice(0, 80)}`);
    byId.set(num(im.id)!, { file: im.file_name, width: num(im.width), height: num(im.height), objects: [] });
  }
  (j.annotations as unknown[]).forEach((a, k) => {
    if (!isObj(a)) return;
    const img = byId.get(num(a.image_id) ?? NaN);
    if (!img) throw new AnnotationError(`COCO annotation ${k}: image_id ${String(a.image_id)} is not among the images`);
    const where = `${img.file} annotation ${k}`;
    const obj: AnnotatedObject = {};
    const cat = num(a.category_id);
    if (cat !== undefined) obj.label = cats.get(cat) ?? String(cat);
    if (Array.isArray(a.bbox)) {
      const [x, y, w, h] = a.bbox as number[];
      obj.box = parseBox([x, y, x! + w!, y! + h!], where);
    }
    const seg = a.segmentation;
    if (Array.isArray(seg) && seg.length) {
      if (img.height === undefined || img.width === undefined) throw new AnnotationError(`${where}: polygon segmentations need the image's width and height`);
      // rasterised no larger than MASK_DECODE_SIDE: a 30000×30000 image's polygon is not drawn at that size
      const [h, w] = maskDecodeSize(img.height, img.width);
      obj.mask = { height: h, width: w, data: rasterisePolygons(seg as number[][], img.height, img.width, [h, w]), ...(h !== img.height || w !== img.width ? { size: [img.height, img.width] as [number, number] } : {}) };
    } else if (isObj(seg)) obj.mask = parseRleMask(seg, where);
    if (obj.box || obj.mask) img.objects.push(obj);
  });
  return [...byId.values()].filter((i) => i.objects.length);
}

/** Parses an annotations document (see the module comment) into per-image annotations. */
export function parseAnnotations(doc: unknown): ImageAnnotation[] {
  if (Array.isArray(doc)) return doc.map((e, i) => parseOwnImage(e, i));
  if (!isObj(doc)) throw new AnnotationError('annotations: expected a JSON object or array');
  if (Array.isArray(doc.images) && Array.isArray(doc.annotations)) return parseCoco(doc);
  const size = Array.isArray(doc.image_size) && doc.image_size.length === 2 ? (doc.image_size as [number, number]) : undefined;
  if (Array.isArray(doc.images)) return doc.images.map((e, i) => parseOwnImage(e, i, size));
  return Object.entries(doc).map(([file, e], i) => parseOwnImage(isObj(e) ? { file, ...e } : Array.isArray(e) ? { file, boxes: e } : e, i, size));
}

/** Finds the annotation of `file` (a path): by path suffix, else by base name. */
export function findAnnotation(all: readonly ImageAnnotation[], file: string): ImageAnnotation | undefined {
  const norm = file.replace(/\\/g, '/');
  const base = norm.slice(norm.lastIndexOf('/') + 1);
  return all.find((a) => norm === a.file || norm.endsWith(`/${a.file.replace(/^\.?\//, '')}`)) ?? all.find((a) => a.file.slice(a.file.lastIndexOf('/') + 1) === base);
}

/** The class index of an object: its own, else its label looked up in the model's labels (case-insensitive). */
export function objectClass(o: AnnotatedObject, labels?: readonly string[]): number | undefined {
  if (o.class !== undefined) return o.class;
  if (o.label && labels) {
    const k = labels.findIndex((l) => l.toLowerCase() === o.label!.toLowerCase());
    if (k >= 0) return k;
  }
  return undefined;
}

/**
 * Ground truth at map resolution [height, width] for the explained class: the objects of that class,
 * or all objects where none has it (or classes are unknown). `imageSize` [H, W] is the annotated
 * image's size (default: the annotation's own, else the map's). `region` [x0, y0, x1, y1], in the
 * annotated image's pixels, is the part of the image the map covers (--resize/--crop: the centre crop);
 * default the whole image.
 */
export function groundTruthFor(ann: ImageAnnotation, height: number, width: number, cls?: number, labels?: readonly string[], imageSize?: [number, number], region?: ImageRegion): GroundTruth & { matched: 'class' | 'all' } {
  const ih = imageSize?.[0] ?? ann.height ?? height;
  const iw = imageSize?.[1] ?? ann.width ?? width;
  const ofClass = cls === undefined ? [] : ann.objects.filter((o) => objectClass(o, labels) === cls);
  const objects = ofClass.length ? ofClass : ann.objects;
  const part = region && !(region[0] === 0 && region[1] === 0 && region[2] === iw && region[3] === ih) ? region : undefined;
  const sx = width / iw;
  const sy = height / ih;
  const boxes: Box[] = [];
  const out = new Uint8Array(height * width);
  for (const o of objects) {
    let box = o.box;
    if (o.mask) {
      const m = o.mask;
      if (part) {
        const inView = maskInView(m, [iw, ih], part, width, height);
        for (let i = 0; i < out.length; i++) if (inView[i]) out[i] = 1;
      } else {
        // nearest-neighbour resample of the mask to the map grid
        for (let y = 0; y < height; y++) {
          const yy = Math.min(m.height - 1, Math.floor(((y + 0.5) * m.height) / height));
          for (let x = 0; x < width; x++) {
            const xx = Math.min(m.width - 1, Math.floor(((x + 0.5) * m.width) / width));
            if (m.data[yy * m.width + xx]) out[y * width + x] = 1;
          }
        }
      }
      if (!box) box = maskBox(m.data, m.height, m.width);
      if (box && (m.height !== ih || m.width !== iw)) box = [box[0] * (iw / m.width), box[1] * (ih / m.height), box[2] * (iw / m.width), box[3] * (ih / m.height)];
    }
    if (box) {
      let b: Box = [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy];
      if (part) {
        // the part of the box inside the crop; a box wholly outside it is no target
        const v = boxInView(box, part, width, height);
        b = [Math.max(0, v[0]), Math.max(0, v[1]), Math.min(width, v[2]), Math.min(height, v[3])];
        if (b[2] <= b[0] || b[3] <= b[1]) continue;
      }
      boxes.push(b);
      if (!o.mask) {
        const bm = boxMask([b], height, width);
        for (let i = 0; i < out.length; i++) if (bm[i]) out[i] = 1;
      }
    }
  }
  return { boxes, region: out, matched: ofClass.length ? 'class' : 'all' };
}

function maskBox(data: Uint8Array, h: number, w: number): Box | undefined {
  let [x0, y0, x1, y1] = [w, h, -1, -1];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (data[y * w + x]) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
  return x1 < 0 ? undefined : [x0, y0, x1 + 1, y1 + 1];
}
