/**
 * The renderer's picture and sidecar facts of pixel attributions (methods of kinds path, noise and
 * perturbation: Occlusion, RISE, Integrated Gradients...): [the |attribution| map's overlay | the
 * attribution per pixel, signed through Captum's diverging red-white-green map (`abs`: its magnitude as a
 * heat map) | the top-k % of pixels on the picture], captioned. The per-pixel value is the sum over the
 * channels (Captum's visualize_image_attr reduction); the scale is its 98th percentile of |a|. An
 * attribution without negative values and above 0 everywhere (RISE: every pixel is kept by some mask) is
 * shown in the first panel min-max scaled, as RISE's reference code displays it (|a| / max would paint the
 * whole picture with the offset that every pixel shares).
 */
import type { PixelExplanation } from '../types.js';
import type { RgbImage } from '../image/types.js';
import { heatmapImage } from '../image/overlay.js';
import { montage } from '../image/montage.js';
import { resizeRgb } from '../image/resize.js';
import { divergingImage, keepMasked, normalizeAttribution, percentileAbs, topPercentMask } from '../image/attribution.js';
import { DEFAULT_PICTURE_SIDE, MIN_OVERLAY_WIDTH, classLabel, mapOverlay, outline, overlaySize, type OverlaySizeRequest } from './index.js';
import { boundedPanels, panelPicture } from './panels.js';

export interface AttributionLook {
  colormap: string;
  alpha: number;
  /** The magnitude |a| as a heat map instead of the signed picture (and the top pixels by |a|). */
  abs: boolean;
  /** The thresholded panel keeps the top `topPercent` % of pixels (default 10). */
  topPercent?: number;
  /** Longest side of the whole picture (default DEFAULT_PICTURE_SIDE). */
  maxSide?: number;
  /** Each panel's size (--overlay-size); default the input's, enlarged by a whole factor when small. */
  size?: OverlaySizeRequest;
}

export const DEFAULT_TOP_PERCENT = 10;

type Facts = Pick<PixelExplanation, 'method' | 'target' | 'predicted' | 'height' | 'width' | 'gradient' | 'channels' | 'cam'>;

/** The attribution per pixel [H, W]: the sum over the channels of `gradient` [H, W, C]. */
export function pixelAttribution(e: Pick<PixelExplanation, 'gradient' | 'channels' | 'height' | 'width'>): Float32Array {
  const P = e.height * e.width;
  const C = e.channels;
  const out = new Float32Array(P);
  for (let p = 0; p < P; p++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += e.gradient[p * C + c]!;
    out[p] = s;
  }
  return out;
}

/** (a − min) / (max − min) where min > 0 (a positive attribution with an offset); else undefined. */
function offsetFree(a: Float32Array): Float32Array | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!(lo > 0) || !(hi > lo)) return undefined;
  return Float32Array.from(a, (v) => (v - lo) / (hi - lo));
}

/**
 * [overlay | signed (or |a|) attribution | top-k %], captioned; each panel at the input's size enlarged by a
 * whole factor (or at `size`: overlaySize, as CAM overlays), the picture's long side at most `maxSide`.
 */
export function attributionPicture(e: Facts, base: RgbImage | undefined, opt: AttributionLook): RgbImage {
  const a = pixelAttribution(e);
  const maxSide = opt.maxSide ?? DEFAULT_PICTURE_SIDE;
  const { width: w, height: h } = e;
  const heat = base ? undefined : heatmapImage(e.cam, w, h, 'viridis');
  const shown = offsetFree(a) ?? e.cam;
  const signed = opt.abs ? heatmapImage(normalizeAttribution(a, true), w, h, opt.colormap) : divergingImage(a, w, h);
  const percent = opt.topPercent ?? DEFAULT_TOP_PERCENT;
  const small = topPercentMask(a, percent, opt.abs);
  const head = `${e.method}: class ${classLabel(e.target)} p=${e.target.probability.toFixed(3)}`;
  const pred = e.target.index === e.predicted.index ? '(the predicted class)' : `predicted ${classLabel(e.predicted)}`;
  const labels = [[`${head}\n${pred}`, opt.abs ? '|attribution|' : 'attribution: red < 0 < green', `top ${percent}% of pixels${opt.abs ? ' by |a|' : ''}`]];
  return boundedPanels(overlaySize(w, h, MIN_OVERLAY_WIDTH, maxSide, opt.size), 3, 1, maxSide, (W, H) => {
    const pic = base ? resizeRgb(base, W, H) : panelPicture(heat!, W, H);
    const left = mapOverlay(pic, shown, w, h, opt);
    const mask = panelMask(small, w, h, W, H);
    const right = keepMasked(pic, mask);
    outline(right, mask);
    const scale = Math.max(1, Math.floor(W / 160));
    return montage([[left, panelPicture(signed, W, H), right]], { labels, pad: 2 * scale, textScale: scale });
  }, opt.size ? undefined : [w, h]);
}

/**
 * The top-k % mask (w × h, 0/1) at the panel's W × H: nearest where that is a whole multiple (the input's
 * pixels), else the mask as a picture resized as the panels are (resizeRgb: antialiased when shrinking) and
 * kept where at least half covered.
 */
function panelMask(small: Uint8Array, w: number, h: number, W: number, H: number): Uint8Array {
  const mask = new Uint8Array(W * H);
  const f = W / w;
  if (Number.isInteger(f) && H === h * f) {
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) mask[y * W + x] = small[Math.floor(y / f) * w + Math.floor(x / f)]!;
    return mask;
  }
  const gray = panelPicture({ width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, (_, i) => (small[Math.floor(i / 3)] ? 255 : 0)) }, W, H);
  for (let p = 0; p < W * H; p++) mask[p] = gray.data[p * 3]! >= 128 ? 1 : 0;
  return mask;
}

/** What the sidecar says of the attribution: its range, sum and picture scale, and the picture's threshold. */
export function attributionFacts(e: Facts, look: Pick<AttributionLook, 'abs' | 'topPercent'>): Record<string, unknown> {
  const a = pixelAttribution(e);
  let lo = Infinity;
  let hi = -Infinity;
  let sum = 0;
  for (const v of a) { if (v < lo) lo = v; if (v > hi) hi = v; sum += v; }
  return {
    attribution: { per_pixel: 'sum over channels', shape: [e.height, e.width], min: lo, max: hi, sum, scale_98th_percentile_abs: percentileAbs(a, 98), picture: look.abs ? 'abs' : 'signed' },
    top_percent: look.topPercent ?? DEFAULT_TOP_PERCENT,
  };
}
