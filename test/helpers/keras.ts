/** Test helpers for the Keras importer: a folder as ModelFiles, and TF.js references (forward, tf.grad, Grad-CAM as visualize-convnet does). */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ModelFiles } from '../../src/onnx/import/types.js';
import { rng } from '../../scripts/demo/medical/phantom.js';

export const KERAS_FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures', 'keras');

/** The files of a folder (recursively), as ModelFiles. */
export function folderFiles(dir: string): ModelFiles {
  const names: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name), rel ? `${rel}/${e.name}` : e.name);
      else names.push(rel ? `${rel}/${e.name}` : e.name);
    }
  };
  walk(dir, '');
  return {
    names,
    read: async (name: string) => (names.includes(name) ? new Uint8Array(fs.readFileSync(path.join(dir, name))) : undefined),
  };
}

let backend: Promise<boolean> | undefined;

/** Loads a TF.js layers model from its folder (CPU backend). */
export async function loadTfjs(dir: string): Promise<tf.LayersModel> {
  backend ??= tf.setBackend('cpu');
  await backend;
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const group = json.weightsManifest[0];
  const bins = group.paths.map((p: string) => fs.readFileSync(path.join(dir, p)));
  const data = new Uint8Array(Buffer.concat(bins));
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: group.weights, weightData: data.buffer }));
}

/** A layer by name, searched through nested models. */
export function findLayer(model: tf.LayersModel | tf.layers.Layer, name: string): tf.layers.Layer | undefined {
  const layers = (model as unknown as { layers?: tf.layers.Layer[] }).layers ?? [];
  for (const l of layers) {
    if (l.name === name) return l;
    const inner = findLayer(l, name);
    if (inner) return inner;
  }
  return undefined;
}

/** Replaces a layer's activation (e.g. the final softmax by the identity, for the logits). */
export function setActivation(layer: tf.layers.Layer, apply: (x: tf.Tensor) => tf.Tensor): void {
  (layer as unknown as { activation: { apply: (x: tf.Tensor) => tf.Tensor; getClassName: () => string } }).activation = { apply, getClassName: () => 'patched' };
}

function oneHot(classes: number[], k: number): tf.Tensor {
  return tf.oneHot(tf.tensor1d(classes, 'int32'), k).toFloat();
}

/** TF.js's forward pass (eager apply, inference mode). */
export function forward(model: tf.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.apply(x, { training: false }) as tf.Tensor).dataSync() as Float32Array);
}

/** d(score of classes[n]) / d(input) with tf.grad. */
export function inputGradient(model: tf.LayersModel, x: tf.Tensor, classes: number[], k: number): Float32Array {
  return tf.tidy(() => {
    const hot = oneHot(classes, k);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(model.apply(v, { training: false }) as tf.Tensor, hot)))(x);
    return g.dataSync() as Float32Array;
  });
}

/**
 * Grad-CAM as TF.js's visualize-convnet example computes it: the layer's output A, the gradient of the
 * class score with respect to A (tf.grad, the layer's output replaced by A for the rest of the model),
 * channel weights = mean of the gradient over the grid, raw map = Σ_c w_c A_c. Returns A, dS/dA (NHWC) and the raw maps [N, h, w].
 */
export function gradcamTfjs(model: tf.LayersModel, layerName: string, x: tf.Tensor, classes: number[], k: number): { act: Float32Array; grad: Float32Array; raw: Float32Array; shape: number[] } {
  const layer = findLayer(model, layerName);
  if (!layer) throw new Error(`no layer ${layerName}`);
  const original = layer.call.bind(layer);
  return tf.tidy(() => {
    let captured: tf.Tensor | undefined;
    layer.call = (inputs, kwargs) => {
      const y = original(inputs, kwargs) as tf.Tensor;
      captured = tf.keep(y.clone());
      return y;
    };
    try {
      model.apply(x, { training: false });
    } finally {
      layer.call = original;
    }
    const a = captured!;
    const hot = oneHot(classes, k);
    const score = (v: tf.Tensor) => {
      layer.call = () => tf.mul(v, 1);
      try {
        return tf.sum(tf.mul(model.apply(x, { training: false }) as tf.Tensor, hot));
      } finally {
        layer.call = original;
      }
    };
    const g = tf.grad(score)(a);
    const w = tf.mean(g, [1, 2], true);
    const raw = tf.sum(tf.mul(a, w), -1);
    const out = { act: a.dataSync() as Float32Array, grad: g.dataSync() as Float32Array, raw: raw.dataSync() as Float32Array, shape: a.shape };
    a.dispose();
    return out;
  });
}

/** NHWC [N, h, w, C] → NCHW [N, C, h, w]. */
export function nhwcToNchw(data: Float32Array, shape: number[]): Float32Array {
  const [n, h, w, c] = shape as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) for (let k = 0; k < c; k++) {
    out[((b * c + k) * h + i) * w + j] = data[((b * h + i) * w + j) * c + k]!;
  }
  return out;
}

/** A seeded uniform batch in [lo, hi). */
export function seededInput(shape: number[], seed: number, lo: number, hi: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: shape.reduce((p, v) => p * v, 1) }, () => lo + (hi - lo) * r());
}
