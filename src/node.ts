/**
 * Node entry: everything in index.ts plus model and image files, onnxruntime-node sessions.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Explainer, InputError, parseLabels, type ExplainerOptions } from './explainer.js';
import { ModelError } from './onnx/model.js';
import { createNodeSession } from './runtime/node.js';
import { readImageFile, readNpyFile } from './image/node.js';
import { resizeRgb } from './image/resize.js';
import { imageToTensor, type NormalizeOptions } from './image/normalize.js';
import { toFloat32 } from './image/npy.js';
import type { RgbImage } from './image/types.js';

export * from './index.js';
export { createNodeSession } from './runtime/node.js';
export { readImageFile, readNpyFile, writeFileAtomic, writePng } from './image/node.js';

export interface LoadModelOptions extends Partial<ExplainerOptions> {
  /** A labels file: one label per line, or a JSON array / {index: label} object. */
  labelsFile?: string;
}

/** Loads an ONNX model file (external data is read from beside it) into an Explainer. */
export async function loadExplainer(modelPath: string, opts: LoadModelOptions = {}): Promise<Explainer> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(modelPath);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModelError(`model file not found: ${modelPath}`);
    if (code === 'EISDIR') throw new ModelError(`model path is a directory, not an ONNX file: ${modelPath}`);
    throw new ModelError(`cannot read model ${modelPath}: ${(e as Error).message}`);
  }
  const dir = path.dirname(path.resolve(modelPath));
  const external = (location: string, offset: number, length: number | undefined): Uint8Array => {
    const file = path.resolve(dir, location);
    if (!file.startsWith(dir + path.sep)) throw new ModelError(`${modelPath}: external data location '${location}' points outside the model's folder`);
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch {
      throw new ModelError(`${modelPath}: external data file '${location}' not found beside the model`);
    }
    const end = length === undefined ? data.length : offset + length;
    if (end > data.length) throw new ModelError(`${modelPath}: external data file '${location}' is truncated`);
    return new Uint8Array(data.buffer, data.byteOffset + offset, end - offset);
  };
  let labels = opts.labels;
  if (opts.labelsFile) {
    let text: string;
    try {
      text = await fs.promises.readFile(opts.labelsFile, 'utf8');
    } catch {
      throw new InputError(`labels file not found: ${opts.labelsFile}`);
    }
    labels = parseLabels(text);
    if (!labels?.length) throw new InputError(`labels file ${opts.labelsFile} holds no labels`);
  }
  return Explainer.fromBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
    createSession: createNodeSession, external, source: modelPath, ...opts, labels,
  });
}

export interface PreparedInput {
  /** The file it came from. */
  file: string;
  /** One image's tensor [1, ...] in the model's layout. */
  tensor: Float32Array;
  dims: number[];
  /** The picture to overlay on (the original image, or the de-normalised tensor for .npy inputs). */
  image?: RgbImage;
}

export interface PrepareOptions extends NormalizeOptions {
  /** Input size [H, W] for models with dynamic spatial dims. */
  size?: [number, number];
}

/**
 * Reads an image (resized to the model's input with Pillow-style bilinear, normalised) or an .npy
 * file (taken as the ready model input, [C,H,W] or [N,C,H,W] in the model's layout).
 */
export async function prepareInputs(explainer: Explainer, file: string, opts: PrepareOptions = {}): Promise<PreparedInput[]> {
  if (file.toLowerCase().endsWith('.npy')) {
    const npy = await readNpyFile(file);
    let shape = npy.shape;
    if (shape.length === 3) shape = [1, ...shape];
    if (shape.length !== 4) throw new InputError(`${file}: an .npy input must be [C,H,W] or [N,C,H,W] in the model's layout (${explainer.layout}), got [${npy.shape.join(', ')}]`);
    const data = toFloat32(npy);
    const per = shape.slice(1).reduce((a, v) => a * v, 1);
    return Array.from({ length: shape[0]! }, (_, i) => ({
      file, tensor: data.slice(i * per, (i + 1) * per), dims: [1, ...shape.slice(1)],
    }));
  }
  const img = await readImageFile(file);
  const dims = explainer.imageDims(opts.size);
  const [h, w] = explainer.layout === 'NCHW' ? [dims[2]!, dims[3]!] : [dims[1]!, dims[2]!];
  if (explainer.channels !== 3) throw new InputError(`${file}: the model expects ${explainer.channels} channel(s); give a ready .npy tensor instead of an image`);
  const resized = resizeRgb(img, w, h);
  return [{ file, tensor: imageToTensor(resized, { ...opts, layout: explainer.layout }), dims, image: img }];
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
