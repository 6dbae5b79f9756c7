/**
 * How image files are decoded for a model (--decode): 'exact' (the full picture, then Pillow's resize:
 * bit-exact with torchvision/Pillow) or 'fast' (a JPEG at least 3× larger than needed is decoded at 1/2,
 * 1/4 or 1/8 scale by libjpeg's shrink-on-load; not bit-exact).
 */
export const DECODE_MODES = ['exact', 'fast'] as const;
export type DecodeMode = (typeof DECODE_MODES)[number];

/** An 8-bit sRGB image, RGB interleaved, row-major: `data.length === width * height * 3`. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Checks that `img` is a well-formed RgbImage; throws a descriptive error otherwise. */
export function assertRgbImage(img: RgbImage, what = 'image'): void {
  if (!img || typeof img !== 'object') throw new TypeError(`${what}: expected an RgbImage object`);
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`${what}: width and height must be positive integers, got ${width}x${height}`);
  }
  if (!(data instanceof Uint8Array)) throw new TypeError(`${what}: data must be a Uint8Array`);
  if (data.length !== width * height * 3) {
    throw new RangeError(
      `${what}: data has ${data.length} bytes, expected ${width}*${height}*3 = ${width * height * 3}`,
    );
  }
}

/** A new black (or `fill`-coloured) image. */
export function createRgbImage(width: number, height: number, fill: readonly [number, number, number] = [0, 0, 0]): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`createRgbImage: width and height must be positive integers, got ${width}x${height}`);
  }
  const data = new Uint8Array(width * height * 3);
  if (fill[0] !== 0 || fill[1] !== 0 || fill[2] !== 0) {
    for (let i = 0; i < data.length; i += 3) {
      data[i] = fill[0];
      data[i + 1] = fill[1];
      data[i + 2] = fill[2];
    }
  }
  return { width, height, data };
}
