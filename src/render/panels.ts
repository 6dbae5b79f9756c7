/**
 * Pictures of several captioned panels, browser-safe: gradient methods' [Grad-CAM overlay | gradient]
 * and the methods × layers grid, each panel at the input's size enlarged by a whole factor or at the size
 * asked for (--overlay-size: overlaySize, as CAM overlays), the whole picture at most --max-overlay
 * (boundedPanels; attribution pictures, render/attribution.ts, use it too).
 */
import { shortLayerName } from '../util/text.js';
import type { Explanation, PixelExplanation } from '../types.js';
import type { RgbImage } from '../image/types.js';
import { heatmapImage, overlay } from '../image/overlay.js';
import { montage } from '../image/montage.js';
import { enlargeNearest, resizeBilinear, resizeRgb } from '../image/resize.js';
import { deprocessGradient, gradientMagnitude } from '../image/gradient.js';
import { DEFAULT_PICTURE_SIDE, MIN_OVERLAY_WIDTH, classLabel, mapOverlay, overlaySize, shrunkPanels, valueText, type OverlaySizeRequest } from './index.js';

/**
 * A picture of cols × rows captioned panels (gradient, attribution and grid pictures) with its long side at
 * most `maxSide` (--max-overlay bounds the whole picture): `draw` at panels of `size`, and where the captions
 * and padding make it too long, again at panels shrunk by what they add (shrunkPanels, as boundedOverlay
 * does). With `whole` (the input's w × h; a size not asked for), shrunk panels that still hold a whole
 * multiple of it are that multiple, so that per-pixel panels stay nearest-enlarged.
 */
export function boundedPanels(size: [number, number], cols: number, rows: number, maxSide: number, draw: (W: number, H: number) => RgbImage, whole?: [number, number]): RgbImage {
  let [W, H] = size;
  for (let attempt = 0; ; attempt++) {
    const img = draw(W, H);
    if (Math.max(img.width, img.height) <= maxSide || attempt === 2) return img;
    [W, H] = shrunkPanels(W, H, img, cols, rows, maxSide);
    if (whole && W >= whole[0] && H >= whole[1]) {
      const f = Math.min(Math.floor(W / whole[0]), Math.floor(H / whole[1]));
      [W, H] = [whole[0] * f, whole[1] * f];
    }
  }
}

/**
 * A per-pixel picture (a gradient, an attribution, a viridis map) as a W × H panel: enlarged by nearest
 * neighbour where W × H is a whole multiple of its size (the pixels stay visible), else resized with
 * resizeRgb (Pillow bilinear, antialiased when shrinking).
 */
export function panelPicture(img: RgbImage, W: number, H: number): RgbImage {
  const f = W / img.width;
  return Number.isInteger(f) && H === img.height * f ? enlargeNearest(img, f) : resizeRgb(img, W, H);
}

/**
 * Gradient methods: [Grad-CAM overlay | gradient picture], captioned; each panel at the input's size
 * enlarged by a whole factor (or at `size`: overlaySize, as CAM overlays), the picture's long side at most
 * `maxSide` (boundedPanels).
 */
export function gradientPicture(e: Pick<PixelExplanation, 'target' | 'predicted' | 'height' | 'width' | 'gradient' | 'cam'> & { method: string }, base: RgbImage | undefined, opt: { colormap: string; alpha: number; abs: boolean; maxSide?: number; size?: OverlaySizeRequest }): RgbImage {
  const maxSide = opt.maxSide ?? DEFAULT_PICTURE_SIDE;
  const { width: w, height: h } = e;
  const heat = base ? undefined : heatmapImage(e.cam, w, h, 'viridis');
  const grad = opt.abs ? gradientMagnitude(e.gradient, w, h) : deprocessGradient(e.gradient, w, h);
  const head = `class ${classLabel(e.target)} p=${e.target.probability.toFixed(3)}`;
  const pred = e.target.index === e.predicted.index ? '(the predicted class)' : `predicted ${classLabel(e.predicted)}`;
  const labels = [[`gradcam: ${head}\n${pred}`, `${e.method}${opt.abs ? ' |g|' : ''}`]];
  // small models get their panels enlarged by a whole factor that keeps the long side within maxSide
  return boundedPanels(overlaySize(w, h, MIN_OVERLAY_WIDTH, maxSide, opt.size), 2, 1, maxSide, (W, H) => {
    const camOverlay = mapOverlay(base ? resizeRgb(base, W, H) : panelPicture(heat!, W, H), e.cam, w, h, opt);
    const scale = Math.max(1, Math.floor(W / 160));
    return montage([[camOverlay, panelPicture(grad, W, H)]], { labels, pad: 2 * scale, textScale: scale });
  }, opt.size ? undefined : [w, h]);
}

/**
 * Methods (rows) × layer groups (columns): overlays with a caption naming method, layer, target and score;
 * tiles 192–320 px wide (or at `size`: overlaySize, as CAM overlays), the picture's long side at most
 * `maxSide` (boundedPanels).
 */
export function gridPicture(tiles: Explanation[], methods: string[], groups: string[][], base: RgbImage | undefined, opt: { colormap: string; alpha: number; maxSide?: number; size?: OverlaySizeRequest }): RgbImage {
  const e0 = tiles[0]!;
  const maxSide = opt.maxSide ?? DEFAULT_PICTURE_SIDE;
  const labels: string[][] = methods.map((m, mi) => groups.map((g, gi) => {
    const e = tiles[mi * groups.length + gi]!;
    const where = g.length > 1 ? `mean of ${g.length} layers` : shortLayerName(g[0]!);
    const score = Number.isFinite(e.target.probability) ? `p=${e.target.probability.toFixed(3)}` : valueText(e.targetValue, '');
    return `${m} @ ${where}\n${e.targetName ?? `logit ${e.target.index}`}${e.target.label ? ` '${e.target.label}'` : ''} ${score}${e.warnings.some((w) => w.startsWith('the map is all zero')) ? '\n(all zero)' : ''}`;
  }));
  const tw = Math.max(192, Math.min(320, e0.width));
  const size: [number, number] = opt.size ? overlaySize(e0.width, e0.height, MIN_OVERLAY_WIDTH, maxSide, opt.size) : [tw, Math.max(1, Math.round((tw * e0.height) / e0.width))];
  return boundedPanels(size, groups.length, methods.length, maxSide, (tw, th) => {
    const pic = base ? resizeRgb(base, tw, th) : undefined;
    const rows = methods.map((_, mi) => groups.map((_, gi) => {
      const e = tiles[mi * groups.length + gi]!;
      const map = resizeBilinear(e.map, e.height, e.width, th, tw);
      return overlay(pic ?? heatmapImage(map, tw, th, 'viridis'), map, { colormap: opt.colormap, alpha: opt.alpha });
    }));
    return montage(rows, { labels, pad: 4 });
  });
}
