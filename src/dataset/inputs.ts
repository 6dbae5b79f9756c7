/**
 * Node's model and input files: loading an Explainer or a Detector from a model path, and reading
 * images, .npy tensors and scans into model inputs (resize/crop, normalisation, slices, pixel budgets).
 * Used by every command and by the dataset engine; re-exported by the Node entry (src/node.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Explainer, InputError } from '../explainer.js';
import type { ExplainerOptions } from '../types.js';
import { decodeModel } from '../onnx/model.js';
import { readModelSource } from './model-files.js';
import { Detector } from '../detect/detector.js';
import { createNodeSession, diskCompileCache } from '../runtime/node.js';
import type { CompileCache } from '../runtime/session.js';
import { openImageFile, readImageFile, readNpyFile, shrinkPicture, DEFAULT_MAX_DECODE_PIXELS, DEFAULT_MAX_PIXELS } from '../image/node.js';
import { isScanFile, readScanFile } from '../image/scan-node.js';
import { displayRange, scanToTensors, volumeError, voxelLimit, type IntensityOptions, type ScanLimits, type Volume } from '../image/volume.js';
import { stackSeries, type DicomFile } from '../image/dicom.js';
import { resizeRgb } from '../image/resize.js';
import { cutRegion, resizeCropPlan, type ImageRegion } from '../image/view.js';
import { modelInputTensor, modelViewRgb, type ModelView } from '../image/resample.js';
import { imageToTensor, resolveNormalization, tensorToRgb, type NormalizeOptions } from '../image/normalize.js';
import { pictureIsScan, scanIntensity } from '../image/picture.js';
import { toFloat32 } from '../image/npy.js';
import type { DecodeMode, RgbImage } from '../image/types.js';
import { DEFAULT_PICTURE_SIDE, overlaySize } from '../render/index.js';

/**
 * Default bound on the pixels (H × W) of one model input: 2048 × 2048. Memory grows with the input
 * (a 16-channel stem at 2048² already takes about 1 GB; most models need far more per pixel), so a
 * model declaring a larger input, or a --size asking for one, is refused before anything of that size is
 * allocated; `--max-input N` raises it (0: no limit). A batch holds at most this many pixels in all.
 */
export const DEFAULT_MAX_INPUT_PIXELS = 2048 * 2048;

/** The limit on a model input's pixels: `maxInputPixels` (default DEFAULT_MAX_INPUT_PIXELS), 0 meaning none. */
export function inputPixelLimit(maxInputPixels?: number): number {
  return maxInputPixels === undefined ? DEFAULT_MAX_INPUT_PIXELS : maxInputPixels > 0 ? maxInputPixels : Infinity;
}

/** Refuses a model input of w × h pixels above the limit, naming it and --max-input. */
export function checkInputPixels(h: number, w: number, maxInputPixels: number | undefined, what: string): void {
  const limit = inputPixelLimit(maxInputPixels);
  if (h * w > limit) {
    const side = Math.floor(Math.sqrt(limit));
    throw new InputError(`${what} of ${w}×${h} pixels is above the limit of ${limit} pixels per model input (${side}×${side}); raise it with --max-input N (0 for no limit) if this size is meant and the memory is there`);
  }
}

/**
 * Images per model run: at most `batchSize`, and at most as many inputs of `pixels` pixels as the
 * input limit holds in all (at least one), so that a batch of large inputs does not multiply the memory.
 */
export function batchForInputs(batchSize: number, pixels: number, maxInputPixels?: number): number {
  const limit = inputPixelLimit(maxInputPixels);
  return Math.max(1, Math.min(batchSize, Math.floor(limit / Math.max(1, pixels))));
}

/** The spatial pixels (H × W, or D × H × W for volumes) of an input of `dims` in `layout`. */
export function inputPixels(dims: readonly number[], layout: 'NCHW' | 'NHWC'): number {
  return (layout === 'NCHW' ? dims.slice(2) : dims.slice(1, -1)).reduce((a, v) => a * v, 1);
}

export interface LoadModelOptions extends Partial<Omit<ExplainerOptions, 'cache'>> {
  /** A labels file: one label per line, or a JSON array / {index: label} object. */
  labelsFile?: string;
  /** A hub folder's ONNX variant (model_<variant>.onnx; 'default': model.onnx). */
  variant?: string;
  /** The input size [H, W] the run will use (--size), checked with the model's own against `maxInputPixels`. */
  size?: [number, number];
  /** Refuse a model input (declared, or `size` where dynamic) above this many pixels; default DEFAULT_MAX_INPUT_PIXELS, 0: none. */
  maxInputPixels?: number;
  /**
   * The compile cache: by default compiled gradient graphs and layer tables are kept on disk
   * (runtime/node.ts diskCompileCache: $GRADCAM_CACHE, else ~/.cache/gradcam; GRADCAM_CACHE=off turns it
   * off), so that the next process skips the probe runs and the compile; false: none; or any CompileCache.
   */
  cache?: boolean | CompileCache;
}

/** Loads an ONNX model file (external data is read from beside it) into an Explainer. */
export async function loadExplainer(modelPath: string, options?: LoadModelOptions | null): Promise<Explainer> {
  const { size, maxInputPixels, cache, ...opts } = options ?? {};
  // the file's stamp before its bytes are read: its hash for the cache key is then remembered (fileSha256)
  const before = await fs.promises.stat(modelPath, { bigint: true }).catch(() => undefined);
  const src = await readModelSource(modelPath, opts);
  // models with external data: their files are not in the model's hash, so the disk cache stays off
  let usesExternal = false;
  const external: typeof src.external = (...a) => { usesExternal = true; return src.external(...a); };
  // an imported model's ONNX bytes follow from all its files (graph, weights), so their hash keys the cache;
  // the file-identity shortcut holds only for a plain .onnx file
  const store = cache === false ? undefined : cache === undefined || cache === true
    ? diskCompileCache(src.bytes, { enabled: () => !usesExternal, ...(before?.isFile() && !src.imported ? { source: { file: modelPath, before } } : {}) })
    : cache;
  const explainer = Explainer.fromBytes(src.bytes, {
    createSession: createNodeSession, external, source: modelPath, ...opts, labels: src.labels, ...(store ? { cache: store } : {}),
    ...(src.imported ? { imported: src.imported } : {}),
  });
  try {
    checkDeclaredInput(explainer, modelPath, size, maxInputPixels);
  } catch (e) {
    await explainer.release();
    throw e;
  }
  return explainer;
}

/** Loads a detection model file into a Detector (src/detect): its head recognised (`boxFormat`, default auto). */
export async function loadDetector(modelPath: string, options?: (LoadModelOptions & { boxFormat?: string }) | null): Promise<Detector> {
  const { size, maxInputPixels, cache: _cache, ...opts } = options ?? {};
  const src = await readModelSource(modelPath, opts);
  const model = decodeModel(src.bytes, modelPath);
  const plain = new Explainer(model, { createSession: createNodeSession, external: src.external, source: modelPath, labels: src.labels, ...(src.imported ? { imported: src.imported } : {}) });
  try {
    checkDeclaredInput(plain, modelPath, size, maxInputPixels);
  } finally {
    await plain.release();
  }
  return Detector.create(model, { createSession: createNodeSession, external: src.external, source: modelPath, ...opts, labels: src.labels, size, ...(src.imported ? { imported: src.imported } : {}) });
}

/** A model input (declared, or `size` where dynamic) above the pixel bound is refused before any session is made. */
function checkDeclaredInput(explainer: Explainer, modelPath: string, size: [number, number] | undefined, maxInputPixels: number | undefined): void {
  const [fh, fw] = explainer.inputSize;
  const [h, w] = [fh ?? size?.[0], fw ?? size?.[1]];
  if (h != null || w != null) {
    const what = fh != null && fw != null ? `${modelPath}: the model's declared input` : `the model input (--size ${size?.[0]}x${size?.[1]})`;
    checkInputPixels(h ?? 1, w ?? 1, maxInputPixels, what);
  }
}

export interface PreparedInput {
  /** The file it came from. */
  file: string;
  /** One image's tensor [1, ...] in the model's layout. */
  tensor: Float32Array;
  dims: number[];
  /**
   * The picture to overlay on: the image, shrunk so that its long side is at most `maxSide` (2048 by
   * default); undefined for .npy inputs (the de-normalised tensor serves) and with `picture: false`.
   */
  image?: RgbImage;
  /** The image file's own size [width, height] (boxes and masks are in these pixels); undefined for .npy. */
  sourceSize?: [number, number];
  /**
   * With `resize` (Resize + CenterCrop): the part of the image the model input shows, [x0, y0, x1, y1] in
   * the image's own pixels (it reaches outside where the crop pads); `image` is then that part. Undefined:
   * the whole image.
   */
  region?: ImageRegion;
  /** With `view: true`: the model's picture (8-bit RGB at the model's input size, before normalisation). */
  view?: RgbImage;
  /** Scans (NIfTI, DICOM, grayscale and 16-bit images): the scan read, and for a 2-D model the slice this input is. */
  scan?: { volume: Volume; slice?: number };
  /** Decoded at a reduced scale (decode: 'fast' on a large JPEG): not bit-exact. */
  fast?: boolean;
}

export interface PrepareOptions extends NormalizeOptions {
  /** Input size [H, W] for models with dynamic spatial dims. */
  size?: [number, number];
  /** Refuse images with more pixels than this; default DEFAULT_MAX_PIXELS (sharp's limit); 0: none. */
  maxPixels?: number;
  /** Refuse model inputs (the model's size, .npy inputs) above this many pixels; default DEFAULT_MAX_INPUT_PIXELS; 0: none. */
  maxInputPixels?: number;
  /** Long side of the picture kept for overlays (default DEFAULT_PICTURE_SIDE). */
  maxSide?: number;
  /** Keep the picture (default true); false keeps only the tensor (read it again with readPicture). */
  picture?: boolean;
  /**
   * torchvision's `Resize(resize)` + `CenterCrop(crop)` instead of resizing the whole image to the model's
   * input: the shorter side to `resize` (Pillow bilinear, torchvision's rounding), then the centre crop of
   * the model's input size. Ignored for .npy inputs (ready tensors).
   */
  resize?: number;
  /** The centre crop [H, W] (default: the model's input size, which it must equal; it sets the size of models with dynamic height/width). Needs `resize`. */
  crop?: [number, number];
  /** Also return the model's picture (`view`). */
  view?: boolean;
  /**
   * 'exact' (default): the full decode, then Pillow's resize — bit-exact with torchvision/Pillow. 'fast':
   * a JPEG at least 3× larger than needed (the model's resize, and the picture kept up to `maxSide`) is
   * decoded at 1/2, 1/4 or 1/8 scale by libjpeg (shrink-on-load) — not bit-exact (a few grey levels;
   * test/decode.test.ts states how far); other files and smaller JPEGs decode exactly.
   */
  decode?: DecodeMode;
  /**
   * Scans and grayscale images (NIfTI, DICOM, 1-channel models, 16-bit PNG/TIFF, or whenever `intensity`
   * is given): the intensity mapping, mean/std, and the channels the scan is adapted to (default: the
   * model's; a 1-channel scan is repeated into 3).
   */
  scan?: IntensityOptions & { channels?: number };
}

/** Checks --resize / --crop against the model's input [H, W] (a crop must be the model's input size). */
export function checkResizeCrop(explainer: Explainer, opts: Pick<PrepareOptions, 'resize' | 'crop' | 'size'>): void {
  if (opts.crop && opts.resize === undefined) throw new InputError(`--crop ${opts.crop.join('x')} goes with --resize N (torchvision's Resize(N) then CenterCrop); without --resize the whole image is resized to the model's input`);
  if (opts.resize !== undefined && (!Number.isInteger(opts.resize) || opts.resize < 1)) throw new InputError(`--resize must be a positive whole number of pixels, got ${opts.resize}`);
  if (opts.resize === undefined || !opts.crop || explainer.channels !== 3) return;
  const dims = explainer.imageDims(opts.size ?? opts.crop);
  const [h, w] = explainer.layout === 'NCHW' ? [dims[2]!, dims[3]!] : [dims[1]!, dims[2]!];
  if (opts.crop[0] !== h || opts.crop[1] !== w) {
    throw new InputError(`--crop ${opts.crop[0]}x${opts.crop[1]} does not match the model's input size ${h}x${w}${opts.size ? ' (--size)' : ''}: the crop is what the model sees`);
  }
}

/** Default bound on the long side of overlay pictures and of the overlays written. */

/**
 * Reads an image (resized to the model's input with Pillow-style bilinear, normalised) or an .npy
 * file (taken as the ready model input, [C,H,W] or [N,C,H,W] in the model's layout). Memory stays
 * bounded whatever the image's size: images above `maxPixels` are refused before decoding, images above
 * DEFAULT_MAX_DECODE_PIXELS are shrunk while decoding, and the picture kept is at most `maxSide` long.
 */
export async function prepareInputs(explainer: Explainer, file: string, opts: PrepareOptions = {}): Promise<PreparedInput[]> {
  const limit = opts.maxPixels === undefined ? DEFAULT_MAX_PIXELS : opts.maxPixels > 0 ? opts.maxPixels : Infinity;
  if (file.toLowerCase().endsWith('.npy')) {
    const npy = await readNpyFile(file);
    let shape = npy.shape;
    const rank = explainer.volume ? 5 : 4;
    if (shape.length === rank - 1) shape = [1, ...shape];
    if (shape.length !== rank) {
      throw new InputError(explainer.volume
        ? `${file}: an .npy input to a 3-D model must be [C,D,H,W] or [N,C,D,H,W] in the model's layout (${explainer.layout === 'NCHW' ? 'NCDHW' : 'NDHWC'}), got [${npy.shape.join(', ')}]`
        : `${file}: an .npy input must be [C,H,W] or [N,C,H,W] in the model's layout (${explainer.layout}), got [${npy.shape.join(', ')}]`);
    }
    if (shape.some((d) => d === 0)) throw new InputError(`${file}: the .npy input ${shape[0] === 0 ? 'holds no images' : 'is empty'} (shape [${npy.shape.join(', ')}])`);
    const grid = explainer.layout === 'NCHW' ? shape.slice(2) : shape.slice(1, -1);
    const [h, w] = [grid[grid.length - 2]! * (grid.length === 3 ? grid[0]! : 1), grid[grid.length - 1]!];
    if (h * w > limit) throw new InputError(`${file}: an input of ${w}×${h} pixels is above the limit of ${limit} pixels; raise it with --max-pixels N (0 for no limit) if this input is meant`);
    checkInputPixels(h, w, opts.maxInputPixels, `${file}: an .npy input`);
    const data = toFloat32(npy);
    const per = shape.slice(1).reduce((a, v) => a * v, 1);
    return Array.from({ length: shape[0]! }, (_, i) => ({
      file, tensor: data.slice(i * per, (i + 1) * per), dims: [1, ...shape.slice(1)],
    }));
  }
  // pictures: the rule of src/image/picture.ts (the browser's too)
  const scan = () => readScanFile(file, { maxPixels: opts.maxPixels, check: sliceBudget(explainer, opts), channels: opts.scan?.channels ?? explainer.channels });
  if (explainer.volume || isScanFile(file) || opts.scan?.intensity !== undefined || opts.scan?.channels !== undefined || pictureIsScan(explainer.channels, 8)) {
    return prepareScan(explainer, file, await scan(), opts);
  }
  // the file is read once: a PNG's or TIFF's header says whether it is 16-bit (a scan then), its bytes decode
  let opened = /\.(png|tiff?)$/i.test(file) ? await openImageFile(file) : undefined;
  if (opened && (pictureIsScan(explainer.channels, opened.header.bits) || opened.header.samples || opened.header.pages)) return prepareScan(explainer, file, await scan(), opts);
  checkResizeCrop(explainer, opts);
  const dims = explainer.imageDims(opts.size ?? (opts.resize !== undefined ? opts.crop : undefined));
  const [h, w] = explainer.layout === 'NCHW' ? [dims[2]!, dims[3]!] : [dims[1]!, dims[2]!];
  checkInputPixels(h, w, opts.maxInputPixels, 'the model input');
  opened ??= await openImageFile(file);
  // float, signed or 32-bit samples (any format sharp reads): a scan, never cast to 8 bits
  if (opened.header.samples || opened.header.pages) return prepareScan(explainer, file, await scan(), opts);
  const { width: sw, height: sh } = opened.header;
  const keep = opts.picture ?? true;
  const maxSide = opts.maxSide ?? DEFAULT_PICTURE_SIDE;
  // the model's picture: the whole image resized to the model's input, or torchvision's Resize(N) +
  // CenterCrop (sizes and offsets from the image's own size, pixels from the decoded image)
  const plan = opts.resize !== undefined ? resizeCropPlan(sw, sh, { resize: opts.resize, crop: [h, w] }) : undefined;
  const view: ModelView = plan ? { resized: plan.resized, left: plan.left, top: plan.top, crop: [h, w] } : { resized: [w, h], left: 0, top: 0, crop: [h, w] };
  // --decode fast: a large JPEG decoded at a reduced scale that still covers the resize and the picture kept
  const fastTo = opts.decode === 'fast' ? fastNeed(view.resized, keep ? [sw, sh] : undefined, maxSide) : undefined;
  const img = await opened.decode({ maxPixels: opts.maxPixels, maxDecodePixels: DEFAULT_MAX_DECODE_PIXELS, ...(fastTo ? { fastTo } : {}) });
  const sourceSize: [number, number] = [sw, sh];
  const region = plan?.region;
  // resize, crop and normalisation in one pass (bit-exact with resizeRgb, centerCrop and imageToTensor)
  const model = opts.view ? modelViewRgb(img, view) : undefined;
  const tensor = model ? imageToTensor(model, { ...opts, layout: explainer.layout }) : modelInputTensor(img, view, resolveNormalization(opts), explainer.layout);
  // the overlay picture: the part the model saw, at the image's resolution (bounded to maxSide by libvips)
  const image = keep ? viewPicture(await shrinkPicture(img, maxSide), sourceSize, region) : undefined;
  return [{ file, tensor, dims, image, sourceSize, ...(region ? { region } : {}), ...(model ? { view: model } : {}), ...(img.fast ? { fast: true } : {}) }];
}

/**
 * The check of a scan's declared size for a 2-D model, whose every slice becomes one input: the slices'
 * model inputs together (slices × channels × the model's grid) count against the same voxel budget as
 * the scan itself (--max-pixels), so that a 1500-slice file is refused from its header. None for a 3-D model.
 */
export function sliceBudget(explainer: Explainer, opts: Pick<PrepareOptions, 'maxPixels' | 'size' | 'scan'>): ScanLimits['check'] {
  if (explainer.volume) return undefined;
  return ([D, H, W], _channels, what) => {
    const grid = explainer.inputGrid.map((g, k) => g ?? opts.size?.[k] ?? [H, W][k]!);
    const C = opts.scan?.channels ?? explainer.channels;
    const values = D * C * grid.reduce((a, v) => a * v, 1);
    const limit = voxelLimit({ maxVoxels: opts.maxPixels });
    if (D > 1 && values > limit) {
      throw volumeError(`${what}: its ${D} slices make ${D} inputs of ${C}×${grid.join('×')} for this 2-D model (${values} values), above the limit of ${limit} for a scan; give fewer slices, or raise it with --max-pixels N (0 for no limit) if this scan is meant`);
    }
  };
}

/**
 * Scan inputs: a 3-D model takes the whole volume (resized to its grid where that is fixed and differs);
 * a 2-D model takes every slice as one input, with its gray picture for the overlays.
 */
export function prepareScan(explainer: Explainer, file: string, volume: Volume, opts: PrepareOptions = {}): PreparedInput[] {
  const declared = explainer.layout === 'NCHW' ? explainer.inputDims[1] : explainer.inputDims[explainer.inputDims.length - 1];
  const want = opts.scan?.channels;
  if (want !== undefined && want !== 1 && want !== 3) throw volumeError(`--channels must be 1 or 3, got ${want}`);
  if (want !== undefined && typeof declared === 'number' && declared !== want) throw volumeError(`--channels ${want}, but the model's input '${explainer.inputName}' takes ${declared} channel(s)`);
  const channels = want ?? explainer.channels;
  if (explainer.volume && volume.dims[0] === 1) throw volumeError(`${file}: a 2-D image (${volume.description}) for a 3-D model; give a volume (NIfTI, a multi-frame DICOM or a DICOM series)`);
  if (opts.resize !== undefined) throw volumeError(`${file}: --resize/--crop apply to photos; scans are resized to the model's input as a whole`);
  const grid = explainer.volume ? explainer.inputGrid : explainer.inputGrid.map((g, k) => g ?? opts.size?.[k] ?? null);
  // a picture (8/16-bit PNG, TIFF...) into a 3-channel model is normalised as the photo path would
  // (the --normalize preset, ImageNet by default), only without the 8-bit reduction (the browser's rule too)
  const scanOpts = scanIntensity(volume, channels, opts.scan, opts);
  const tensors = scanToTensors(volume, { channels, channelsFirst: explainer.layout === 'NCHW', grid }, scanOpts, file);
  const cells = tensors[0]!.grid.reduce((a, v) => a * v, 1);
  checkInputPixels(cells, 1, opts.maxInputPixels, `${file}: the model input`);
  if (explainer.volume) return [{ file, tensor: tensors[0]!.tensor, dims: tensors[0]!.dims, scan: { volume } }];
  const [, H, W] = volume.dims;
  const [lo, hi] = displayRange(volume, opts.scan?.window);
  const r = hi - lo || 1;
  return tensors.map((t, k) => {
    const rgb = new Uint8Array(H * W * 3);
    for (let p = 0; p < H * W; p++) rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = Math.round(Math.fround(Math.min(Math.max((volume.data[k * H * W + p]! - lo) / r, 0), 1)) * 255);
    // the overlay picture bounded as a photo's is (maxSide), the image's own size kept in sourceSize
    return { file, tensor: t.tensor, dims: t.dims, image: boundPicture({ width: W, height: H, data: rgb }, opts.maxSide ?? DEFAULT_PICTURE_SIDE), sourceSize: [W, H] as [number, number], scan: { volume, slice: k } };
  });
}

/**
 * The inputs of a run: for a 3-D model, the DICOM files among them (single-frame, of one series) are
 * stacked into one volume, named by their folder; every other file is read by prepareInputs.
 */
export async function prepareAllInputs(explainer: Explainer, files: readonly string[], opts: PrepareOptions = {}): Promise<PreparedInput[]> {
  const out: PreparedInput[] = [];
  const dicom = explainer.volume ? files.filter((f) => /\.(dcm|dicom)$/i.test(f)) : [];
  if (dicom.length > 1) {
    // the files of a series together count against the scan budget (--max-pixels), checked as they are read
    const slices: DicomFile[] = [];
    const limit = voxelLimit({ maxVoxels: opts.maxPixels });
    let voxels = 0;
    for (const f of dicom) {
      const v = await readScanFile(f, { maxPixels: opts.maxPixels });
      voxels += v.data.length;
      if (voxels > limit) throw volumeError(`the DICOM series of ${dicom.length} files from ${path.dirname(dicom[0]!)}: its first ${slices.length + 1} files hold ${voxels} voxels, above the limit of ${limit} for a scan; raise it with --max-pixels N (0 for no limit) if this series is meant`);
      slices.push(v as DicomFile);
    }
    const single = slices.filter((s) => s.dims[0] === 1);
    if (single.length > 1) {
      const vol = stackSeries(single, `the DICOM series (${single.length} files from ${dicom[0]})`);
      // a series is named by its folder (the JSON's input, the outputs' stem) when its files share one
      const dirs = new Set(dicom.map((f) => path.dirname(f)));
      out.push(...prepareScan(explainer, dirs.size === 1 ? [...dirs][0]! : dicom[0]!, vol, opts));
    }
    for (const [k, s] of slices.entries()) if (s.dims[0] > 1 || single.length === 1) out.push(...prepareScan(explainer, dicom[k]!, s, opts));
  }
  for (const f of files) if (!dicom.includes(f) || dicom.length === 1) out.push(...(await prepareInputs(explainer, f, opts)));
  return out;
}

/**
 * What the fast decode must keep: the model's resize (`resized` [w, h]) and, with a picture, the picture's
 * size (the source bounded to `maxSide`, as boundPicture makes it); the larger on each axis.
 */
export function fastNeed(resized: [number, number], source: [number, number] | undefined, maxSide: number): [number, number] {
  if (!source) return resized;
  const long = Math.max(source[0], source[1]);
  const s = Math.min(1, maxSide / long);
  const pic = s < 1 ? [Math.max(1, Math.round(source[0] * s)), Math.max(1, Math.round(source[1] * s))] : source;
  return [Math.max(resized[0], pic[0]!), Math.max(resized[1], pic[1]!)];
}

/** The part `region` (source pixels) of a picture of the source, or the picture itself without one. */
function viewPicture(pic: RgbImage, source: [number, number], region: ImageRegion | undefined): RgbImage {
  return region ? cutRegion(pic, source, region) : pic;
}

/**
 * The picture for overlays of an image file, its long side at most `maxSide` (shrunk while decoding);
 * with `region` (a PreparedInput's, from --resize/--crop) only that part of it, the part the model saw.
 */
export async function readPicture(file: string, opts: { maxSide?: number; maxPixels?: number; region?: ImageRegion } = {}): Promise<RgbImage> {
  const img = await readImageFile(file, { maxPixels: opts.maxPixels, maxSide: opts.maxSide ?? DEFAULT_PICTURE_SIDE, maxDecodePixels: DEFAULT_MAX_DECODE_PIXELS });
  return viewPicture({ width: img.width, height: img.height, data: img.data }, [img.sourceWidth, img.sourceHeight], opts.region);
}

/** `img` itself when its long side is at most `maxSide`, else a Pillow-bilinear shrink to that bound. */
export function boundPicture(img: RgbImage, maxSide: number): RgbImage {
  const long = Math.max(img.width, img.height);
  if (long <= maxSide) return { width: img.width, height: img.height, data: img.data };
  const s = maxSide / long;
  return resizeRgb(img, Math.max(1, Math.round(img.width * s)), Math.max(1, Math.round(img.height * s)));
}

/**
 * The size [width, height] to draw an overlay of a w×h picture at: its own, enlarged by a whole factor
 * to at least `minWidth` wide so that small pictures can be read, and never longer than `maxSide`.
 */

/** The picture a 3-channel input tensor shows (de-normalised), for overlays on .npy inputs; undefined otherwise. */
export function tensorPicture(inp: PreparedInput, layout: 'NCHW' | 'NHWC', norm: NormalizeOptions): RgbImage | undefined {
  const [c, h, w] = layout === 'NCHW' ? [inp.dims[1]!, inp.dims[2]!, inp.dims[3]!] : [inp.dims[3]!, inp.dims[1]!, inp.dims[2]!];
  if (c !== 3) return undefined;
  return tensorToRgb(inp.tensor, w, h, { ...norm, layout });
}

/** A batch of same-shaped inputs stacked into one tensor; `index` says which inputs, in order. */
export interface StackedBatch {
  index: number[];
  data: Float32Array;
  dims: number[];
}

/**
 * Groups inputs by shape (images share the model size; .npy inputs may differ) and stacks each group
 * into one [N, ...] tensor, keeping the inputs' order within a group.
 */
export function stackByShape(inputs: readonly { tensor: Float32Array; dims: number[] }[]): StackedBatch[] {
  const groups = new Map<string, number[]>();
  inputs.forEach((inp, i) => {
    const key = inp.dims.join(',');
    const g = groups.get(key);
    if (g) g.push(i);
    else groups.set(key, [i]);
  });
  return [...groups.values()].map((index) => {
    const first = inputs[index[0]!]!;
    const per = first.tensor.length;
    const data = new Float32Array(per * index.length);
    index.forEach((i, j) => data.set(inputs[i]!.tensor, j * per));
    return { index, data, dims: [index.length, ...first.dims.slice(1)] };
  });
}
