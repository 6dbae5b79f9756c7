/**
 * TF.js graph models (issue 22): the importer's ONNX against TF.js itself on the fixtures of
 * scripts/fixtures/make_tfjs_graph_fixtures.ts (references from @tensorflow/tfjs-converter's loadGraphModel
 * on the CPU backend): logits ≤ 1e-5 relative, input gradients ≤ 1e-4 relative L2 (tf.grad; by central
 * finite differences where TF.js has no right gradient: resizes, StridedSlice), Grad-CAM raw and final
 * maps ≤ 1e-4. Quantised variants (uint8, uint16, float16 weights) against TF.js on the same files.
 * Also: the importer's errors, and the dispatch (model.json, folders) through the Node entry.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { importModel, memoryModelFiles } from '../src/onnx/import/index.js';
import { loadExplainer, nodeModelFiles } from '../src/node.js';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { maxAbsError, maxRelError, relL2 } from './helpers/fixtures.js';
import { GRAPH_OPS_END, GRAPH_OPS_START, README, graphOpsSection, sectionBetween } from '../scripts/ops.js';

const DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'tfjs');
const names = fs.readdirSync(DIR).filter((d) => fs.existsSync(path.join(DIR, d, 'meta.json'))).sort();

interface Meta { input: string; layer: string; classes: number[]; shape: number[]; quantised: string | null; input_grad: string }

const arrayOf = (name: string, file: string) => {
  const npy = parseNpy(new Uint8Array(fs.readFileSync(path.join(DIR, name, file))));
  return { data: toFloat32(npy), shape: npy.shape };
};
const folderFiles = (name: string) => memoryModelFiles(Object.fromEntries(fs.readdirSync(path.join(DIR, name)).map((f) => [f, new Uint8Array(fs.readFileSync(path.join(DIR, name, f)))])));

it('the fixtures are there (a missing folder fails rather than skips)', () => {
  assert.deepEqual(names, ['tfjs_graph_cnn', 'tfjs_graph_cnn_float16', 'tfjs_graph_cnn_uint16', 'tfjs_graph_cnn_uint8', 'tfjs_graph_modes', 'tfjs_graph_ops']);
});

for (const name of names) {
  describe(`TF.js graph model: ${name}`, async () => {
    const meta = JSON.parse(fs.readFileSync(path.join(DIR, name, 'meta.json'), 'utf8')) as Meta;
    const imported = await importModel(folderFiles(name), 'model.json');
    const explainer = Explainer.fromBytes(imported.onnx, { createSession: createNodeSession, source: name });
    const input = arrayOf(name, 'input.npy');
    after(() => explainer.release());

    it('imports as a channels-last model, with notes on what was read', () => {
      assert.equal(imported.format, 'tfjs-graph');
      assert.equal(explainer.layout, 'NHWC');
      assert.ok(imported.notes.some((n) => /read \d+ weights from 1 shard/.test(n)), imported.notes.join('; '));
      if (meta.quantised) assert.ok(imported.notes.some((n) => n.includes(`stored as ${meta.quantised}`)), imported.notes.join('; '));
    });

    it('logits equal TF.js (≤ 1e-5 relative) and the input gradient equals TF.js / finite differences', async () => {
      const r = await explainer.run(input.data, input.shape, { layers: [meta.layer], classes: meta.classes, inputGradient: true });
      const logits = arrayOf(name, 'logits.npy');
      const e = maxRelError(r.logits.data, logits.data);
      assert.ok(e <= 1e-5, `logits rel err ${e}`);
      const g = r.inputGradient!.data; // [N, H, W, C], the input's own layout
      if (meta.input_grad === 'tf.grad') {
        const ref = arrayOf(name, 'input_grad.npy');
        const eg = relL2(g, ref.data);
        assert.ok(eg <= 1e-4, `input gradient rel L2 err ${eg}`);
      } else {
        // central differences of the score Σ_n logits[n, c_n] at 24 input values spread over both images
        // (float32 forward; a step of 1e-2 may cross a ReLU or max-pool kink at a value: 22 of 24 must agree)
        const score = async (x: Float32Array) => {
          const o = await explainer.run(x, input.shape, { layers: [], classes: meta.classes });
          const k = o.logits.dims[1]!;
          return meta.classes.reduce((s, c, i) => s + o.logits.data[i * k + c]!, 0);
        };
        const eps = 1e-2;
        const bad: string[] = [];
        for (let t = 0; t < 24; t++) {
          const i = Math.floor(((t + 0.5) / 24) * g.length);
          const plus = input.data.slice();
          const minus = input.data.slice();
          plus[i]! += eps;
          minus[i]! -= eps;
          const fd = ((await score(plus)) - (await score(minus))) / (2 * eps);
          if (Math.abs(fd - g[i]!) > 0.05 * Math.abs(g[i]!) + 2e-4) bad.push(`input value ${i}: finite difference ${fd} vs gradient ${g[i]}`);
        }
        assert.ok(bad.length <= 2, bad.join('; '));
        assert.ok(g.some((v) => Math.abs(v) > 1e-3), 'the gradient is not all zero');
      }
    });

    it(`Grad-CAM at '${meta.layer}' equals TF.js's (raw and final maps ≤ 1e-4)`, async () => {
      const ex = await explainer.explain(input.data, input.shape, { layer: meta.layer, classes: meta.classes });
      const raw = arrayOf(name, 'gradcam_raw.npy');
      const cam = arrayOf(name, 'gradcam.npy');
      const raws = new Float32Array(raw.data.length);
      const maps = new Float32Array(cam.data.length);
      ex.explanations.forEach((e, i) => {
        assert.equal(e.target.index, meta.classes[i]);
        assert.equal(e.layouts?.[0]?.kind, 'nhwc');
        raws.set(e.raw, i * e.raw.length);
        maps.set(e.map, i * e.map.length);
      });
      const er = maxRelError(raws, raw.data);
      const em = maxAbsError(maps, cam.data);
      assert.ok(er <= 1e-4, `raw map rel err ${er}`);
      assert.ok(em <= 1e-4, `map abs err ${em}`);
    });
  });
}

it("the README's list of graph ops is the importer's (npx tsx scripts/ops.ts)", () => {
  assert.equal(sectionBetween(fs.readFileSync(README, 'utf8'), GRAPH_OPS_START, GRAPH_OPS_END), graphOpsSection());
});

describe('TF.js graph importer: errors and sources', () => {
  const base = JSON.parse(fs.readFileSync(path.join(DIR, 'tfjs_graph_ops', 'model.json'), 'utf8'));
  const bin = new Uint8Array(fs.readFileSync(path.join(DIR, 'tfjs_graph_ops', 'group1-shard1of1.bin')));
  const withJson = (json: unknown, files: Record<string, Uint8Array> = { 'group1-shard1of1.bin': bin }) =>
    memoryModelFiles({ 'model.json': new TextEncoder().encode(JSON.stringify(json)), ...files });

  it('an unsupported op is one line naming the op and the node', async () => {
    const json = structuredClone(base);
    json.modelTopology.node.find((n: { name: string }) => n.name === 'tanh').op = 'Atan';
    await assert.rejects(importModel(withJson(json), 'model.json'), (e: Error) => /op Atan \(node 'tanh'\) is not supported/.test(e.message) && !e.message.includes('\n'));
  });

  it('a missing shard is named', async () => {
    await assert.rejects(importModel(withJson(base, {}), 'model.json'), /weights shard 'group1-shard1of1.bin' named in the manifest is missing/);
  });

  it('a truncated shard is refused', async () => {
    await assert.rejects(importModel(withJson(base, { 'group1-shard1of1.bin': bin.subarray(0, 100) }), 'model.json'), /the weights shards end before weight/);
  });

  it('a model.json of another format names the valid ones', async () => {
    await assert.rejects(importModel(withJson({ format: 'saved-model', modelTopology: {} }), 'model.json'), /its format is 'saved-model'; valid: 'graph-model', 'layers-model'/);
  });

  it('layers models go to the Keras importer', async () => {
    await assert.rejects(importModel(withJson({ format: 'layers-model', modelTopology: { model_config: {} } }), 'model.json'), /Keras|layers/);
  });

  it('loadExplainer takes a model.json and a TF.js folder (labels from user metadata), cached under the import', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-tfjs-'));
    try {
      const json = structuredClone(base);
      json.userDefinedMetadata = { labels: Array.from({ length: 10 }, (_, k) => `class ${k}`) };
      fs.writeFileSync(path.join(tmp, 'model.json'), JSON.stringify(json));
      fs.writeFileSync(path.join(tmp, 'group1-shard1of1.bin'), bin);
      for (const src of [path.join(tmp, 'model.json'), tmp]) {
        const ex = await loadExplainer(src, { cache: false });
        try {
          assert.equal(ex.imported?.format, 'tfjs-graph');
          assert.equal(ex.labels?.[3], 'class 3');
          const input = arrayOf('tfjs_graph_ops', 'input.npy');
          const r = await ex.run(input.data, input.shape, { layers: ['c2'], classes: [1, 8] });
          assert.ok(maxRelError(r.logits.data, arrayOf('tfjs_graph_ops', 'logits.npy').data) <= 1e-5);
        } finally {
          await ex.release();
        }
      }
      assert.deepEqual([...nodeModelFiles(tmp).names].sort(), ['group1-shard1of1.bin', 'model.json']);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('compiled graphs are cached under the import, which follows from every file: a changed shard is a new entry', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-tfjs-'));
    const cacheDir = path.join(tmp, 'cache');
    const saved = process.env.GRADCAM_CACHE;
    process.env.GRADCAM_CACHE = cacheDir;
    const entries = () => (fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).filter((f) => f.endsWith('.bin')).length : 0);
    const explainOnce = async () => {
      const ex = await loadExplainer(path.join(tmp, 'model.json'));
      try {
        const input = arrayOf('tfjs_graph_ops', 'input.npy');
        return (await ex.explain(input.data, input.shape, { layer: 'c2', classes: [1, 8] })).explanations[0]!.map;
      } finally {
        await ex.release();
      }
    };
    try {
      fs.writeFileSync(path.join(tmp, 'model.json'), JSON.stringify(base));
      fs.writeFileSync(path.join(tmp, 'group1-shard1of1.bin'), bin);
      const first = await explainOnce();
      const n1 = entries();
      assert.ok(n1 > 0, 'nothing was cached');
      const again = await explainOnce();
      assert.equal(entries(), n1, 'the same files found their entries');
      assert.deepEqual(again, first);
      const changed = bin.slice();
      changed[changed.length - 8]! ^= 0x40; // a weight of the last layer, in the shard only
      fs.writeFileSync(path.join(tmp, 'group1-shard1of1.bin'), changed);
      await explainOnce();
      assert.ok(entries() > n1, 'a changed shard reused the old entries');
    } finally {
      if (saved === undefined) delete process.env.GRADCAM_CACHE;
      else process.env.GRADCAM_CACHE = saved;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a folder does not read files through symbolic links that leave it', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-tfjs-'));
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-out-'));
    try {
      fs.writeFileSync(path.join(tmp, 'model.json'), JSON.stringify(base));
      fs.writeFileSync(path.join(outside, 'group1-shard1of1.bin'), bin);
      fs.symlinkSync(path.join(outside, 'group1-shard1of1.bin'), path.join(tmp, 'group1-shard1of1.bin'));
      assert.deepEqual(nodeModelFiles(tmp).names, ['model.json']);
      await assert.rejects(loadExplainer(tmp, { cache: false }), /weights shard 'group1-shard1of1.bin' named in the manifest is missing/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});
