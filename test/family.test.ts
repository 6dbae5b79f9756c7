/**
 * The CAM family (issue 5): parity with pytorch-grad-cam's definitions on the fixtures (reference maps
 * from scripts/fixtures/make_family_fixtures.py: ≤ 1e-4 absolute on final maps, ≤ 1e-3 for Score-CAM and
 * Ablation-CAM), targets, contrastive and counterfactual maps, top-k in one gradient run, ablation graph
 * modes, the CAM head finder.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Explainer, type ExplainOptions } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { decodePng } from '../src/image/png.js';
import type { Session, SessionFactory } from '../src/runtime/session.js';
import type { TargetSpec } from '../src/cam/targets.js';
import { projection2d, symmetricEigen } from '../src/cam/svd.js';
import { uniform } from '../src/cam/methods/random.js';
import { upsampleAlignCorners } from '../src/cam/upsample.js';
import { FIXTURES, loadArray, loadMeta, maxAbsError, modelBytes } from './helpers/fixtures.js';

interface Entry {
  file: string;
  method: string;
  layers: string[];
  keys: string[];
  classes: number[];
  target: { kind: string; contrast?: number; counterfactual?: boolean; reference?: string; mask?: string };
  eigen_smooth: boolean;
  aug_smooth: boolean;
  tol: number;
  top_k?: number;
}

/** Counts session runs (to check how many passes a feature costs). */
function countingFactory(): { create: SessionFactory; runs: { outputs: readonly string[]; rows: number }[] } {
  const runs: { outputs: readonly string[]; rows: number }[] = [];
  const create: SessionFactory = async (model, options) => {
    const s = await createNodeSession(model, options);
    const wrapped: Session = {
      inputNames: s.inputNames, outputNames: s.outputNames,
      run: async (feeds, fetch) => {
        runs.push({ outputs: fetch ?? s.outputNames, rows: Object.values(feeds)[0]!.dims[0]! });
        return s.run(feeds, fetch);
      },
      release: () => s.release(),
    };
    return wrapped;
  };
  return { create, runs };
}

function load(dir: string, file: string): { data: Float32Array; shape: number[] } {
  const npy = parseNpy(new Uint8Array(fs.readFileSync(path.join(FIXTURES, dir, file))));
  return { data: toFloat32(npy), shape: npy.shape };
}

function stack(maps: Float32Array[]): Float32Array {
  const out = new Float32Array(maps.reduce((a, m) => a + m.length, 0));
  let o = 0;
  for (const m of maps) { out.set(m, o); o += m.length; }
  return out;
}

const parity: string[] = [];
after(() => { if (parity.length) console.log(`family parity (max abs error per reference map):\n${parity.join('\n')}`); });

const FAMILY_MODELS = ['mobilenet_like', 'resnet_like', 'vgg_like', 'squeezenet_like', 'family_seg'];

for (const name of FAMILY_MODELS) {
  const indexFile = path.join(FIXTURES, name, 'family', 'index.json');
  if (!fs.existsSync(indexFile)) continue;
  const entries = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as Entry[];
  describe(`family parity: ${name}`, () => {
    const explainer = Explainer.fromBytes(modelBytes(name), { createSession: createNodeSession, source: name });
    const input = load(name, 'input.npy');
    after(() => explainer.release());
    for (const e of entries) {
      it(`${e.file} (${e.method}${e.target.kind !== 'logit' ? `, ${e.target.kind}` : ''}) within ${e.tol}`, async () => {
        const ref = load(name, `family/${e.file}`);
        const opts: ExplainOptions = { method: e.method, layer: e.layers.length === 1 ? e.layers[0] : e.layers, classes: e.classes };
        if (e.eigen_smooth) opts.eigenSmooth = true;
        if (e.aug_smooth) opts.augSmooth = true;
        if (e.target.contrast !== undefined) opts.contrast = e.target.contrast;
        if (e.target.counterfactual) opts.counterfactual = true;
        if (e.target.kind === 'softmax') opts.target = { kind: 'softmax' };
        if (e.target.kind === 'segmentation') { opts.target = { kind: 'segmentation' }; opts.classes = 'top'; }
        if (e.target.kind === 'similarity') {
          const logits = loadArray(name, 'logits.npy');
          const K = logits.shape[1]!;
          opts.target = [1, 0].map((o): TargetSpec => ({ kind: 'similarity', reference: logits.data.slice(o * K, (o + 1) * K) }));
        }
        let explanations;
        if (e.top_k) {
          const r = await explainer.explain(input.data, input.shape, { ...opts, classes: 'top', topK: e.top_k });
          assert.equal(r.explanations.length, input.shape[0]! * e.top_k);
          explanations = r.explanations.filter((x) => x.rank === e.top_k);
        } else {
          explanations = (await explainer.explain(input.data, input.shape, opts)).explanations;
        }
        explanations.forEach((x, i) => {
          assert.equal(x.method, e.method);
          if (e.target.kind !== 'similarity') assert.equal(x.target.index, e.classes[i], `image ${i} explains class ${x.target.index}`);
        });
        const err = maxAbsError(stack(explanations.map((x) => x.map)), ref.data);
        parity.push(`  ${name}/${e.file}: ${err.toExponential(2)}`);
        assert.ok(err <= e.tol, `max abs error ${err} > ${e.tol}`);
        assert.ok(Math.max(...ref.data) > 0.5, 'reference map is not trivial');
      });
    }
  });
}

describe('family: targets, contrast, top-k', () => {
  const name = 'resnet_like';
  const meta = loadMeta(name);
  const input = loadArray(name, 'input.npy');
  const logits = loadArray(name, 'logits.npy');
  const K = meta.num_classes;
  const counting = countingFactory();
  const explainer = Explainer.fromBytes(modelBytes(name), { createSession: counting.create, source: name });
  after(() => explainer.release());
  const layer = meta.layers.find((l) => l.key === 'last')!.tensor;
  const maps = async (opts: ExplainOptions) => (await explainer.explain(input.data, input.shape, { layer, ...opts })).explanations;

  it('--top-k: the k best classes per image from one forward and one gradient run', async () => {
    await maps({ method: 'gradcam++', classes: meta.classes }); // compile the gradient graph first
    counting.runs.length = 0;
    const ex = await maps({ method: 'gradcam++', topK: 3 });
    assert.deepEqual(counting.runs.map((r) => r.rows), [2, 6], 'one forward pass on 2 images, one gradient run on 2×3 rows');
    assert.equal(ex.length, 6);
    for (let i = 0; i < 2; i++) {
      const row = Array.from(logits.data.subarray(i * K, (i + 1) * K));
      const top = row.map((v, k) => [v, k] as const).sort((a, b) => b[0] - a[0]).slice(0, 3).map((x) => x[1]);
      assert.deepEqual(ex.filter((x) => x.image === i).map((x) => [x.rank, x.target.index]), top.map((c, r) => [r + 1, c]));
      // every rank equals the map of that class explained alone
      for (const x of ex.filter((y) => y.image === i)) {
        const alone = (await maps({ method: 'gradcam++', classes: [x.target.index, x.target.index] }))[i]!;
        assert.ok(maxAbsError(x.map, alone.map) <= 1e-5, `rank ${x.rank}: ${maxAbsError(x.map, alone.map)}`);
      }
    }
  });

  it('contrast and counterfactual are seeds onehot(c) − onehot(D) and −onehot(c)', async () => {
    const [c, d] = [3, 5];
    const con = await maps({ method: 'hirescam', classes: c, contrast: d });
    assert.equal(con[0]!.targetName, `logit ${c} - logit ${d}`);
    assert.ok(Math.abs(con[0]!.targetValue! - (logits.data[c]! - logits.data[d]!)) < 1e-4);
    // HiResCAM is linear in the gradient: raw(c − D) = raw(c) − raw(D)
    const rc = (await maps({ method: 'hirescam', classes: c }))[0]!.raw;
    const rd = (await maps({ method: 'hirescam', classes: d }))[0]!.raw;
    assert.ok(maxAbsError(con[0]!.raw, rc.map((v, i) => v - rd[i]!)) <= 1e-4);
    const cf = await maps({ method: 'hirescam', classes: c, counterfactual: true });
    assert.ok(maxAbsError(cf[0]!.raw, rc.map((v) => -v)) <= 1e-5);
    assert.equal(cf[0]!.targetName, `-(logit ${c})`);
    // --contrast top: the predicted class as the alternative
    const pred = Array.from(logits.data.subarray(0, K)).indexOf(Math.max(...logits.data.subarray(0, K)));
    const vsTop = await maps({ method: 'gradcam', classes: 2, contrast: 'top' });
    assert.equal(vsTop[0]!.targetName, `logit 2 - logit ${pred}`);
  });

  it('element, regression and binary targets are the logit seeds they stand for', async () => {
    const base = await maps({ method: 'layercam', classes: 4 });
    const spec = await maps({ method: 'layercam', target: { kind: 'logit', class: 4 } });
    assert.deepEqual(spec.map((x) => x.target.index), [4, 4], 'a class in the target spec wins over `classes`');
    const element = await maps({ method: 'layercam', target: { kind: 'element', index: [4] } });
    const regression = await maps({ method: 'layercam', target: { kind: 'regression', index: 4 } });
    const negative = await maps({ method: 'layercam', target: { kind: 'binary', negative: true, index: 4 } });
    const counterfactual = await maps({ method: 'layercam', classes: 4, counterfactual: true });
    for (let i = 0; i < 2; i++) {
      assert.ok(maxAbsError(element[i]!.map, base[i]!.map) <= 1e-6);
      assert.ok(maxAbsError(regression[i]!.map, base[i]!.map) <= 1e-6);
      assert.ok(maxAbsError(negative[i]!.map, counterfactual[i]!.map) <= 1e-6);
      // targetValue comes from another compiled graph than `logits`: equal only to float32 precision
      // (the kernels' summation order depends on the CPU's vector width, e.g. AVX2 vs AVX-512)
      assert.ok(Math.abs(negative[i]!.targetValue! + logits.data[i * K + 4]!) <= 1e-5 * Math.max(1, Math.abs(logits.data[i * K + 4]!)));
    }
    assert.match(negative[0]!.targetName!, /binary negative/);
    await assert.rejects(maps({ method: 'gradcam', target: { kind: 'element', index: 10 } }), /output index 10 is out of range: the output has 10 values per image/);
    await assert.rejects(maps({ method: 'gradcam', target: { kind: 'segmentation' } }), /segmentation target needs a \[batch, classes, h, w\] output/);
  });

  it('softmax target: seed p_c(δ − p) from the scores of a forward pass first', async () => {
    counting.runs.length = 0;
    const ex = await maps({ method: 'gradcam', target: { kind: 'softmax' }, classes: meta.classes });
    assert.deepEqual(counting.runs.map((r) => r.rows), [2, 2], 'forward, then the gradient run');
    const row = Array.from(logits.data.subarray(0, K));
    const z = row.reduce((a, v) => a + Math.exp(v), 0);
    assert.ok(Math.abs(ex[0]!.targetValue! - Math.exp(row[3]!) / z) < 1e-6);
  });

  it('similarity to a reference input equals similarity to its embedding', async () => {
    const per = input.data.length / 2;
    const refInput = { data: input.data.slice(per), dims: [1, ...input.shape.slice(1)] };
    const a = await maps({ method: 'gradcam', target: { kind: 'similarity', referenceInput: refInput } });
    const b = await maps({ method: 'gradcam', target: { kind: 'similarity', reference: logits.data.slice(K) } });
    assert.ok(maxAbsError(a[0]!.map, b[0]!.map) <= 1e-5);
    assert.ok(Math.abs(a[1]!.targetValue! - 1) < 1e-5, 'image 1 against itself: cosine 1');
  });

  it('cam: weights from the Gemm after global pooling; a clear error where the head is not that', async () => {
    const vgg = Explainer.fromBytes(modelBytes('vgg_like'), { createSession: createNodeSession, source: 'vgg_like' });
    const vin = loadArray('vgg_like', 'input.npy');
    await assert.rejects(vgg.explain(vin.data, vin.shape, { method: 'cam' }),
      /cam needs the layer to be followed by global average pooling and a linear classifier .* after '\/features\/features\.12\/MaxPool_output_0' the model has Flatten → Gemm: Gemm is neither global average pooling nor a 1×1 classifier/);
    await vgg.release();
    const sq = Explainer.fromBytes(modelBytes('squeezenet_like'), { createSession: createNodeSession, source: 'squeezenet_like' });
    const sin = loadArray('squeezenet_like', 'input.npy');
    await assert.rejects(sq.explain(sin.data, sin.shape, { method: 'cam' }), /GlobalAveragePool → Flatten: the score follows the pooling with no linear classifier in between/);
    await sq.release();
    // resnet_like: CAM and Grad-CAM agree up to scale there (GAP → Gemm), so their final maps are equal
    const c = await maps({ method: 'cam', classes: meta.classes });
    const g = await maps({ method: 'gradcam', classes: meta.classes });
    for (let i = 0; i < 2; i++) assert.ok(maxAbsError(c[i]!.map, g[i]!.map) <= 1e-5);
  });

  it('ablationcam: the suffix graph (layers after the layer only) equals the whole model with the mask', async () => {
    // a layer inside a residual block: the suffix also reads the block's input (the skip connection)
    const inner = '/layer3/layer3.0/relu1/Relu_output_0';
    counting.runs.length = 0;
    const suffix = await maps({ method: 'ablationcam', layer: inner, classes: meta.classes, ablationMode: 'suffix', batchSize: 7 });
    const suffixRuns = counting.runs.filter((r) => r.outputs.length === 1 && r.rows <= 7).length;
    const full = await maps({ method: 'ablationcam', layer: inner, classes: meta.classes, ablationMode: 'full', batchSize: 24 });
    assert.equal(suffixRuns, 2 * Math.ceil(24 / 7), '24 channels in batches of 7, per image');
    for (let i = 0; i < 2; i++) assert.ok(maxAbsError(suffix[i]!.map, full[i]!.map) <= 1e-5, `${maxAbsError(suffix[i]!.map, full[i]!.map)}`);
    // a subset of channels: the others weigh 0
    const some = await maps({ method: 'ablationcam', layer: inner, classes: meta.classes, channels: [0, 1, 2] });
    assert.ok(maxAbsError(some[0]!.map, suffix[0]!.map) > 1e-3);
  });

  it('scorecam: top-N channels by variance; all N equals the full method', async () => {
    const full = await maps({ method: 'scorecam', classes: meta.classes });
    const all = await maps({ method: 'scorecam', classes: meta.classes, scoreCamTopN: 24 });
    const few = await maps({ method: 'scorecam', classes: meta.classes, scoreCamTopN: 4 });
    // the same channels in other batches: ORT's kernels may round differently per batch size
    assert.ok(maxAbsError(all[0]!.map, full[0]!.map) <= 1e-6);
    assert.ok(maxAbsError(few[0]!.map, full[0]!.map) > 1e-3);
  });

  it('eigencam ignores the target and says so; random depends on its seed', async () => {
    const a = await maps({ method: 'eigencam', classes: 1, counterfactual: true });
    const b = await maps({ method: 'eigencam', classes: 2 });
    assert.ok(maxAbsError(a[0]!.map, b[0]!.map) <= 1e-6);
    assert.match(a[0]!.warnings.join('\n'), /eigencam does not depend on the target/);
    const r0 = await maps({ method: 'random', classes: 1 });
    const r1 = await maps({ method: 'random', classes: 1, randomSeed: 1 });
    assert.ok(maxAbsError(r0[0]!.map, r1[0]!.map) > 1e-2);
  });
});

describe('family: numerics', () => {
  it('random: numpy legacy MT19937 uniform(-1, 1)', () => {
    // np.random.seed(0); np.random.uniform(-1, 1, 3)
    assert.deepEqual(Array.from(uniform(0, 3)), [0.0976270078546495, 0.43037873274483895, 0.20552675214328775]);
  });

  it('align-corners bilinear upsampling hits the corners and midpoints', () => {
    const up = upsampleAlignCorners(Float32Array.of(0, 1, 2, 3), 1, 2, 2, 3, 3);
    assert.deepEqual(Array.from(up), [0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3]);
  });

  it('symmetric eigen-decomposition and the projection sign rule', () => {
    const A = Float64Array.of(4, 1, 0, 1, 3, 1, 0, 1, 2);
    const { values } = symmetricEigen(A, 3);
    const sorted = Array.from(values).sort((a, b) => a - b);
    // eigenvalues of [[4,1,0],[1,3,1],[0,1,2]]: 3 − √3, 3, 3 + √3
    [3 - Math.sqrt(3), 3, 3 + Math.sqrt(3)].forEach((v, i) => assert.ok(Math.abs(sorted[i]! - v) < 1e-12));
    // one channel whose values are one large positive bump: the projection's dominant lobe is positive
    const x = Float32Array.of(0, 0, 9, 0, 1, 0, 0, 0, 0, 1, 0, 0);
    const p = projection2d(x, [1, 2, 2, 3]);
    assert.equal(Array.from(p).indexOf(Math.max(...p)), 2);
    assert.ok(Math.abs(Math.min(...p)) < Math.max(...p));
  });
});

describe('family: CLI', () => {
  const ROOT = path.join(FIXTURES, '..', '..');
  const BIN = path.join(ROOT, 'bin', 'gradcam.js');
  const MODEL = path.join(FIXTURES, 'resnet_like', 'model.onnx');
  const INPUT = path.join(FIXTURES, 'resnet_like', 'input.npy');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-family-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const gradcam = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const json = (dir: string, file: string) => JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));

  it('gradcam methods lists every method, one line each', () => {
    const r = gradcam('methods');
    assert.equal(r.code, 0, r.err);
    for (const m of ['gradcam', 'gradcam++', 'xgradcam', 'hirescam', 'layercam', 'gradcam-elementwise', 'eigencam', 'eigengradcam', 'scorecam', 'ablationcam', 'cam', 'random']) {
      assert.match(r.out, new RegExp(`^${m.replace(/\+/g, '\\+')}\\s+\\S.*$`, 'm'), m);
    }
  });

  it('--method scorecam writes <stem>.scorecam.png|.npy|.raw.npy|.json', () => {
    const out = path.join(tmp, 'score');
    const r = gradcam('explain', INPUT, '--model', MODEL, '--method', 'scorecam', '--class', '3', '--raw', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(fs.readdirSync(out).sort(), ['input_0', 'input_1'].flatMap((s) => ['.scorecam.json', '.scorecam.npy', '.scorecam.png', '.scorecam.raw.npy'].map((x) => s + x)).sort());
    const j = json(out, 'input_1.scorecam.json');
    assert.equal(j.method, 'scorecam');
    assert.deepEqual(j.target, { kind: 'logit', name: 'logit 3', value: j.class.logit });
    assert.equal(j.class.index, 3);
    const map = toFloat32(parseNpy(new Uint8Array(fs.readFileSync(path.join(out, 'input_1.scorecam.npy')))));
    assert.ok(Math.abs(Math.max(...map) - 1) < 1e-6 && Math.min(...map) >= 0);
    // the same line as every method writes for a class
    assert.match(r.out, /input\.npy: scorecam: class 3 \(logit -?\d+\.\d{3}, p=0\.\d{3}\); predicted \d/);
  });

  it('--methods × --layers --grid --top-k 2: one labelled comparison per image and rank', () => {
    const out = path.join(tmp, 'grid');
    const layers = '/layer3/layer3.0/relu2/Relu_output_0,/layer2/layer2.0/relu2/Relu_output_0';
    const r = gradcam('explain', INPUT, '--model', MODEL, '--methods', 'gradcam,layercam,eigencam', '--layers', layers, '--grid', '--top-k', '2', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(fs.readdirSync(out).sort(), ['input_0-top1', 'input_0-top2', 'input_1-top1', 'input_1-top2'].flatMap((s) => [`${s}.grid.json`, `${s}.grid.png`]).sort());
    const j = json(out, 'input_0-top2.grid.json');
    assert.equal(j.rank, 2);
    assert.deepEqual(j.methods, ['gradcam', 'layercam', 'eigencam']);
    assert.equal(j.layers.length, 3, 'two layers and their mean');
    const png = decodePng(new Uint8Array(fs.readFileSync(path.join(out, 'input_0-top2.grid.png'))));
    assert.ok(png.width >= 3 * 192 && png.height >= 3 * 192, `${png.width}x${png.height}`);
    assert.notEqual(j.class.index, j.predicted.index, 'rank 2 is not the predicted class');
  });

  it('--contrast and --counterfactual name what they explain', () => {
    const out = path.join(tmp, 'contrast');
    let r = gradcam('explain', INPUT, '--model', MODEL, '--method', 'hirescam', '--class', '3', '--contrast', '5', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    assert.equal(json(out, 'input_0.hirescam.json').target.name, 'logit 3 - logit 5');
    r = gradcam('explain', INPUT, '--model', MODEL, '--class', '3', '--counterfactual', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    const j = json(out, 'input_0.gradcam.json');
    assert.equal(j.target.name, '-(logit 3)');
    assert.equal(j.counterfactual, true);
  });

  it('segmentation target from the CLI', () => {
    const out = path.join(tmp, 'seg');
    const r = gradcam('explain', path.join(FIXTURES, 'family_seg', 'input.npy'), '--model', path.join(FIXTURES, 'family_seg', 'model.onnx'), '--target', 'segmentation', '--class', '2', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    const j = json(out, 'input_0.gradcam.json');
    assert.equal(j.target.kind, 'segmentation');
    assert.match(j.target.name, /^segmentation 2 \(618 px\)$/);
  });

  const bad: [string, string[], RegExp, number][] = [
    ['an unknown method', ['--method', 'gradcam+++'], /unknown method 'gradcam\+\+\+'; choose one of: gradcam, gradcam\+\+, xgradcam/, 2],
    ['cam without a pooling + linear head', ['--method', 'cam', '--model', path.join(FIXTURES, 'vgg_like', 'model.onnx')], /cam needs the layer to be followed by global average pooling/, 1],
    ['similarity without a reference', ['--target', 'similarity'], /--target similarity needs --reference FILE/, 2],
    ['an unknown target', ['--target', 'probit'], /unknown target 'probit'; choose one of: logit, softmax/, 2],
    ['top-k with a regression target', ['--target', 'regression', '--top-k', '2'], /--top-k works with the logit and softmax targets, not regression/, 1],
  ];
  for (const [what, args, re, code] of bad) {
    it(`rejects ${what} with a clear message and writes nothing`, () => {
      const out = path.join(tmp, `bad-${what.replace(/\W+/g, '-')}`);
      const model = args.includes('--model') ? [] : ['--model', MODEL];
      const input = args.includes('--model') ? path.join(FIXTURES, 'vgg_like', 'input.npy') : INPUT;
      const r = gradcam('explain', input, ...model, ...args, '--out', out, '--quiet');
      assert.equal(r.code, code, r.err);
      assert.match(r.err, re);
      assert.equal(fs.existsSync(out), false);
    });
  }
});
