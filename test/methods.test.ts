/**
 * Every registered method through the one library call, explain(): CAM methods and gradient methods alike;
 * the gradient methods against torch autograd's input gradients (independent of the code under test).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { CAM_METHODS } from '../src/cam/index.js';
import { GRADIENT_METHODS, type GradientMethod } from '../src/cam/guided.js';
import { loadArray, loadMeta, maxAbsError, modelBytes, relL2 } from './helpers/fixtures.js';

it('explain() runs every registered method (none throws), with maps in [0, 1] at input resolution', async () => {
  const meta = loadMeta('resnet_like');
  const input = loadArray('resnet_like', 'input.npy');
  const ex = Explainer.fromBytes(modelBytes('resnet_like'), { createSession: createNodeSession });
  try {
    for (const method of [...Object.keys(CAM_METHODS), ...Object.keys(GRADIENT_METHODS)]) {
      const r = await ex.explain(input.data, input.shape, { method, classes: meta.classes, batchSize: 8 });
      assert.equal(r.explanations.length, 2, method);
      for (const [i, e] of r.explanations.entries()) {
        assert.equal(e.method, method);
        assert.equal(e.target.index, meta.classes[i]);
        assert.equal(e.map.length, e.height * e.width);
        assert.ok(Math.max(...e.map) <= 1 + 1e-6 && Math.min(...e.map) >= 0, method);
      }
    }
    // a gradient method's gradient against torch autograd (scripts/fixtures/make_fixtures.py: plain,
    // guided and deconvnet ReLU backward; guided Grad-CAM = guided backprop × torch's Grad-CAM map), and
    // its map the gradient's per-pixel magnitude
    const [, C, H, W] = input.shape as [number, number, number, number];
    const guided = loadArray('resnet_like', 'guided_input_grad.npy').data;
    const cam = loadArray('resnet_like', 'last.gradcam.npy').data;
    const golden: Record<GradientMethod, Float32Array> = {
      saliency: loadArray('resnet_like', 'input_grad.npy').data,
      'guided-backprop': guided,
      deconvnet: loadArray('resnet_like', 'deconvnet_input_grad.npy').data,
      'guided-gradcam': guided.map((g, k) => g * cam[Math.floor(k / (C * H * W)) * H * W + (k % (H * W))]!),
    };
    for (const method of Object.keys(GRADIENT_METHODS) as GradientMethod[]) {
      const r = await ex.explain(input.data, input.shape, { method, classes: meta.classes });
      for (const [i, e] of r.explanations.entries()) {
        // [H, W, C] → NCHW, against the golden's image i
        const got = new Float32Array(C * H * W);
        for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) got[c * H * W + p] = e.gradient![p * C + c]!;
        const ref = golden[method].subarray(i * C * H * W, (i + 1) * C * H * W);
        assert.ok(relL2(got, ref) <= 1e-4, `${method} image ${i}: relative L2 ${relL2(got, ref)}`);
        const mag = Array.from({ length: H * W }, (_, p) => Math.max(...[0, 1, 2].map((c) => Math.abs(ref[c * H * W + p]!))));
        const top = Math.max(...mag);
        assert.ok(maxAbsError(e.map, mag.map((v) => v / top)) <= 1e-3, method);
      }
    }
    await assert.rejects(ex.explain(input.data, input.shape, { method: 'saliency', topK: 2 }), /saliency explains through the input gradient and takes none of: topK/);
  } finally {
    await ex.release();
  }
});
