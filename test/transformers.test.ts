/**
 * Transformers, channels-last layers and token grids, with no reshape code: small seeded ViT (class +
 * register tokens, non-square grid), Swin-like (windows, shifted windows, patch merging, channels-last)
 * and ConvNeXt-like nets exported at opsets 13 and 17, and a TF-style channels-last CNN beside its NCHW
 * twin (fixtures: scripts/fixtures/make_transformer_fixtures.py): inferred layouts and the automatic
 * layer, and the maps of six methods against the real pytorch-grad-cam with the reshape_transform its
 * documentation gives. Activations, gradients (float64 autograd), Grad-CAM and saliency of every
 * fixture layer are checked in parity.test.ts.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { layoutFromOverride } from '../src/layout/describe.js';
import { explainGradients } from '../src/methods/gradient/explain.js';
import { sanityCheck } from '../src/sanity/check.js';
import { encodePng } from '../src/image/png.js';
import { FIXTURES, loadArray, maxAbsError, maxRelError, modelBytes } from './helpers/fixtures.js';

interface TransformerMeta {
  name: string;
  model: string;
  opset: number;
  layout: 'NCHW' | 'NHWC';
  input_shape: number[];
  classes: number[];
  layers: { key: string; tensor: string; auto: boolean; shape: number[]; layout: 'nchw' | 'nhwc' | 'tokens'; grid: [number, number]; prefix: number; channels: number }[];
  references?: { pytorch_grad_cam?: { scorecam_batch_size?: number } };
}

const MODELS = ['vit_tiny', 'swin_tiny_like', 'convnext_tiny_like', 'tf_style_nhwc', 'tf_style_nchw'];
const names = fs.readdirSync(FIXTURES).filter((d) => {
  const f = path.join(FIXTURES, d, 'meta.json');
  return fs.existsSync(f) && MODELS.includes((JSON.parse(fs.readFileSync(f, 'utf8')) as TransformerMeta).model);
}).sort();

/** pytorch-grad-cam's method → ours, and the reference file. EigenCAM: the sign-corrected projection, as ours. */
const METHODS: [string, string][] = [
  ['gradcam', 'gradcam'], ['hirescam', 'hirescam'], ['gradcam++', 'gradcam++'], ['layercam', 'layercam'],
  ['eigencam', 'eigencam_signfix'], ['scorecam', 'scorecam'],
];

const report: string[] = [];
const skipped: string[] = [];
after(() => {
  if (report.length) console.log(`transformer parity (worst per fixture):\n${report.join('\n')}`);
  if (skipped.length) console.log(`maps that are rounding noise (warned, not compared): ${skipped.join(', ')}`);
});

function stack(maps: Float32Array[]): Float32Array {
  const out = new Float32Array(maps.reduce((a, m) => a + m.length, 0));
  let o = 0;
  for (const m of maps) { out.set(m, o); o += m.length; }
  return out;
}

describe('transformer fixtures exist', () => {
  it('every model at opsets 13 and 17', () => {
    for (const m of ['vit_tiny', 'swin_tiny_like', 'convnext_tiny_like']) {
      for (const op of [13, 17]) assert.ok(names.includes(`${m}_op${op}`), `missing fixture ${m}_op${op}`);
    }
  });
});

for (const name of names) {
  const meta = JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'meta.json'), 'utf8')) as TransformerMeta;
  describe(`transformers: ${name}`, () => {
    const ex = Explainer.fromBytes(modelBytes(name), { createSession: createNodeSession, source: name });
    const input = loadArray(name, 'input.npy');
    const worst = { map: 0, raw: 0 };
    after(async () => {
      report.push(`  ${name}: raw Grad-CAM maps ${worst.raw.toExponential(1)} (relative), final maps ${worst.map.toExponential(1)}`);
      await ex.release();
    });

    it('infers every reference layer\'s layout, grid and prefix tokens, and the documented automatic layer', async () => {
      const layers = await ex.layers();
      for (const l of meta.layers) {
        const ours = layers.find((x) => x.name === l.tensor);
        assert.ok(ours, `${l.key}: ${l.tensor} is not a candidate layer`);
        assert.equal(ours.layout.kind, l.layout, `${l.key}: layout`);
        assert.deepEqual(ours.layout.grid, l.grid, `${l.key}: grid`);
        assert.equal(ours.layout.prefix, l.prefix ?? 0, `${l.key}: prefix tokens`);
        assert.equal(ours.layout.channels, l.channels ?? l.shape[l.layout === 'nchw' ? 1 : l.shape.length - 1], `${l.key}: channels`);
      }
      const auto = meta.layers.find((l) => l.auto);
      if (auto) assert.equal(await ex.autoLayer(), auto.tensor);
      for (const l of layers) assert.ok(l.layout.grid[0]! * l.layout.grid[1]! > 1, `${l.name} has a 1×1 grid`);
    });

    for (const l of meta.layers) {
      it(`${l.key}: Grad-CAM, HiResCAM, Grad-CAM++, LayerCAM, Eigen-CAM, Score-CAM equal pytorch-grad-cam (≤ 1e-4)`, async () => {
        const rawRef = loadArray(name, `${l.key}.gradcam_raw.npy`);
        for (const [method, file] of METHODS) {
          const f = path.join(FIXTURES, name, `${l.key}.${file}.npy`);
          if (!fs.existsSync(f)) continue;
          const ref = loadArray(name, `${l.key}.${file}.npy`);
          const batchSize = meta.references?.pytorch_grad_cam?.scorecam_batch_size ?? 32;
          const r = await ex.explain(input.data, input.shape, { method, layer: l.tensor, classes: meta.classes, batchSize });
          if (r.explanations.some((e) => e.warnings.some((w) => /rounding noise/.test(w)))) {
            // Σ_c A·G cancels (a norm over channels follows the layer): the float64 reference is noise
            // too, so there is nothing to compare; the warning is what a user must see
            assert.equal(method, 'hirescam', `${l.key} ${method}: unexpected cancellation warning`);
            const noise = r.explanations.map((e) => e.warnings.find((w) => /rounding noise/.test(w)));
            assert.ok(noise.every(Boolean), 'every image warns');
            skipped.push(`${name} ${l.key} ${method}`);
            continue;
          }
          const err = maxAbsError(stack(r.explanations.map((e) => e.map)), ref.data);
          worst.map = Math.max(worst.map, err);
          assert.ok(err <= 1e-4, `${l.key} ${method}: max abs error ${err}`);
          assert.ok(Math.max(...ref.data) > 0.5, 'reference map is not trivial');
          for (const e of r.explanations) {
            assert.deepEqual([e.rawHeight, e.rawWidth], l.grid, 'the raw map has the grid\'s resolution');
            assert.ok(!e.warnings.some((w) => /stripes|constant/.test(w)), `${l.key} ${method}: ${e.warnings.join('; ')}`);
          }
          if (method === 'gradcam') {
            const raw = stack(r.explanations.map((e) => e.raw));
            const er = maxRelError(raw, rawRef.data);
            worst.raw = Math.max(worst.raw, er);
            assert.ok(er <= 1e-4, `${l.key}: raw map error ${er}`);
          }
        }
      });
    }
  });
}

describe('channels-last twins', () => {
  const pairs = names.filter((n) => n.startsWith('tf_style_nhwc'));
  for (const nhwc of pairs) {
    const nchw = nhwc.replace('tf_style_nhwc', 'tf_style_nchw');
    it(`${nhwc}: the same maps as its NCHW twin ${nchw}, with no layout option`, async () => {
      const m1 = JSON.parse(fs.readFileSync(path.join(FIXTURES, nhwc, 'meta.json'), 'utf8')) as TransformerMeta;
      const m2 = JSON.parse(fs.readFileSync(path.join(FIXTURES, nchw, 'meta.json'), 'utf8')) as TransformerMeta;
      const a = Explainer.fromBytes(modelBytes(nhwc), { createSession: createNodeSession });
      const b = Explainer.fromBytes(modelBytes(nchw), { createSession: createNodeSession });
      try {
        const ia = loadArray(nhwc, 'input.npy');
        const ib = loadArray(nchw, 'input.npy');
        for (const k of m1.layers.map((l) => l.key)) {
          const la = m1.layers.find((l) => l.key === k)!;
          const lb = m2.layers.find((l) => l.key === k);
          if (!lb) continue;
          for (const method of ['gradcam', 'layercam']) {
            const ra = await a.explain(ia.data, ia.shape, { method, layer: la.tensor, classes: m1.classes });
            const rb = await b.explain(ib.data, ib.shape, { method, layer: lb.tensor, classes: m2.classes });
            const err = maxAbsError(stack(ra.explanations.map((e) => e.map)), stack(rb.explanations.map((e) => e.map)));
            assert.ok(err <= 1e-5, `${k} ${method}: NHWC vs NCHW max abs difference ${err}`);
          }
        }
        assert.equal(await a.autoLayer(), m1.layers.find((l) => l.auto)?.tensor);
      } finally {
        await a.release();
        await b.release();
      }
    });
  }
});

describe('--layout on a token layer', () => {
  it('an override equal to the inferred layout gives the same map; a wrong grid is refused', async () => {
    const name = names.find((n) => n.startsWith('vit_tiny'));
    if (!name) return;
    const meta = JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'meta.json'), 'utf8')) as TransformerMeta;
    const ex = Explainer.fromBytes(modelBytes(name), { createSession: createNodeSession });
    try {
      const input = loadArray(name, 'input.npy');
      const l = meta.layers.find((x) => x.auto)!;
      const spec = `tokens:${l.grid[0]}x${l.grid[1]}+${l.prefix}`;
      assert.equal(layoutFromOverride(spec, l.shape).prefix, l.prefix);
      const inferred = await ex.explain(input.data, input.shape, { layer: l.tensor, classes: meta.classes });
      const given = await ex.explain(input.data, input.shape, { layer: l.tensor, layout: spec, classes: meta.classes });
      assert.ok(maxAbsError(stack(inferred.explanations.map((e) => e.map)), stack(given.explanations.map((e) => e.map))) <= 1e-6);
      await assert.rejects(ex.explain(input.data, input.shape, { layer: l.tensor, layout: `tokens:${l.grid[0]! + 1}x${l.grid[1]}+${l.prefix}`, classes: meta.classes }), /grid = \d+ tokens, but the layer has/);
    } finally {
      await ex.release();
    }
  });
});

describe('every surface on token and channels-last grids', () => {
  const vit = names.find((n) => n.startsWith('vit_tiny_op17'));
  const swin = names.find((n) => n.startsWith('swin_tiny_like_op17'));

  it('Ablation-CAM, Guided Grad-CAM and the sanity check run on a ViT token layer and a Swin channels-last layer, at the grid', async () => {
    for (const name of [vit, swin]) {
      if (!name) continue;
      const meta = JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'meta.json'), 'utf8')) as TransformerMeta;
      const ex = Explainer.fromBytes(modelBytes(name), { createSession: createNodeSession });
      try {
        const input = loadArray(name, 'input.npy');
        const l = meta.layers.find((x) => x.auto)!;
        // Ablation-CAM masks channels along the layer's own channel axis (last, for tokens and NHWC)
        const abl = await ex.explain(input.data, input.shape, { method: 'ablationcam', layer: l.tensor, classes: meta.classes, batchSize: 16 });
        for (const e of abl.explanations) {
          assert.deepEqual([e.rawHeight, e.rawWidth], l.grid);
          assert.ok(Math.max(...e.map) > 0.5);
        }
        const gg = await explainGradients(ex, input.data, input.shape, { method: 'guided-gradcam', classes: meta.classes });
        const plain = await ex.explain(input.data, input.shape, { classes: meta.classes });
        // Guided Grad-CAM's map is the Grad-CAM map at the automatic layer
        assert.ok(maxAbsError(gg.explanations[0]!.cam, plain.explanations[0]!.map) <= 1e-5);
        const s = await sanityCheck(ex, input.data.subarray(0, input.data.length / 2), [1, ...input.shape.slice(1)], {
          createSession: createNodeSession, methods: ['gradcam'], modes: ['cascading'], maxLayers: 2, classes: [meta.classes[0]!],
        });
        assert.equal(s.camLayer, l.tensor);
        assert.ok(s.stages.length >= 2);
      } finally {
        await ex.release();
      }
    }
  });

  it('gradcam audit and gradcam layers through the CLI on a ViT, with no layout option', () => {
    if (!vit) return;
    const meta = JSON.parse(fs.readFileSync(path.join(FIXTURES, vit, 'meta.json'), 'utf8')) as TransformerMeta;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-vit-'));
    try {
      const model = path.join(FIXTURES, vit, 'model.onnx');
      const bin = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'bin', 'gradcam.js');
      const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
      const layers = run('layers', '--model', model, '--json');
      assert.equal(layers.status, 0, layers.stderr);
      const list = JSON.parse(layers.stdout) as { name: string; auto: boolean; layout: string; grid: number[]; prefix_tokens: number }[];
      const auto = list.find((x) => x.auto)!;
      assert.deepEqual([auto.name, auto.layout, auto.grid, auto.prefix_tokens], [meta.layers.find((x) => x.auto)!.tensor, 'tokens', [8, 12], 3]);
      const [, , H, W] = meta.input_shape as [number, number, number, number];
      const dir = path.join(tmp, 'images');
      fs.mkdirSync(dir);
      for (let k = 0; k < 3; k++) {
        const img = { width: W, height: H, data: Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * (k + 7)) % 251) };
        fs.writeFileSync(path.join(dir, `img${k}.png`), encodePng(img));
      }
      const out = path.join(tmp, 'audit');
      const r = run('audit', dir, '--model', model, '--out', out, '--quiet');
      assert.equal(r.status, 0, r.stderr);
      const rows = fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((x) => JSON.parse(x) as { layer?: string });
      assert.equal(rows.length, 3);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('module-style layer names', () => {
  it('--layer layer4 / blocks.2.norm1 / features.3: the last candidate in that name scope', async () => {
    const cases: [string, string, string][] = [
      ['resnet_like', 'layer3', '/layer3/layer3.0/relu2/Relu_output_0'],
      ['resnet_like', 'layer1/layer1.0', '/layer1/layer1.0/relu2/Relu_output_0'],
      ['vit_tiny_op17', 'blocks.2.norm1', '/blocks/blocks.2/norm1/LayerNormalization_output_0'],
      ['convnext_tiny_like_op17', 'features.3', '/features/features.3/features.3.1/Add_output_0'],
    ];
    for (const [name, module, tensor] of cases) {
      if (!fs.existsSync(path.join(FIXTURES, name))) continue;
      const ex = Explainer.fromBytes(modelBytes(name), { createSession: createNodeSession });
      try {
        const input = loadArray(name, 'input.npy');
        const r = await ex.explain(input.data, input.shape, { layer: module, classes: 1 });
        assert.deepEqual(r.explanations[0]!.layers, [tensor], `${name} ${module}`);
      } finally {
        await ex.release();
      }
    }
  });
});

describe('CAM on channels-last heads', () => {
  it('Swin (norm → permute → pooling → linear) and a TF-style NHWC ReduceMean head: CAM equals Grad-CAM, as on any GAP + linear head', async () => {
    for (const name of names.filter((n) => n.startsWith('swin_tiny_like') || n.startsWith('tf_style_nhwc'))) {
      const meta = JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'meta.json'), 'utf8')) as TransformerMeta;
      const ex = Explainer.fromBytes(modelBytes(name), { createSession: createNodeSession });
      try {
        const input = loadArray(name, 'input.npy');
        const camMaps = await ex.explain(input.data, input.shape, { method: 'cam', classes: meta.classes });
        const grad = await ex.explain(input.data, input.shape, { method: 'gradcam', classes: meta.classes });
        assert.ok(maxAbsError(stack(camMaps.explanations.map((e) => e.map)), stack(grad.explanations.map((e) => e.map))) <= 1e-4, name);
      } finally {
        await ex.release();
      }
    }
  });
});

describe('the shipped demo transformers', () => {
  it('load, match RESULTS.json (sha256), and their automatic layer and layout are the recorded ones', async () => {
    const root = path.join(FIXTURES, '..', '..');
    const results = JSON.parse(fs.readFileSync(path.join(root, 'demo', 'RESULTS.json'), 'utf8')) as { transformers?: { models: Record<string, { file: string; sha256: string; gradcam_layer_auto: string; gradcam_layer_layout: { kind: string; grid: number[]; prefix_tokens: number } }> } };
    const models = results.transformers?.models ?? {};
    assert.ok(Object.keys(models).length >= 2, 'RESULTS.json lists the demo transformers');
    const { createHash } = await import('node:crypto');
    for (const [name, m] of Object.entries(models)) {
      const bytes = fs.readFileSync(path.join(root, m.file));
      assert.equal(createHash('sha256').update(bytes).digest('hex'), m.sha256, name);
      const ex = Explainer.fromBytes(new Uint8Array(bytes), { createSession: createNodeSession });
      try {
        const info = (await ex.layers()).find((l) => l.auto)!;
        assert.equal(info.name, m.gradcam_layer_auto, name);
        assert.deepEqual([info.layout.kind, info.layout.grid, info.layout.prefix], [m.gradcam_layer_layout.kind, m.gradcam_layer_layout.grid, m.gradcam_layer_layout.prefix_tokens], name);
      } finally {
        await ex.release();
      }
    }
  });
});
