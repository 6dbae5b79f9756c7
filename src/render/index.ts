/**
 * The one renderer of explanations (browser-safe): the captioned overlay, the gradient picture, the
 * methods × layers grid, the files of one explanation and its JSON sidecar. The CLI (explain, whatever
 * the method or option), the audit and the web app use these, so that the same inputs give the same
 * pictures and the same JSON layout everywhere.
 */
import type { ClassScore, Explanation } from '../explainer.js';
import type { GradientExplanation } from '../cam/guided.js';
import type { LayerLayout } from '../layout/describe.js';
import type { RgbImage } from '../image/types.js';
import { encodePng } from '../image/png.js';
import { writeNpy } from '../image/npy.js';
import { heatmapImage, overlay } from '../image/overlay.js';
import { montage } from '../image/montage.js';
import { enlargeNearest, resizeBilinear, resizeRgb } from '../image/resize.js';
import { deprocessGradient, gradientMagnitude } from '../image/gradient.js';
import { writeNifti } from '../image/nifti.js';
import { resizeTrilinear } from '../image/resize3d.js';
import type { Volume } from '../image/volume.js';

/** Longest side of an overlay picture unless asked otherwise (--max-overlay). */
export const DEFAULT_PICTURE_SIDE = 2048;
/** Small pictures are enlarged by a whole factor to at least this width, so that map and caption can be read. */
export const MIN_OVERLAY_WIDTH = 256;

/** The overlay size for a w × h picture: enlarged by a whole factor to ≥ minWidth wide, long side ≤ maxSide. */
export function overlaySize(w: number, h: number, minWidth: number, maxSide = DEFAULT_PICTURE_SIDE): [number, number] {
  const long = Math.max(w, h);
  if (long > maxSide) {
    const s = maxSide / long;
    return [Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s))];
  }
  const f = Math.max(1, Math.min(Math.ceil(minWidth / w), Math.floor(maxSide / long)));
  return [w * f, h * f];
}

/**
 * The overlay of `map` (mw × mh) on `base`, at the picture's size enlarged by a whole factor to at least
 * `minWidth` wide, with `decorate` (a caption) applied; the result's long side is at most `maxSide`.
 */
export function boundedOverlay(base: RgbImage, map: Float32Array, mw: number, mh: number, opt: { colormap: string; alpha: number; maxSide: number; minWidth: number; decorate?: (img: RgbImage) => RgbImage }): RgbImage {
  let [ow, oh] = overlaySize(base.width, base.height, opt.minWidth, opt.maxSide);
  for (let attempt = 0; ; attempt++) {
    const pic = ow === base.width && oh === base.height ? base : resizeRgb(base, ow, oh);
    const m = ow === mw && oh === mh ? map : resizeBilinear(map, mh, mw, oh, ow);
    let img = overlay(pic, m, { colormap: opt.colormap, alpha: opt.alpha });
    if (opt.decorate) img = opt.decorate(img);
    if (Math.max(img.width, img.height) <= opt.maxSide || attempt === 2) return img;
    // the caption and padding made it too long: shrink the overlay by what they add
    const s = Math.min((opt.maxSide - (img.width - ow)) / ow, (opt.maxSide - (img.height - oh)) / oh);
    [ow, oh] = [Math.max(1, Math.floor(ow * s)), Math.max(1, Math.floor(oh * s))];
  }
}

export function classLabel(c: ClassScore): string {
  return c.label ? `${c.index} '${c.label}'` : `${c.index}`;
}

/** The caption under an overlay: the method, what was explained, its probability, and the predicted class. */
export function captionText(e: Explanation): string {
  const head = `${e.method}: ${e.targetName ?? `logit ${e.target.index}`}${e.target.label ? ` '${e.target.label}'` : ''}`;
  const p = Number.isFinite(e.target.probability) ? ` p=${e.target.probability.toFixed(3)}` : ` = ${(e.targetValue ?? 0).toFixed(3)}`;
  const pred = !Number.isFinite(e.predicted.probability) ? '' : e.predicted.index === e.target.index ? '(the predicted class)' : `predicted: ${classLabel(e.predicted)} p=${e.predicted.probability.toFixed(3)}`;
  return pred ? `${head}${p}\n${pred}` : `${head}${p}`;
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
  return `${what} = ${value.toFixed(3)}${cls}${pred}`;
}

export interface OverlayOptions {
  colormap: string;
  alpha: number;
  caption: boolean;
  /** Longest side of the picture (default DEFAULT_PICTURE_SIDE). */
  maxSide?: number;
}

/** The captioned overlay of an explanation on its picture (a viridis rendering of the map when there is none). */
export function overlayPicture(e: Explanation, base: RgbImage | undefined, opt: OverlayOptions): RgbImage {
  const pic = base ?? heatmapImage(e.map, e.width, e.height, 'viridis');
  return boundedOverlay(pic, e.map, e.width, e.height, {
    colormap: opt.colormap, alpha: opt.alpha, maxSide: opt.maxSide ?? DEFAULT_PICTURE_SIDE, minWidth: MIN_OVERLAY_WIDTH,
    decorate: opt.caption ? (x: RgbImage) => {
      const scale = Math.max(1, Math.floor(x.width / 320));
      return montage([[x]], { labels: [[captionText(e)]], pad: 2 * scale, textScale: scale });
    } : undefined,
  });
}

/** Gradient methods: [Grad-CAM overlay | gradient picture], captioned. */
export function gradientPicture(e: GradientExplanation, base: RgbImage | undefined, opt: { colormap: string; alpha: number; abs: boolean; maxSide?: number }): RgbImage {
  const maxSide = opt.maxSide ?? DEFAULT_PICTURE_SIDE;
  // small models get their pictures enlarged by a whole factor that keeps the long side within maxSide
  const f = Math.max(1, Math.min(Math.ceil(MIN_OVERLAY_WIDTH / e.width), Math.floor(maxSide / Math.max(e.width, e.height))));
  const [W, H] = [e.width * f, e.height * f];
  const pic = base ? resizeRgb(base, W, H) : heatmapImage(e.cam, e.width, e.height, 'viridis');
  const cam = f === 1 ? e.cam : resizeBilinear(e.cam, e.height, e.width, H, W);
  const camOverlay = overlay(base ? pic : enlargeNearest(pic, f), cam, { colormap: opt.colormap, alpha: opt.alpha });
  const grad = enlargeNearest(opt.abs ? gradientMagnitude(e.gradient, e.width, e.height) : deprocessGradient(e.gradient, e.width, e.height), f);
  const scale = Math.max(1, Math.floor(W / 160));
  const head = `class ${classLabel(e.target)} p=${e.target.probability.toFixed(3)}`;
  const pred = e.target.index === e.predicted.index ? '(the predicted class)' : `predicted ${classLabel(e.predicted)}`;
  return montage([[camOverlay, grad]], { labels: [[`gradcam: ${head}\n${pred}`, `${e.method}${opt.abs ? ' |g|' : ''}`]], pad: 2 * scale, textScale: scale });
}

/** '/layer3/layer3.0/relu2/Relu_output_0' → 'layer3.0/relu2/Relu' (enough to tell layers apart). */
export function shortLayer(name: string): string {
  const s = name.replace(/_output_\d+$/, '').replace(/^\//, '');
  const parts = s.split('/');
  return parts.length > 3 ? parts.slice(-3).join('/') : s;
}

/** Methods (rows) × layer groups (columns): overlays with a caption naming method, layer, target and score. */
export function gridPicture(tiles: Explanation[], methods: string[], groups: string[][], base: RgbImage | undefined, opt: { colormap: string; alpha: number }): RgbImage {
  const e0 = tiles[0]!;
  const tw = Math.max(192, Math.min(320, e0.width));
  const th = Math.max(1, Math.round((tw * e0.height) / e0.width));
  const pic = base ? resizeRgb(base, tw, th) : undefined;
  const rows: RgbImage[][] = [];
  const labels: string[][] = [];
  methods.forEach((m, mi) => {
    rows.push([]);
    labels.push([]);
    groups.forEach((g, gi) => {
      const e = tiles[mi * groups.length + gi]!;
      const map = resizeBilinear(e.map, e.height, e.width, th, tw);
      rows[mi]!.push(overlay(pic ?? heatmapImage(map, tw, th, 'viridis'), map, { colormap: opt.colormap, alpha: opt.alpha }));
      const where = g.length > 1 ? `mean of ${g.length} layers` : shortLayer(g[0]!);
      const score = Number.isFinite(e.target.probability) ? `p=${e.target.probability.toFixed(3)}` : `${(e.targetValue ?? 0).toFixed(3)}`;
      labels[mi]!.push(`${m} @ ${where}\n${e.targetName ?? `logit ${e.target.index}`}${e.target.label ? ` '${e.target.label}'` : ''} ${score}${e.warnings.some((w) => w.startsWith('the map is all zero')) ? '\n(all zero)' : ''}`);
    });
  });
  return montage(rows, { labels, pad: 4 });
}

/** A file of an explanation, named `<stem>.<method><suffix>`. */
export interface RenderedFile {
  suffix: string;
  bytes: Uint8Array;
}

export interface FileOptions extends OverlayOptions {
  /** Also the heat map alone (.heatmap.png). */
  heatmap: boolean;
  /** Also the map (.npy [H, W]) and the raw map (.raw.npy [h, w]). */
  raw: boolean;
}

/** The files of one CAM explanation: the overlay PNG, and on request the heat map and the maps as .npy. */
export function explanationFiles(e: Explanation, base: RgbImage | undefined, opt: FileOptions): RenderedFile[] {
  const out: RenderedFile[] = [{ suffix: '.png', bytes: encodePng(overlayPicture(e, base, opt)) }];
  if (opt.heatmap) out.push({ suffix: '.heatmap.png', bytes: encodePng(heatmapImage(e.map, e.width, e.height, opt.colormap)) });
  if (opt.raw) {
    out.push({ suffix: '.npy', bytes: writeNpy(e.map, [e.height, e.width]) });
    out.push({ suffix: '.raw.npy', bytes: writeNpy(e.raw, [e.rawHeight, e.rawWidth]) });
  }
  return out;
}

export function classJson(c: ClassScore): { index: number; label: string | null; logit: number; probability: number | null } {
  return { index: c.index, label: c.label ?? null, logit: c.logit, probability: Number.isFinite(c.probability) ? c.probability : null };
}

/** The layers' layouts for the JSON sidecars (one object for one layer, else a list). */
export function layoutJson(layouts: LayerLayout[] | undefined): unknown {
  if (!layouts) return undefined;
  const one = (l: LayerLayout) => ({ kind: l.kind, grid: l.grid, channels: l.channels, prefix_tokens: l.prefix, suffix_tokens: l.suffix, ...(l.override ? { given: true } : {}) });
  return layouts.length === 1 ? one(layouts[0]!) : layouts.map(one);
}

const round = (v: number) => Math.round(v * 100) / 100;
function range(a: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return [lo, hi];
}

/** What every sidecar says about the run, beside the explanation. */
export interface SidecarContext {
  input: string;
  model: string;
  timings: { compileMs: number; sessionMs: number; runMs: number; camMs: number };
  imageSize?: [number, number];
  options?: Record<string, unknown>;
  files: string[];
}

/** The JSON sidecar of one CAM explanation: the same fields whatever the method or option. */
export function explanationJson(e: Explanation, ctx: SidecarContext): Record<string, unknown> {
  const [lo, hi] = range(e.raw);
  return {
    input: ctx.input, model: ctx.model, method: e.method,
    layer: e.layers.length === 1 ? e.layers[0] : e.layers, layer_layout: layoutJson(e.layouts),
    target: { kind: e.targetKind ?? 'logit', name: e.targetName ?? `logit ${e.target.index}`, value: e.targetValue ?? e.target.logit },
    class: e.target.index >= 0 ? classJson(e.target) : null, predicted: classJson(e.predicted),
    explained_is_predicted: e.target.index === e.predicted.index,
    ...(e.rank !== undefined ? { rank: e.rank } : {}),
    ...(ctx.options ?? {}),
    input_size: e.depth !== undefined ? [e.depth, e.height, e.width] : [e.height, e.width], ...(ctx.imageSize ? { image_size: ctx.imageSize } : {}),
    raw_map: { shape: e.rawDepth !== undefined ? [e.rawDepth, e.rawHeight, e.rawWidth] : [e.rawHeight, e.rawWidth], min: lo, max: hi },
    timings_ms: { compile: round(ctx.timings.compileMs), session: round(ctx.timings.sessionMs), run: round(ctx.timings.runMs), cam: round(ctx.timings.camMs) },
    warnings: e.warnings, files: ctx.files,
  };
}

/** The JSON sidecar of a gradient-method explanation. */
export function gradientJson(e: GradientExplanation, ctx: SidecarContext & { rectifierOps: string }): Record<string, unknown> {
  return {
    input: ctx.input, model: ctx.model, method: e.method, layer: e.layer, rectifier_ops: ctx.rectifierOps,
    target: { kind: 'logit', name: `logit ${e.target.index}`, value: e.target.logit },
    class: classJson(e.target), predicted: classJson(e.predicted), explained_is_predicted: e.target.index === e.predicted.index,
    input_size: [e.height, e.width], ...(ctx.imageSize ? { image_size: ctx.imageSize } : {}),
    timings_ms: { run: round(ctx.timings.runMs) }, files: ctx.files,
  };
}

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
