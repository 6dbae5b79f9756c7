/** Every registered method through the one library call, explain(): CAM methods and gradient methods alike. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { CAM_METHODS } from '../src/cam/index.js';
import { explainGradients, GRADIENT_METHODS, type GradientMethod } from '../src/cam/guided.js';
import { loadArray, loadMeta, maxAbsError, modelBytes } from './helpers/fixtures.js';

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
    // a gradient method's map is its gradient's per-pixel magnitude; the gradient itself comes along
    for (const method of Object.keys(GRADIENT_METHODS) as GradientMethod[]) {
      const r = await ex.explain(input.data, input.shape, { method, classes: meta.classes });
      const g = await explainGradients(ex, input.data, input.shape, { method, classes: meta.classes });
      const e = r.explanations[1]!;
      assert.ok(maxAbsError(e.gradient!, g.explanations[1]!.gradient) <= 1e-6 * Math.max(...g.explanations[1]!.gradient.map(Math.abs)));
      const mag = Array.from({ length: e.height * e.width }, (_, p) => Math.max(...[0, 1, 2].map((c) => Math.abs(e.gradient![p * 3 + c]!))));
      const top = Math.max(...mag);
      assert.ok(maxAbsError(e.map, mag.map((v) => v / top)) <= 1e-6, method);
    }
    await assert.rejects(ex.explain(input.data, input.shape, { method: 'saliency', topK: 2 }), /saliency explains through the input gradient and takes none of: topK/);
  } finally {
    await ex.release();
  }
});
