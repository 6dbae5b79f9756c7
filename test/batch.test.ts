/**
 * Models exported with a fixed batch size (the most common export: batch 1): the Explainer runs any
 * number of images through them in chunks, for every method, and `gradcam explain` takes 20 images.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { explainGradients } from '../src/methods/gradient/explain.js';
import { decodeModel, encodeModel } from '../src/onnx/model.js';
import { encodePng } from '../src/image/png.js';
import { FIXTURES, loadArray, loadMeta, maxAbsError, modelBytes } from './helpers/fixtures.js';

/** The fixture model with its input's batch dimension fixed to `b`. */
function fixedBatch(name: string, b: number): Uint8Array {
  const m = decodeModel(modelBytes(name));
  const dim = m.graph.input[0]!.type!.tensor_type!.shape!.dim![0]!;
  delete dim.dim_param;
  dim.dim_value = b;
  return encodeModel(m);
}

const stack = (xs: Float32Array[]) => Float32Array.from(xs.flatMap((x) => Array.from(x)));

describe('fixed-batch models', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-batch-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a batch-1 ViT and a batch-1 CNN explain 2 images, as their dynamic-batch originals do, for CAM and gradient methods', async () => {
    for (const name of ['resnet_like', 'vit_tiny_op13']) {
      if (!fs.existsSync(path.join(FIXTURES, name))) continue;
      const meta = loadMeta(name);
      const input = loadArray(name, 'input.npy');
      const a = Explainer.fromBytes(fixedBatch(name, 1), { createSession: createNodeSession });
      const b = Explainer.fromBytes(modelBytes(name), { createSession: createNodeSession });
      try {
        assert.equal(a.inputDims[0], 1);
        for (const method of ['gradcam', 'layercam', 'scorecam']) {
          const ra = await a.explain(input.data, input.shape, { method, classes: meta.classes, batchSize: 8 });
          const rb = await b.explain(input.data, input.shape, { method, classes: meta.classes, batchSize: 8 });
          assert.equal(ra.explanations.length, 2);
          assert.ok(maxAbsError(stack(ra.explanations.map((e) => e.map)), stack(rb.explanations.map((e) => e.map))) <= 1e-5, `${name} ${method}`);
        }
        const top = await a.explain(input.data, input.shape, {});
        const topRef = await b.explain(input.data, input.shape, {});
        assert.deepEqual(top.explanations.map((e) => e.target.index), topRef.explanations.map((e) => e.target.index));
        const ga = await explainGradients(a, input.data, input.shape, { method: 'guided-gradcam', classes: meta.classes });
        const gb = await explainGradients(b, input.data, input.shape, { method: 'guided-gradcam', classes: meta.classes });
        assert.ok(maxAbsError(stack(ga.explanations.map((e) => e.gradient)), stack(gb.explanations.map((e) => e.gradient))) <= 1e-5 * Math.max(...stack(gb.explanations.map((e) => e.gradient)).map(Math.abs)));
      } finally {
        await a.release();
        await b.release();
      }
    }
  });

  it('gradcam explain on 20 images with a static batch-1 model', () => {
    const model = path.join(tmp, 'static1.onnx');
    fs.writeFileSync(model, fixedBatch('resnet_like', 1));
    const images: string[] = [];
    for (let k = 0; k < 20; k++) {
      const W = 40 + k;
      const H = 48;
      const data = Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * (k + 3) + k * 11) % 256);
      const f = path.join(tmp, `img${String(k).padStart(2, '0')}.png`);
      fs.writeFileSync(f, encodePng({ width: W, height: H, data }));
      images.push(f);
    }
    const out = path.join(tmp, 'out');
    const bin = path.join(FIXTURES, '..', '..', 'bin', 'gradcam.js');
    const r = spawnSync(process.execPath, [bin, 'explain', ...images, '--model', model, '--out', out, '--quiet'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const files = fs.readdirSync(out);
    assert.equal(files.filter((f) => f.endsWith('.gradcam.png')).length, 20);
    assert.equal(files.filter((f) => f.endsWith('.gradcam.json')).length, 20);
  });
});
