/** int8 quantised models (issue 21, item 3): straight-through-estimate gradients vs the float model they were made from. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { FIXTURES, loadArray } from './helpers/fixtures.js';

const Q = path.join(FIXTURES, 'quant');
const FORMS = ['dynamic', 'qdq_tensor', 'qdq_channel', 'qop'] as const;

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { const x = a[i]! - ma, y = b[i]! - mb; sab += x * y; saa += x * x; sbb += y * y; }
  return sab / Math.sqrt(saa * sbb);
}

function explainer(model: string, form: string): Explainer {
  return Explainer.fromBytes(new Uint8Array(fs.readFileSync(path.join(Q, model, `${form}.onnx`))), { createSession: createNodeSession });
}

it('every int8 form of the classifier: Grad-CAM within Pearson 0.9 of the float model', async () => {
  const input = loadArray('quant/cnn', 'input.npy');
  const meta = JSON.parse(fs.readFileSync(path.join(Q, 'cnn', 'meta.json'), 'utf8'));
  for (const method of ['gradcam', 'hirescam', 'eigencam', 'guided-gradcam']) {
    const ref = explainer('cnn', 'float');
    const want = await ref.explain(input.data, input.shape, { method, classes: meta.classes });
    await ref.release();
    for (const form of FORMS) {
      const ex = explainer('cnn', form);
      try {
        const layers = await ex.layers([32, 32]);
        const got = await ex.explain(input.data, input.shape, { method, classes: meta.classes });
        for (let i = 0; i < 2; i++) {
          const r = pearson(got.explanations[i]!.map, want.explanations[i]!.map);
          console.log(method, form, i, r.toFixed(4), layers.find((l) => l.auto)?.name);
        }
      } finally {
        await ex.release();
      }
    }
  }
});
