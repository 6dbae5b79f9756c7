/**
 * Occlusion and RISE (issue 25): parity with the float64 references of
 * scripts/fixtures/make_perturbation_fixtures.py (Captum's Occlusion step by step; RISE's reference
 * implementation with the masks numpy draws after np.random.seed) on a CNN, a ViT and a channels-last
 * model, within 1e-4 relative L2; the masks themselves; the number and size of the model runs; refusals.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { loadExplainer } from '../src/node.js';
import { occlusionGrid } from '../src/methods/perturbation/occlusion.js';
import { riseDraws, riseMask } from '../src/methods/perturbation/rise.js';
import { divergingColor, normalizeAttribution, percentileAbs, topPercentMask } from '../src/image/attribution.js';
import { FIXTURES, loadArray, loadMeta, maxAbsError, relL2 } from './helpers/fixtures.js';

interface Entry { file: string; method: 'occlusion' | 'rise'; classes: number[]; options: Record<string, unknown>; tol: number }

const MODELS = ['resnet_like', 'vit_tiny_op17', 'tf_style_nhwc_op17'];
const explainers: Explainer[] = [];
after(async () => { for (const e of explainers) await e.release(); });

async function open(name: string): Promise<Explainer> {
  const ex = await loadExplainer(path.join(FIXTURES, name, 'model.onnx'), { cache: false });
  explainers.push(ex);
  return ex;
}

for (const name of MODELS) {
  describe(`perturbation methods on ${name}`, () => {
    const index = JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'perturb', 'index.json'), 'utf8')) as Entry[];
    const meta = loadMeta(name);
    const input = loadArray(name, 'input.npy');
    for (const e of index) {
      it(`${e.method} ${JSON.stringify(e.options)} matches the reference within ${e.tol} relative L2`, async () => {
        const ex = await open(name);
        const ref = loadArray(name, `perturb/${e.file}`);
        const o = e.options as { window?: [number, number]; strides?: [number, number]; baseline?: number; masks?: number; cells?: number; keep?: number; seed?: number };
        const methodOptions: Record<string, string | number> = e.method === 'occlusion' ? { window: o.window!.join(','), stride: o.strides!.join(','), baseline: o.baseline! } : { masks: o.masks!, cells: o.cells!, keep: o.keep! };
        const r = await ex.explain(input.data, input.shape, { method: e.method, classes: e.classes, methodOptions, randomSeed: o.seed, batchSize: 37 });
        assert.equal(r.explanations.length, meta.input_shape[0]);
        const [H, W] = ref.shape.slice(1) as [number, number];
        r.explanations.forEach((x, i) => {
          assert.equal(x.target.index, e.classes[i]);
          assert.deepEqual([x.height, x.width], [H, W]);
          const want = ref.data.subarray(i * H * W, (i + 1) * H * W);
          // the attribution [H, W, C] is the same over the channels (as Captum's)
          const C = x.channels!;
          const a = Float32Array.from({ length: H * W }, (_, p) => x.gradient![p * C]!);
          for (let c = 1; c < C; c++) assert.ok(maxAbsError(Float32Array.from({ length: H * W }, (_, p) => x.gradient![p * C + c]!), a) === 0);
          const err = relL2(a, want);
          assert.ok(err <= e.tol, `image ${i}: relative L2 ${err}`);
          // not a constant: the attribution varies over the picture
          assert.ok(Math.max(...want) - Math.min(...want) > 1e-3);
          // the map is |attribution| scaled to [0, 1]
          const abs = Array.from(a, Math.abs);
          assert.equal(x.map[abs.indexOf(Math.max(...abs))], 1);
          assert.equal((x.extras as Record<string, unknown>)[e.method] !== undefined, true);
        });
      });
    }
  });
}

describe('RISE masks', () => {
  it('are the reference code\'s masks after np.random.seed(seed)', () => {
    const [H, W] = loadArray('vit_tiny_op17', 'perturb/rise0.npy').shape.slice(1) as [number, number];
    const ref = loadArray('vit_tiny_op17', 'perturb/rise0.masks3.npy');
    const d = riseDraws(H, W, { masks: 300, cells: 5, keep: 0.5, seed: 7 });
    for (let i = 0; i < 3; i++) assert.ok(maxAbsError(riseMask(d, i, H, W), ref.data.subarray(i * H * W, (i + 1) * H * W)) < 1e-6);
  });
});

describe('Occlusion windows and batches', () => {
  it('follows Captum\'s positions: ceil((size − window) / stride) + 1 per axis, the last one cut at the edge', () => {
    const g = occlusionGrid(48, 48, { window: [10, 7], strides: [4, 3] });
    assert.deepEqual([g.rows.length, g.cols.length], [11, 15]);
    assert.equal(g.rows.at(-1), 40);
    assert.equal(g.cols.at(-1), 42);
  });

  it('puts the windows into as few model runs as the batch size allows', async () => {
    const ex = await open('resnet_like');
    const input = loadArray('resnet_like', 'input.npy');
    const one = input.data.slice(0, input.data.length / 2);
    let calls = 0;
    const r = await ex.explain(one, [1, ...input.shape.slice(1)], { method: 'occlusion', methodOptions: { window: '16', stride: '8' }, batchSize: 10, onProgress: (done, total) => { calls++; assert.equal(total, 25); } });
    // 5 × 5 windows in runs of 10: 3 runs (progress after each), plus the unoccluded pass
    assert.equal(calls, 3);
    assert.equal(r.explanations[0]!.method, 'occlusion');
  });

  it('refuses a stride larger than the window, a window larger than the input, a keep probability of 0', async () => {
    const ex = await open('resnet_like');
    const input = loadArray('resnet_like', 'input.npy');
    await assert.rejects(ex.explain(input.data, input.shape, { method: 'occlusion', methodOptions: { window: '4', stride: '8' } }), /stride 8x8 is larger than the window 4x4/);
    await assert.rejects(ex.explain(input.data, input.shape, { method: 'occlusion', methodOptions: { window: '64,4' } }), /window 64x4 is larger than the model input 48x48/);
    await assert.rejects(ex.explain(input.data, input.shape, { method: 'occlusion', methodOptions: { window: '0' } }), /--occlusion-window must be one or two positive whole numbers/);
    await assert.rejects(ex.explain(input.data, input.shape, { method: 'rise', methodOptions: { keep: 0 } }), /keep probability must be in \(0, 1\]/);
  });
});

describe('attribution pictures (image/attribution.ts)', () => {
  it("Captum's RdWhGn colours, its 98th-percentile scaling, and the top-k % mask", () => {
    assert.deepEqual(divergingColor(-1), [255, 0, 0]);
    assert.deepEqual(divergingColor(0), [255, 255, 255]);
    assert.deepEqual(divergingColor(1), [0, 128, 0]);
    assert.deepEqual(divergingColor(0.5), [128, 192, 128]);
    assert.deepEqual(divergingColor(-3), [255, 0, 0]);
    // 101 values 0..100: the 98th percentile of |a| is 98 (numpy's linear interpolation)
    const a = Float32Array.from({ length: 101 }, (_, i) => (i % 2 ? -i : i));
    assert.equal(percentileAbs(a, 98), 98);
    const n = normalizeAttribution(a, false);
    assert.equal(n[49], -0.5);
    assert.equal(n[100], 1); // 100 / 98, clipped
    const m = topPercentMask(a, 10);
    assert.equal(m.reduce((s, v) => s + v, 0), 11); // ⌈10 % of 101⌉
    assert.ok([100, 98, 96, 94, 92, 90, 88, 86, 84, 82, 80].every((i) => m[i] === 1));
    const mAbs = topPercentMask(a, 2, true);
    assert.deepEqual([...mAbs.keys()].filter((i) => mAbs[i]), [99, 100, 98].sort((x, y) => x - y));
  });
});
