/**
 * Node-only image I/O: decoding files with sharp, atomic writes.
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import sharp from 'sharp';
import type { RgbImage } from './types.js';
import { assertRgbImage } from './types.js';
import { encodePng, type RawImage } from './png.js';
import { parseNpy, type NpyArray } from './npy.js';

export interface ReadImageOptions {
  /** colour that transparent pixels are flattened onto, default white [255, 255, 255] */
  background?: readonly [number, number, number];
}

/**
 * Reads and decodes an image file (JPEG, PNG, WebP, GIF (first frame), TIFF, AVIF, ... whatever sharp
 * reads) into 8-bit sRGB RGB:
 * - EXIF orientation is applied (the pixels come out the way viewers show them);
 * - an alpha channel is flattened onto `background` (white unless given);
 * - greyscale is expanded to RGB; 16-bit images are reduced to 8 bits; CMYK etc. are converted to sRGB.
 * Errors: "image not found: <path>" when the file does not exist; "cannot decode image <path>: <reason>"
 * when it is not a readable image.
 */
export async function readImageFile(path: string, opts: ReadImageOptions = {}): Promise<RgbImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`image not found: ${path}`);
    if (code === 'EISDIR') throw new Error(`cannot decode image ${path}: it is a directory`);
    throw new Error(`cannot read image ${path}: ${(e as Error).message}`);
  }
  const [r, g, b] = opts.background ?? [255, 255, 255];
  try {
    const { data, info } = await sharp(bytes, { failOn: 'error' })
      .rotate()
      .flatten({ background: { r, g, b } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const { width, height, channels } = info;
    const n = width * height;
    let rgb: Uint8Array;
    if (channels === 3) {
      rgb = new Uint8Array(data.buffer, data.byteOffset, n * 3).slice();
    } else if (channels === 1) {
      rgb = new Uint8Array(n * 3);
      for (let i = 0; i < n; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = data[i]!;
    } else {
      throw new Error(`unexpected ${channels}-channel output`);
    }
    return { width, height, data: rgb };
  } catch (e) {
    throw new Error(`cannot decode image ${path}: ${(e as Error).message}`);
  }
}

let tmpCounter = 0;

/**
 * Writes `bytes` to `path` atomically: the data goes to `<path>.tmp-<pid>-<n>` first, is flushed, and is
 * then renamed over `path`, so readers never see a partial file. On failure the temporary file is removed.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  let fh;
  try {
    fh = await open(tmp, 'w');
    await fh.writeFile(bytes);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    if (fh) await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/** Encodes `img` as PNG and writes it atomically (see writeFileAtomic). */
export async function writePng(path: string, img: RgbImage | RawImage): Promise<void> {
  if (!('channels' in img)) assertRgbImage(img, 'writePng');
  await writeFileAtomic(path, encodePng(img));
}

/** Reads a .npy file (see parseNpy); "npy file not found: <path>" when missing. */
export async function readNpyFile(path: string): Promise<NpyArray> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`npy file not found: ${path}`);
    throw e;
  }
  try {
    return parseNpy(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}
