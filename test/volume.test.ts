/**
 * 3-D models (issue 16) on the volume3d fixture (scripts/fixtures/make_volume_fixtures.py: a small
 * Conv3d/BatchNorm3d/MaxPool3d/trilinear-Upsample CNN): logits, the layer's activation and gradient
 * against torch, every A/G CAM method against pytorch-grad-cam's 3-D definitions (raw maps ≤ 1e-5
 * relative; final maps ≤ 1e-4 with its scipy.ndimage.zoom and with the trilinear default), guided
 * backprop in 3-D, the 3-D resizes themselves, and the errors for what volumes do not support.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { resizeTrilinear, zoomSpline } from '../src/image/resize3d.js';
import { FIXTURES, loadArray, maxAbsError, maxRelError, modelBytes, relL2 } from './helpers/fixtures.js';
import { InputError } from '../src/util/scores.js';

const NAME = 'volume3d';
const meta = JSON.parse(fs.readFileSync(path.join(FIXTURES, NAME, 'volume.json'), 'utf8')) as {
  input_shape: number[]; classes: number[]; methods: string[]; layers: { key: string; tensor: string }[];
};

describe('3-D models: parity with pytorch-grad-cam on volume3d', () => {
  const ex = Explainer.fromBytes(modelBytes(NAME), { createSession: createNodeSession, source: NAME });
  const input = loadArray(NAME, 'input.npy');
  const layer = meta.layers[0]!;
  after(() => ex.release());

  it('reads a 5-D input, picks the last 3-D layer, and matches torch on logits, activation and gradient', async () => {
    assert.equal(ex.volume, true);
    assert.equal(ex.layout, 'NCHW');
    assert.deepEqual(ex.inputGrid, [null, 8, 12, 12].slice(1));
    assert.equal(await ex.autoLayer(), layer.tensor);
    const layers = await ex.layers();
    assert.ok(layers.find((l) => l.name === layer.tensor)?.layout.kind === 'ncdhw');
    const r = await ex.run(input.data, input.shape, { layers: [layer.tensor], classes: meta.classes });
    assert.deepEqual(r.grid, [8, 12, 12]);
    assert.ok(maxRelError(r.logits.data, loadArray(NAME, 'logits.npy').data) <= 1e-5);
    const a = loadArray(NAME, 'last.activation.npy');
    assert.deepEqual(r.activations[0]!.dims, a.shape);
    assert.ok(maxRelError(r.activations[0]!.data, a.data) <= 1e-5);
    const eg = relL2(r.gradients[0]!.data, loadArray(NAME, 'last.grad.npy').data);
    assert.ok(eg <= 1e-5, `gradient rel L2 ${eg}`);
  });

  for (const method of meta.methods) {
    it(`${method}: raw map ≤ 1e-5 relative, final maps ≤ 1e-4 (scipy zoom and trilinear)`, async () => {
      const raw = loadArray(NAME, `${method}.raw.npy`);
      for (const resize of ['spline', 'trilinear'] as const) {
        const out = await ex.explain(input.data, input.shape, { method, classes: meta.classes, volumeResize: resize });
        const maps = new Float32Array(out.explanations.length * out.explanations[0]!.map.length);
        const raws = new Float32Array(raw.data.length);
        out.explanations.forEach((e, i) => {
          assert.equal(e.target.index, meta.classes[i]);
          assert.deepEqual([e.depth, e.height, e.width, e.rawDepth, e.rawHeight, e.rawWidth], [8, 12, 12, 4, 6, 6]);
          maps.set(e.map, i * e.map.length);
          raws.set(e.raw, i * e.raw.length);
        });
        const er = maxRelError(raws, raw.data);
        assert.ok(er <= 1e-5, `${method} raw rel err ${er}`);
        const ref = loadArray(NAME, `${method}.${resize}.npy`);
        const em = maxAbsError(maps, ref.data);
        assert.ok(em <= 1e-4, `${method} ${resize} map abs err ${em}`);
      }
    });
  }

  it('guided backprop in 3-D equals torch with guided ReLUs; saliency equals autograd', async () => {
    const gb = await ex.explain(input.data, input.shape, { method: 'guided-backprop', classes: meta.classes, rectifierOps: 'relu' });
    const sal = await ex.explain(input.data, input.shape, { method: 'saliency', classes: meta.classes });
    const cat = (es: typeof gb.explanations) => { const o = new Float32Array(es.length * es[0]!.gradient!.length); es.forEach((e, i) => o.set(e.gradient!, i * e.gradient!.length)); return o; };
    // channels last [D, H, W, 1] is the model's layout with one channel
    const eg = relL2(cat(gb.explanations), loadArray(NAME, 'guided_input_grad.npy').data);
    const es = relL2(cat(sal.explanations), loadArray(NAME, 'input_grad.npy').data);
    assert.ok(eg <= 1e-5, `guided rel L2 ${eg}`);
    assert.ok(es <= 1e-5, `saliency rel L2 ${es}`);
    assert.equal(gb.explanations[0]!.depth, 8);
    assert.equal(gb.explanations[0]!.map.length, 8 * 12 * 12);
  });

  it('refuses what volumes do not support, in one line naming the choices', async () => {
    await assert.rejects(ex.explain(input.data, input.shape, { method: 'scorecam' }), (e: Error) => e instanceof InputError && /does not explain 3-D models yet; for volumes choose one of: gradcam, gradcam\+\+/.test(e.message) && !e.message.includes('\n'));
    await assert.rejects(ex.explain(input.data, input.shape, { topK: 2 }), /not supported for volumes yet: topK/);
    await assert.rejects(ex.explain(input.data, [1, 1, 8, 12], {}), /does not match the model's input 'input' \[batch, 1, 8, 12, 12\] \(NCDHW\)/);
    assert.throws(() => ex.checkInput(input.data, input.shape), /takes volumes/);
  });
});

describe('3-D resizes', () => {
  it('trilinear with half-pixel centres: a constant stays constant, a ramp stays linear inside', () => {
    const src = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i % 4);
    const up = resizeTrilinear(src, [2, 3, 4], [4, 6, 8]);
    // x' = (o + 0.5)/2 − 0.5 clamped to [0, 3]
    const row = Array.from(up.subarray(0, 8));
    assert.deepEqual(row.map((v) => Math.round(v * 1e6) / 1e6), [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3]);
    const c = resizeTrilinear(new Float32Array(8).fill(0.5), [2, 2, 2], [5, 3, 7]);
    assert.ok(c.every((v) => Math.abs(v - 0.5) < 1e-7));
  });

  it('spline zoom interpolates: output points on input samples (corners aligned) keep their values', () => {
    const src = Float32Array.from({ length: 3 * 4 * 5 }, (_, i) => Math.sin(i * 0.7));
    const up = zoomSpline(src, [3, 4, 5], [5, 7, 9]);
    // o·(in − 1)/(out − 1): even z and x, and y = 2 (→ 1) fall on input samples
    for (let z = 0; z < 5; z += 2) for (let x = 0; x < 9; x += 2) assert.ok(Math.abs(up[(z * 7 + 2) * 9 + x]! - src[((z / 2) * 4 + 1) * 5 + x / 2]!) < 1e-6);
  });
});
