/** ONNX I/O and model forms: Constant-node weights, external data, initializers listed as inputs, opsets 9 to 21, dynamic sizes, labels. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { loadExplainer } from '../src/node.js';
import { createNodeSession } from '../src/runtime/node.js';
import { decodeModel, encodeModel, makeValueInfo, setOpsetVersion, type ModelProto } from '../src/onnx/model.js';
import { decodeTensor } from '../src/onnx/tensor.js';
import { upgradeOpset } from '../src/onnx/upgrade.js';
import { loadArray, loadMeta, maxRelError, modelBytes, relL2 } from './helpers/fixtures.js';

const meta = loadMeta('resnet_like');
const input = loadArray('resnet_like', 'input.npy');
const layer = meta.layers.find((l) => l.auto)!;
const refGrad = loadArray('resnet_like', `${layer.key}.grad.npy`);
const refLogits = loadArray('resnet_like', 'logits.npy');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-onnx-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function checkParity(ex: Explainer) {
  try {
    const r = await ex.run(input.data, input.shape, { layers: [layer.tensor], classes: meta.classes });
    assert.ok(maxRelError(r.logits.data, refLogits.data) <= 1e-5);
    assert.ok(relL2(r.gradients[0]!.data, refGrad.data) <= 1e-5);
  } finally {
    await ex.release();
  }
}

const fresh = (): ModelProto => decodeModel(modelBytes('resnet_like'));

describe('model forms', () => {
  it('weights held in Constant nodes (through Identity) instead of initializers', async () => {
    const m = fresh();
    const consts = m.graph.initializer.map((t) => ({
      name: `${t.name}/const`, op_type: 'Constant', domain: '', input: [], output: [`${t.name}__c`], attribute: [{ name: 'value', type: 4, t: { ...t, name: '' } }],
    }));
    const ids = m.graph.initializer.map((t) => ({ name: `${t.name}/id`, op_type: 'Identity', domain: '', input: [`${t.name}__c`], output: [t.name!], attribute: [] }));
    m.graph.node = [...consts, ...ids, ...m.graph.node];
    m.graph.initializer = [];
    await checkParity(Explainer.fromBytes(encodeModel(m), { createSession: createNodeSession }));
  });

  it('initializers also listed as graph inputs (old exporters)', async () => {
    const m = fresh();
    for (const t of m.graph.initializer) m.graph.input.push(makeValueInfo(t.name!, 1, t.dims!.map(Number)));
    await checkParity(Explainer.fromBytes(encodeModel(m), { createSession: createNodeSession }));
  });

  it('external data in a file beside the model', async () => {
    const m = fresh();
    const chunks: Buffer[] = [];
    let offset = 0;
    for (const t of m.graph.initializer) {
      const raw = Buffer.from(t.raw_data!);
      chunks.push(raw);
      t.external_data = [{ key: 'location', value: 'weights.bin' }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(raw.length) }];
      t.data_location = 1;
      delete t.raw_data;
      offset += raw.length;
    }
    const dir = path.join(tmp, 'ext');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(chunks));
    fs.writeFileSync(path.join(dir, 'model.onnx'), encodeModel(m));
    await checkParity(await loadExplainer(path.join(dir, 'model.onnx')));
    fs.rmSync(path.join(dir, 'weights.bin'));
    await assert.rejects(loadExplainer(path.join(dir, 'model.onnx')), /external data file 'weights\.bin' not found beside the model/);
  });

  it('opset 21 (ops whose definition did not change)', async () => {
    const m = fresh();
    setOpsetVersion(m, 21);
    m.ir_version = 10;
    await checkParity(Explainer.fromBytes(encodeModel(m), { createSession: createNodeSession }));
  });

  it('dynamic height and width need a size, and work at any size', async () => {
    const m = fresh();
    const inp = m.graph.input[0]!;
    inp.type!.tensor_type!.shape!.dim = [{ dim_param: 'batch' }, { dim_value: 3 }, { dim_param: 'h' }, { dim_param: 'w' }];
    const ex = Explainer.fromBytes(encodeModel(m), { createSession: createNodeSession, source: 'dyn.onnx' });
    try {
      assert.throws(() => ex.imageDims(), /dyn\.onnx: input 'input' has a dynamic height\/width .*--size/);
      assert.deepEqual(ex.imageDims([64, 80]), [1, 3, 64, 80]);
      const x = new Float32Array(3 * 64 * 80).map((_, i) => Math.sin(i * 0.01));
      const r = await ex.explain(x, [1, 3, 64, 80], { layer: 'auto' });
      assert.equal(r.explanations[0]!.map.length, 64 * 80);
      assert.equal(r.explanations[0]!.rawHeight, 8);
      await checkParity(ex);
    } finally {
      await ex.release();
    }
  });

  it('labels from the model metadata select classes by name', async () => {
    const m = fresh();
    const labels = Array.from({ length: 10 }, (_, i) => `class-${String.fromCharCode(97 + i)}`);
    m.metadata_props = [{ key: 'labels', value: JSON.stringify(labels) }];
    const ex = Explainer.fromBytes(encodeModel(m), { createSession: createNodeSession });
    try {
      const r = await ex.explain(input.data, input.shape, { classes: ['class-d', 'CLASS-H'] });
      assert.deepEqual(r.explanations.map((e) => [e.target.index, e.target.label]), [[3, 'class-d'], [7, 'class-h']]);
      assert.throws(() => ex.classIndex('class-z', 10), /unknown class label 'class-z'\. Closest labels: /);
    } finally {
      await ex.release();
    }
  });
});

describe('opset upgrade', () => {
  it('rewrites opset-9 attributes as inputs and keeps the meaning (opset9 fixture: parity in parity.test.ts)', () => {
    const m = decodeModel(modelBytes('opset9'));
    const before = m.graph.node.map((n) => n.op_type);
    upgradeOpset(m);
    assert.equal(m.opset_import[0]!.version, 17);
    const pad = m.graph.node.find((n) => n.op_type === 'Pad')!;
    assert.equal(pad.input.length, 3);
    assert.ok(!pad.attribute.some((a) => a.name === 'pads'));
    const pads = m.graph.initializer.find((t) => t.name === pad.input[1])!;
    assert.deepEqual(Array.from(decodeTensor(pads).data as BigInt64Array, Number), [0, 0, 1, 1, 0, 0, 1, 1]);
    const clip = m.graph.node.find((n) => n.op_type === 'Clip')!;
    assert.deepEqual(clip.input.slice(1).map((n) => Array.from(decodeTensor(m.graph.initializer.find((t) => t.name === n)!).data as Float32Array)), [[-1], [2.5]]);
    assert.deepEqual(m.graph.node.map((n) => n.op_type), before);
  });
});
