/**
 * Integrated Gradients, Input × Gradient, the noise tunnels and FullGrad against Captum's and
 * pytorch-grad-cam's own code in float64 (test/fixtures/<model>/attribution/, made by
 * scripts/fixtures/make_attribution_fixtures.py) on a CNN, a ViT and a channels-last model.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Explainer, type ExplainOptions } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { quadrature, legendreGauss } from '../src/methods/path/approximation.js';
import { noisyCopies, smooth } from '../src/methods/noise/noise.js';
import { postprocess } from '../src/cam/pipeline.js';
import type { MethodOptionValue } from '../src/types.js';
import { FIXTURES, loadArray, loadMeta, modelBytes, relL2 } from './helpers/fixtures.js';
import { ROOT, gradcam, oneError } from './helpers/cli.js';

interface Case { name: string; method: string; methodOptions: Record<string, MethodOptionValue>; options: Record<string, unknown>; file: string; shape: number[]; tolerance: number; baseline_file?: string; captum_delta?: number[]; bias_layers?: number }

const MODELS = ['resnet_like', 'vit_tiny_op17', 'tf_style_nhwc_op17'];

/** [N, C, H, W] → [N, H, W, C]. */
function toHwc(a: Float32Array, n: number, c: number, p: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < n; i++) for (let k = 0; k < c; k++) for (let q = 0; q < p; q++) out[i * c * p + q * c + k] = a[i * c * p + k * p + q]!;
  return out;
}

for (const name of MODELS) {
  describe(`attribution methods on ${name}`, () => {
    const meta = loadMeta(name);
    const index = JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'attribution', 'index.json'), 'utf8')) as { cases: Case[] };
    const ex = Explainer.fromBytes(modelBytes(name), { createSession: createNodeSession });
    const input = loadArray(name, 'input.npy');
    const nchw = meta.layout === 'NCHW';
    after(() => ex.release());

    for (const c of index.cases) {
      it(`${c.name} (${c.method}) within ${c.tolerance} relative L2 of the reference`, async () => {
        const o = { ...c.options } as ExplainOptions;
        if (o.layer === 'last') o.layer = meta.layers.find((l) => l.key === 'last')!.tensor;
        if (c.baseline_file) o.baselineImage = loadArray(name, `attribution/${c.baseline_file}`).data;
        const r = await ex.explain(input.data, input.shape, { ...o, method: c.method, methodOptions: c.methodOptions, classes: meta.classes });
        const ref = loadArray(name, `attribution/${c.file}`);
        const n = input.shape[0]!;
        assert.equal(r.explanations.length, n);
        let got: Float32Array;
        let want = ref.data;
        if (c.method === 'fullgrad') {
          got = Float32Array.from(r.explanations.flatMap((e) => Array.from(e.map)));
          for (const e of r.explanations) assert.equal(e.extras?.bias_layers, c.bias_layers);
        } else if (c.methodOptions.over === 'gradcam') {
          // the smoothed raw maps of the reference through Grad-CAM's post-processing (parity-tested elsewhere)
          const [h, w] = ref.shape.slice(1) as [number, number];
          const [H, W] = nchw ? input.shape.slice(2) : input.shape.slice(1, 3);
          want = postprocess([{ raw: ref.data, h, w }], n, H!, W!).maps;
          got = Float32Array.from(r.explanations.flatMap((e) => Array.from(e.map)));
          for (const e of r.explanations) assert.deepEqual((e.extras as { raw_grid: number[] }).raw_grid, [h, w]);
        } else {
          got = Float32Array.from(r.explanations.flatMap((e) => Array.from(e.gradient!)));
          if (nchw) want = toHwc(ref.data, n, ref.shape[1]!, ref.shape[2]! * ref.shape[3]!);
        }
        assert.equal(got.length, want.length);
        const d = relL2(got, want);
        console.log(`# ${name} ${c.name}: relative L2 ${d.toExponential(2)} (tolerance ${c.tolerance})`);
        assert.ok(d <= c.tolerance, `relative L2 ${d.toExponential(3)} > ${c.tolerance}`);
        r.explanations.forEach((e, i) => {
          assert.equal(e.target.index, meta.classes[i]);
          const done = (e.extras as { completeness?: { sum: number; expected: number; delta: number } } | undefined)?.completeness;
          if (c.captum_delta) {
            // the same convergence delta as Captum's (Σ attributions − (F(x) − F(baseline)))
            assert.ok(done, 'IG reports its completeness check');
            assert.ok(Math.abs(done.delta - c.captum_delta[i]!) <= 1e-4 * Math.max(1, Math.abs(done.expected)), `delta ${done.delta} vs Captum's ${c.captum_delta[i]}`);
            assert.ok(Math.abs(done.sum - got.subarray(i * got.length / n, (i + 1) * got.length / n).reduce((a, v) => a + v, 0)) <= 1e-4 * Math.max(1, Math.abs(done.sum)));
          }
          if (c.name === 'ig_black_gausslegendre_256') {
            // completeness at 256 steps: within 1e-3 of F(x) − F(baseline) (relative where it exceeds 1)
            assert.ok(Math.abs(done!.delta) <= 1e-3 * Math.max(1, Math.abs(done!.expected)), `Σ = ${done!.sum}, F(x) − F(b) = ${done!.expected}`);
          }
        });
      });
    }
  });
}

describe('attribution building blocks', () => {
  it('Gauss–Legendre nodes and weights are exact for polynomials of degree 2n − 1', () => {
    for (const n of [1, 2, 5, 50, 256]) {
      const { nodes, weights } = legendreGauss(n);
      assert.ok(Math.abs(weights.reduce((a, v) => a + v, 0) - 2) < 1e-12);
      for (let i = 1; i < n; i++) assert.ok(nodes[i]! > nodes[i - 1]!);
      const deg = Math.min(2 * n - 1, 40);
      const integral = nodes.reduce((a, x, i) => a + weights[i]! * x ** deg, 0);
      const exact = deg % 2 === 1 ? 0 : 2 / (deg + 1);
      assert.ok(Math.abs(integral - exact) < 1e-12, `n=${n} degree ${deg}: ${integral} vs ${exact}`);
    }
  });

  it("Captum's Riemann rules: alphas and step sizes", () => {
    const left = quadrature('riemann_left', 4);
    assert.deepEqual(Array.from(left.alphas), [0, 0.25, 0.5, 0.75]);
    assert.deepEqual(Array.from(quadrature('riemann_right', 4).alphas), [0.25, 0.5, 0.75, 1]);
    assert.deepEqual(Array.from(quadrature('riemann_middle', 4).alphas), [0.125, 0.375, 0.625, 0.875]);
    const trap = quadrature('riemann_trapezoid', 5);
    assert.deepEqual(Array.from(trap.stepSizes), [0.1, 0.2, 0.2, 0.2, 0.1]);
    assert.throws(() => quadrature('riemann_left', 1), /at least 2 steps/);
  });

  it('noise is seeded per image and smoothing is mean / mean of squares / variance', () => {
    const x = Float32Array.from([0, 1, 2, 3]);
    assert.deepEqual(noisyCopies(x, 3, 0.5, 9), noisyCopies(x, 3, 0.5, 9));
    assert.notDeepEqual(noisyCopies(x, 3, 0.5, 9), noisyCopies(x, 3, 0.5, 10));
    const a = Float32Array.from([1, 2, 3, 6]); // two samples of two values
    assert.deepEqual(Array.from(smooth(a, 2, 'smoothgrad')), [2, 4]);
    assert.deepEqual(Array.from(smooth(a, 2, 'smoothgrad_sq')), [5, 20]);
    assert.deepEqual(Array.from(smooth(a, 2, 'vargrad')), [1, 4]);
  });
});

describe('attribution refusals', () => {
  const meta = loadMeta('resnet_like');
  const ex = Explainer.fromBytes(modelBytes('resnet_like'), { createSession: createNodeSession });
  const input = loadArray('resnet_like', 'input.npy');
  after(() => ex.release());
  const ig = 'integrated-gradients';
  const bad: [ExplainOptions, RegExp][] = [
    [{ method: ig, methodOptions: { integration: 'simpson' } }, /integrated-gradients: --integration must be one of gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid, got "simpson"/],
    [{ method: ig, methodOptions: { baseline: 'grey' } }, /--ig-baseline must be one of black, blur, uniform, image, got "grey"/],
    [{ method: ig, methodOptions: { steps: 0 } }, /--ig-steps must lie in \[1, ∞\]/],
    [{ method: ig, methodOptions: { steps: 1, integration: 'riemann_left' } }, /riemann_left needs at least 2 steps/],
    [{ method: ig, methodOptions: { baseline: 'image' } }, /baseline 'image' needs the baseline itself/],
    [{ method: ig, methodOptions: { baseline: 'image' }, baselineImage: new Float32Array(5) }, /the baseline image has 5 values; it must be one image of 6912/],
    [{ method: 'noise-tunnel', methodOptions: { noiseSamples: 0 } }, /--noise-samples must lie in \[1, ∞\]/],
    [{ method: 'noise-tunnel', methodOptions: { noise: 'gauss' } }, /--noise must be one of smoothgrad, smoothgrad_sq, vargrad/],
    [{ method: 'noise-tunnel', methodOptions: { over: 'fullgrad' } }, /--over must be one of saliency, guided-backprop, deconvnet, input-x-gradient, integrated-gradients, gradcam/],
    [{ method: 'fullgrad', methodOptions: { steps: 8 } }, /method 'fullgrad' takes no option 'steps'/],
    [{ method: ig, topK: 2 }, /takes none of: topK/],
  ];
  for (const [o, re] of bad) {
    it(`refuses ${JSON.stringify({ ...o, baselineImage: o.baselineImage ? 'Float32Array(5)' : undefined })}`, async () => {
      await assert.rejects(ex.explain(input.data, input.shape, { ...o, classes: meta.classes }), (e: Error) => e.name === 'InputError' && re.test(e.message));
    });
  }
});

describe('attribution methods on the command line', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-attr-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const model = path.join(FIXTURES, 'resnet_like', 'model.onnx');
  const npy = path.join(FIXTURES, 'resnet_like', 'input.npy');

  it('files: integrated-gradients writes the picture and a sidecar with the completeness check, as the library computes it', async () => {
    const out = path.join(tmp, 'files');
    const r = gradcam('explain', npy, '--model', model, '--method', 'integrated-gradients', '--ig-steps', '16', '--integration', 'riemann_middle', '--ig-baseline', 'uniform', '--seed', '4', '--class', '3', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    const ex = Explainer.fromBytes(modelBytes('resnet_like'), { createSession: createNodeSession });
    const input = loadArray('resnet_like', 'input.npy');
    const lib = await ex.explain(input.data, input.shape, { method: 'integrated-gradients', methodOptions: { steps: 16, integration: 'riemann_middle', baseline: 'uniform' }, randomSeed: 4, classes: 3 });
    await ex.release();
    for (let i = 0; i < 2; i++) {
      const j = JSON.parse(fs.readFileSync(path.join(out, `input_${i}.integrated-gradients.json`), 'utf8'));
      assert.ok(fs.statSync(path.join(out, `input_${i}.integrated-gradients.png`)).size > 0);
      assert.equal(j.method, 'integrated-gradients');
      assert.equal(j.class.index, 3);
      assert.deepEqual([j.baseline, j.steps, j.integration], ['uniform', 16, 'riemann_middle']);
      const c = (lib.explanations[i]!.extras as { completeness: { sum: number; expected: number } }).completeness;
      assert.ok(Math.abs(j.completeness.sum - c.sum) <= 1e-5 * Math.max(1, Math.abs(c.sum)));
      assert.ok(Math.abs(j.completeness.expected - c.expected) <= 1e-5 * Math.max(1, Math.abs(c.expected)));
    }
  });

  it('datasets: a folder with fullgrad and with a noise tunnel (resumable rows)', () => {
    const data = path.join(tmp, 'data');
    fs.mkdirSync(data);
    for (const f of ['street_02.png', 'street_04.png']) fs.copyFileSync(path.join(ROOT, 'demo', 'detect', f), path.join(data, f));
    for (const [args, method] of [[['--method', 'fullgrad'], 'fullgrad'], [['--method', 'noise-tunnel', '--noise', 'smoothgrad_sq', '--over', 'guided-backprop', '--noise-samples', '2', '--seed', '9'], 'noise-tunnel']] as const) {
      const out = path.join(tmp, `ds-${method}`);
      const r = gradcam('explain', data, '--model', model, ...args, '--out', out, '--quiet');
      assert.equal(r.code, 0, r.err);
      const rows = fs.readFileSync(path.join(out, 'explain.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(rows.length, 2);
      for (const row of rows) {
        assert.equal(row.status, 'ok');
        assert.ok(row.files.includes(`${row.key.replace('.png', '')}.${method}.png`), row.files.join(','));
      }
      const j = JSON.parse(fs.readFileSync(path.join(out, `street_02.${method}.json`), 'utf8'));
      if (method === 'fullgrad') assert.equal(j.bias_layers, 8);
      else assert.deepEqual([j.noise.type, j.noise.over, j.noise.samples, j.noise.seed], ['smoothgrad_sq', 'guided-backprop', 2, 9]);
    }
  });

  it('refuses bad options with one line, before any output', () => {
    const out = path.join(tmp, 'bad');
    const cases: [string[], RegExp][] = [
      [['--method', 'gradcam', '--ig-steps', '8'], /--ig-steps goes with integrated-gradients, noise-tunnel/],
      [['--method', 'fullgrad', '--noise', 'vargrad'], /--noise goes with noise-tunnel/],
      [['--method', 'integrated-gradients', '--ig-baseline', 'grey'], /--ig-baseline/],
      [['--method', 'integrated-gradients', '--integration', 'simpson'], /--integration 'simpson'; choose one of: gausslegendre/],
      [['--method', 'integrated-gradients', '--top-k', '2'], /--top-k/],
    ];
    for (const [args, re] of cases) {
      const r = gradcam('explain', npy, '--model', model, ...args, '--out', out, '--quiet');
      assert.notEqual(r.code, 0);
      oneError(r.err, re);
      assert.ok(!fs.existsSync(out));
    }
  });
});

describe('batching of the gradient passes', () => {
  it('as few runs as the batch allows, of equal sizes', async () => {
    const { evenBatch } = await import('../src/methods/path/integrated.js');
    assert.equal(evenBatch(51, 32), 26);
    assert.equal(evenBatch(51, 64), 51);
    assert.equal(evenBatch(51, 1), 1);
    assert.equal(evenBatch(10, 3), 3);
  });

  it('the attribution does not depend on the batch size (runs of 1, 7 and all points)', async () => {
    const meta = loadMeta('tf_style_nhwc_op17');
    const ex = Explainer.fromBytes(modelBytes('tf_style_nhwc_op17'), { createSession: createNodeSession });
    const input = loadArray('tf_style_nhwc_op17', 'input.npy');
    try {
      const run = (batchSize: number) => ex.explain(input.data, input.shape, { method: 'integrated-gradients', methodOptions: { steps: 12 }, classes: meta.classes, batchSize });
      const ref = (await run(100)).explanations.flatMap((e) => Array.from(e.gradient!));
      for (const b of [1, 7]) assert.ok(relL2((await run(b)).explanations.flatMap((e) => Array.from(e.gradient!)), ref) <= 1e-6);
    } finally {
      await ex.release();
    }
  });
});
