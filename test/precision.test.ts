/**
 * Half-precision models (issue 21, items 1, 2, 7): float16 and bfloat16 conversions of resnet_like and
 * vit_tiny_op17 (scripts/fixtures/make_precision_fixtures.py: float32 I/O with Casts — mixed precision —
 * and fully half I/O) explained against their float32 twins; the one decoding point of session outputs
 * and inputs; unreadable types refused; onnxruntime rejecting gradcam's own graph worded as internal.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { argmax, Explainer } from '../src/explainer.js';
import { GradientEngine } from '../src/runtime/engine.js';
import { gradcamGraphMaps } from '../src/cam/methods/gradcam-graph.js';
import { layoutFromOverride } from '../src/layout/describe.js';
import { createNodeSession } from '../src/runtime/node.js';
import { decodeOutput, encodeFeed, TensorTypeError } from '../src/runtime/session.js';
import { createWebSessionFactory, type OrtWebModule } from '../src/runtime/web.js';
import { decodeModel, encodeModel, type ModelProto } from '../src/onnx/model.js';
import { halfTypes, promoteToFloat32 } from '../src/onnx/precision.js';
import { bfloat16ToFloat32, decodeTensor, float16ToFloat32, float32ToBfloat16, float32ToFloat16 } from '../src/onnx/tensor.js';
import { pearson } from '../src/metrics/similarity.js';
import { plainForward } from '../src/metrics/forward.js';
import { sanityCheck } from '../src/sanity/check.js';
import { FIXTURES, loadArray, loadMeta, maxAbsError, modelBytes } from './helpers/fixtures.js';
import { runGradcam } from './helpers/cli.js';
import { encodePng } from '../src/image/png.js';
import os from 'node:os';

const DIR = path.join(FIXTURES, 'precision');
const TWINS = { resnet_like: 'resnet_like', vit_tiny: 'vit_tiny_op17' } as const;
const METHODS = ['gradcam', 'hirescam', 'gradcam++', 'eigencam', 'scorecam', 'guided-gradcam'] as const;
/**
 * Max |map − twin's map| measured here (resnet_like / vit_tiny, maps in [0, 1]): float16 ≤ 1.5e-3 for the
 * CAMs, 5.9e-2 for Guided Grad-CAM (the input gradient of a random-weight CNN: a few pixels); bfloat16
 * ≤ 1.2e-2 and 0.127. The bounds are those with a margin of 2-3×.
 */
const BOUND = {
  fp16: { cam: 5e-3, guided: 0.15 },
  bf16: { cam: 3e-2, guided: 0.3 },
};
/** Max |logit − float32 twin's| (|logits| ≤ 5.5): measured 1.5e-3 (float16) and 1.5e-2 (bfloat16). */
const LOGIT_BOUND = { fp16: 5e-3, bf16: 4e-2 };

const bytes = (file: string) => new Uint8Array(fs.readFileSync(path.join(DIR, file)));
const explainers: Explainer[] = [];
const open = (b: Uint8Array) => {
  const ex = Explainer.fromBytes(b, { createSession: createNodeSession });
  explainers.push(ex);
  return ex;
};
after(async () => { for (const e of explainers) await e.release(); });

describe('float16 / bfloat16 models against their float32 twins', () => {
  for (const [name, twin] of Object.entries(TWINS)) {
    const meta = loadMeta(twin);
    const x = loadArray(twin, 'input.npy');
    const reference = new Map<string, Float32Array[]>();
    it(`${twin}: the float32 twin's maps (the references; Grad-CAM against PyTorch's)`, async () => {
      const ex = open(modelBytes(twin));
      assert.deepEqual(ex.promoted, []);
      for (const method of METHODS) {
        const r = await ex.explain(x.data, x.shape, { method, classes: meta.classes });
        reference.set(method, r.explanations.map((e) => e.map));
      }
      const torch = loadArray(twin, 'last.gradcam.npy');
      const ours = reference.get('gradcam')!;
      const per = ours[0]!.length;
      for (let i = 0; i < ours.length; i++) assert.ok(maxAbsError(ours[i]!, torch.data.subarray(i * per, (i + 1) * per)) < 1e-4);
    });
    for (const half of ['fp16', 'bf16'] as const) {
      for (const io of ['io32', 'io16'] as const) {
        const file = `${name}.${half}.${io}.onnx`;
        it(`${file}: six methods within Pearson 0.99 of the twin's maps, logits within ${half} tolerance`, async () => {
          const ex = open(bytes(file));
          assert.deepEqual(ex.promoted, [half === 'fp16' ? 'float16' : 'bfloat16']);
          assert.deepEqual(halfTypes(ex.model), []);
          const lines: string[] = [];
          for (const method of METHODS) {
            const r = await ex.explain(x.data, x.shape, { method, classes: meta.classes });
            const ref = reference.get(method)!;
            const r0 = Math.min(...r.explanations.map((e, i) => pearson(e.map, ref[i]!)));
            const d = Math.max(...r.explanations.map((e, i) => maxAbsError(e.map, ref[i]!)));
            lines.push(`${method} pearson ${r0.toFixed(5)} max|Δ| ${d.toExponential(2)}`);
            assert.ok(r0 >= 0.99, `${file} ${method}: Pearson ${r0} with the float32 twin's map`);
            assert.ok(d <= BOUND[half][method === 'guided-gradcam' ? 'guided' : 'cam'], `${file} ${method}: max |Δ| ${d}`);
            for (const e of r.explanations) assert.ok(e.map.every((v) => v >= 0 && v <= 1));
          }
          // the logits, as every method reads them
          const run = await ex.run(x.data, x.shape, { layers: [], inputGradient: true, classes: meta.classes });
          const logits = loadArray(twin, 'logits.npy');
          const dl = maxAbsError(run.logits.data, logits.data);
          lines.push(`logits max|Δ| ${dl.toExponential(2)}`);
          assert.ok(dl <= LOGIT_BOUND[half], `${file}: logits ${dl} from the float32 twin's`);
          const K = meta.num_classes;
          for (let i = 0; i < meta.classes.length; i++) {
            assert.equal(argmax(run.logits.data.subarray(i * K, (i + 1) * K)), argmax(logits.data.subarray(i * K, (i + 1) * K)), `${file}: image ${i}'s predicted class`);
          }
          console.log(`# ${file}: ${lines.join('; ')}`);
        });
      }
    }
  }
});

describe('metrics and sanity checks on a half model', () => {
  it('the faithfulness metrics\' plain forward and the parameter-randomisation check run the promoted model as the twin', async () => {
    const x = loadArray('resnet_like', 'input.npy');
    const meta = loadMeta('resnet_like');
    const half = open(bytes('resnet_like.fp16.io16.onnx'));
    const twin = open(modelBytes('resnet_like'));
    const fwd = await plainForward(half, createNodeSession);
    try {
      const d = maxAbsError(await fwd.forward(x.data, x.shape), loadArray('resnet_like', 'logits.npy').data);
      assert.ok(d <= LOGIT_BOUND.fp16, `plain forward logits ${d}`);
    } finally {
      await fwd.release();
    }
    const opts = { createSession: createNodeSession, methods: ['gradcam'], modes: ['cascading' as const], maxLayers: 3, seed: 1, classes: meta.classes };
    const a = await sanityCheck(half, x.data, x.shape, opts);
    const b = await sanityCheck(twin, x.data, x.shape, opts);
    assert.deepEqual(a.layers.map((l) => l.name), b.layers.map((l) => l.name));
    assert.equal(a.table['gradcam']!.length, b.table['gradcam']!.length);
    a.table['gradcam']!.forEach((e, k) => {
      const f = b.table['gradcam']![k]!;
      assert.ok(Math.abs(e.spearman - f.spearman) <= 0.02, `stage ${k}: Spearman ${e.spearman} vs the twin's ${f.spearman}`);
    });
    assert.deepEqual(a.verdicts.map((v) => v.text), b.verdicts.map((v) => v.text));
    a.verdicts.forEach((v, k) => assert.ok(Math.abs(v.value - b.verdicts[k]!.value) <= 0.01));
  });
});

describe('the one decoding point: session outputs and inputs', () => {
  it('a fully-float16 model run as shipped: its float16 input fed encoded, its float16 logits decoded', async () => {
    const x = loadArray('resnet_like', 'input.npy');
    const s = await createNodeSession(bytes('resnet_like.fp16.io16.onnx'));
    try {
      const r = (await s.run({ input: { data: x.data, dims: x.shape } }))['logits']!;
      assert.equal(r.type, 'float16');
      assert.ok(r.data instanceof Float32Array);
      const d = maxAbsError(r.data as Float32Array, loadArray('resnet_like', 'logits.npy').data);
      assert.ok(d <= LOGIT_BOUND.fp16, `shipped float16 logits ${d} from the float32 twin's`);
    } finally {
      await s.release();
    }
  });

  it('onnxruntime-web (wasm, here in Node) through the same decoding point: the same float16 logits as onnxruntime-node', async () => {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    const x = loadArray('vit_tiny_op17', 'input.npy');
    const web = await createWebSessionFactory(ort as unknown as OrtWebModule, 'wasm')(bytes('vit_tiny.fp16.io16.onnx'));
    const native = await createNodeSession(bytes('vit_tiny.fp16.io16.onnx'));
    try {
      const a = (await web.run({ input: { data: x.data, dims: x.shape } }))['logits']!;
      const b = (await native.run({ input: { data: x.data, dims: x.shape } }))['logits']!;
      assert.equal(a.type, 'float16');
      assert.ok(a.data instanceof Float32Array);
      const d = maxAbsError(a.data as Float32Array, b.data as Float32Array);
      assert.ok(d <= 4e-3, `web vs node float16 logits: ${d}`); // a few float16 ulps of |logit| ≤ 4
      assert.ok(maxAbsError(a.data as Float32Array, loadArray('vit_tiny_op17', 'logits.npy').data) <= LOGIT_BOUND.fp16);
    } finally {
      await web.release();
      await native.release();
    }
  });

  it('float16 and bfloat16 codecs: exact round trips, round to nearest even, overflow and subnormals', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = float16ToFloat32(all);
    const back = float32ToFloat16(f);
    for (let i = 0; i < 65536; i++) if (!Number.isNaN(f[i]!)) assert.equal(back[i], i);
    assert.deepEqual([...float32ToFloat16([1, -2, 65504, 65520, 1e-8, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, -0])],
      [0x3c00, 0xc000, 0x7bff, 0x7c00, 0, 1, 0, 2, 0x3c00, 0x3c02, 0x8000]);
    const b = bfloat16ToFloat32(new Uint16Array([0x3f80, 0xc040, 0x7f80]));
    assert.deepEqual([...b], [1, -3, Infinity]);
    assert.deepEqual([...float32ToBfloat16([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, NaN])], [0x3f80, 0x3f80, 0x3f82, 0x7fc0]);
    // a Float16Array-style float16 output (numbers) and float64 are read as float32 values too
    assert.deepEqual([...decodeOutput('t', 'float16', new Float64Array([0.5, -1]), [2]).data], [0.5, -1]);
    assert.deepEqual([...decodeOutput('t', 'float64', new Float64Array([0.25]), [1]).data], [0.25]);
  });

  it('a tensor type gradcam cannot read is an error naming the tensor and its type', async () => {
    assert.throws(() => decodeOutput('/head/out', 'string', ['a'], [1]), (e: Error) => e instanceof TensorTypeError && /tensor '\/head\/out' is of type string, which gradcam cannot read/.test(e.message));
    assert.throws(() => encodeFeed('ids', 'int64', new Float32Array(1)), /input 'ids' is of type int64; gradcam feeds floating-point inputs only/);
    assert.throws(() => encodeFeed('x', 'bfloat16', new Float32Array(1)), /input 'x' is bfloat16, which onnxruntime's JavaScript API cannot feed/);
    assert.deepEqual([...encodeFeed('x', 'float16', new Float32Array([1, -2])).data], [0x3c00, 0xc000]);
    // through a real session: a model whose output is a string tensor
    const model: ModelProto = {
      ir_version: 8, opset_import: [{ domain: '', version: 17 }],
      graph: {
        name: 'g', initializer: [],
        node: [{ name: 'c', op_type: 'Cast', domain: '', input: ['x'], output: ['y'], attribute: [{ name: 'to', type: 2, i: 8 }] }],
        input: [{ name: 'x', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 2 }] } } } }],
        output: [{ name: 'y', type: { tensor_type: { elem_type: 8, shape: { dim: [{ dim_value: 2 }] } } } }],
      },
    };
    const s = await createNodeSession(encodeModel(model));
    try {
      await assert.rejects(s.run({ x: { data: new Float32Array([1, 2]), dims: [2] } }), /tensor 'y' is of type string, which gradcam cannot read/);
    } finally {
      await s.release();
    }
  });
});

describe('promotion to float32', () => {
  it('every half tensor and type of a mixed-precision graph becomes float32, values exact', () => {
    const m = decodeModel(bytes('vit_tiny.fp16.io32.onnx'));
    assert.deepEqual(halfTypes(m), ['float16']);
    const { model, promoted } = promoteToFloat32(m);
    assert.deepEqual(promoted, ['float16']);
    assert.deepEqual(halfTypes(model), []);
    assert.equal(halfTypes(m).length, 1, 'the original model is left as it was');
    const w = m.graph.initializer.find((t) => t.data_type === 10)!;
    const p = model.graph.initializer.find((t) => t.name === w.name)!;
    assert.equal(p.data_type, 1);
    assert.deepEqual([...decodeTensor(p).data], [...float16ToFloat32(decodeTensor(w).data as Uint16Array)]);
    const casts = model.graph.node.filter((n) => n.op_type === 'Cast').map((n) => Number(n.attribute.find((a) => a.name === 'to')!.i));
    assert.ok(casts.length > 30 && casts.every((t) => t === 1 || t === 7 || t === 9), `Cast targets ${[...new Set(casts)]}`);
    const f32 = decodeModel(modelBytes('vit_tiny_op17'));
    assert.equal(promoteToFloat32(f32).model, f32, 'a float32 model is returned as it is');
  });
});

describe('errors say whose fault it is', () => {
  it("onnxruntime rejecting gradcam's compiled graph (the model loads) is an internal error naming the node, op and rule", async () => {
    // the engine without the Explainer's promotion: the float16 model's Gemm meets the float32 seed
    const engine = new GradientEngine(decodeModel(bytes('resnet_like.fp16.io32.onnx')), createNodeSession);
    try {
      await assert.rejects(
        engine.get({ layers: ['/layer3/layer3.0/relu2/Relu_output_0'], post: gradcamGraphMaps(layoutFromOverride('nchw', [1, 24, 6, 6]), [48, 48]) }, [1, 3, 48, 48]),
        (e: Error) => {
          assert.equal(e.name, 'InternalError');
          assert.match(e.message, /^onnxruntime rejects the gradient graph that gradcam compiled for this model \(the model itself loads, so the fault is gradcam's, not the model's\)/);
          assert.match(e.message, /at its node 'gradcam\/Gemm_node_\d+' \(Gemm\), emitted by the gradient rule for Gemm \(src\/autodiff\/rules\/\) at Gemm node '\/fc\/Gemm': Type Error/);
          assert.doesNotMatch(e.message, /cannot load the model/);
          return true;
        },
      );
    } finally {
      await engine.release();
    }
  });
});

describe('the command on a half-precision model', () => {
  it('gradcam explain on a fully-float16 model: exit 0, a map, and a sidecar that says float16 computed in float32', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-half-'));
    try {
      const W = 40, H = 40;
      const data = new Uint8Array(W * H * 3).map((_, i) => (i * 13 + (i % (3 * W) > 60 ? 120 : 0)) & 255);
      fs.writeFileSync(path.join(dir, 'pic.png'), encodePng({ width: W, height: H, data }));
      const r = runGradcam(['explain', '--model', path.join(DIR, 'resnet_like.fp16.io16.onnx'), path.join(dir, 'pic.png'), '--methods', 'gradcam,eigencam', '--out', path.join(dir, 'out'), '--quiet'], { GRADCAM_CACHE: 'off' });
      assert.equal(r.code, 0, r.err);
      const jsons = fs.readdirSync(path.join(dir, 'out')).filter((f) => f.endsWith('.json'));
      assert.ok(jsons.length >= 1, fs.readdirSync(path.join(dir, 'out')).join(', '));
      for (const f of jsons) {
        const j = JSON.parse(fs.readFileSync(path.join(dir, 'out', f), 'utf8')) as { precision?: unknown; warnings: string[] };
        assert.deepEqual(j.precision, { model: 'float16', computed_in: 'float32' }, f);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
