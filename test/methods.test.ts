/**
 * The method registry (src/methods): every registered method through the one library call, explain(),
 * against independent references where this model has them; the registry's lists (CLI help, `gradcam
 * methods`, the docs' table) derived from it; and the AttributionContext that path / noise / perturbation
 * methods are written on, checked with two small methods written here against PyTorch's numbers.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { METHODS, getMethod, methodNames, resolveMethodOptions } from '../src/methods/index.js';
import { METHOD_KINDS } from '../src/methods/types.js';
import { explainAttribution } from '../src/methods/attribution.js';
import type { AttributionMethod } from '../src/methods/types.js';
import { methodsMarkdown, methodsText } from '../src/cli/methods.js';
import { EXPLAIN } from '../src/cli/explain.js';
import { helpText } from '../src/cli/spec.js';
import { loadArray, loadMeta, maxAbsError, modelBytes, relL2 } from './helpers/fixtures.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');

/** resnet_like's references (PyTorch, scripts/fixtures): final maps [N, H, W] at the auto layer, input gradients [N, C, H, W]. */
const MAP_REFS: Record<string, { file: string; tol: number }> = {
  gradcam: { file: 'last.gradcam.npy', tol: 1e-4 },
  'gradcam++': { file: 'family/last.gradcam++.npy', tol: 1e-4 },
  eigencam: { file: 'family/last.eigencam.npy', tol: 1e-4 },
  cam: { file: 'family/last.cam.npy', tol: 1e-4 },
  scorecam: { file: 'family/last.scorecam.npy', tol: 1e-3 },
  ablationcam: { file: 'family/last.ablationcam.npy', tol: 1e-3 },
};
const GRADIENT_REFS: Record<string, { file: string; rectifierOps?: 'relu'; tol: number }> = {
  saliency: { file: 'input_grad.npy', tol: 1e-5 },
  'guided-backprop': { file: 'guided_input_grad.npy', rectifierOps: 'relu', tol: 1e-4 },
};

describe('the method registry', () => {
  it('every descriptor is complete: kind, summary, citation, needs, batching, cost, options with valid defaults', () => {
    assert.equal(new Set(METHODS.map((m) => m.name)).size, METHODS.length);
    for (const m of METHODS) {
      assert.ok(METHOD_KINDS.includes(m.kind), m.name);
      assert.match(m.name, /^[a-z][a-z0-9+-]*$/, m.name);
      for (const k of ['summary', 'citation', 'batching', 'cost'] as const) assert.ok(m[k].length > 5, `${m.name}.${k}`);
      assert.equal(m.summary.includes('\n'), false, m.name);
      assert.equal(typeof m.needs.layerGradient, 'boolean');
      // defaults pass the method's own checks
      resolveMethodOptions(m, undefined);
      if (m.kind === 'cam') assert.equal(m.needs.layer, true, m.name);
      if (m.kind === 'gradient') assert.equal(m.needs.inputGradient, true, m.name);
    }
    assert.ok(methodNames('cam').length >= 12 && methodNames('gradient').length >= 4);
  });

  it('names resolve case-insensitively; unknown names and bad options fail naming the choices', () => {
    assert.equal(getMethod('GradCAM').name, 'gradcam');
    assert.throws(() => getMethod('gradcamm'), /unknown method 'gradcamm'; choose one of: gradcam, gradcam\+\+, xgradcam.*saliency/);
    assert.throws(() => resolveMethodOptions(getMethod('gradcam'), { steps: 3 }), /method 'gradcam' takes no option 'steps'/);
  });

  it('the CLI help, `gradcam methods` and docs/METHODS.md list every method, from the registry', () => {
    const help = helpText(EXPLAIN);
    const text = methodsText();
    for (const m of METHODS) {
      assert.ok(help.includes(m.name), `explain --help lacks ${m.name}`);
      assert.match(text, new RegExp(`^${m.name.replace(/\+/g, '\\+')}\\s+${m.summary.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
    }
    const doc = fs.readFileSync(path.join(ROOT, 'docs/METHODS.md'), 'utf8');
    assert.ok(doc.includes(methodsMarkdown()), 'docs/METHODS.md is out of date: regenerate it with `npx tsx scripts/methods-doc.ts`');
  });
});

describe('every registered method through explain() (resnet_like)', () => {
  const meta = loadMeta('resnet_like');
  const input = loadArray('resnet_like', 'input.npy');
  const ex = Explainer.fromBytes(modelBytes('resnet_like'), { createSession: createNodeSession });
  after(() => ex.release());
  const [N, C, H, W] = input.shape as [number, number, number, number];

  for (const m of METHODS) {
    it(`${m.name} (${m.kind})`, async () => {
      const rectifierOps = GRADIENT_REFS[m.name]?.rectifierOps;
      const r = await ex.explain(input.data, input.shape, { method: m.name, classes: meta.classes, batchSize: 8, ...(rectifierOps ? { rectifierOps } : {}) });
      assert.equal(r.explanations.length, N);
      for (const [i, e] of r.explanations.entries()) {
        assert.equal(e.method, m.name);
        assert.equal(e.target.index, meta.classes[i]);
        assert.equal([e.height, e.width].join(), [H, W].join());
        assert.ok(Math.max(...e.map) <= 1 + 1e-6 && Math.min(...e.map) >= 0);
        if (m.kind !== 'cam') {
          // pixel-level: the map is the attribution's per-pixel magnitude (max over channels of |a|), scaled
          assert.equal(e.channels, C);
          const mag = Array.from({ length: H * W }, (_, p) => Math.max(...Array.from({ length: C }, (_, c) => Math.abs(e.gradient![p * C + c]!))));
          const top = Math.max(...mag);
          assert.ok(top > 0);
          assert.ok(maxAbsError(e.map, mag.map((v) => v / top)) <= 1e-6);
        }
      }
      const mapRef = MAP_REFS[m.name];
      if (mapRef) {
        const ref = loadArray('resnet_like', mapRef.file).data;
        const got = Float32Array.from(r.explanations.flatMap((e) => Array.from(e.map)));
        assert.ok(maxAbsError(got, ref) <= mapRef.tol, `${m.name}: ${maxAbsError(got, ref)}`);
      }
      const gradRef = GRADIENT_REFS[m.name];
      if (gradRef) {
        // PyTorch's input gradient [N, C, H, W] against explain()'s [H, W, C]
        const ref = loadArray('resnet_like', gradRef.file).data;
        const got = new Float32Array(ref.length);
        r.explanations.forEach((e, i) => { for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) got[((i * C) + c) * H * W + p] = e.gradient![p * C + c]!; });
        assert.ok(relL2(got, ref) <= gradRef.tol, `${m.name}: ${relL2(got, ref)}`);
      }
    });
  }

  it('a method takes only its own options', async () => {
    await assert.rejects(ex.explain(input.data, input.shape, { method: 'saliency', topK: 2 }), /saliency explains through the input gradient and takes none of: topK/);
    await assert.rejects(ex.explain(input.data, input.shape, { method: 'gradcam', methodOptions: { steps: 4 } }), /method 'gradcam' takes no option 'steps'/);
  });
});

describe('the AttributionContext (what path / noise / perturbation methods are written on)', () => {
  const meta = loadMeta('resnet_like');
  const input = loadArray('resnet_like', 'input.npy');
  const ex = Explainer.fromBytes(modelBytes('resnet_like'), { createSession: createNodeSession });
  after(() => ex.release());
  const per = input.data.length / input.shape[0]!;
  const base = { citation: 'test', needs: { layer: false, layerGradient: false, inputGradient: true }, batching: 'test', cost: 'test', volumes: false } as const;

  it('inputGradients of rows of its own making: input × gradient equals PyTorch input × input_grad', async () => {
    // the two images repeated in the other order: each row's gradient is of its own image's class
    const m: AttributionMethod = {
      ...base, name: 'test-input-x-gradient', kind: 'path', summary: 'input × gradient (test)', options: [],
      passes: (n) => n,
      attribute: async (ctx) => {
        const x = new Float32Array(ctx.input.length);
        x.set(ctx.input.subarray(per), 0);
        x.set(ctx.input.subarray(0, per), per);
        const g = await ctx.inputGradients(x, [1, 0]);
        ctx.progress(2);
        const a = new Float32Array(ctx.input.length);
        for (let i = 0; i < per; i++) { a[i] = x[per + i]! * g.gradients[per + i]!; a[per + i] = x[i]! * g.gradients[i]!; }
        assert.ok(maxAbsError(g.scores, [1, 0].map((img) => ctx.scores[img * ctx.numClasses + ctx.targets[img]!]!)) <= 1e-4);
        return { attributions: a, extras: [{ check: 1 }, { check: 2 }] };
      },
    };
    const seen: number[] = [];
    const r = await explainAttribution(ex, m, input.data, input.shape, { classes: meta.classes, onProgress: (d) => seen.push(d) }, (x, d, o) => ex.explain(x, d, o));
    const grad = loadArray('resnet_like', 'input_grad.npy').data;
    const ref = input.data.map((v, i) => v * grad[i]!);
    const got = Float32Array.from(r.explanations.flatMap((e) => Array.from(e.gradientInputLayout)));
    assert.ok(relL2(got, ref) <= 1e-5, String(relL2(got, ref)));
    assert.deepEqual(r.explanations.map((e) => e.extras), [{ check: 1 }, { check: 2 }]);
    assert.deepEqual(seen, [2]);
  });

  it('forward of its own inputs: the scores equal PyTorch\'s logits, and a perturbation method gets them in batches', async () => {
    const logits = loadArray('resnet_like', 'logits.npy');
    const m: AttributionMethod = {
      ...base, name: 'test-drop', kind: 'perturbation', summary: 'score drop with the whole image zeroed (test)',
      options: [{ key: 'fill', flag: 'test-fill', type: 'number', default: 0, help: 'fill value' }],
      passes: (n) => n,
      attribute: async (ctx, o) => {
        const again = await ctx.forward(ctx.input, 2);
        assert.ok(maxAbsError(again, logits.data) <= 1e-4);
        const filled = await ctx.forward(new Float32Array(per).fill(o.fill as number), 1);
        const a = new Float32Array(ctx.input.length);
        for (let i = 0; i < 2; i++) a.fill(ctx.scores[i * ctx.numClasses + ctx.targets[i]!]! - filled[ctx.targets[i]!]!, i * per, (i + 1) * per);
        return { attributions: a };
      },
    };
    const r = await explainAttribution(ex, m, input.data, input.shape, { classes: 'top', methodOptions: { fill: 0 } }, (x, d, o) => ex.explain(x, d, o));
    r.explanations.forEach((e, i) => {
      const row = logits.data.subarray(i * 10, (i + 1) * 10);
      assert.equal(e.target.index, row.indexOf(Math.max(...row)));
      assert.ok(Math.abs(e.target.logit - Math.max(...row)) <= 1e-4);
    });
    await assert.rejects(explainAttribution(ex, m, input.data, input.shape, { methodOptions: { fill: 'x' } }, (x, d, o) => ex.explain(x, d, o)), /test-drop: --test-fill must be a number, got "x"/);
    await assert.rejects(explainAttribution(ex, m, input.data, input.shape, { topK: 2 }, (x, d, o) => ex.explain(x, d, o)), /test-drop explains a class of each image and takes none of: topK/);
  });
});
