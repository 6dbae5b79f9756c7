/**
 * The one renderer of explanations (browser-safe): the overlay of a map on a picture, the captioned
 * overlay (the gradient picture and the methods × layers grid: panels.ts), the audit's thumbnails, the files of one
 * explanation and its JSON sidecar. The CLI (explain, whatever
 * the method or option), the audit and the web app use these, so that the same inputs give the same
 * pictures and the same JSON layout everywhere.
 */
import type { ClassScore, Explanation } from '../types.js';
import type { RgbImage } from '../image/types.js';
import { encodePng } from '../image/png.js';
import { encodePicture, pictureExtension, type PictureFormat } from '../image/encode.js';
import { writeNpy } from '../image/npy.js';
import { heatmapImage, overlay, overlayLevels, type OverlayTarget } from '../image/overlay.js';
import { drawText, measureText, montage, montageFrame, type Rgb } from '../image/montage.js';
import { resizeBilinear, resizeBilinearLevels, resizeRgb } from '../image/resize.js';
import { writeNifti } from '../image/nifti.js';
import { resizeTrilinear } from '../image/resize3d.js';
import type { Volume } from '../image/volume.js';

/** Longest side of an overlay picture unless asked otherwise (--max-overlay). */
export const DEFAULT_PICTURE_SIDE = 2048;
/** Small pictures are enlarged by a whole factor to at least this width, so that map and caption can be read. */
export const MIN_OVERLAY_WIDTH = 256;

/** An overlay size asked for (--overlay-size): a longest side (aspect kept), or a width and height. */
export type OverlaySizeRequest = { side: number } | { width: number; height: number };

/**
 * The overlay size for a w × h picture: the size asked for (a longest side keeps the aspect ratio), else
 * the picture's enlarged by a whole factor to ≥ minWidth wide; either way a long side ≤ maxSide.
 */
export function overlaySize(w: number, h: number, minWidth: number, maxSide = DEFAULT_PICTURE_SIDE, asked?: OverlaySizeRequest): [number, number] {
  if (asked) {
    const [aw, ah] = 'side' in asked ? thumbSize(w, h, asked.side, true) : [asked.width, asked.height];
    return Math.max(aw, ah) > maxSide ? thumbSize(aw, ah, maxSide) : [aw, ah];
  }
  const long = Math.max(w, h);
  if (long > maxSide) {
    const s = maxSide / long;
    return [Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s))];
  }
  const f = Math.max(1, Math.min(Math.ceil(minWidth / w), Math.floor(maxSide / long)));
  return [w * f, h * f];
}

/**
 * The map (mw × mh, any size) blended over a picture at the picture's own size (drawn into `into` where
 * given). The map is upsampled straight to its levels (resizeBilinearLevels: the bytes of resizeBilinear then overlay).
 */
export function mapOverlay(pic: RgbImage, map: Float32Array, mw: number, mh: number, opt: { colormap: string; alpha: number }, into?: OverlayTarget): RgbImage {
  if (pic.width === mw && pic.height === mh && !into) return overlay(pic, map, { colormap: opt.colormap, alpha: opt.alpha });
  return overlayLevels(pic, resizeBilinearLevels(map, mh, mw, pic.height, pic.width), { colormap: opt.colormap, alpha: opt.alpha }, into);
}

/** Thumbnail size: the longest side `max`, keeping the aspect ratio (never enlarging, unless `enlarge`). */
export function thumbSize(width: number, height: number, max: number, enlarge = false): [number, number] {
  const s = enlarge ? max / Math.max(width, height) : Math.min(1, max / Math.max(width, height));
  return [Math.max(1, Math.round(width * s)), Math.max(1, Math.round(height * s))];
}

const OUTLINE: [number, number, number] = [0, 255, 0];

/** Draws a mask's outline (pixels inside with a neighbour outside; the mask at the image's size) in place. */
export function outline(img: RgbImage, mask: Uint8Array, color: [number, number, number] = OUTLINE): void {
  const { width: w, height: h } = img;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!mask[i]) continue;
      const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1 || !mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w];
      if (edge) img.data.set(color, i * 3);
    }
  }
}

/**
 * The image and the overlay as thumbnails (longest side `max`), an object (a mask given at the
 * thumbnail's size by `region(width, height)`) outlined in green on both. `map` is [mh, mw] (any size).
 */
export function thumbnails(img: RgbImage, map: Float32Array, mw: number, mh: number, max: number, opts: { colormap: string; alpha: number; region?: (width: number, height: number) => Uint8Array }): { image: RgbImage; overlay: RgbImage } {
  const [tw, th] = thumbSize(img.width, img.height, max);
  const small = resizeRgb(img, tw, th);
  const ov = mapOverlay(small, map, mw, mh, opts);
  if (opts.region) {
    const r = opts.region(tw, th);
    outline(small, r);
    outline(ov, r);
  }
  return { image: small, overlay: ov };
}

/**
 * The overlay of `map` (mw × mh) on `base`, at the picture's size enlarged by a whole factor to at least
 * `minWidth` wide (or at the size asked for), drawn into `frame`'s picture (a caption's: no copy) where
 * given, with `decorate` (boxes, a caption) applied; the result's long side is at most `maxSide`.
 */
export function boundedOverlay(base: RgbImage, map: Float32Array, mw: number, mh: number, opt: { colormap: string; alpha: number; maxSide: number; minWidth: number; size?: OverlaySizeRequest; decorate?: (img: RgbImage) => RgbImage; frame?: (w: number, h: number) => OverlayTarget }): RgbImage {
  // the picture is resized once to the overlay's size and the map upsampled straight to it (mapOverlay)
  let [ow, oh] = overlaySize(base.width, base.height, opt.minWidth, opt.maxSide, opt.size);
  for (let attempt = 0; ; attempt++) {
    // a frame (the caption's) is laid out first and the overlay drawn into it: decorate's bytes, one picture fewer
    const into = opt.frame?.(ow, oh);
    let img: RgbImage;
    if (into && Math.max(into.image.width, into.image.height) > opt.maxSide && attempt < 2) img = into.image;
    else {
      const pic = ow === base.width && oh === base.height ? base : resizeRgb(base, ow, oh);
      img = mapOverlay(pic, map, mw, mh, opt, into);
      if (opt.decorate) img = opt.decorate(img);
    }
    if (Math.max(img.width, img.height) <= opt.maxSide || attempt === 2) return img;
    // the caption and padding made it too long: shrink the overlay by what they add
    [ow, oh] = shrunkPanels(ow, oh, img, 1, 1, opt.maxSide);
  }
}

/**
 * The panel size that brings a picture of cols × rows panels, each W × H (`img`: drawn at that size), within
 * `maxSide`: the panels shrunk by what the captions and padding add around them.
 */
export function shrunkPanels(W: number, H: number, img: RgbImage, cols: number, rows: number, maxSide: number): [number, number] {
  const s = Math.min((maxSide - (img.width - cols * W)) / (cols * W), (maxSide - (img.height - rows * H)) / (rows * H));
  return [Math.max(1, Math.floor(W * s)), Math.max(1, Math.floor(H * s))];
}

export function classLabel(c: ClassScore): string {
  return c.label ? `${c.index} '${c.label}'` : `${c.index}`;
}

/** What a caption says: the method, what was explained and the predicted class. */
export type CaptionFacts = Pick<Explanation, 'method' | 'target' | 'predicted' | 'targetName' | 'targetValue'>;

/** The caption under an overlay: the method, what was explained, its probability, and the predicted class. */
export function captionText(e: CaptionFacts): string {
  const head = `${e.method}: ${e.targetName ?? `logit ${e.target.index}`}${e.target.label ? ` '${e.target.label}'` : ''}`;
  const p = Number.isFinite(e.target.probability) ? ` p=${e.target.probability.toFixed(3)}` : valueText(e.targetValue, ' = ');
  const pred = !Number.isFinite(e.predicted.probability) ? '' : e.predicted.index === e.target.index ? '(the predicted class)' : `predicted: ${classLabel(e.predicted)} p=${e.predicted.probability.toFixed(3)}`;
  return pred ? `${head}${p}\n${pred}` : `${head}${p}`;
}

/** A target's value as text after `prefix`; nothing for no target (NaN: a method that needs none). */
export function valueText(v: number | undefined, prefix: string): string {
  return Number.isNaN(v) ? '' : `${prefix}${(v ?? 0).toFixed(3)}`;
}

/** One line on an explained class: "class 3 'cat' (logit 1.234, p=0.512), the predicted class". */
export function describeClass(e: { target: ClassScore; predicted: ClassScore }): string {
  const t = `class ${classLabel(e.target)} (logit ${e.target.logit.toFixed(3)}, p=${e.target.probability.toFixed(3)})`;
  return e.predicted.index === e.target.index ? `${t}, the predicted class` : `${t}; predicted ${classLabel(e.predicted)} p=${e.predicted.probability.toFixed(3)}`;
}

/** One line on what was explained: describeClass for a class logit, else e.g. "logit 3 - logit 5 = 1.234; predicted 3 p=0.512". */
export function describeTarget(e: Explanation): string {
  if ((e.targetKind ?? 'logit') === 'logit' && (!e.targetName || e.targetName === `logit ${e.target.index}`) && e.target.index >= 0) return describeClass(e);
  const what = e.targetName ?? `logit ${e.target.index}`;
  const value = e.targetValue ?? e.target.logit;
  const cls = e.target.index >= 0 && Number.isFinite(e.target.probability) ? ` (class ${classLabel(e.target)}, p=${e.target.probability.toFixed(3)})` : '';
  const pred = Number.isFinite(e.predicted.probability) ? (e.predicted.index === e.target.index ? ', the predicted class' : `; predicted ${classLabel(e.predicted)} p=${e.predicted.probability.toFixed(3)}`) : '';
  return `${what}${valueText(value, ' = ')}${cls}${pred}`;
}

export interface OverlayOptions {
  colormap: string;
  alpha: number;
  caption: boolean;
  /** Longest side of the picture (default DEFAULT_PICTURE_SIDE). */
  maxSide?: number;
  /** The overlay's size (the caption's strip comes on top); default the picture's (enlarged when small). */
  size?: OverlaySizeRequest;
  /** Boxes drawn on the overlay (detections): x1, y1, x2, y2 in the map's pixels, with a label above. */
  boxes?: DrawnBox[];
}

export interface DrawnBox {
  box: readonly [number, number, number, number];
  label?: string;
  color?: Rgb;
}

/**
 * Draws boxes (given in a w × h frame, e.g. the model input) into `img` in place, scaled to its size:
 * a 2-pixel frame (more on large pictures) and the label on a filled strip above the box (inside it
 * when there is no room above). Returns `img`.
 */
export function drawBoxes(img: RgbImage, boxes: readonly DrawnBox[], w: number, h: number): RgbImage {
  const sx = img.width / w;
  const sy = img.height / h;
  const t = Math.max(2, Math.round(img.width / 256));
  const scale = Math.max(1, Math.floor(img.width / 320));
  const fill = (x0: number, y0: number, x1: number, y1: number, c: Rgb) => {
    for (let y = Math.max(0, y0); y < Math.min(img.height, y1); y++) for (let x = Math.max(0, x0); x < Math.min(img.width, x1); x++) {
      const o = (y * img.width + x) * 3;
      img.data[o] = c[0]; img.data[o + 1] = c[1]; img.data[o + 2] = c[2];
    }
  };
  for (const b of boxes) {
    const c = b.color ?? [255, 255, 255];
    const [x1, y1, x2, y2] = [Math.round(b.box[0] * sx), Math.round(b.box[1] * sy), Math.round(b.box[2] * sx), Math.round(b.box[3] * sy)];
    fill(x1, y1, x2, y1 + t, c);
    fill(x1, y2 - t, x2, y2, c);
    fill(x1, y1, x1 + t, y2, c);
    fill(x2 - t, y1, x2, y2, c);
    if (b.label) {
      const m = measureText(b.label, scale);
      const ty = y1 - m.height - 2 * scale >= 0 ? y1 - m.height - 2 * scale : y1 + t;
      fill(x1, ty, x1 + m.width + 2 * scale, ty + m.height + 2 * scale, c);
      drawText(img, x1 + scale, ty + scale, b.label, [0, 0, 0], scale);
    }
  }
  return img;
}

/** The captioned overlay of an explanation on its picture (a viridis rendering of the map when there is none). */
export function overlayPicture(e: CaptionFacts & Pick<Explanation, 'map' | 'width' | 'height'>, base: RgbImage | undefined, opt: OverlayOptions): RgbImage {
  const pic = base ?? heatmapImage(e.map, e.width, e.height, 'viridis');
  return boundedOverlay(pic, e.map, e.width, e.height, {
    colormap: opt.colormap, alpha: opt.alpha, maxSide: opt.maxSide ?? DEFAULT_PICTURE_SIDE, minWidth: MIN_OVERLAY_WIDTH, size: opt.size,
    // the caption: a frame the overlay is drawn into (with boxes: drawn on the overlay, then framed)
    frame: opt.caption && !opt.boxes?.length ? (w: number, h: number) => {
      const scale = Math.max(1, Math.floor(w / 320));
      const { image, at } = montageFrame([[{ width: w, height: h }]], { labels: [[captionText(e)]], pad: 2 * scale, textScale: scale });
      return { image, x: at[0]![0]![0], y: at[0]![0]![1] };
    } : undefined,
    decorate: opt.boxes?.length ? (x: RgbImage) => {
      drawBoxes(x, opt.boxes!, e.width, e.height);
      if (!opt.caption) return x;
      const scale = Math.max(1, Math.floor(x.width / 320));
      return montage([[x]], { labels: [[captionText(e)]], pad: 2 * scale, textScale: scale });
    } : undefined,
  });
}

/** A file's bytes; a picture encoded in the background (FileOptions.background, or WebP/JPEG) is a promise of them. */
export type FileBytes = Uint8Array | Promise<Uint8Array>;

/** A file of an explanation, named `<stem>.<method><suffix>`. */
export interface RenderedFile {
  suffix: string;
  bytes: FileBytes;
}

export interface FileOptions extends OverlayOptions {
  /** Also the heat map alone (.heatmap.png). */
  heatmap: boolean;
  /** Also the map (.npy [H, W]) and the raw map (.raw.npy [h, w]). */
  raw: boolean;
  /** Encode the pictures off this thread (image/encode.ts encodePicture): their bytes are promises. */
  background?: boolean;
  /** The pictures' format (default png). */
  format?: PictureFormat;
}

/**
 * A picture's file bytes in `format` (default PNG): PNG on this thread unless `background`; in the
 * background (the platform's encoder: Node's libvips in the thread pool) on request, and always for WebP
 * and JPEG. The PNGs of either way decode to the same pixels.
 */
export function pictureBytes(img: RgbImage, format: PictureFormat = 'png', background = false): FileBytes {
  if (!background && format === 'png') return encodePng(img);
  const bytes = encodePicture(img, format);
  bytes.catch(() => {}); // its writer awaits it (and reports a failure); none counts as unhandled meanwhile
  return bytes;
}

/** The files of one CAM explanation: the overlay picture, and on request the heat map and the maps as .npy. */
export function explanationFiles(e: Explanation, base: RgbImage | undefined, opt: FileOptions): RenderedFile[] {
  const format = opt.format ?? 'png';
  const ext = pictureExtension(format);
  const out: RenderedFile[] = [{ suffix: ext, bytes: pictureBytes(overlayPicture(e, base, opt), format, opt.background) }];
  if (opt.heatmap) out.push({ suffix: `.heatmap${ext}`, bytes: pictureBytes(heatmapImage(e.map, e.width, e.height, opt.colormap), format, opt.background) });
  if (opt.raw) {
    out.push({ suffix: '.npy', bytes: writeNpy(e.map, [e.height, e.width]) });
    out.push({ suffix: '.raw.npy', bytes: writeNpy(e.raw, [e.rawHeight, e.rawWidth]) });
  }
  return out;
}

export { classJson, explanationJson, gradientJson, layoutJson, type SidecarContext } from './sidecar.js';

// ---- volumes (3-D models) ---------------------------------------------------------------------------

export type SliceAxis = 'axial' | 'coronal' | 'sagittal';

/**
 * One slice of a [D, H, W] volume as [rows, cols] values: axial k (H × W, as stored), coronal j (D × W) and
 * sagittal i (D × H) with the slice axis D drawn bottom-up (slice 0 at the bottom, as viewers show the
 * feet below the head for axial stacks).
 */
export function volumeSlice(v: Float32Array, dims: readonly [number, number, number], axis: SliceAxis, index: number): { data: Float32Array; rows: number; cols: number } {
  const [D, H, W] = dims;
  if (axis === 'axial') return { data: v.slice(index * H * W, (index + 1) * H * W), rows: H, cols: W };
  const cols = axis === 'coronal' ? W : H;
  const out = new Float32Array(D * cols);
  for (let k = 0; k < D; k++) {
    for (let c = 0; c < cols; c++) out[(D - 1 - k) * cols + c] = axis === 'coronal' ? v[(k * H + index) * W + c]! : v[(k * H + c) * W + index]!;
  }
  return { data: out, rows: D, cols };
}

/** The voxel with the largest value, [k, j, i]. */
export function volumePeak(v: Float32Array, dims: readonly [number, number, number]): [number, number, number] {
  let best = 0;
  for (let p = 1; p < v.length; p++) if (v[p]! > v[best]!) best = p;
  const [, H, W] = dims;
  return [Math.floor(best / (H * W)), Math.floor(best / W) % H, best % W];
}

export interface MontageLook {
  colormap: string;
  alpha: number;
  /** Slices per orientation (default 6), evenly spaced, after the one through the map's peak. */
  slices?: number;
  /** Tile height in pixels (default 128). */
  tile?: number;
  /** A caption above the montage. */
  caption?: string;
  /** A region [D, H, W] (non-zero inside, e.g. a lesion mask) outlined in white on every tile. */
  outline?: ArrayLike<number>;
}

/**
 * Slice montage of a 3-D map over its scan: one row per orientation (axial, coronal, sagittal), the first
 * tile through the map's peak, then evenly spaced slices; tiles drawn at the voxels' physical aspect.
 * `gray` is the scan in [0, 1] and `map` the map in [0, 1], both [D, H, W]; `spacing` is mm along W, H, D.
 */
export function volumeMontage(gray: Float32Array, map: Float32Array, dims: readonly [number, number, number], spacing: readonly [number, number, number], look: MontageLook): RgbImage {
  const [D, H, W] = dims;
  const [sx, sy, sz] = spacing;
  const n = look.slices ?? 6;
  const tileH = look.tile ?? 128;
  const peak = volumePeak(map, dims);
  const rows: RgbImage[][] = [];
  const labels: string[][] = [];
  const axes: [SliceAxis, number, number, number][] = [['axial', D, sy * H, sx * W], ['coronal', H, sz * D, sx * W], ['sagittal', W, sz * D, sy * H]];
  axes.forEach(([axis, count, physH, physW], a) => {
    const picks = [peak[a]!, ...Array.from({ length: Math.min(n, count) }, (_, t) => Math.min(count - 1, Math.floor(((t + 0.5) * count) / Math.min(n, count))))];
    const th = tileH;
    const tw = Math.max(1, Math.round((tileH * physW) / physH));
    rows.push(picks.map((k) => {
      const g = volumeSlice(gray, dims, axis, k);
      const m = volumeSlice(map, dims, axis, k);
      const gu = resizeBilinear(g.data, g.rows, g.cols, th, tw);
      const mu = resizeBilinear(m.data, m.rows, m.cols, th, tw);
      const pic = new Uint8Array(th * tw * 3);
      for (let p = 0; p < th * tw; p++) pic[p * 3] = pic[p * 3 + 1] = pic[p * 3 + 2] = Math.round(Math.min(Math.max(gu[p]!, 0), 1) * 255);
      const img = overlay({ width: tw, height: th, data: pic }, mu, { colormap: look.colormap, alpha: look.alpha });
      if (look.outline) {
        const o = volumeSlice(Float32Array.from(look.outline), dims, axis, k);
        const at = (y: number, x: number) => o.data[Math.min(o.rows - 1, Math.floor((y * o.rows) / th)) * o.cols + Math.min(o.cols - 1, Math.floor((x * o.cols) / tw))]! > 0;
        for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) {
          if (at(y, x) && (y === 0 || x === 0 || y === th - 1 || x === tw - 1 || !at(y - 1, x) || !at(y + 1, x) || !at(y, x - 1) || !at(y, x + 1))) img.data.fill(255, (y * tw + x) * 3, (y * tw + x) * 3 + 3);
        }
      }
      return img;
    }));
    const letter = axis === 'axial' ? 'z' : axis === 'coronal' ? 'y' : 'x';
    labels.push(picks.map((k, t) => `${axis} ${letter}=${k}${t === 0 ? ' (peak)' : ''}`));
  });
  const grid = montage(rows, { labels, pad: 4 });
  return look.caption ? montage([[grid]], { labels: [[look.caption]], pad: 4, textScale: 2 }) : grid;
}

/** The caption of a volume explanation (captionText with the volume's size). */
export function volumeCaption(e: Explanation): string {
  return `${captionText(e).replace('\n', '  ')}  [${e.depth}x${e.height}x${e.width}]`;
}

/** A map [D', H', W'] at the scan's grid [D, H, W] (trilinear, half-pixel centres) where they differ. */
export function mapAtScan(e: Explanation, scanDims: readonly [number, number, number]): Float32Array {
  const from: [number, number, number] = [e.depth ?? 1, e.height, e.width];
  return from.every((d, k) => d === scanDims[k]) ? e.map : resizeTrilinear(e.map, from, scanDims as [number, number, number]);
}

/**
 * The files of a 3-D explanation: the slice montage (.png), the map as NIfTI aligned with the scan
 * (.nii.gz: the scan's own header and affine, the map resized to the scan's grid), and on request the
 * map (.npy [D, H, W] at the model's grid) and the raw map (.raw.npy [d, h, w]).
 */
export function volumeFiles(e: Explanation, scan: { volume?: Volume; gray: Float32Array; dims: readonly [number, number, number]; spacing: readonly [number, number, number] }, opt: FileOptions & { slices?: number }): RenderedFile[] {
  if (e.depth === undefined) throw new Error('internal: volumeFiles takes 3-D explanations');
  const map = mapAtScan(e, scan.dims);
  const out: RenderedFile[] = [{ suffix: '.png', bytes: encodePng(volumeMontage(scan.gray, map, scan.dims, scan.spacing, { colormap: opt.colormap, alpha: opt.alpha, slices: opt.slices, caption: opt.caption ? volumeCaption(e) : undefined })) }];
  if (scan.volume && scan.volume.source !== 'image') out.push({ suffix: '.nii.gz', bytes: writeNifti(map, scan.volume, { gzip: true, description: `gradcam ${e.method} class ${e.target.index}` }) });
  if (opt.raw) {
    out.push({ suffix: '.npy', bytes: writeNpy(e.map, [e.depth, e.height, e.width]) });
    out.push({ suffix: '.raw.npy', bytes: writeNpy(e.raw, [e.rawDepth ?? 1, e.rawHeight, e.rawWidth]) });
  }
  return out;
}
