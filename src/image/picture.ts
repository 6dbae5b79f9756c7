/**
 * A picture as a model input, one rule for Node and the browser (browser-safe): the decoded samples at
 * their own bit depth become a Volume (one slice) — grey, or RGB where the model takes 3 channels and the
 * picture has colour; alpha composited over white, as photos are; a colour picture into a one-channel
 * model is read as its luminance, PIL's `convert('L')` (what torchvision's Grayscale does):
 * Y = (19595·R + 38470·G + 7471·B + 32768) >> 16, on 8- and 16-bit samples alike. Then `scanToTensors`
 * maps the intensities (default: ÷ the bit depth's maximum) and resizes to the model's grid, and a picture
 * into a 3-channel model is normalised as a photo is (the --normalize preset). Node decodes with sharp
 * (src/image/node.ts readScanFile), the browser with our PNG decoder or the canvas (web/worker.ts).
 */
import { resolveNormalization, type NormalizeOptions, type TensorLayout } from './normalize.js';
import type { RawImage } from './png.js';
import { modelInputTensor } from './resample.js';
import type { RgbImage } from './types.js';
import { scanToTensors, type IntensityOptions, type Volume } from './volume.js';

/** Decoded samples, interleaved: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; 8 or 16 bits each. */
export interface PictureSamples {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  bits: 8 | 16;
  data: ArrayLike<number>;
}

/** Sample formats other than 8/16-bit unsigned (sharp's names), named as a description says them; undefined for uchar and ushort. */
const OTHER_SAMPLES: Record<string, string> = {
  char: '8-bit signed', short: '16-bit signed', uint: '32-bit unsigned', int: '32-bit signed', float: '32-bit float',
  double: '64-bit float', complex: 'complex', dpcomplex: 'complex',
};
export function otherSamples(depth: string | undefined): string | undefined {
  return depth === undefined || depth === 'uchar' || depth === 'ushort' ? undefined : (OTHER_SAMPLES[depth] ?? depth);
}

/** Our PNG decoder's output as samples (16-bit PNGs at full depth). */
export function pngSamples(raw: RawImage): PictureSamples {
  return { width: raw.width, height: raw.height, channels: raw.channels, bits: raw.data16 ? 16 : 8, data: raw.data16 ?? raw.data };
}

/**
 * Whether a picture goes through the scan path (pictureVolume + scanToTensors) rather than the photo
 * path (8-bit RGB, resizeRgb + imageToTensor): a model that does not take 3 channels, or a 16-bit picture
 * (every bit kept).
 */
export function pictureIsScan(modelChannels: number, bits: number): boolean {
  return modelChannels !== 3 || bits === 16;
}

/**
 * The picture as a one-slice Volume [C, 1, H, W] of C = `channels` (1, or 3 where the picture has
 * colour), values at the picture's own depth. `colour`: whether the file holds colour (a grey file
 * decoded as RGB by sharp has R = G = B, read exactly as grey); `format` names it in the description.
 * With `pages` (a TIFF stack: its pages one below the other in `s`), a Volume of that many slices.
 */
export function pictureVolume(s: PictureSamples, opts: { channels: number; colour: boolean; format: string; pages?: number }): Volume {
  const { width: W, height: H, channels: k, data } = s;
  const n = W * H;
  const max = 2 ** s.bits - 1;
  const C = opts.colour && opts.channels === 3 ? 3 : 1;
  const out = new Float32Array(C * n);
  const alpha = k === 2 || k === 4;
  const grey = k <= 2;
  for (let p = 0; p < n; p++) {
    const o = p * k;
    const a = alpha ? data[o + k - 1]! / max : 1;
    // composited over white: v·a + max·(1 − a)
    const over = (v: number) => (a === 1 ? v : v * a + max * (1 - a));
    if (grey) {
      const v = over(data[o]!);
      for (let c = 0; c < C; c++) out[c * n + p] = v;
    } else if (C === 3) {
      for (let c = 0; c < 3; c++) out[c * n + p] = over(data[o + c]!);
    } else {
      out[p] = over(Math.floor((19595 * data[o]! + 38470 * data[o + 1]! + 7471 * data[o + 2]! + 32768) / 65536));
    }
  }
  return imageVolume(out, C, W, H, { format: opts.format, samples: `${s.bits}-bit`, colour: opts.colour, pages: opts.pages, bits: s.bits });
}

/**
 * A picture's channel planes `data` [C, H, W] (a stack: its `pages` one below the other in H) as a Volume
 * of that many slices, described as the readers say it: format, size, pages, samples, colour or grey.
 * `bits`: the stored depth (8/16-bit), which --intensity unit divides by; none for float or signed samples.
 */
export function imageVolume(data: Float32Array, C: number, W: number, H: number, d: { format: string; samples: string; colour: boolean; pages?: number; bits?: number }): Volume {
  const D = d.pages ?? 1;
  const h = H / D;
  const kind = d.colour ? (C === 1 ? 'colour, read as its luminance' : 'colour') : 'grayscale';
  const affine = new Float64Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
  return { data, channels: C, dims: [D, h, W], affine, ...(d.bits ? { bits: d.bits } : {}), source: 'image', description: `${d.format} ${W}×${h}${D > 1 ? `, ${D} pages,` : ''} ${d.samples} ${kind}` };
}

/**
 * The intensity options of a scan input: a picture into a 3-channel model at the default intensity
 * ('unit') and without --mean/--std is normalised as a photo is (the --normalize preset, ImageNet by
 * default), only without the 8-bit reduction; everything else as given.
 */
export function scanIntensity(vol: Pick<Volume, 'source'>, channels: number, scan: IntensityOptions = {}, norm: NormalizeOptions = {}): IntensityOptions {
  if (vol.source !== 'image' || channels !== 3 || (scan.intensity ?? 'unit') !== 'unit' || scan.mean || scan.std) return scan;
  const spec = resolveNormalization(norm);
  return { ...scan, mean: spec.mean, std: spec.std };
}

/** What the picture rule needs of a model: its channels, layout and input size [H, W]. */
export interface PictureModel {
  channels: number;
  layout: TensorLayout;
  size: [number, number];
}

/**
 * A picture's model input [C·H·W in the model's layout], as Node's prepareInputs makes it (without
 * --resize/--crop): `rgb` (8-bit, alpha over white) by the photo path, else `samples` by the scan path.
 * The browser's one call (web/worker.ts); test/input-parity.test.ts holds it to Node's tensors.
 */
export function pictureTensor(pic: { samples: PictureSamples; rgb: RgbImage; colour: boolean; format: string }, model: PictureModel, norm: NormalizeOptions = {}): Float32Array {
  const [h, w] = model.size;
  // resizeRgb + imageToTensor in one pass (resample.ts), as prepareInputs makes it
  if (!pictureIsScan(model.channels, pic.samples.bits)) return modelInputTensor(pic.rgb, { resized: [w, h], left: 0, top: 0, crop: [h, w] }, resolveNormalization(norm), model.layout);
  const vol = pictureVolume(pic.samples, { channels: model.channels, colour: pic.colour, format: pic.format });
  const target = { channels: model.channels, channelsFirst: model.layout === 'NCHW', grid: [h, w] };
  return scanToTensors(vol, target, scanIntensity(vol, model.channels, {}, norm), pic.format)[0]!.tensor;
}
