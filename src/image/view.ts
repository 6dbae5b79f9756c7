/**
 * What part of an image the model sees (browser-safe): the plain resize shows it all; torchvision's
 * `Resize(N)` + `CenterCrop(M)` (the ImageNet recipe, `--resize N --crop M`) shows a centred region. The
 * region, in the image's own pixels, carries boxes and masks (annotated on the whole image) to the map
 * and picks the part of the picture that overlays are drawn on.
 */
import { centerCropOffsets, shortSideSize } from './resize.js';
import { modelViewRgb } from './resample.js';
import type { RgbImage } from './types.js';

/** [x0, y0, x1, y1] in an image's pixels (may reach outside it where a crop pads). */
export type ImageRegion = [number, number, number, number];

/** torchvision's `Resize(resize)` then `CenterCrop(crop)`. */
export interface ResizeCrop {
  /** The shorter side becomes this (torchvision `Resize(int)`). */
  resize: number;
  /** The centre crop [H, W] (torchvision `CenterCrop((H, W))`): the model's input size. */
  crop: [number, number];
}

export interface ResizeCropPlan {
  /** The size after Resize(N): [width, height]. */
  resized: [number, number];
  /** The crop's top-left corner in the resized picture (negative where the crop pads). */
  left: number;
  top: number;
  /** The crop in the source image's pixels. */
  region: ImageRegion;
}

/** Sizes and offsets of Resize(N) + CenterCrop([H, W]) for a w×h image, as torchvision rounds them. */
export function resizeCropPlan(w: number, h: number, rc: ResizeCrop): ResizeCropPlan {
  const [rw, rh] = shortSideSize(w, h, rc.resize);
  const [ch, cw] = rc.crop;
  const { left, top } = centerCropOffsets(rw, rh, cw, ch);
  // Pillow maps the resized picture's edges onto the source's edges (scale w / rw across, h / rh down)
  const sx = w / rw;
  const sy = h / rh;
  return { resized: [rw, rh], left, top, region: [left * sx, top * sy, (left + cw) * sx, (top + ch) * sy] };
}

/**
 * The model's picture: `img` resized (Pillow bilinear, as resizeRgb) so that its shorter side is
 * `rc.resize`, then centre-cropped to `rc.crop`. `source` [w, h]: the image's own size where `img` was
 * shrunk while decoding (the sizes and offsets follow the original, the pixels come from `img`).
 */
export function resizeCrop(img: RgbImage, rc: ResizeCrop, source: [number, number] = [img.width, img.height]): { image: RgbImage; plan: ResizeCropPlan } {
  const plan = resizeCropPlan(source[0], source[1], rc);
  // only the part the crop keeps is resampled (the same bits as the whole resize, then the crop)
  return { image: modelViewRgb(img, { resized: plan.resized, left: plan.left, top: plan.top, crop: rc.crop }), plan };
}

/**
 * The part `region` (in the source's pixels, source size [w, h]) of a picture of that source at any
 * resolution: whole pixels nearest to the region's edges, black where the region reaches outside.
 */
export function cutRegion(pic: RgbImage, source: [number, number], region: ImageRegion): RgbImage {
  const sx = pic.width / source[0];
  const sy = pic.height / source[1];
  const x0 = Math.round(region[0] * sx);
  const y0 = Math.round(region[1] * sy);
  const w = Math.max(1, Math.round(region[2] * sx) - x0);
  const h = Math.max(1, Math.round(region[3] * sy) - y0);
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const yy = y + y0;
    if (yy < 0 || yy >= pic.height) continue;
    const xa = Math.max(0, -x0);
    const xb = Math.min(w, pic.width - x0);
    if (xb > xa) out.set(pic.data.subarray((yy * pic.width + x0 + xa) * 3, (yy * pic.width + x0 + xb) * 3), (y * w + xa) * 3);
  }
  return { width: w, height: h, data: out };
}

/** Whether `region` is the whole of a w×h image. */
export function isWhole(region: ImageRegion | undefined, w: number, h: number): boolean {
  return !region || (region[0] === 0 && region[1] === 0 && region[2] === w && region[3] === h);
}

/** A box [x0, y0, x1, y1] in the source's pixels, in the pixels of a width×height picture of `region`. */
export function boxInView(box: ImageRegion, region: ImageRegion, width: number, height: number): ImageRegion {
  const sx = width / (region[2] - region[0]);
  const sy = height / (region[3] - region[1]);
  return [(box[0] - region[0]) * sx, (box[1] - region[1]) * sy, (box[2] - region[0]) * sx, (box[3] - region[1]) * sy];
}

/**
 * A mask of the whole source ([mh, mw], non-zero = object; source size [w, h]) sampled nearest at the
 * pixel centres of a width×height picture of `region`; 0 outside the source.
 */
export function maskInView(mask: { data: Uint8Array; width: number; height: number }, source: [number, number], region: ImageRegion, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const fx = (region[2] - region[0]) / width;
  const fy = (region[3] - region[1]) / height;
  const mx = mask.width / source[0];
  const my = mask.height / source[1];
  for (let y = 0; y < height; y++) {
    const yy = Math.floor((region[1] + (y + 0.5) * fy) * my);
    if (yy < 0 || yy >= mask.height) continue;
    for (let x = 0; x < width; x++) {
      const xx = Math.floor((region[0] + (x + 0.5) * fx) * mx);
      if (xx >= 0 && xx < mask.width && mask.data[yy * mask.width + xx]) out[y * width + x] = 1;
    }
  }
  return out;
}
