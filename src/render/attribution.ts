/**
 * The renderer's pictures, files and sidecar of pixel-level attributions (Explanation.attribution:
 * Occlusion, RISE, and any method that sets it): [the map's overlay | the attribution, signed through Captum's
 * diverging red-white-green map (`abs`: its magnitude as a heat map) | the top-k % of pixels on the picture],
 * captioned; the same files (.png, .heatmap.png, .npy) and the same JSON sidecar as every explanation, with
 * the attribution's range and the threshold added.
 */
import type { Explanation } from '../explainer.js';
import type { RgbImage } from '../image/types.js';
import { heatmapImage, overlay } from '../image/overlay.js';
import { montage } from '../image/montage.js';
import { enlargeNearest, resizeBilinear, resizeRgb } from '../image/resize.js';
import { writeNpy } from '../image/npy.js';
import { divergingImage, keepMasked, normalizeAttribution, percentileAbs, topPercentMask } from '../image/attribution.js';
import { DEFAULT_PICTURE_SIDE, MIN_OVERLAY_WIDTH, captionText, explanationJson, outline, pngBytes, type FileOptions, type RenderedFile, type SidecarContext } from './index.js';

export interface AttributionLook {
  colormap: string;
  alpha: number;
  /** The magnitude |a| as a heat map instead of the signed picture (and the top pixels by |a|). */
  abs: boolean;
  /** The thresholded picture keeps the top `topPercent` % of pixels (default 10). */
  topPercent?: number;
  maxSide?: number;
  caption?: boolean;
}

export const DEFAULT_TOP_PERCENT = 10;

type AttributionFacts = Pick<Explanation, 'method' | 'target' | 'predicted' | 'targetName' | 'targetValue' | 'map' | 'width' | 'height' | 'attribution'>;

/** [overlay | signed (or |a|) attribution | top-k %], enlarged by a whole factor for small inputs, captioned. */
export function attributionPicture(e: AttributionFacts, base: RgbImage | undefined, opt: AttributionLook): RgbImage {
  const a = e.attribution;
  if (!a) throw new Error(`internal: the ${e.method} explanation has no per-pixel attribution`);
  const maxSide = opt.maxSide ?? DEFAULT_PICTURE_SIDE;
  const f = Math.max(1, Math.min(Math.ceil(MIN_OVERLAY_WIDTH / e.width), Math.floor(maxSide / Math.max(e.width, e.height))));
  const [W, H] = [e.width * f, e.height * f];
  const pic = base ? resizeRgb(base, W, H) : enlargeNearest(heatmapImage(e.map, e.width, e.height, 'viridis'), f);
  const map = f === 1 ? e.map : resizeBilinear(e.map, e.height, e.width, H, W);
  const left = overlay(pic, map, { colormap: opt.colormap, alpha: opt.alpha });
  const middle = enlargeNearest(opt.abs ? heatmapImage(normalizeAttribution(a, true), e.width, e.height, opt.colormap) : divergingImage(a, e.width, e.height), f);
  const percent = opt.topPercent ?? DEFAULT_TOP_PERCENT;
  const small = topPercentMask(a, percent, opt.abs);
  const mask = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) mask[y * W + x] = small[Math.floor(y / f) * e.width + Math.floor(x / f)]!;
  const right = keepMasked(pic, mask);
  outline(right, mask);
  const scale = Math.max(1, Math.floor(W / 160));
  const head = opt.caption === false ? `${e.method}` : captionText(e);
  const labels = [[head, opt.abs ? `|attribution| (98th pct = 1)` : 'attribution: red < 0 < green', `top ${percent}% of pixels${opt.abs ? ' by |a|' : ''}`]];
  return montage([[left, middle, right]], { labels, pad: 2 * scale, textScale: scale });
}

/** The files of an attribution explanation: the picture, on request the heat map, and the map and the attribution as .npy [H, W]. */
export function attributionFiles(e: Explanation, base: RgbImage | undefined, opt: FileOptions & AttributionLook): RenderedFile[] {
  const out: RenderedFile[] = [{ suffix: '.png', bytes: pngBytes(attributionPicture(e, base, opt), opt.background) }];
  if (opt.heatmap) out.push({ suffix: '.heatmap.png', bytes: pngBytes(heatmapImage(e.map, e.width, e.height, opt.colormap), opt.background) });
  if (opt.raw) {
    out.push({ suffix: '.npy', bytes: writeNpy(e.map, [e.height, e.width]) });
    out.push({ suffix: '.attribution.npy', bytes: writeNpy(e.attribution!, [e.height, e.width]) });
  }
  return out;
}

/** The sidecar: explanationJson's fields, plus the attribution's range, sum and picture scale, and the threshold. */
export function attributionJson(e: Explanation, ctx: SidecarContext & { topPercent?: number; abs?: boolean }): Record<string, unknown> {
  const a = e.attribution!;
  let lo = Infinity;
  let hi = -Infinity;
  let sum = 0;
  for (const v of a) { if (v < lo) lo = v; if (v > hi) hi = v; sum += v; }
  const { raw_map: _, ...rest } = explanationJson(e, ctx);
  return {
    ...rest,
    attribution: { shape: [e.height, e.width], min: lo, max: hi, sum, scale_98th_percentile_abs: percentileAbs(a, 98), picture: ctx.abs ? 'abs' : 'signed' },
    top_percent: ctx.topPercent ?? DEFAULT_TOP_PERCENT,
  };
}
