/**
 * Node-only scan reading (image/node.ts's sibling): NIfTI, DICOM, and pictures as one-slice volumes at
 * their own bit depth — 16-bit PNG/TIFF with every bit, float/signed/32-bit samples with their values.
 */
import sharp from 'sharp';
import { isDicom, readDicom } from './dicom.js';
import { isNifti, readNifti } from './nifti.js';
import { otherSamples, pictureVolume } from './picture.js';
import { DEFAULT_MAX_DECODE_PIXELS, type ScanLimits, type Volume } from './volume.js';
import { DEFAULT_MAX_PIXELS, cmykPixels, inputError, mp, onceMore, readRegularFile, type FileReadError } from './node.js';

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
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(path);
  } catch (e) {
    const { code, kind } = e as FileReadError;
    if (code === 'ENOENT') throw inputError(`scan not found: ${path}`);
    if (code === 'ENOTREG') throw inputError(`cannot read scan ${path}: it is ${kind}, not a file`);
    throw inputError(`cannot read scan ${path}: ${(e as Error).message}`);
  }
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const limits: ScanLimits = { maxVoxels: opts.maxPixels, check: opts.check };
  if (/\.nii(\.gz)?$/i.test(path) || isNifti(u8) && !isDicom(u8)) return readNifti(u8, path, limits);
  if (/\.(dcm|dicom)$/i.test(path) || isDicom(u8)) return readDicom(u8, path, limits);
  const oneLine = (m: string) => m.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(' | ');
  try {
    const meta = await onceMore(() => sharp(bytes, { failOn: 'error', limitInputPixels: false }).metadata());
    if (!meta.width || !meta.height) throw new Error('no image size in the header');
    const limit = opts.maxPixels === undefined ? DEFAULT_MAX_PIXELS : opts.maxPixels > 0 ? opts.maxPixels : Infinity;
    if (meta.width * meta.height > limit) throw inputError(`image ${path} is ${meta.width}×${meta.height}, above the limit of ${mp(limit)} megapixels; raise it with --max-pixels N (0 for no limit) if this image is meant`);
    const sixteen = meta.depth === 'ushort';
    const [sw, sh] = (meta.orientation ?? 1) >= 5 ? [meta.height, meta.width] : [meta.width, meta.height];
    const pipe = () => {
      // an embedded ICC profile is not applied, as openImageFile does
      const p = sharp(bytes, { failOn: 'error', limitInputPixels: false, ignoreIcc: true }).rotate();
      if (sw * sh <= DEFAULT_MAX_DECODE_PIXELS) return p;
      const s = Math.sqrt(DEFAULT_MAX_DECODE_PIXELS / (sw * sh));
      return p.resize(Math.max(1, Math.floor(sw * s)), Math.max(1, Math.floor(sh * s)), { fit: 'fill', kernel: 'linear' });
    };
    const other = otherSamples(meta.depth);
    if (other) return floatPicture(path, meta, other, pipe, opts.channels ?? 1);
    if (meta.space === 'cmyk' && !meta.hasAlpha) {
      const img = await cmykPixels(() => pipe().pipelineColourspace('cmyk'));
      return pictureVolume({ ...img, channels: 3, bits: 8 }, { channels: opts.channels ?? 1, colour: true, format: meta.format ?? 'image' });
    }
    // the samples at the file's depth, grey (one channel: a third of the memory) or RGB(A); the rest
    // (alpha, luminance) is the browser's rule too
    const grey = (meta.channels ?? 3) === 1;
    const { data, info } = await onceMore(() => pipe().toColourspace(grey ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb').raw({ depth: sixteen ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true }));
    const samples = sixteen ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return pictureVolume({ width: info.width, height: info.height, channels: info.channels as 1 | 3 | 4, bits: sixteen ? 16 : 8, data: samples },
      { channels: opts.channels ?? 1, colour: (meta.channels ?? 1) >= 3, format: meta.format ?? 'image' });
  } catch (e) {
    if ((e as Error).name === 'InputError') throw e;
    throw inputError(`cannot decode image ${path}: ${oneLine((e as Error).message)}`);
  }
}

/**
 * A picture of float, signed or 32-bit samples (readScanFile) as a one-slice Volume of its values (as
 * float32: exact for 8-bit signed and for floats, rounded to 24 bits for 32-bit integers), without a
 * bit depth, so that --intensity unit (÷ the depth's maximum) does not apply and the scan's intensity
 * options (minmax, zscore, window, none) say what the values mean. Grey, or RGB for a 3-channel model;
 * colour into one channel is the luminance 0.299 R + 0.587 G + 0.114 B (Pillow's 'F' conversion). Alpha,
 * complex and 16-bit signed samples (which libvips would clip at 0) are refused.
 */
async function floatPicture(path: string, meta: sharp.Metadata, samples: string, pipe: () => sharp.Sharp, channels: number): Promise<Volume> {
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
  const v = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + n * bands * 4));
  const C = bands === 3 && channels === 3 ? 3 : 1;
  const out = new Float32Array(C * n);
  if (bands === 1) out.set(v);
  else if (C === 3) for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) out[c * n + p] = v[p * 3 + c]!;
  else for (let p = 0; p < n; p++) out[p] = 0.299 * v[p * 3]! + 0.587 * v[p * 3 + 1]! + 0.114 * v[p * 3 + 2]!;
  const kind = bands === 3 ? (C === 1 ? 'colour, read as its luminance' : 'colour') : 'grayscale';
  const affine = new Float64Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
  return { data: out, channels: C, dims: [1, H, W], affine, source: 'image', description: `${meta.format ?? 'image'} ${W}×${H} ${samples} ${kind}` };
}
