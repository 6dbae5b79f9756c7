/**
 * Node-only image I/O: decoding files with sharp, and writePng (on src/util/write-node.ts's atomic write).
 */
import { constants, realpathSync } from 'node:fs';
import nodePath from 'node:path';
import { open } from 'node:fs/promises';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import type { RgbImage } from './types.js';
import { assertRgbImage } from './types.js';
import { encodePng, setPngDeflate, toRgbImage, type RawImage } from './png.js';
import { FAST_PNG, LOSSY, setPictureEncoder } from './encode.js';
import { writeAtomic } from '../util/write-node.js';
import { parseNpy, type NpyArray } from './npy.js';
import { DEFAULT_MAX_DECODE_PIXELS } from './volume.js';
import { otherSamples } from './picture.js';
import { jpegHeader } from './jpeg-header.js';

// PNGs encoded on the caller's thread are compressed by Node's native zlib (same level, same pixels; about
// 3× faster than fflate); pictures written in the background (every format) by libvips, in libuv's thread pool
setPngDeflate((data, level) => deflateSync(data, { level }));
setPictureEncoder(async (img, format) => {
  // our own picture, already in memory: no input pixel limit (that is --max-overlay's)
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false });
  const out = format === 'png' ? s.png(FAST_PNG) : format === 'webp' ? s.webp(LOSSY.webp) : s.jpeg({ quality: LOSSY.jpeg.quality, chromaSubsampling: LOSSY.jpeg.chroma });
  const b = await out.toBuffer();
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
});

/** sharp's own default limit on input pixels (0x3FFF × 0x3FFF): the default of `maxPixels`. */
export const DEFAULT_MAX_PIXELS = 268402689;

/**
 * Above DEFAULT_MAX_DECODE_PIXELS pixels an image is not decoded at full size: libvips shrinks it while
 * decoding (memory stays bounded), and the model input is resized from the shrunk image (close to, not
 * bit-exact with, torchvision's resize of the full image). 64 MP = 192 MB of RGB. Scans of more voxels
 * are refused unless --max-pixels allows them (see volume.ts).
 */
export { DEFAULT_MAX_DECODE_PIXELS };

export interface ReadImageOptions {
  /** colour that transparent pixels are flattened onto, default white [255, 255, 255] */
  background?: readonly [number, number, number];
  /**
   * Refuse images with more pixels than this (checked from the header, before decoding); default
   * DEFAULT_MAX_PIXELS; 0 or Infinity: no limit. The error names `--max-pixels`, the CLI option.
   */
  maxPixels?: number;
  /** Decode at most about this many pixels: larger images are shrunk (aspect kept) while decoding. Default: no shrink. */
  maxDecodePixels?: number;
  /** Decode to at most this long side (aspect kept; shrunk while decoding). Default: no bound. */
  maxSide?: number;
}

export interface DecodedImage extends RgbImage {
  /** The image's own size (after EXIF rotation): differs from width × height when it was shrunk while decoding. */
  sourceWidth: number;
  sourceHeight: number;
  /** Decoded at a reduced scale by the fast JPEG decode (DecodeOptions.fastTo): not bit-exact. */
  fast?: boolean;
}

/** An error about the user's input (named InputError, as the Explainer's, without importing it here). */
export function inputError(message: string): Error {
  const e = new Error(message);
  e.name = 'InputError';
  return e;
}

/** What a non-regular file is, in words. */
function fileKind(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Thrown by readRegularFile: `code` ENOENT (missing), ENOTREG (not a regular file: `kind` says what) or the system's. */
export class FileReadError extends Error {
  constructor(message: string, readonly code: string, readonly kind?: string) {
    super(message);
    this.name = 'FileReadError';
  }
}

/**
 * Reads a whole regular file. Anything else is refused at once, before a byte is read: a FIFO would
 * block (its open is non-blocking here, so even that does not wait for a writer), a device such as
 * /dev/zero or /dev/urandom never ends, a folder has no bytes. Reads the size the file had when opened.
 */
export async function readRegularFile(path: string): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new FileReadError(code === 'ENOENT' ? 'not found' : (e as Error).message, code);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      const kind = fileKind(st);
      throw new FileReadError(`it is ${kind}, not a regular file`, 'ENOTREG', kind);
    }
    const buf = Buffer.allocUnsafe(st.size);
    let done = 0;
    while (done < st.size) {
      const { bytesRead } = await fh.read(buf, done, st.size - done, done);
      if (bytesRead <= 0) break; // shrunk while read
      done += bytesRead;
    }
    return done === st.size ? buf : buf.subarray(0, done);
  } catch (e) {
    if (e instanceof FileReadError) throw e;
    throw new FileReadError((e as Error).message, (e as NodeJS.ErrnoException).code ?? 'EIO');
  } finally {
    await fh.close().catch(() => {});
  }
}

/**
 * The real path of the file `rel` names inside the folder `root`: the one gate for every file that a run
 * reads from a folder it was given (a merge's shard folders, a manifest's folder, a DICOM series'
 * folder, a model's external data), folders that may come from another machine. `rel` must be a
 * relative path that stays inside `root`: an absolute path, a `..` that climbs out, or a symbolic link
 * (the file itself or a folder on its way) that leads outside `root` (real paths compared) is refused
 * with FileReadError code EOUTSIDE, a missing file with ENOENT. Nothing is opened here: read the
 * returned real path (a link that stays inside is followed to its target).
 */
export function fileInside(root: string, rel: string): string {
  const outside = (why: string) => new FileReadError(why, 'EOUTSIDE');
  if (!rel || rel.includes('\0') || nodePath.isAbsolute(rel) || /^[a-zA-Z]:[\\/]/.test(rel)) throw outside(`'${rel}' is not a path relative to the folder ${root}`);
  const abs = nodePath.resolve(root, rel);
  const base = nodePath.resolve(root);
  if (!abs.startsWith(base + nodePath.sep)) throw outside(`'${rel}' leaves the folder ${root}`);
  let realRoot: string;
  let real: string;
  try {
    realRoot = realpathSync(base);
    real = realpathSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new FileReadError(code === 'ENOENT' || code === 'ENOTDIR' ? 'not found' : (e as Error).message, code === 'ENOTDIR' ? 'ENOENT' : code);
  }
  if (!real.startsWith(realRoot + nodePath.sep)) throw outside(`'${rel}' is a symbolic link (or lies in one) leading outside the folder ${root}`);
  return real;
}

/** n pixels in megapixels, as messages say them. */
export const mp = (n: number) => (n / 1e6 >= 10 ? (n / 1e6).toFixed(0) : (n / 1e6).toFixed(1));

/**
 * Reads and decodes an image file (JPEG, PNG, WebP, GIF (first frame), TIFF, AVIF, ... whatever sharp
 * reads) into 8-bit RGB:
 * - EXIF orientation is applied (the pixels come out the way viewers show them);
 * - an alpha channel is flattened onto `background` (white unless given);
 * - greyscale is expanded to RGB; 16-bit images are reduced to 8 bits; CMYK is converted as Pillow
 *   converts it (cmykPixels);
 * - an embedded ICC profile is not applied: the values are the file's own, as
 *   Pillow (torchvision's loader), OpenCV and the browser app read them (a Display P3 photo's pixels
 *   move by up to ~24 levels when converted to sRGB; the models were trained on unconverted ones);
 * - images above `maxPixels` are refused before decoding; with `maxDecodePixels` / `maxSide` large
 *   images are shrunk while decoding, so that memory stays bounded whatever the file's size.
 * Errors (one line, named InputError): "image not found: <path>" when the file does not exist; "cannot
 * decode image <path>: <reason>" when it is not a readable image; "image <path> is W×H ..." above the limit.
 * openImageFile does it in two steps: the header first (size, depth), then the decode.
 */
export async function readImageFile(path: string, opts: ReadImageOptions = {}): Promise<DecodedImage> {
  return (await openImageFile(path)).decode(opts);
}

/** What an image file's header says (openImageFile). */
export interface ImageHeader {
  /** The image's size after EXIF rotation. */
  width: number;
  height: number;
  /** 16 for 16-bit samples (PNG, TIFF), else 8. */
  bits: number;
  /** sharp's name of the format ('jpeg', 'png', 'webp', ...). */
  format: string;
  /**
   * Samples other than 8- or 16-bit unsigned (a float, signed or 32-bit TIFF, ...), named ('32-bit
   * float'): values without a fixed range, so such a picture is read as a scan (readScanFile, with an
   * explicit --intensity), never decoded as a photo.
   */
  samples?: string;
  /** A TIFF of this many pages of one size: a stack, read as a scan (readScanFile: a volume), never as a photo. */
  pages?: number;
}

/** How openImageFile's decode goes: ReadImageOptions' shrinking, and the fast JPEG decode. */
export interface DecodeOptions extends ReadImageOptions {
  /**
   * Not bit-exact, for large runs: a JPEG at least 3× larger than `fastTo` [w, h] on both axes is decoded at
   * a reduced scale (libjpeg's DCT scaling by 1/2, 1/4 or 1/8, then libvips' antialiased linear reduce) to
   * the smallest size of its aspect that is at least `fastTo` on both axes; other files decode as usual.
   */
  fastTo?: [number, number];
}

/** The size a shrink-on-load decode of a sw × sh JPEG gives for a need of [w, h] (at least it on both axes), or undefined where it would not shrink on load (under 3×). */
export function fastDecodeSize(sw: number, sh: number, need: [number, number]): [number, number] | undefined {
  const f = Math.min(sw / Math.max(1, need[0]), sh / Math.max(1, need[1]));
  // sharp shrinks on load by 2 from a factor of 3 on (by 4 from 5, by 8 from 9)
  if (!(f >= 3)) return undefined;
  return [Math.min(sw, Math.max(need[0], Math.ceil(sw / f))), Math.min(sh, Math.max(need[1], Math.ceil(sh / f)))];
}

/**
 * A libvips call, made again (up to twice more) when it failed with libvips' "Unknown error": libvips
 * keeps one error buffer for the whole process, which another thread's sharp call (the next image's
 * decode, a picture's encode, another worker session's) may clear before this call reads it, so a corrupt
 * file could be reported without its reason. A later try usually gets the reason (or an image that then
 * decodes); if none does, the message says what such a failure almost always is.
 */
export async function onceMore<T>(call: () => Promise<T>): Promise<T> {
  const unknown = (e: unknown) => /Unknown error$/.test((e as Error).message);
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (!unknown(e)) throw e;
      if (attempt === 3) throw new Error((e as Error).message.replace(/Unknown error$/, "corrupt, truncated or unsupported data (libvips' own reason was cleared by another thread's call)"));
    }
  }
}

/**
 * A multi-page TIFF's metadata read with every page (height = pages × pageHeight) where its pages have one
 * size: a stack; undefined for anything else — one page, another format, or pages of different sizes (a
 * pyramid, a thumbnail), whose first page is the picture.
 */
export async function stackMetadata(bytes: Buffer, meta: sharp.Metadata): Promise<sharp.Metadata | undefined> {
  if (meta.format !== 'tiff' || (meta.pages ?? 1) < 2) return undefined;
  return onceMore(() => sharp(bytes, { failOn: 'error', limitInputPixels: false, pages: -1 }).metadata()).catch(() => undefined);
}

/** An input file's bytes (readRegularFile), its errors said in one line naming the `noun` (image, scan). */
export async function readInputFile(path: string, noun: 'image' | 'scan'): Promise<Buffer> {
  try {
    return await readRegularFile(path);
  } catch (e) {
    const { code, kind } = e as FileReadError;
    if (code === 'ENOENT') throw inputError(`${noun} not found: ${path}`);
    if (code === 'ENOTREG') throw inputError(noun === 'image' ? `cannot decode image ${path}: it is ${kind}, not an image file` : `cannot read scan ${path}: it is ${kind}, not a file`);
    throw inputError(`cannot read ${noun} ${path}: ${(e as Error).message}`);
  }
}

/**
 * readImageFile in two steps: the file is read and its header parsed (errors as readImageFile's), then
 * `decode` checks the --max-pixels limit and decodes it (the bytes are read from the file once).
 */
export async function openImageFile(path: string): Promise<{ header: ImageHeader; decode(o?: DecodeOptions): Promise<DecodedImage> }> {
  const bytes = await readInputFile(path, 'image');
  const oneLine = (m: string) => m.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(' | ');
  // an embedded ICC profile is not applied (ignoreIcc): the file's own values are what Pillow, torchvision,
  // OpenCV and the browser app (colorSpaceConversion 'none') give a model; CMYK as Pillow converts it
  let cmyk = false;
  const load = () => sharp(bytes, { failOn: 'error', limitInputPixels: false, ignoreIcc: true });
  let header: ImageHeader;
  let alpha: boolean;
  // a plain JPEG's header is read here (jpeg-header.ts: the same size, depth and orientation as sharp's
  // metadata(), without a pass through libvips); anything else, and any JPEG it is unsure of, by sharp
  const jpeg = jpegHeader(bytes);
  if (jpeg) {
    alpha = false;
    const [width, height] = jpeg.orientation >= 5 ? [jpeg.height, jpeg.width] : [jpeg.width, jpeg.height];
    header = { width, height, bits: 8, format: 'jpeg' };
  } else try {
    const meta = await onceMore(() => load().metadata());
    if (!meta.width || !meta.height) throw new Error('no image size in the header');
    alpha = !!meta.hasAlpha;
    cmyk = meta.space === 'cmyk' && !meta.hasAlpha;
    const [width, height] = (meta.orientation ?? 1) >= 5 ? [meta.height, meta.width] : [meta.width, meta.height];
    const samples = otherSamples(meta.depth);
    const pages = (await stackMetadata(bytes, meta))?.pages;
    header = { width, height, bits: meta.depth === 'ushort' ? 16 : 8, format: meta.format ?? 'image', ...(samples ? { samples } : {}), ...(pages ? { pages } : {}) };
  } catch (e) {
    throw inputError(`cannot decode image ${path}: ${oneLine((e as Error).message)}`);
  }
  const { width: sw, height: sh } = header;
  const decode = async (o: DecodeOptions = {}): Promise<DecodedImage> => {
    // never cast to 8 bits (a float picture of values in [0, 1] would become black): a scan's job
    if (header.samples) throw inputError(`cannot read image ${path} as a photo: its samples are ${header.samples} (values without a fixed range); explain reads it as a scan with --intensity minmax, zscore, window or none, or give the model input as .npy`);
    if (header.pages) throw inputError(`cannot read image ${path} as one picture: it is a stack of ${header.pages} pages; explain reads it as a scan (each page an input of a 2-D model, the stack a volume for a 3-D one)`);
    const limit = o.maxPixels === undefined ? DEFAULT_MAX_PIXELS : o.maxPixels > 0 ? o.maxPixels : Infinity;
    if (sw * sh > limit) {
      throw inputError(`image ${path} is ${sw}×${sh} (${mp(sw * sh)} megapixels), above the limit of ${mp(limit)} megapixels; raise it with --max-pixels N (0 for no limit) if this image is meant`);
    }
    const [r, g, b] = o.background ?? [255, 255, 255];
    // the decoded size: shrunk (aspect kept) to at most maxDecodePixels and maxSide
    let s = 1;
    if (o.maxDecodePixels && sw * sh > o.maxDecodePixels) s = Math.min(s, Math.sqrt(o.maxDecodePixels / (sw * sh)));
    if (o.maxSide && Math.max(sw, sh) > o.maxSide) s = Math.min(s, o.maxSide / Math.max(sw, sh));
    let size: [number, number] | undefined = s < 1 ? [Math.max(1, Math.round(sw * s)), Math.max(1, Math.round(sh * s))] : undefined;
    const fast = o.fastTo && header.format === 'jpeg' ? fastDecodeSize(sw, sh, o.fastTo) : undefined;
    if (fast && (!size || fast[0] * fast[1] < size[0] * size[1])) size = fast;
    try {
      if (cmyk) {
        const img = await cmykPixels(() => { const p = load().pipelineColourspace('cmyk').rotate(); return size ? p.resize(size[0], size[1], { fit: 'fill', kernel: 'linear' }) : p; });
        return { ...img, sourceWidth: sw, sourceHeight: sh, ...(fast && size === fast ? { fast: true } : {}) };
      }
      // a second instance on the same bytes (sharp's clone() measured ~15% slower on a 12-MP JPEG)
      // a plain colour JPEG that needs no rotation goes straight to raw RGB: it has no alpha, and its
      // YCbCr decodes to RGB (an embedded ICC profile left unapplied either way), so the steps below would
      // be no-ops that still cost ~0.13 ms of CPU per file (test/jpeg-header.test.ts: the same bytes)
      const plain = jpeg && jpeg.components === 3 && jpeg.orientation === 1 && !size;
      const { data, info } = await onceMore(() => {
        let pipe = plain ? load() : load().rotate();
        // shrink-on-load where the JPEG is large enough (sharp's fastShrinkOnLoad), then an antialiased linear reduce
        if (size) pipe = pipe.resize(size[0], size[1], { fit: 'fill', kernel: 'linear' });
        // alpha is composited here as the browser does it (toRgbImage), not by sharp's flatten (which rounds otherwise)
        return (plain ? pipe : alpha ? pipe.toColourspace('srgb').ensureAlpha() : pipe.flatten({ background: { r, g, b } }).toColourspace('srgb').removeAlpha())
          .raw({ depth: 'uchar' })
          .toBuffer({ resolveWithObject: true });
      });
      const { width, height, channels } = info;
      const n = width * height;
      let rgb: Uint8Array;
      if (channels === 4) {
        rgb = toRgbImage({ width, height, channels: 4, data: new Uint8Array(data.buffer, data.byteOffset, n * 4) }, [r, g, b]).data;
      } else if (channels === 3) {
        // sharp's output buffer is the image's own memory: no copy (a copy doubled the peak for big images)
        rgb = new Uint8Array(data.buffer, data.byteOffset, n * 3);
      } else if (channels === 1) {
        rgb = new Uint8Array(n * 3);
        for (let i = 0; i < n; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = data[i]!;
      } else {
        throw new Error(`unexpected ${channels}-channel output`);
      }
      return { width, height, data: rgb, sourceWidth: sw, sourceHeight: sh, ...(fast && size === fast ? { fast: true } : {}) };
    } catch (e) {
      throw inputError(`cannot decode image ${path}: ${oneLine((e as Error).message)}`);
    }
  };
  return { header, decode };
}

/**
 * A CMYK picture (`make`: its sharp pipeline, in CMYK: pipelineColourspace('cmyk')) as RGB the way Pillow's
 * convert('RGB') computes it (libImaging's cmyk2rgb: R = (255 − K) − C·(255 − K)/255, rounded as Pillow
 * rounds), from the decoded ink values — no profile applied, Adobe's inverted CMYK read as true ink as
 * libjpeg and Pillow read it. libvips' own conversion (its CMYK profile) was up to 27 levels from Pillow's.
 */
export async function cmykPixels(make: () => sharp.Sharp): Promise<RgbImage> {
  const { data, info } = await onceMore(() => make().toColourspace('cmyk').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }));
  if (info.channels !== 4) throw new Error(`a CMYK picture decoded as ${info.channels} bands`);
  const n = info.width * info.height;
  const rgb = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const nk = 255 - data[p * 4 + 3]!;
    for (let c = 0; c < 3; c++) {
      const t = data[p * 4 + c]! * nk + 128;
      rgb[p * 3 + c] = nk - (((t >> 8) + t) >> 8);
    }
  }
  return { width: info.width, height: info.height, data: rgb };
}

/**
 * `img` itself when its long side is at most `maxSide`, else shrunk to that bound (the size boundPicture
 * gives, aspect kept) by libvips' antialiased linear reduce in the thread pool: the overlay picture of a
 * large photo, within a few grey levels of Pillow's shrink (dataset/inputs.ts boundPicture) and many
 * times faster (a 12-MP photo to 2048 px: tens of ms instead of hundreds).
 */
export async function shrinkPicture(img: RgbImage, maxSide: number): Promise<RgbImage> {
  const long = Math.max(img.width, img.height);
  if (long <= maxSide) return img;
  const s = maxSide / long;
  const [w, h] = [Math.max(1, Math.round(img.width * s)), Math.max(1, Math.round(img.height * s))];
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false })
    .resize(w, h, { fit: 'fill', kernel: 'linear' }).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, info.width * info.height * 3) };
}

/** Encodes `img` as PNG and writes it atomically (util/write-node.ts writeAtomic). */
export async function writePng(path: string, img: RgbImage | RawImage): Promise<void> {
  if (!('channels' in img)) assertRgbImage(img, 'writePng');
  await writeAtomic(path, encodePng(img));
}

/** Reads a .npy file (see parseNpy); "npy file not found: <path>" when missing; errors are one line, named InputError. */
export async function readNpyFile(path: string): Promise<NpyArray> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(path);
  } catch (e) {
    const { code, kind } = e as FileReadError;
    if (code === 'ENOENT') throw inputError(`npy file not found: ${path}`);
    if (code === 'ENOTREG') throw inputError(`npy file ${path} is ${kind}, not a regular file`);
    throw inputError(`cannot read npy file ${path}: ${(e as Error).message}`);
  }
  try {
    return parseNpy(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw inputError(`npy file ${path} cannot be used: ${(e as Error).message.replace(/^parseNpy: /, '')}`);
  }
}
