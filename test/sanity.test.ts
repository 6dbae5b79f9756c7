/** The model-parameter randomisation test: layers, seeded re-initialisation, similarities, pictures and the CLI. */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeModel, encodeModel, GraphIndex, type ModelProto } from '../src/onnx/model.js';
import { decodeTensor } from '../src/onnx/tensor.js';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { parameterizedLayers, randomizeLayers, shortLayerName } from '../src/sanity/randomize.js';
import { compareMaps, sanityCheck, verdict, type StageEntry } from '../src/sanity/check.js';
import { sanityCurvesSvg, sanityMontage } from '../src/sanity/render.js';
import { methodMaps } from '../src/metrics/maps.js';
import { decodePng } from '../src/image/png.js';
import { writeNpy } from '../src/image/npy.js';
import { runSanity } from '../src/cli/sanity.js';
import { FIXTURES, loadArray, modelBytes } from './helpers/fixtures.js';

const fresh = (): ModelProto => decodeModel(modelBytes('resnet_like'));
const valueOf = (m: ModelProto, name: string) => new GraphIndex(m).constant(name)!.data as Float32Array;
const stats = (d: Float32Array) => {
  const mean = d.reduce((a, v) => a + v, 0) / d.length;
  return { mean, std: Math.sqrt(d.reduce((a, v) => a + (v - mean) ** 2, 0) / d.length) };
};

describe('parameterised layers and re-initialisation', () => {
  it('lists Conv and Gemm layers from the logits down, with their weights and biases', () => {
    const layers = parameterizedLayers(fresh());
    assert.equal(layers.length, 9);
    assert.equal(layers[0]!.name, '/fc/Gemm');
    assert.equal(layers[layers.length - 1]!.name, '/conv1/Conv');
    assert.deepEqual(layers[0]!.params.map((p) => [p.source.name, p.role, p.fanIn]), [['fc.weight', 'weight', 24], ['fc.bias', 'bias', 1]]);
    const conv1 = layers[layers.length - 1]!.params[0]!;
    assert.deepEqual([conv1.dims, conv1.fanIn], [[16, 3, 3, 3], 27]);
    assert.deepEqual(layers.map((l) => l.rank), layers.map((_, i) => i));
  });

  it('redraws only the chosen layers, seeded, leaving the original model untouched', () => {
    const m = fresh();
    const layers = parameterizedLayers(m);
    const before = valueOf(m, 'fc.weight').slice();
    const r1 = randomizeLayers(m, layers.slice(0, 2), { seed: 5 });
    const r2 = randomizeLayers(m, layers.slice(0, 2), { seed: 5 });
    const r3 = randomizeLayers(m, layers.slice(0, 2), { seed: 6 });
    assert.deepEqual(valueOf(m, 'fc.weight'), before, 'original unchanged');
    assert.notDeepEqual(valueOf(r1, 'fc.weight'), before);
    assert.deepEqual(valueOf(r1, 'fc.weight'), valueOf(r2, 'fc.weight'), 'same seed, same values');
    assert.notDeepEqual(valueOf(r1, 'fc.weight'), valueOf(r3, 'fc.weight'));
    const untouched = layers[5]!.params[0]!.source.name;
    assert.deepEqual(valueOf(r1, untouched), valueOf(m, untouched));
    // independent and cascading draw the same values for a layer
    const single = randomizeLayers(m, [layers[1]!], { seed: 5 });
    const w1 = layers[1]!.params[0]!.source.name;
    assert.deepEqual(valueOf(single, w1), valueOf(r1, w1));
  });

  it("'own' keeps each tensor's mean and std; 'he' draws N(0, 2/fan_in)", () => {
    const m = fresh();
    const layers = parameterizedLayers(m);
    const conv = layers.find((l) => l.name === '/layer3/layer3.0/conv2/Conv')!;
    const name = conv.params[0]!.source.name;
    const o = stats(valueOf(m, name));
    const own = stats(valueOf(randomizeLayers(m, [conv], { init: 'own' }), name));
    assert.ok(Math.abs(own.mean - o.mean) < 0.1 * o.std && Math.abs(own.std / o.std - 1) < 0.05, JSON.stringify({ o, own }));
    const he = stats(valueOf(randomizeLayers(m, [conv], { init: 'he' }), name));
    const want = Math.sqrt(2 / conv.params[0]!.fanIn);
    assert.ok(Math.abs(he.std / want - 1) < 0.05 && Math.abs(he.mean) < 0.1 * want, JSON.stringify({ he, want }));
  });

  it('finds and redraws weights held in Constant nodes (through Identity)', () => {
    const m = fresh();
    const consts = m.graph.initializer.map((t) => ({ name: `${t.name}/const`, op_type: 'Constant', domain: '', input: [], output: [`${t.name}__c`], attribute: [{ name: 'value', type: 4, t: { ...t, name: '' } }] }));
    const ids = m.graph.initializer.map((t) => ({ name: `${t.name}/id`, op_type: 'Identity', domain: '', input: [`${t.name}__c`], output: [t.name!], attribute: [] }));
    m.graph.node = [...consts, ...ids, ...m.graph.node];
    m.graph.initializer = [];
    const layers = parameterizedLayers(m);
    assert.equal(layers.length, 9);
    assert.deepEqual(layers[0]!.params[0]!.source, { kind: 'constant', name: 'fc.weight__c' });
    const r = randomizeLayers(m, layers.slice(0, 1));
    assert.notDeepEqual(valueOf(r, 'fc.weight'), valueOf(m, 'fc.weight'));
    // the randomised model still encodes and decodes
    const back = decodeModel(encodeModel(r));
    const node = back.graph.node.find((n) => n.output[0] === 'fc.weight__c')!;
    assert.deepEqual(decodeTensor(node.attribute[0]!.t!).data, valueOf(r, 'fc.weight'));
  });

  it('shortens layer names for captions', () => {
    assert.equal(shortLayerName('/layer4/layer4.0/downsample/downsample.0/Conv'), 'layer4.0/downsample.0');
    assert.equal(shortLayerName('/fc/Gemm'), 'fc');
    assert.equal(shortLayerName('/layer4/layer4.1/conv2/Conv'), 'layer4.1/conv2');
    // the tensor names the CAM grid captions (render) use: one rule for both
    assert.equal(shortLayerName('/layer3/layer3.0/relu2/Relu_output_0'), 'layer3.0/relu2');
    assert.equal(shortLayerName('/features/features.17/conv/conv.2/Conv_output_0'), 'features.17/conv.2');
    assert.equal(shortLayerName('relu_3'), 'relu_3');
  });
});

describe('sanity check', () => {
  const ex = Explainer.fromBytes(modelBytes('resnet_like'), { createSession: createNodeSession });
  const input = loadArray('resnet_like', 'input.npy');
  after(() => ex.release());

  it('a map compared with itself scores 1 on every similarity', async () => {
    const [m] = await methodMaps(ex, input.data.slice(0, 3 * 48 * 48), [1, 3, 48, 48], 'guided-backprop', { classes: 3 });
    assert.deepEqual(compareMaps(m!, m!), { spearman: 1, spearman_abs: 1, ssim: 1, hog: 1 });
  });

  it('cascading and independent stages: table, determinism, montage and curves', async () => {
    const opts = { createSession: createNodeSession, methods: ['gradcam', 'guided-backprop'], maxLayers: 2, classes: [3, 7], seed: 1 };
    const r = await sanityCheck(ex, input.data, input.shape, opts);
    assert.deepEqual(r.classes, [3, 7]);
    assert.equal(r.layers.length, 2);
    for (const m of r.methods) {
      const rows = r.table[m]!;
      assert.deepEqual(rows.map((e) => [e.mode, e.stage, e.layer]), [
        ['cascading', 0, null], ['cascading', 1, '/fc/Gemm'], ['cascading', 2, '/layer3/layer3.0/conv2/Conv'],
        ['independent', 1, '/fc/Gemm'], ['independent', 2, '/layer3/layer3.0/conv2/Conv'],
      ]);
      assert.deepEqual([rows[0]!.spearman, rows[0]!.spearman_abs, rows[0]!.ssim, rows[0]!.hog], [1, 1, 1, 1]);
      // stage 1 randomises the same single layer in both modes
      assert.equal(rows[1]!.spearman_abs, rows[3]!.spearman_abs);
      for (const e of rows) for (const k of ['spearman', 'spearman_abs', 'ssim', 'hog'] as const) assert.ok(e[k] >= -1 && e[k] <= 1);
      assert.ok(rows[1]!.std, 'two images give a std');
    }
    // randomising the classifier changes Grad-CAM
    assert.ok(r.table['gradcam']![2]!.spearman_abs < 0.9);
    const again = await sanityCheck(ex, input.data, input.shape, { ...opts, modes: ['cascading'] });
    assert.deepEqual(again.table['gradcam']!.map((e) => e.ssim), r.table['gradcam']!.filter((e) => e.mode === 'cascading').map((e) => e.ssim));
    assert.equal(r.verdicts.length, 2);
    const img = sanityMontage(r, 0, 'cascading');
    assert.ok(img.width > 3 * 96 && img.height > 2 * 96, `${img.width}x${img.height}`);
    const svg = sanityCurvesSvg(r);
    assert.equal((svg.match(/<polyline/g) ?? []).length, 2 * 4 * 2);
    assert.match(svg, /threshold 0\.5/);
  });

  it('verdict: the mean Spearman |map| over the cascading stages against the threshold', () => {
    const row = (stage: number, v: number): StageEntry => ({ mode: 'cascading', stage, layer: stage ? `l${stage}` : null, spearman: v, spearman_abs: v, ssim: v, hog: v });
    const edge = verdict('guided-backprop', [row(0, 1), row(1, 0.95), row(2, 0.9), row(3, 0.2)], 0.5, 3);
    assert.equal(edge.sensitive, false);
    close(edge.value, 0.6833333333);
    assert.equal(edge.firstBelow, 3);
    assert.match(edge.text, /^guided-backprop: FAIL/);
    const cam = verdict('gradcam', [row(0, 1), row(1, 0.3), row(2, 0.1), row(3, 0.0)], 0.5, 3);
    assert.equal(cam.sensitive, true);
    assert.equal(cam.firstBelow, 1);
    assert.match(cam.text, /^gradcam: PASS/);
  });
});

function close(a: number, b: number, tol = 1e-6) {
  assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
}

describe('gradcam sanity (CLI)', () => {
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-sanity-')); });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const bin = path.join(FIXTURES, '..', '..', 'bin', 'gradcam.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  const model = path.join(FIXTURES, 'resnet_like', 'model.onnx');
  const npy = path.join(FIXTURES, 'resnet_like', 'input.npy');

  it('sanity writes sanity.json, the montage, the curves and prints verdicts', () => {
    const out = path.join(tmp, 'sanity');
    const r = run('sanity', npy, '--model', model, '--methods', 'gradcam,saliency', '--randomize', '2', '--mode', 'cascading', '--montage-stages', '0,2', '--out', out, '--quiet');
    assert.equal(r.status, 0, r.stderr);
    const table = JSON.parse(fs.readFileSync(path.join(out, 'sanity.json'), 'utf8'));
    assert.deepEqual(Object.keys(table), ['gradcam', 'saliency']);
    assert.deepEqual(Object.keys(table.gradcam[1]).slice(0, 7), ['mode', 'stage', 'layer', 'spearman', 'spearman_abs', 'ssim', 'hog']);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'sanity.meta.json'), 'utf8'));
    assert.equal(meta.verdicts.length, 2);
    assert.equal(meta.layers[0].name, '/fc/Gemm');
    const png = decodePng(new Uint8Array(fs.readFileSync(path.join(out, 'sanity.input_0.cascading.png'))));
    assert.ok(png.width > 2 * 96 && png.width < 3 * 150, `two columns: ${png.width}`);
    assert.ok(fs.readFileSync(path.join(out, 'sanity.curves.svg'), 'utf8').startsWith('<svg'));
    assert.match(r.stdout, /^gradcam: (PASS|FAIL)/m);
    assert.match(r.stdout, /^saliency: (PASS|FAIL)/m);
  });

  it('bad options give clear errors', async () => {
    await assert.rejects(runSanity([npy, '--model', model, '--methods', 'gradcam,nope']), /unknown method 'nope'/);
    await assert.rejects(runSanity([npy, '--model', model, '--mode', 'sideways']), /unknown --mode 'sideways'; choose one of: cascading, independent, both/);
    await assert.rejects(runSanity([npy, '--model', model, '--init', 'zeros']), /unknown --init 'zeros'; choose one of: own, he/);
    await assert.rejects(runSanity([npy]), /--model FILE is required/);
    await assert.rejects(runSanity([npy, '--model', model, '--randomize', '2', '--montage-stages', '0,3']), /stage 3 does not exist; the model has 2 stages/);
    // --layers is explain's list of CAM layers: sanity names its count of randomised layers --randomize
    await assert.rejects(runSanity([npy, '--model', model, '--layers', '2']), /--layers is explain's list of CAM layers; the number of top layers to randomise is --randomize N/);
  });
});

describe('gradcam sanity on a folder: the dataset engine', () => {
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-sanity-ds-')); });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const bin = path.join(FIXTURES, '..', '..', 'bin', 'gradcam.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  const model = path.join(FIXTURES, 'resnet_like', 'model.onnx');
  const common = ['--model', model, '--methods', 'gradcam,saliency', '--randomize', '2', '--mode', 'cascading', '--quiet'];

  it('image by image and resumable: the table equals one check of the same images as files; a rerun does nothing', () => {
    const data = path.join(tmp, 'data');
    fs.mkdirSync(data);
    const input = loadArray('resnet_like', 'input.npy');
    const per = input.data.length / input.shape[0]!;
    const files: string[] = [];
    for (let i = 0; i < 2; i++) {
      const f = path.join(data, `img${i}.npy`);
      const one = input.data.slice(0, per).map((v, k) => v * (1 - 0.3 * i) + 0.05 * i * Math.sin(k));
      fs.writeFileSync(f, writeNpy(one, input.shape.slice(1)));
      files.push(f);
    }
    const ref = path.join(tmp, 'files');
    const a = run('sanity', ...files, ...common, '--out', ref);
    assert.equal(a.status, 0, a.stderr);
    const out = path.join(tmp, 'folder');
    const b = run('sanity', data, ...common, '--batch-size', '1', '--out', out);
    assert.equal(b.status, 0, b.stderr);
    const rows = fs.readFileSync(path.join(out, 'sanity.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => [r.key, r.status]), [['img0.npy', 'ok'], ['img1.npy', 'ok']]);
    const want = JSON.parse(fs.readFileSync(path.join(ref, 'sanity.json'), 'utf8'));
    const got = JSON.parse(fs.readFileSync(path.join(out, 'sanity.json'), 'utf8'));
    for (const m of ['gradcam', 'saliency']) {
      assert.equal(got[m].length, want[m].length);
      got[m].forEach((e: StageEntry, k: number) => {
        const w = want[m][k] as StageEntry;
        assert.deepEqual([e.mode, e.stage, e.layer], [w.mode, w.stage, w.layer]);
        for (const key of ['spearman', 'spearman_abs', 'ssim', 'hog'] as const) {
          assert.ok(Math.abs(e[key] - w[key]) < 2e-3, `${m} stage ${k} ${key}: ${e[key]} vs ${w[key]}`);
          assert.ok(Math.abs(e.std![key] - w.std![key]) < 2e-3, `${m} stage ${k} std ${key}`);
        }
      });
    }
    // the verdicts agree, a montage per image and mode was written with its row
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'sanity.meta.json'), 'utf8')).verdicts.map((v: { sensitive: boolean }) => v.sensitive),
      JSON.parse(fs.readFileSync(path.join(ref, 'sanity.meta.json'), 'utf8')).verdicts.map((v: { sensitive: boolean }) => v.sensitive));
    assert.equal(fs.readdirSync(out).filter((f) => /^sanity\.img\d-[0-9a-f]{8}\.cascading\.png$/.test(f)).length, 2);
    // a rerun finds every image done and writes the same table
    const c = run('sanity', data, ...common, '--batch-size', '1', '--out', out);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /2\/2 images done \(0 now, 2 already done\), 0 failed/);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'sanity.json'), 'utf8')), got);
    // other settings are refused
    const d = run('sanity', data, ...common.map((x) => (x === 'gradcam,saliency' ? 'gradcam' : x)), '--out', out);
    assert.equal(d.status, 1);
    assert.match(d.stderr, /holds a sanity check with other settings \(methods: /);
  });
});
