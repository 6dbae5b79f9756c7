/**
 * The output pictures' formats (browser-safe): PNG, WebP or JPEG (`--format`). PNG is encoded here by
 * png.ts unless a platform installs an encoder; Node installs libvips's (sharp, image/node.ts), which runs
 * in libuv's thread pool, off the caller's thread, for all three. The lossy formats' settings are fixed
 * here and stated in the help: WebP quality 80 at the fastest effort (q90 cost 30–40% more CPU for a mean
 * error of ~2.2 instead of ~3 levels), JPEG quality 90 without chroma
 * subsampling (the colour map's hues are what an overlay shows).
 */
import type { RgbImage } from './types.js';
import { encodePng } from './png.js';

export const PICTURE_FORMATS = ['png', 'webp', 'jpeg'] as const;
export type PictureFormat = (typeof PICTURE_FORMATS)[number];

/** The lossy formats' settings (what `--format`'s help states; the tests bound their error). */
export const LOSSY = { webp: { quality: 80, effort: 0 }, jpeg: { quality: 90, chroma: '4:4:4' } } as const;

/**
 * PNG as an installed encoder writes it: zlib level 1, no row filters (measured on a 500×400 overlay:
 * 7 ms and 495 kB, against 18 ms / 417 kB for level 3 with the 'up' filter and 16 ms / 377 kB with
 * adaptive filters; level 0 is 2 ms but 602 kB).
 */
export const FAST_PNG = { compressionLevel: 1, adaptiveFiltering: false, palette: false } as const;

/** A picture file's extension (with the dot): .png, .webp, .jpg. */
export function pictureExtension(format: PictureFormat): string {
  return format === 'jpeg' ? '.jpg' : `.${format}`;
}

/** Encodes an RGB picture in a format, asynchronously (off the caller's thread where the encoder runs elsewhere). */
export type PictureEncoder = (img: RgbImage, format: PictureFormat) => Promise<Uint8Array>;

let installed: PictureEncoder | undefined;

/** Installs the platform's encoder of every format (image/node.ts: sharp). */
export function setPictureEncoder(fn: PictureEncoder | undefined): void {
  installed = fn;
}

/** The longest side each format can hold (WebP's is 16383 px; PNG's and JPEG's beyond --max-overlay's bound). */
export const MAX_SIDE: Record<PictureFormat, number> = { png: 0x7fffffff, webp: 16383, jpeg: 65535 };

/** A picture's file bytes in `format`: the installed encoder's, else PNG by png.ts (no other format then). */
export function encodePicture(img: RgbImage, format: PictureFormat): Promise<Uint8Array> {
  if (Math.max(img.width, img.height) > MAX_SIDE[format]) {
    return Promise.reject(new Error(`a ${format} picture is at most ${MAX_SIDE[format]} px on a side, this one is ${img.width}x${img.height}; use --format png, or a smaller --max-overlay or --overlay-size`));
  }
  if (installed) return installed(img, format);
  if (format === 'png') return Promise.resolve(encodePng(img));
  return Promise.reject(new Error(`${format} pictures need an encoder that this platform lacks (valid here: png)`));
}
