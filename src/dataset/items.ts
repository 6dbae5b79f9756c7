/**
 * Reading a dataset item: its one model input, its true class, the batch size a run can afford, and
 * its mask. The one mask reader of gradcam (audit's --masks and manifests, explain's --mask).
 */
import fs from 'node:fs';
import type { Explainer } from '../explainer.js';
import { InputError } from '../explainer.js';
import { prepareInputs, inputPixels, batchForInputs, type PreparedInput } from './inputs.js';
import { readImageFile, readRegularFile, type FileReadError } from '../image/node.js';
import { parseNpy, toFloat32 } from '../image/npy.js';
import type { ClassRef } from './types.js';

/** Images per model run for a dataset: --batch-size, bounded by --max-input's pixels per run. */
export function datasetBatchSize(explainer: Explainer, opts: { size?: [number, number]; resize?: number; crop?: [number, number]; batchSize?: number; maxInputPixels?: number }): number {
  let modelPixels = 1;
  try {
    modelPixels = inputPixels(explainer.imageDims(opts.size ?? (opts.resize !== undefined ? opts.crop : undefined)), explainer.layout);
  } catch {
    /* a dynamic size without --size: .npy inputs give it */
  }
  return batchForInputs(opts.batchSize ?? 8, modelPixels, opts.maxInputPixels);
}

/**
 * The one model input of a dataset item (an image, or a single-image .npy); an .npy holding several is
 * an error of that item (`what` names the item in the message).
 */
export async function prepareItemInput(explainer: Explainer, file: string, opts: Parameters<typeof prepareInputs>[2], what = 'a dataset item'): Promise<PreparedInput> {
  const inputs = await prepareInputs(explainer, file, opts);
  if (inputs.length !== 1) throw new InputError(`${file} holds ${inputs.length} images; ${what} must be one image`);
  return inputs[0]!;
}


export function resolveTruth(explainer: Explainer, label: number | string | undefined): ClassRef | null {
  if (label === undefined) return null;
  const labels = explainer.labels;
  if (typeof label === 'number') {
    if (labels && label >= labels.length) throw new InputError(`true class index ${label} is out of range: the model has ${labels.length} labels`);
    return { index: label, label: labels?.[label] ?? null };
  }
  if (!labels) return { index: null, label };
  const k = explainer.classIndex(label, labels.length);
  return { index: k, label: labels[k]! };
}

/** A binary mask: 1 inside the object, 0 outside, `width` × `height`. */
export interface Mask {
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * Reads a mask, the one rule for every command (documented in `gradcam audit --help`, `explain --help`
 * and docs/audit.md):
 *   - an image (PNG, JPEG, ...): a pixel is inside where its brightest channel is at least half of the
 *     brightest value in the whole mask; so a 0/255 mask, a 0/1 label PNG and a coloured overlay all
 *     read as drawn, and JPEG noise around a 0/255 mask (values well below 128) stays outside. An
 *     all-black mask is empty.
 *   - an .npy array [h, w] (or with unit axes, [1, h, w]) of any numeric dtype: inside where non-zero.
 * `maxPixels` refuses larger images before decoding; `maxSide` shrinks larger ones while decoding.
 */
export async function readMask(file: string, opts: { maxPixels?: number; maxSide?: number } = {}): Promise<Mask> {
  if (file.toLowerCase().endsWith('.npy')) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readRegularFile(file));
    } catch (e) {
      throw new InputError((e as FileReadError).code === 'ENOENT' ? `mask not found: ${file}` : `cannot read mask ${file}: ${(e as Error).message}`);
    }
    let npy;
    try {
      npy = parseNpy(bytes);
    } catch (e) {
      throw new InputError(`mask ${file} cannot be used: ${(e as Error).message.replace(/^parseNpy: /, '')}`);
    }
    const shape = npy.shape.filter((d) => d !== 1);
    if (shape.length !== 2) throw new InputError(`mask ${file} has shape [${npy.shape.join(', ')}]; expected [h, w]`);
    const v = toFloat32(npy);
    return { data: Uint8Array.from(v, (x) => (x !== 0 ? 1 : 0)), width: shape[1]!, height: shape[0]! };
  }
  if (!fs.existsSync(file)) throw new InputError(`mask not found: ${file}`);
  let img;
  try {
    img = await readImageFile(file, { maxPixels: opts.maxPixels, ...(opts.maxSide ? { maxSide: opts.maxSide } : {}) });
  } catch (e) {
    throw new InputError(`mask: ${(e as Error).message}`);
  }
  return maskFromPixels(img.data, img.width, img.height);
}

/** The image rule of readMask on 8-bit RGB pixels: brightest channel ≥ half the mask's brightest value. */
export function maskFromPixels(rgb: Uint8Array, width: number, height: number): Mask {
  const n = width * height;
  const bright = new Uint8Array(n);
  let top = 0;
  for (let i = 0; i < n; i++) {
    const b = Math.max(rgb[i * 3]!, rgb[i * 3 + 1]!, rgb[i * 3 + 2]!);
    bright[i] = b;
    if (b > top) top = b;
  }
  const data = new Uint8Array(n);
  if (top > 0) for (let i = 0; i < n; i++) data[i] = 2 * bright[i]! >= top ? 1 : 0;
  return { data, width, height };
}
