/**
 * Parity with PyTorch on the golden fixtures: logits and activations (≤ 1e-5 relative), layer
 * gradients from torch autograd (≤ 1e-5 relative L2), and Grad-CAM maps with pytorch-grad-cam's
 * numerics (≤ 1e-4 absolute).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
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
        const act = loadArray(name, `${layer.key}.activation.npy`);
        const grad = loadArray(name, `${layer.key}.grad.npy`);
        assert.deepEqual(r.activations[0]!.dims, act.shape);
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
      const eg = relL2(r.gradients[0]!.data, loadArray(name, `${layer.key}.grad.npy`).data);
      assert.ok(eg <= 1e-5, `layer gradient beside the guided chain: rel L2 err ${eg}`);
    });
  });
}
