/**
 * The Keras topology importer (issue 22) against TF.js itself (@tensorflow/tfjs, CPU backend) on the
 * fixtures of scripts/fixtures/make_keras_fixtures.ts and their Keras forms (make_keras_files.py):
 * logits (≤ 1e-5 relative), input gradients against tf.grad (≤ 1e-4 relative L2), Grad-CAM against the
 * visualize-convnet computation in TF.js (≤ 1e-4), and the layer names of the topology.
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { importKerasModel } from '../src/onnx/import/keras/index.js';
import type { ImportedModel, ModelFiles } from '../src/onnx/import/types.js';
import { maxRelError, relL2 } from './helpers/fixtures.js';
import { README } from '../scripts/ops.js';
import { kerasLayersSection, readmeKerasSection } from '../scripts/keras-layers.js';
import { findLayer, folderFiles, forward, gradcamTfjs, inputGradient, KERAS_FIXTURES, loadTfjs, nhwcToNchw, seededInput, setActivation } from './helpers/keras.js';

interface Case {
  name: string;
  dir: string;
  entry: string;
  size: [number, number];
  k: number;
  /** Input value range the model expects. */
  range: [number, number];
  /** The layer whose output ends in softmax (its logits are compared before it). */
  softmaxLayer?: string;
  layers: string[];
  autoLayer?: string;
  /** Keras 3 semantics to give the TF.js reference (hard_sigmoid = relu6(x + 3) / 6) on these layers. */
  keras3HardSigmoid?: string[];
}

const TM = { dir: 'tm', size: [224, 224] as [number, number], k: 3, range: [-1, 1] as [number, number], softmaxLayer: 'dense_Dense2' };
const FN = { dir: 'functional', size: [32, 32] as [number, number], k: 10, range: [0, 255] as [number, number] };
const CASES: Case[] = [
  { ...TM, name: 'Teachable-Machine-like TF.js layers model (nested Sequential + functional MobileNet)', entry: 'model.json', layers: ['conv_pw_13_relu', 'conv_pw_3_relu'], autoLayer: 'conv_pw_13_relu' },
  { ...TM, name: 'Teachable-Machine-like, legacy Keras .h5', entry: 'model.h5', layers: ['conv_pw_13_relu'], autoLayer: 'conv_pw_13_relu' },
  { ...TM, name: 'Teachable-Machine-like, Keras 3 .keras', entry: 'model.keras', layers: ['conv_pw_13_relu'], autoLayer: 'conv_pw_13_relu' },
  { ...FN, name: 'functional TF.js layers model (residual Adds, SeparableConv2D, merges)', entry: 'model.json', layers: ['block5_conv3', 'merge_up', 'sep1'], autoLayer: 'pool4' },
  { ...FN, name: 'functional, legacy Keras .h5', entry: 'model.h5', layers: ['block5_conv3'], autoLayer: 'pool4' },
  { ...FN, name: 'functional, Keras 3 .keras', entry: 'model.keras', layers: ['block5_conv3'], autoLayer: 'pool4', keras3HardSigmoid: ['b_hsig'] },
];

const N = 2;
const classesFor = (k: number) => [1, k - 1];

for (const c of CASES) {
  describe(`keras import: ${c.name}`, () => {
    let imported: ImportedModel;
    let explainer: Explainer;
    let model: tf.LayersModel;
    let probsModel: tf.LayersModel;
    const shape = [N, c.size[0], c.size[1], 3];
    const input = seededInput(shape, 7, c.range[0], c.range[1]);
    const x = tf.tensor(input, shape);
    const classes = classesFor(c.k);

    before(async () => {
      const dir = path.join(KERAS_FIXTURES, c.dir);
      imported = await importKerasModel(folderFiles(dir), c.entry);
      explainer = Explainer.fromBytes(imported.onnx, { createSession: createNodeSession, source: c.entry, ...(imported.labels ? { labels: imported.labels } : {}) });
      model = await loadTfjs(dir);
      probsModel = await loadTfjs(dir);
      if (c.softmaxLayer) setActivation(findLayer(model, c.softmaxLayer)!, (v) => v);
      for (const m of [model, probsModel]) for (const l of c.keras3HardSigmoid ?? []) setActivation(findLayer(m, l)!, (v) => tf.clipByValue(tf.add(tf.div(v, 6), 0.5), 0, 1));
    });
    after(async () => {
      await explainer?.release();
      model?.dispose();
      probsModel?.dispose();
    });

    it('logits equal TF.js forward (≤ 1e-5 relative)', async () => {
      const r = await explainer.run(input, shape, { layers: [], classes });
      const ref = forward(model, x);
      assert.deepEqual(r.logits.dims, [N, c.k]);
      const e = maxRelError(r.logits.data, ref);
      assert.ok(e <= 1e-5, `logits rel err ${e}`);
      if (c.softmaxLayer) {
        // the model's own output (softmax) from TF.js, against the softmax of our logits
        const probs = forward(probsModel, x);
        const ours = new Float32Array(probs.length);
        for (let n = 0; n < N; n++) {
          const row = r.logits.data.subarray(n * c.k, (n + 1) * c.k);
          const m = Math.max(...row);
          const ex = Array.from(row, (v) => Math.exp(v - m));
          const s = ex.reduce((a, v) => a + v, 0);
          ex.forEach((v, j) => (ours[n * c.k + j] = v / s));
        }
        assert.ok(maxRelError(ours, probs) <= 1e-5, `probabilities rel err ${maxRelError(ours, probs)}`);
      }
    });

    it('input gradient equals tf.grad (≤ 1e-4 relative L2)', async () => {
      const r = await explainer.run(input, shape, { layers: [], classes, inputGradient: true });
      const ref = inputGradient(model, x, classes, c.k);
      const e = relL2(r.inputGradient!.data, ref);
      assert.ok(e <= 1e-4, `input gradient rel L2 ${e}`);
    });

    for (const layer of c.layers) {
      it(`--layer ${layer}: activation, gradient and Grad-CAM equal TF.js (visualize-convnet) within 1e-4`, async () => {
        const ref = gradcamTfjs(model, layer, x, classes, c.k);
        const r = await explainer.run(input, shape, { layers: [layer], classes });
        assert.ok(['nhwc', 'nchw'].includes(r.layouts[0]!.kind), r.layouts[0]!.kind);
        const act = nhwcToNchw(ref.act, ref.shape);
        const grad = nhwcToNchw(ref.grad, ref.shape);
        assert.ok(maxRelError(r.activations[0]!.data, act) <= 1e-5, `activation rel err ${maxRelError(r.activations[0]!.data, act)}`);
        assert.ok(relL2(r.gradients[0]!.data, grad) <= 1e-4, `gradient rel L2 ${relL2(r.gradients[0]!.data, grad)}`);
        const ex = await explainer.explain(input, shape, { layer, classes });
        const raws = new Float32Array(ref.raw.length);
        ex.explanations.forEach((e, i) => raws.set(e.raw, i * e.raw.length));
        assert.ok(maxRelError(raws, ref.raw) <= 1e-4, `raw Grad-CAM rel err ${maxRelError(raws, ref.raw)}`);
        // visualize-convnet's map: ReLU, ÷ max, at the layer's resolution
        const hw = ref.shape[1]! * ref.shape[2]!;
        for (let n = 0; n < N; n++) {
          const norm = (a: Float32Array) => { const v = a.subarray(n * hw, (n + 1) * hw).map((t) => Math.max(t, 0)); const m = Math.max(...v) || 1; return v.map((t) => t / m); };
          const e = Math.max(...Array.from(norm(raws), (v, i) => Math.abs(v - norm(ref.raw)[i]!)));
          assert.ok(e <= 1e-4, `image ${n}: normalised map abs err ${e}`);
        }
      });
    }

    it('names layers as the topology does; the automatic layer', async () => {
      const names = (await explainer.layers()).map((l) => l.name);
      for (const l of c.layers) assert.ok(names.includes(l), `${l} not among ${names.join(', ')}`);
      if (c.autoLayer) assert.equal(await explainer.autoLayer(), c.autoLayer);
    });
  });
}

describe('keras import: UpSampling2D (bilinear, nearest), valid Conv2DTranspose, same AveragePooling2D', () => {
  // TF.js 4.22's CPU gradients of AvgPool with 'same' padding and of ResizeNearestNeighbor (batch > 1) are
  // wrong, so the input gradient is checked by finite differences of the (TF.js-equal) forward pass
  let explainer: Explainer;
  let model: tf.LayersModel;
  const shape = [N, 12, 12, 3];
  const input = seededInput(shape, 11, 0, 1);
  const x = tf.tensor(input, shape);
  const classes = [0, 3];
  before(async () => {
    const dir = path.join(KERAS_FIXTURES, 'upsample');
    const imported = await importKerasModel(folderFiles(dir), 'model.json');
    explainer = Explainer.fromBytes(imported.onnx, { createSession: createNodeSession, source: 'upsample' });
    model = await loadTfjs(dir);
  });
  after(async () => {
    await explainer?.release();
    model?.dispose();
  });

  it('logits equal TF.js forward (≤ 1e-5 relative)', async () => {
    const r = await explainer.run(input, shape, { layers: [], classes });
    const e = maxRelError(r.logits.data, forward(model, x));
    assert.ok(e <= 1e-5, `logits rel err ${e}`);
  });

  it('input gradient equals finite differences of the forward pass', async () => {
    const r = await explainer.run(input, shape, { layers: [], classes, inputGradient: true });
    const g = r.inputGradient!.data;
    const per = input.length / N;
    for (let k = 0; k < 3; k++) {
      const d = seededInput(shape, 100 + k, -1, 1);
      const h = 1e-2;
      const score = async (s: number) => {
        const rr = await explainer.run(input.map((v, i) => v + s * h * d[i]!), shape, { layers: [], classes });
        return classes.map((cl, n) => rr.logits.data[n * 4 + cl]!);
      };
      const [p, m] = [await score(1), await score(-1)];
      for (let n = 0; n < N; n++) {
        const fd = (p[n]! - m[n]!) / (2 * h);
        let dot = 0;
        for (let i = n * per; i < (n + 1) * per; i++) dot += g[i]! * d[i]!;
        assert.ok(Math.abs(dot - fd) <= 2e-3 * Math.abs(fd) + 1e-5, `direction ${k}, image ${n}: gradient·d ${dot}, finite difference ${fd}`);
      }
    }
  });

  for (const layer of ['conv_c', 'up_nearest']) {
    it(`--layer ${layer}: Grad-CAM equals TF.js (visualize-convnet) within 1e-4`, async () => {
      const ref = gradcamTfjs(model, layer, x, classes, 4);
      const ex = await explainer.explain(input, shape, { layer, classes });
      const raws = new Float32Array(ref.raw.length);
      ex.explanations.forEach((e, i) => raws.set(e.raw, i * e.raw.length));
      assert.ok(maxRelError(raws, ref.raw) <= 1e-4, `raw Grad-CAM rel err ${maxRelError(raws, ref.raw)}`);
    });
  }
});

describe('keras import: a Keras 3 model (Normalization, Keras 3 hard_sigmoid, exact gelu, bilinear UpSampling2D with half-pixel centres)', () => {
  const dir = path.join(KERAS_FIXTURES, 'keras3');
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as { input_shape: number[]; input: number[]; output: number[] };
  let imported: ImportedModel;
  let explainer: Explainer;
  before(async () => {
    imported = await importKerasModel(folderFiles(dir), 'model.keras');
    explainer = Explainer.fromBytes(imported.onnx, { createSession: createNodeSession, source: 'keras3' });
  });
  after(() => explainer?.release());

  it('outputs equal the numpy (float64) forward pass (≤ 1e-5 relative)', async () => {
    const r = await explainer.run(Float32Array.from(expected.input), expected.input_shape, { layers: [], classes: [0, 1] });
    const e = maxRelError(r.logits.data, expected.output);
    assert.ok(e <= 1e-5, `output rel err ${e}`);
  });

  it('its own Normalization layer: raw pixels 0..255 (divisor 1, mean 0, std 1), the declared size', () => {
    assert.deepEqual(imported.preprocess, { size: [8, 8], divisor: 1, mean: [0, 0, 0], std: [1, 1, 1] });
    assert.equal(imported.format, 'keras');
    assert.match(imported.notes.join('\n'), /Keras 3\.6\.0 file model\.keras/);
    assert.match(imported.notes.join('\n'), /rescales its input itself \(Normalization\)/);
  });
});

describe('keras import: labels, preprocessing and notes from the files', () => {
  it('Teachable Machine: labels from metadata.json, the centre square at 224, pixels / 127 − 1', async () => {
    const m = await importKerasModel(folderFiles(path.join(KERAS_FIXTURES, 'tm')), 'model.json');
    assert.equal(m.format, 'tfjs-layers');
    assert.deepEqual(m.labels, ['Cat', 'Dog', 'Bird']);
    assert.deepEqual(m.preprocess, { size: [224, 224], resize: 224, crop: [224, 224], divisor: 127, mean: [1, 1, 1], std: [1, 1, 1], channelOrder: 'RGB' });
    assert.match(m.notes.join('\n'), /Teachable Machine image model/);
  });

  it('a model with its own Rescaling takes raw pixels; files read from a subfolder through ModelFiles', async () => {
    const files = folderFiles(KERAS_FIXTURES);
    const m = await importKerasModel(files, 'functional/model.json');
    assert.deepEqual(m.preprocess, { size: [32, 32], divisor: 1, mean: [0, 0, 0], std: [1, 1, 1] });
    assert.equal(m.labels, undefined);
    const h5 = await importKerasModel(files, 'functional/model.h5');
    assert.deepEqual(h5.preprocess, m.preprocess);
    assert.match(h5.notes[0]!, /Keras 2\.15\.0 HDF5 file functional\/model\.h5/);
  });
});

describe('keras import: quantised TF.js weights (uint8, uint16, float16) are dequantised as TF.js does', () => {
  const dir = path.join(KERAS_FIXTURES, 'functional');
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const group = json.weightsManifest[0];
  const data = new Float32Array(new Uint8Array(Buffer.concat(group.paths.map((p: string) => fs.readFileSync(path.join(dir, p))))).buffer);
  /** The weights quantised as tensorflowjs_converter does (affine uint8/uint16 per tensor, or float16), in one shard. */
  const quantised = (dtype: 'uint8' | 'uint16' | 'float16') => {
    const specs: unknown[] = [];
    const parts: Uint8Array[] = [];
    let off = 0;
    for (const w of group.weights as { name: string; shape: number[]; dtype: string }[]) {
      const n = w.shape.reduce((a, v) => a * v, 1);
      const v = data.subarray(off, off + n);
      off += n;
      if (dtype === 'float16') {
        const out = new Uint16Array(n);
        for (let i = 0; i < n; i++) out[i] = toHalf(v[i]!);
        parts.push(new Uint8Array(out.buffer));
        specs.push({ ...w, quantization: { dtype: 'float16', original_dtype: 'float32' } });
        continue;
      }
      const levels = dtype === 'uint8' ? 255 : 65535;
      const min = Math.min(...v);
      const scale = (Math.max(...v) - min) / levels || 1;
      const q = dtype === 'uint8' ? new Uint8Array(n) : new Uint16Array(n);
      for (let i = 0; i < n; i++) q[i] = Math.round((v[i]! - min) / scale);
      parts.push(new Uint8Array(q.buffer));
      specs.push({ ...w, quantization: { dtype, min, scale, original_dtype: 'float32' } });
    }
    const bin = new Uint8Array(Buffer.concat(parts));
    const modelJson = { ...json, weightsManifest: [{ paths: ['q.bin'], weights: specs }] };
    const files: ModelFiles = { names: ['model.json', 'q.bin'], read: async (n) => (n === 'model.json' ? new TextEncoder().encode(JSON.stringify(modelJson)) : n === 'q.bin' ? bin : undefined) };
    return { files, artifacts: { modelTopology: json.modelTopology, weightSpecs: specs as tf.io.WeightsManifestEntry[], weightData: bin.buffer } };
  };
  for (const dtype of ['uint8', 'uint16', 'float16'] as const) {
    it(`${dtype}: logits equal TF.js's on the same quantised files (≤ 1e-5 relative)`, async () => {
      const { files, artifacts } = quantised(dtype);
      const imported = await importKerasModel(files, 'model.json');
      assert.match(imported.notes.join('\n'), /dequantised \d+ weight\(s\) stored as (uint8|uint16|float16)/);
      const explainer = Explainer.fromBytes(imported.onnx, { createSession: createNodeSession, source: dtype });
      const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
      try {
        const shape = [N, 32, 32, 3];
        const input = seededInput(shape, 7, 0, 255);
        const r = await explainer.run(input, shape, { layers: [], classes: [0, 1] });
        const e = maxRelError(r.logits.data, forward(model, tf.tensor(input, shape)));
        assert.ok(e <= 1e-5, `logits rel err ${e}`);
      } finally {
        await explainer.release();
        model.dispose();
      }
    });
  }
});

/** float32 → IEEE half (round to nearest even; the fixtures' weights are normal numbers). */
function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp <= 0) return sign; // flush tiny values to zero
  if (exp >= 31) return sign | 0x7c00;
  let h = sign | (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return h;
}

describe('keras import: an input of any size (batch_input_shape [null, null, null, 3])', () => {
  it("'same' padding resolved at run time (SAME_UPPER): logits equal TF.js at 224×224 and at 160×192", async () => {
    const dir = path.join(KERAS_FIXTURES, 'tm');
    const base = folderFiles(dir);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    json.modelTopology.config.layers[0].config.layers[0].config.batch_input_shape = [null, null, null, 3];
    const files: ModelFiles = { names: base.names, read: async (n) => (n === 'model.json' ? new TextEncoder().encode(JSON.stringify(json)) : base.read(n)) };
    const imported = await importKerasModel(files, 'model.json');
    const explainer = Explainer.fromBytes(imported.onnx, { createSession: createNodeSession, source: 'any-size' });
    const model = await loadTfjs(dir);
    setActivation(findLayer(model, 'dense_Dense2')!, (v) => v);
    try {
      assert.deepEqual(explainer.inputSize, [null, null]);
      for (const [h, w] of [[224, 224], [160, 192]]) {
        const shape = [1, h!, w!, 3];
        const input = seededInput(shape, 3, -1, 1);
        const r = await explainer.run(input, shape, { layers: [], classes: [0] });
        const e = maxRelError(r.logits.data, forward(model, tf.tensor(input, shape)));
        assert.ok(e <= 1e-5, `${h}x${w}: logits rel err ${e}`);
      }
    } finally {
      await explainer.release();
      model.dispose();
    }
  });
});

describe('keras import: bad input is one line naming the problem', () => {
  const dir = path.join(KERAS_FIXTURES, 'functional');
  const edited = (edit: (json: Record<string, any>) => void, drop: string[] = []): ModelFiles => {
    const base = folderFiles(dir);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    edit(json);
    return {
      names: base.names.filter((n) => !drop.includes(n)),
      read: async (n) => (drop.includes(n) ? undefined : n === 'model.json' ? new TextEncoder().encode(JSON.stringify(json)) : base.read(n)),
    };
  };
  const oneLine = async (files: ModelFiles, entry: string, re: RegExp) => {
    await assert.rejects(importKerasModel(files, entry), (e: Error) => {
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'), e.message);
      return true;
    });
  };

  it('an unsupported layer names the layer and its type, and lists the supported ones', async () => {
    const files = edited((j) => { j.modelTopology.config.layers.find((l: any) => l.name === 'gap').class_name = 'GlobalAveragePooling3D'; });
    await oneLine(files, 'model.json', /^layer 'gap': the layer type 'GlobalAveragePooling3D' is not supported \(supported: .*GlobalAveragePooling2D/);
  });
  it('an unsupported activation names it and the layer', async () => {
    const files = edited((j) => { j.modelTopology.config.layers.find((l: any) => l.name === 'fc1').config.activation = 'thresholded'; });
    await oneLine(files, 'model.json', /^layer 'fc1' \(Dense\): activation 'thresholded' is not supported \(supported: linear, relu/);
  });
  it('a missing weights shard names the file', async () => {
    await oneLine(edited(() => {}, ['group1-shard2of2.bin']), 'model.json', /weights shard 'group1-shard2of2\.bin' named in the manifest is missing/);
  });
  it('a TF.js graph model is told apart; another file type lists the choices', async () => {
    await oneLine(edited((j) => { j.format = 'graph-model'; }), 'model.json', /a TF\.js graph model/);
    await oneLine(folderFiles(dir), 'group1-shard1of2.bin', /not a Keras-topology model file \(a TF\.js layers model\.json, a Keras \.keras or a Keras \.h5\)/);
  });
  it('a .keras that is not a zip, an .h5 that is not HDF5', async () => {
    const bogus: ModelFiles = { names: ['m.keras', 'm.h5'], read: async () => new TextEncoder().encode('not a model') };
    await oneLine(bogus, 'm.keras', /m\.keras: not a Keras 3 \.keras file/);
    await oneLine(bogus, 'm.h5', /m\.h5: not a readable HDF5 file/);
  });
});

it('the README lists the layers the importer reads (npx tsx scripts/keras-layers.ts)', () => {
  const readme = fs.readFileSync(README, 'utf8');
  assert.equal(readmeKerasSection(readme), kerasLayersSection(), 'README.md is stale: run npx tsx scripts/keras-layers.ts');
});
