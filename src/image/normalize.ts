/**
 * Pixel normalisation for model inputs, browser-safe.
 *
 * A tensor value is  ((pixel / divisor) - mean[c]) / std[c]  computed in float32 (the order torchvision's
 * ToTensor + Normalize use), with channels in `channelOrder`. mean/std are listed in the tensor's channel
 * order (so BGR for caffe).
 */
import type { RgbImage } from './types.js';
import { assertRgbImage } from './types.js';

export type TensorLayout = 'NCHW' | 'NHWC';
export type ChannelOrder = 'RGB' | 'BGR';
export const NORMALIZE_PRESETS = ['imagenet', 'unit', 'symmetric', 'caffe'] as const;
export type NormalizePreset = (typeof NORMALIZE_PRESETS)[number];

export interface NormalizeSpec {
  /** pixel values (0..255) are divided by this first */
  divisor: number;
  mean: [number, number, number];
  std: [number, number, number];
  channelOrder: ChannelOrder;
}

const PRESETS: Record<NormalizePreset, NormalizeSpec> = {
  /** torchvision ImageNet: [0,1] RGB, then (x - mean) / std */
  imagenet: { divisor: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB' },
  /** [0,1] RGB */
  unit: { divisor: 255, mean: [0, 0, 0], std: [1, 1, 1], channelOrder: 'RGB' },
  /** [-1,1] RGB, Keras 'tf' mode: x / 127.5 - 1 */
  symmetric: { divisor: 127.5, mean: [1, 1, 1], std: [1, 1, 1], channelOrder: 'RGB' },
  /** Keras 'caffe' mode: BGR, 0..255, minus the ImageNet BGR mean, no std */
  caffe: { divisor: 1, mean: [103.939, 116.779, 123.68], std: [1, 1, 1], channelOrder: 'BGR' },
};

export interface NormalizeOptions {
  /** default 'imagenet' when neither preset nor mean/std are given */
  preset?: NormalizePreset | string;
  /** overrides the preset's mean (length 3, or 1 to use for every channel), tensor channel order */
  mean?: readonly number[];
  /** overrides the preset's std (length 3 or 1) */
  std?: readonly number[];
  /** overrides the preset's divisor; custom mean/std without a preset use 255 (values in [0,1]) */
  divisor?: number;
  /** overrides the preset's channel order */
  channelOrder?: ChannelOrder;
}

export interface ImageToTensorOptions extends NormalizeOptions {
  layout: TensorLayout;
}

function triple(name: string, v: readonly number[]): [number, number, number] {
  if (!Array.isArray(v) || (v.length !== 3 && v.length !== 1)) {
    throw new RangeError(`${name} must have 3 values (one per channel) or 1, got ${Array.isArray(v) ? v.length : typeof v}`);
  }
  for (const x of v) {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new RangeError(`${name} values must be finite numbers, got ${x}`);
  }
  return v.length === 1 ? [v[0]!, v[0]!, v[0]!] : [v[0]!, v[1]!, v[2]!];
}

/** Resolves options to a concrete spec, validating everything (clear errors for bad input). */
export function resolveNormalization(opts: NormalizeOptions = {}): NormalizeSpec {
  let base: NormalizeSpec;
  if (opts.preset !== undefined) {
    if (!(NORMALIZE_PRESETS as readonly string[]).includes(opts.preset)) {
      throw new RangeError(`unknown normalisation preset '${opts.preset}' (valid: ${NORMALIZE_PRESETS.join(', ')})`);
    }
    base = PRESETS[opts.preset as NormalizePreset];
  } else if (opts.mean !== undefined || opts.std !== undefined) {
    base = { divisor: 255, mean: [0, 0, 0], std: [1, 1, 1], channelOrder: 'RGB' };
  } else {
    base = PRESETS.imagenet;
  }
  const mean = opts.mean !== undefined ? triple('mean', opts.mean) : ([...base.mean] as [number, number, number]);
  const std = opts.std !== undefined ? triple('std', opts.std) : ([...base.std] as [number, number, number]);
  if (std.some((s) => s === 0)) throw new RangeError(`std must not contain 0, got [${std.join(', ')}]`);
  const divisor = opts.divisor ?? base.divisor;
  if (!Number.isFinite(divisor) || divisor <= 0) throw new RangeError(`divisor must be a positive number, got ${divisor}`);
  const channelOrder = opts.channelOrder ?? base.channelOrder;
  if (channelOrder !== 'RGB' && channelOrder !== 'BGR') {
    throw new RangeError(`channelOrder must be 'RGB' or 'BGR', got '${channelOrder as string}'`);
  }
  return { divisor, mean, std, channelOrder };
}

function checkLayout(layout: unknown): asserts layout is TensorLayout {
  if (layout !== 'NCHW' && layout !== 'NHWC') throw new RangeError(`layout must be 'NCHW' or 'NHWC', got '${String(layout)}'`);
}

/**
 * One image as a float32 tensor: `[3, H, W]` for layout 'NCHW', `[H, W, 3]` for 'NHWC' (add the batch
 * dimension by concatenating images).
 */
export function imageToTensor(img: RgbImage, opts: ImageToTensorOptions): Float32Array {
  assertRgbImage(img, 'imageToTensor');
  checkLayout(opts.layout);
  const spec = resolveNormalization(opts);
  const { width, height, data } = img;
  const hw = width * height;
  const out = new Float32Array(hw * 3);
  const luts = normalizeLuts(spec);
  const src = spec.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  for (let c = 0; c < 3; c++) {
    const lut = luts[c]!;
    const sc = src[c]!;
    if (opts.layout === 'NCHW') {
      const base = c * hw;
      for (let i = 0; i < hw; i++) out[base + i] = lut[data[i * 3 + sc]!]!;
    } else {
      for (let i = 0; i < hw; i++) out[i * 3 + c] = lut[data[i * 3 + sc]!]!;
    }
  }
  return out;
}

/**
 * The tensor value of every 8-bit pixel value, per tensor channel (in `spec`'s channel order):
 * f32(f32(f32(v / divisor) - mean[c]) / std[c]), torchvision's ToTensor + Normalize in float32. A lookup
 * keeps imageToTensor (and resample.ts modelInputTensor) exact and fast.
 */
export function normalizeLuts(spec: NormalizeSpec): [Float32Array, Float32Array, Float32Array] {
  const f32 = Math.fround;
  const lut = (c: number) => {
    const t = new Float32Array(256);
    const m = f32(spec.mean[c]!), s = f32(spec.std[c]!);
    for (let v = 0; v < 256; v++) t[v] = f32(f32(f32(v / spec.divisor) - m) / s);
    return t;
  };
  return [lut(0), lut(1), lut(2)];
}

/**
 * Inverse of imageToTensor for display: pixel = (t * std + mean) * divisor, rounded and clipped to 0..255,
 * channels put back in RGB order. `tensor` holds one image (`[3,H,W]` or `[H,W,3]`).
 */
export function tensorToRgb(tensor: Float32Array, width: number, height: number, opts: ImageToTensorOptions): RgbImage {
  checkLayout(opts.layout);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`tensorToRgb: width and height must be positive integers, got ${width}x${height}`);
  }
  const hw = width * height;
  if (tensor.length !== hw * 3) {
    throw new RangeError(`tensorToRgb: tensor has ${tensor.length} values, expected 3*${height}*${width} = ${hw * 3}`);
  }
  const spec = resolveNormalization(opts);
  const out = new Uint8Array(hw * 3);
  const dstOf = spec.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  for (let c = 0; c < 3; c++) {
    const mean = spec.mean[c]!, std = spec.std[c]!, div = spec.divisor, dc = dstOf[c]!;
    for (let i = 0; i < hw; i++) {
      const t = opts.layout === 'NCHW' ? tensor[c * hw + i]! : tensor[i * 3 + c]!;
      const v = Math.round((t * std + mean) * div);
      out[i * 3 + dc] = Number.isNaN(v) ? 0 : v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width, height, data: out };
}

/**
 * Several images (all the same size) as one batch tensor `[N, 3, H, W]` ('NCHW') or `[N, H, W, 3]`
 * ('NHWC'), each normalised like imageToTensor.
 */
export function imagesToBatch(imgs: readonly RgbImage[], opts: ImageToTensorOptions): Float32Array {
  if (imgs.length === 0) throw new RangeError('imagesToBatch: needs at least one image');
  const { width, height } = imgs[0]!;
  const size = width * height * 3;
  const out = new Float32Array(imgs.length * size);
  imgs.forEach((img, i) => {
    if (img.width !== width || img.height !== height) {
      throw new RangeError(`imagesToBatch: image ${i} is ${img.width}x${img.height}, image 0 is ${width}x${height}; resize them to one size first`);
    }
    out.set(imageToTensor(img, opts), i * size);
  });
  return out;
}
