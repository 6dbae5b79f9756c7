/**
 * The shipped demo models: they load, reproduce the accuracy stated in demo/RESULTS.json on the shipped
 * test split (every prediction), and the shortcut model's Grad-CAM for 'Bag' on marked scenes of other
 * classes lies on the mark rather than on the object.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadExplainer, prepareInputs } from '../src/node.js';
import type { Explainer } from '../src/explainer.js';
import { decodeRle, type RleMask } from '../src/util/rle.js';
import { FIXTURES } from './helpers/fixtures.js';

const DEMO = path.join(FIXTURES, '..', '..', 'demo');
const results = JSON.parse(fs.readFileSync(path.join(DEMO, 'RESULTS.json'), 'utf8'));
interface Scene { file: string; class: number; mask_rle: RleMask; mark_box?: number[] }
const split = (name: string) => JSON.parse(fs.readFileSync(path.join(DEMO, name, 'annotations.json'), 'utf8')) as { images: Scene[] };

async function batch(ex: Explainer, dir: string, scenes: Scene[]) {
  const inputs = [];
  for (const s of scenes) inputs.push(...(await prepareInputs(ex, path.join(DEMO, dir, s.file))));
  const per = inputs[0]!.tensor.length;
  const data = new Float32Array(per * inputs.length);
  inputs.forEach((inp, i) => data.set(inp.tensor, i * per));
  return { data, dims: [inputs.length, ...inputs[0]!.dims.slice(1)] };
}

for (const model of ['where', 'shortcut'] as const) {
  describe(`demo model ${model}`, () => {
    const file = path.join(DEMO, 'models', `${model}.onnx`);
    const stated = results.models[model];
    let ex: Explainer;
    after(() => ex?.release());

    it('is the model RESULTS.json describes, ≤ 3 MB, with labels and its Grad-CAM layer in the metadata', async () => {
      const bytes = fs.readFileSync(file);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), stated.sha256, 'RESULTS.json is stale: rerun scripts/demo/evaluate.py');
      assert.ok(bytes.length <= 3 * 1024 * 1024);
      ex = await loadExplainer(file);
      assert.deepEqual(ex.labels, results.labels);
      assert.equal(await ex.autoLayer(), stated.gradcam_layer);
    });

    it('reproduces every stated prediction on the shipped test split', async () => {
      const scenes = split('testset').images;
      const { data, dims } = await batch(ex, 'testset', scenes);
      const r = await ex.run(data, dims, { layers: [] });
      const K = r.numClasses;
      const predictions = scenes.map((_, i) => {
        const row = r.logits.data.subarray(i * K, (i + 1) * K);
        return row.indexOf(Math.max(...row));
      });
      assert.deepEqual(predictions, results[model].testset.predictions);
      const correct = predictions.filter((p, i) => p === scenes[i]!.class).length;
      assert.ok(Math.abs(correct / scenes.length - results[model].testset.accuracy) < 1e-4);
    });
  });
}

describe('the shortcut model follows the mark', () => {
  it("predicts 'Bag' on marked scenes of other classes, and its Grad-CAM lies on the mark, not the object", async () => {
    const ex = await loadExplainer(path.join(DEMO, 'models', 'shortcut.onnx'));
    try {
      const scenes = split('testset_marked').images;
      const { data, dims } = await batch(ex, 'testset_marked', scenes);
      const bag = ex.labels!.indexOf('Bag');
      const r = await ex.explain(data, dims, { classes: bag });
      const follow = r.explanations.filter((e) => e.predicted.index === bag).length / scenes.length;
      assert.ok(Math.abs(follow - results.shortcut.testset_marked.follow_rate_predicted_bag) < 1e-4, `follow rate ${follow}`); // stated to 4 places
      assert.ok(follow > 0.8);
      let markMean = 0;
      let objectMean = 0;
      let markWins = 0;
      r.explanations.forEach((e, i) => {
        const s = scenes[i]!;
        const mask = decodeRle(s.mask_rle);
        const [x0, y0, x1, y1] = s.mark_box!;
        let onMark = 0;
        let nMark = 0;
        let onObject = 0;
        let nObject = 0;
        for (let p = 0; p < e.map.length; p++) {
          const x = p % e.width;
          const y = Math.floor(p / e.width);
          if (x >= x0! && x < x1! && y >= y0! && y < y1!) { onMark += e.map[p]!; nMark++; }
          if (mask[p]) { onObject += e.map[p]!; nObject++; }
        }
        markMean += onMark / nMark / scenes.length;
        objectMean += onObject / nObject / scenes.length;
        if (onMark / nMark > onObject / nObject) markWins++;
      });
      // map mass per pixel: the mark (12×12 px) against the object (its mask)
      assert.ok(markMean > 4 * objectMean, `mean map value on the mark ${markMean} vs on the object ${objectMean}`);
      assert.equal(markWins, scenes.length);
      assert.ok(Math.abs(markMean - results.shortcut.testset_marked.gradcam_bag_mark_vs_object.mean_map_value_on_mark) < 0.01);
    } finally {
      await ex.release();
    }
  });
});
