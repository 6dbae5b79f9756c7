/**
 * Node-only scan reading (image/node.ts's sibling): NIfTI, DICOM, and pictures as volumes at their own
 * bit depth — one slice, or a TIFF stack's pages; 16-bit PNG/TIFF with every bit, float/signed/32-bit
 * samples with their values, CMYK as Pillow converts it.
 */
import sharp from 'sharp';
import { isDicom, readDicom } from './dicom.js';
import { isNifti, readNifti } from './nifti.js';
import { imageVolume, otherSamples, pictureVolume } from './picture.js';
import { DEFAULT_MAX_DECODE_PIXELS, checkScanSize, type ScanLimits, type Volume } from './volume.js';
import { DEFAULT_MAX_PIXELS, cmykPixels, inputError, mp, onceMore, readInputFile, stackMetadata } from './node.js';

/** Whether a file name is a scan that only the scan reader takes (NIfTI, DICOM). */
export function isScanFile(path: string): boolean {
  return /\.(nii|nii\.gz|dcm|dicom)$/i.test(path);
}

/**
 * Reads a scan into a Volume: NIfTI (.nii, .nii.gz), DICOM (by extension or the 'DICM' magic), or any
 * image sharp decodes as one slice at its own bit depth (16-bit PNG/TIFF keep every bit), by the rule
 * browsers follow too (src/image/picture.ts pictureVolume): grey, or RGB for a 3-channel model
 * (`channels`, default 1) where the image has colour; a colour image into one channel is its luminance. Errors are one line (InputError) naming the file and the problem.
 * Budgets, from the header before anything is decoded: NIfTI and DICOM scans of more than `maxPixels`
 * voxels (default DEFAULT_MAX_DECODE_PIXELS; 0: none) are refused, and `check` may refuse their declared
 * size; images are refused above `maxPixels` pixels (default DEFAULT_MAX_PIXELS) and shrunk while
 * decoding above DEFAULT_MAX_DECODE_PIXELS, as photos are.
 */
export async function readScanFile(path: string, opts: { maxPixels?: number; check?: ScanLimits['check']; channels?: number } = {}): Promise<Volume> {
  const bytes = await readInputFile(path, 'scan');
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const limits: ScanLimits = { maxVoxels: opts.maxPixels, check: opts.check };
  if (/\.nii(\.gz)?$/i.test(path) || isNifti(u8) && !isDicom(u8)) return readNifti(u8, path, limits);
  if (/\.(dcm|dicom)$/i.test(path) || isDicom(u8)) return readDicom(u8, path, limits);
  const oneLine = (m: string) => m.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(' | ');
  try {
    const meta = await onceMore(() => sharp(bytes, { failOn: 'error', limitInputPixels: false }).metadata());
    if (!meta.width || !meta.height) throw new Error('no image size in the header');
    // a TIFF of several pages of one size is a stack: a volume of that many slices (a 2-D model explains
    // each); pages of different sizes (a pyramid, a thumbnail) leave the first page, said in the description
    const stack = await stackMetadata(bytes, meta);
    if (stack) return readStack(path, bytes, stack, opts.channels ?? 1, limits);
    const firstOf = meta.format === 'tiff' && (meta.pages ?? 1) > 1 ? `, the first of ${meta.pages} pages of different sizes` : '';
    const limit = opts.maxPixels === undefined ? DEFAULT_MAX_PIXELS : opts.maxPixels > 0 ? opts.maxPixels : Infinity;
    if (meta.width * meta.height > limit) throw inputError(`image ${path} is ${meta.width}×${meta.height}, above the limit of ${mp(limit)} megapixels; raise it with --max-pixels N (0 for no limit) if this image is meant`);
    const [sw, sh] = (meta.orientation ?? 1) >= 5 ? [meta.height, meta.width] : [meta.width, meta.height];
    const pipe = () => {
      // an embedded ICC profile is not applied, as openImageFile does
      const p = sharp(bytes, { failOn: 'error', limitInputPixels: false, ignoreIcc: true }).rotate();
      if (sw * sh <= DEFAULT_MAX_DECODE_PIXELS) return p;
      const s = Math.sqrt(DEFAULT_MAX_DECODE_PIXELS / (sw * sh));
      return p.resize(Math.max(1, Math.floor(sw * s)), Math.max(1, Math.floor(sh * s)), { fit: 'fill', kernel: 'linear' });
    };
    const v = await pictureSlices(path, meta, pipe, opts.channels ?? 1);
    return firstOf ? { ...v, description: v.description + firstOf } : v;
  } catch (e) {
    if ((e as Error).name === 'InputError') throw e;
    throw inputError(`cannot decode image ${path}: ${oneLine((e as Error).message)}`);
  }
}

/**
 * A picture's samples (`pipe`: its pipeline) as a Volume of one slice, or of `pages` slices for a stack
 * (its pages one below the other): float/signed/32-bit samples with their values (floatPicture), CMYK as
 * Pillow converts it, else at the file's depth, grey (one channel: a third of the memory) or RGB(A) — the
 * rest (alpha, luminance) is the browser's rule too (pictureVolume).
 */
async function pictureSlices(path: string, meta: sharp.Metadata, pipe: () => sharp.Sharp, channels: number, pages?: number): Promise<Volume> {
  const other = otherSamples(meta.depth);
  if (other) return floatPicture(path, meta, other, pipe, channels, pages);
  if (meta.space === 'cmyk' && !meta.hasAlpha) {
    const img = await cmykPixels(() => pipe().pipelineColourspace('cmyk'));
    return pictureVolume({ ...img, channels: 3, bits: 8 }, { channels, colour: true, format: meta.format ?? 'image', pages });
  }
  const sixteen = meta.depth === 'ushort';
  const grey = (meta.channels ?? 3) === 1;
  const { data, info } = await onceMore(() => pipe().toColourspace(grey ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb').raw({ depth: sixteen ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true }));
  const samples = sixteen ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return pictureVolume({ width: info.width, height: info.height, channels: info.channels as 1 | 3 | 4, bits: sixteen ? 16 : 8, data: samples },
    { channels, colour: (meta.channels ?? 1) >= 3, format: meta.format ?? 'image', pages });
}

/**
 * A TIFF stack (pages of one size; `meta` read with every page: height = pages × pageHeight) as a volume
 * of its pages, refused from the header above the scan budget (`--max-pixels`, as NIfTI), never shrunk;
 * an EXIF orientation other than 1 is refused (libvips would turn the whole column of pages).
 */
async function readStack(path: string, bytes: Buffer, meta: sharp.Metadata, channels: number, limits: ScanLimits): Promise<Volume> {
  const D = meta.pages!;
  const H = meta.pageHeight ?? meta.height! / D;
  const W = meta.width!;
  if ((meta.orientation ?? 1) !== 1) throw inputError(`cannot read image ${path}: a stack of ${D} pages with an EXIF orientation (${meta.orientation}); save its pages unrotated`);
  const C = (meta.channels ?? 1) >= 3 && channels === 3 ? 3 : 1;
  checkScanSize(path, [D, H, W], C, limits);
  return pictureSlices(path, meta, () => sharp(bytes, { failOn: 'error', limitInputPixels: false, ignoreIcc: true, pages: -1 }), channels, D);
}

/**
 * A picture of float, signed or 32-bit samples (readScanFile) as a one-slice Volume of its values (as
 * float32: exact for 8-bit signed and for floats, rounded to 24 bits for 32-bit integers), without a
 * bit depth, so that --intensity unit (÷ the depth's maximum) does not apply and the scan's intensity
 * options (minmax, zscore, window, none) say what the values mean. Grey, or RGB for a 3-channel model;
 * colour into one channel is the luminance 0.299 R + 0.587 G + 0.114 B (Pillow's 'F' conversion). Alpha,
 * complex and 16-bit signed samples (which libvips would clip at 0) are refused.
 */
async function floatPicture(path: string, meta: sharp.Metadata, samples: string, pipe: () => sharp.Sharp, channels: number, pages?: number): Promise<Volume> {
  const bands = meta.channels ?? 1;
  if (samples === 'complex') throw inputError(`cannot read image ${path}: its samples are complex numbers; give the model input as .npy`);
  // libvips takes 16-bit samples for unsigned grey16 and clips negative values to 0 on the way out
  if (meta.depth === 'short') throw inputError(`cannot read image ${path}: its samples are 16-bit signed (Hounsfield units?), which the image decoder would clip at 0; give the scan as NIfTI or DICOM, or the model input as .npy`);
  if (bands !== 1 && bands !== 3) throw inputError(`cannot read image ${path}: ${bands} bands of ${samples} samples (${bands === 2 || bands === 4 ? 'with an alpha channel' : 'neither grey nor RGB'}); save it as grey or RGB without alpha, or give the model input as .npy`);
  // the file's own interpretation kept (sharp would convert to sRGB: grey expanded, scRGB gamma-encoded)
  const { data, info } = await onceMore(() => pipe().toColourspace(meta.space ?? (bands === 1 ? 'b-w' : 'srgb')).raw({ depth: 'float' }).toBuffer({ resolveWithObject: true }));
  if (info.channels !== bands) throw inputError(`cannot read image ${path}: ${bands} bands of ${samples} samples decoded as ${info.channels}; give the model input as .npy`);
  const { width: W, height: H } = info;
  const n = W * H;
  // sharp's buffer itself where it is 4-byte aligned (a grey picture's values are then the volume's: one
  // copy of a large float picture in memory, not three)
  const v = data.byteOffset % 4 === 0 ? new Float32Array(data.buffer, data.byteOffset, n * bands) : new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + n * bands * 4));
  const C = bands === 3 && channels === 3 ? 3 : 1;
  const out = bands === 1 ? v : new Float32Array(C * n);
  if (C === 3) for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) out[c * n + p] = v[p * 3 + c]!;
  else if (bands === 3) for (let p = 0; p < n; p++) out[p] = 0.299 * v[p * 3]! + 0.587 * v[p * 3 + 1]! + 0.114 * v[p * 3 + 2]!;
  return imageVolume(out, C, W, H, { format: meta.format ?? 'image', samples, colour: bands === 3, pages });
}
