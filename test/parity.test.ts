/**
 * Parity with PyTorch on the golden fixtures (CNNs, and the transformer / channels-last fixtures of
 * make_transformer_fixtures.py): logits and activations (≤ 1e-5 relative), layer gradients from torch
 * autograd (≤ 1e-5 relative L2; float64 autograd for the transformers), and Grad-CAM maps with
 * pytorch-grad-cam's numerics (≤ 1e-4 absolute).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { toNCHW } from '../src/layout/describe.js';
import { fixtureNames, loadArray, loadMeta, maxAbsError, maxRelError, modelBytes, relL2 } from './helpers/fixtures.js';

for (const name of fixtureNames()) {
  describe(`parity: ${name}`, () => {
    const meta = loadMeta(name);
    const explainer = Explainer.fromBytes(modelBytes(name), { createSession: createNodeSession, source: name });
    const input = loadArray(name, 'input.npy');
    const logitsRef = loadArray(name, 'logits.npy');
    after(() => explainer.release());

    it('finds the input layout and the reference auto layer', async () => {
      assert.equal(explainer.layout, meta.layout);
      const auto = meta.layers.find((l) => l.auto);
      if (auto) assert.equal(await explainer.autoLayer(), auto.tensor);
    });

    for (const layer of meta.layers) {
      it(`layer ${layer.key}: logits, activation, gradient and Grad-CAM map`, async () => {
        const r = await explainer.run(input.data, input.shape, { layers: [layer.tensor], classes: meta.classes });
        assert.ok(maxRelError(r.logits.data, logitsRef.data) <= 1e-5, `logits rel err ${maxRelError(r.logits.data, logitsRef.data)}`);
        // references are in the tensor's own layout (NHWC, tokens with prefix tokens...); ours in [N, C, h, w]
        const lay = r.layouts[0]!;
        const nchw = (file: string) => { const a = loadArray(name, file); return { ...toNCHW(a.data, a.shape, lay), shape: a.shape }; };
        const act = nchw(`${layer.key}.activation.npy`);
        const grad = nchw(`${layer.key}.grad.npy`);
        assert.deepEqual(r.activations[0]!.dims, act.dims);
        const ea = maxRelError(r.activations[0]!.data, act.data);
        const eg = relL2(r.gradients[0]!.data, grad.data);
        assert.ok(ea <= 1e-5, `activation rel err ${ea}`);
        assert.ok(eg <= 1e-5, `gradient rel L2 err ${eg}`);

        const ex = await explainer.explain(input.data, input.shape, { layer: layer.tensor, classes: meta.classes });
        const cam = loadArray(name, `${layer.key}.gradcam.npy`);
        const raw = loadArray(name, `${layer.key}.gradcam_raw.npy`);
        const maps = new Float32Array(cam.data.length);
        const raws = new Float32Array(raw.data.length);
        ex.explanations.forEach((e, i) => {
          maps.set(e.map, i * e.map.length);
          raws.set(e.raw, i * e.raw.length);
          assert.equal(e.target.index, meta.classes[i]);
        });
        assert.ok(maxRelError(raws, raw.data) <= 1e-4, `raw map rel err ${maxRelError(raws, raw.data)}`);
        assert.ok(maxAbsError(maps, cam.data) <= 1e-4, `map abs err ${maxAbsError(maps, cam.data)}`);
      });
    }

    it('input gradient (plain saliency) equals torch autograd', async () => {
      const r = await explainer.run(input.data, input.shape, { layers: [], classes: meta.classes, inputGradient: true });
      const ref = loadArray(name, 'input_grad.npy');
      const e = relL2(r.inputGradient!.data, ref.data);
      assert.ok(e <= 1e-5, `input gradient rel L2 err ${e}`);
    });

    it('guided backprop (pytorch-grad-cam: only Relu guided) and the plain layer gradient, in one graph', async () => {
      const layer = meta.layers.find((l) => l.auto) ?? meta.layers[0]!;
      const r = await explainer.run(input.data, input.shape, {
        layers: [layer.tensor], classes: meta.classes, inputGradient: true, rectifier: 'guided', rectifierOps: 'relu',
      });
      const ref = loadArray(name, 'guided_input_grad.npy');
      const e = relL2(r.inputGradient!.data, ref.data);
      assert.ok(e <= 1e-4, `guided input gradient rel L2 err ${e}`);
      const refGrad = loadArray(name, `${layer.key}.grad.npy`);
      const eg = relL2(r.gradients[0]!.data, toNCHW(refGrad.data, refGrad.shape, r.layouts[0]!).data);
      assert.ok(eg <= 1e-5, `layer gradient beside the guided chain: rel L2 err ${eg}`);
    });
  });
}
