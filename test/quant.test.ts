/**
 * int8 quantised models (issue 21, item 3): gradients by the straight-through estimator (rules/quantize.ts).
 * - the fixtures of scripts/fixtures/make_quant_fixtures.py (a CNN classifier and a segmenter, each in the
 *   dynamic, QDQ per-tensor, QDQ per-channel and QOperator forms): Grad-CAM, HiResCAM, Eigen-CAM and
 *   Guided Grad-CAM within Pearson 0.9 of the float model they were quantised from (measured ≥ 0.97 for the
 *   CAMs), integer layers dequantised, the STE noted on the explanation;
 * - the rules on small graphs: QuantizeLinear's STE mask and DequantizeLinear's scale exactly, QLinearConv
 *   (per-channel weights, fused ReLU) against central differences of its real-valued twin.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Builder } from '../src/autodiff/builder.js';
import { STE_NOTE } from '../src/autodiff/compiler.js';
import { Explainer } from '../src/explainer.js';
import { forwardModel } from '../src/cam/graph.js';
import { createNodeSession } from '../src/runtime/node.js';
import { encodeModel, makeValueInfo, type ModelProto } from '../src/onnx/model.js';
import { FIXTURES, loadArray } from './helpers/fixtures.js';
import { gradcam } from './helpers/cli.js';

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

const explainer = (model: string, form: string) =>
  Explainer.fromBytes(new Uint8Array(fs.readFileSync(path.join(Q, model, `${form}.onnx`))), { createSession: createNodeSession, source: `${model}/${form}` });

for (const model of ['cnn', 'seg'] as const) {
  it(`every int8 form of the ${model === 'cnn' ? 'classifier' : 'segmenter'}: maps within Pearson 0.9 of the float model's`, async () => {
    const input = loadArray(`quant/${model}`, 'input.npy');
    const meta = JSON.parse(fs.readFileSync(path.join(Q, model, 'meta.json'), 'utf8')) as { classes: number[] };
    const base = model === 'seg' ? { target: { kind: 'segmentation' as const }, classes: meta.classes } : { classes: meta.classes };
    const methods = model === 'cnn' ? ['gradcam', 'hirescam', 'eigencam', 'guided-gradcam'] : ['gradcam', 'hirescam', 'eigencam'];
    const ref = explainer(model, 'float');
    const want: Record<string, Float32Array[]> = {};
    for (const method of methods) want[method] = (await ref.explain(input.data, input.shape, { ...base, method })).explanations.map((e) => e.map);
    const floatAuto = (await ref.layers([32, 32])).find((l) => l.auto)!;
    await ref.release();
    const worst: Record<string, number> = {};
    for (const form of FORMS) {
      const ex = explainer(model, form);
      try {
        const auto = (await ex.layers([32, 32])).find((l) => l.auto)!;
        // the same block as the float model's (a float tensor where the graph has one)
        assert.deepEqual(auto.shape, floatAuto.shape, form);
        // a float tensor where the graph has one: the float model's, or its dequantised twin
        if (form !== 'qop') assert.ok(auto.name === floatAuto.name || auto.op === 'DequantizeLinear', `${form}: ${auto.name}`);
        else assert.equal(auto.op, 'QLinearConv');
        for (const method of methods) {
          const got = await ex.explain(input.data, input.shape, { ...base, method });
          got.explanations.forEach((e, i) => {
            const r = pearson(e.map, want[method]![i]!);
            worst[`${form} ${method}`] = Math.min(worst[`${form} ${method}`] ?? 1, r);
            assert.ok(r >= 0.9, `${model} ${form} ${method} image ${i}: Pearson ${r.toFixed(4)}`);
          });
          // gradients through integer ops are an estimate, and the explanation says so
          if (method !== 'eigencam') assert.equal(got.explanations[0]!.gradientNote, STE_NOTE, `${form} ${method}`);
          else assert.equal(got.explanations[0]!.gradientNote, undefined);
        }
      } finally {
        await ex.release();
      }
    }
    if (process.env.QUANT_REPORT) console.log(model, JSON.stringify(worst));
    for (const [k, v] of Object.entries(worst)) if (!k.includes('guided')) assert.ok(v >= 0.97, `${model} ${k}: ${v}`);
  });
}

it('an integer layer reaches the methods dequantised (scale and zero point of its producer), its gradient per real unit', async () => {
  const input = loadArray('quant/cnn', 'input.npy');
  const ex = explainer('cnn', 'qop');
  const fl = explainer('cnn', 'float');
  try {
    const layer = (await ex.layers([32, 32])).find((l) => l.auto)!.name;
    assert.match(layer, /_quantized$/);
    const q = await ex.run(input.data, input.shape, { layers: [layer], classes: [2, 2] });
    const f = await fl.run(input.data, input.shape, { layers: ['/Relu_2_output_0'], classes: [2, 2] });
    // the float model's activation, within a few quantisation steps (scale ≈ 0.02): not raw integers in 0..255
    let err = 0, top = 0;
    f.activations[0]!.data.forEach((v, i) => { err = Math.max(err, Math.abs(v - q.activations[0]!.data[i]!)); top = Math.max(top, v); });
    assert.ok(err < 0.1 * top, `activation error ${err} of ${top}`);
    assert.ok(pearson(q.gradients[0]!.data, f.gradients[0]!.data) > 0.97, 'gradient');
    // the forward-only methods' graph (Eigen-CAM, Score-CAM...) reads it the same way: float, equal to the gradient run's
    const s = await createNodeSession(encodeModel(forwardModel(ex.model, ['logits', layer])));
    const a = (await s.run({ input: { data: input.data, dims: input.shape } }, [layer]))[layer]!;
    await s.release();
    assert.ok(a.data instanceof Float32Array);
    let d = 0;
    a.data.forEach((v, i) => { d = Math.max(d, Math.abs(v - q.activations[0]!.data[i]!)); });
    assert.equal(d, 0);
    // Ablation-CAM cannot multiply a mask into an integer tensor: it says so
    await assert.rejects(ex.explain(input.data, input.shape, { method: 'ablationcam', classes: [2, 2] }), /ablationcam cannot mask '.*_quantized': it is an integer tensor of a quantised model; choose a float layer/);
  } finally {
    await ex.release();
    await fl.release();
  }
});

/** x [1, C, H, W] → body → Flatten → Gemm with weights `fc` [3, width]: logit 1's input gradient, and the logits. */
async function tiny(body: (b: Builder) => string, dims: number[], fc: Float32Array, ms = false, extra: () => string[] = () => []) {
  const m: ModelProto = {
    ir_version: 8, opset_import: [{ domain: '', version: 13 }, ...(ms ? [{ domain: 'com.microsoft', version: 1 }] : [])],
    graph: { node: [], initializer: [], input: [makeValueInfo('x', 1, ['batch', ...dims.slice(1)])], output: [makeValueInfo('logits', 1)] },
  };
  const b = new Builder(m, 't/');
  const flat = b.op('Flatten', [body(b)], { axis: 1 });
  b.nodes.push({ name: 'fc', op_type: 'Gemm', domain: '', input: [flat, b.floats(fc, [3, fc.length / 3])], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] });
  m.graph.node.push(...b.nodes);
  const bytes = encodeModel(m);
  const more = extra();
  const plain = await createNodeSession(encodeModel({ ...m, graph: { ...m.graph, output: [...m.graph.output, ...more.map((name) => ({ name }))] } }));
  const ex = Explainer.fromBytes(bytes, { createSession: createNodeSession });
  return {
    outputs: async (x: Float32Array) => plain.run({ x: { data: x, dims } }, ['logits', ...more]),
    grad: async (x: Float32Array) => (await ex.run(x, dims, { layers: [], classes: 1, inputGradient: true })).inputGradient!.data,
    logit: async (x: Float32Array) => ((await plain.run({ x: { data: x, dims } })).logits!.data as Float32Array)[1]!,
    release: async () => { await ex.release(); await plain.release(); },
  };
}

let seed = 11;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;

it('QuantizeLinear → DequantizeLinear: the STE passes dy where round(x/s) + z lies in the type range, zero outside', async () => {
  const n = 40;
  const s = 0.05, z = 100; // uint8: x in [(0 − 100)·s, (255 − 100)·s] = [−5, 7.75] (± half a step)
  const fc = Float32Array.from({ length: 3 * n }, rand);
  const t = await tiny((b) => {
    const sc = b.floats([s], [], 's');
    const zp = b.constant({ dtype: 'uint8', dims: [], data: Uint8Array.of(z) }, 'z');
    return b.op('DequantizeLinear', [b.op('QuantizeLinear', ['x', sc, zp]), sc, zp]);
  }, [1, 1, 5, 8], fc);
  try {
    // a ramp from −7 to 10.1 (no value at a rounding tie)
    const x = Float32Array.from({ length: n }, (_, i) => -7 + i * 0.44 + 0.013);
    const g = await t.grad(x);
    for (let i = 0; i < n; i++) {
      const v = Math.round(x[i]! / s) + z;
      const want = v >= 0 && v <= 255 ? fc[n + i]! : 0;
      assert.ok(Math.abs(g[i]! - want) <= 1e-6 * Math.abs(fc[n + i]!) + 1e-7, `x = ${x[i]}: ${g[i]} vs ${want}`);
    }
    assert.ok(g.some((v) => v === 0) && g.some((v) => v !== 0));
  } finally {
    await t.release();
  }
});

it('QLinearConv (int8 per-channel weights, fused ReLU): Conv\'s backward on the dequantised weight, masked where the output saturated', async () => {
  const [C, K, H, W] = [3, 4, 6, 6];
  const xs = 0.02, xz = 128, ys = 0.03;
  const w = Int8Array.from({ length: K * C * 9 }, () => Math.round(rand() * 120));
  const ws = Float32Array.from({ length: K }, (_, k) => 0.004 + 0.002 * k);
  const bias = Int32Array.from({ length: K }, () => Math.round(rand() * 200));
  const fc = Float32Array.from({ length: 3 * K * H * W }, rand);
  const u8 = (v: number) => ({ dtype: 'uint8' as const, dims: [], data: Uint8Array.of(v) });
  let yq = '';
  const qop = await tiny((b) => {
    const [xsn, xzn] = [b.floats([xs], [], 'xs'), b.constant(u8(xz), 'xz')];
    const xq = b.op('QuantizeLinear', ['x', xsn, xzn]);
    const [ysn, yzn] = [b.floats([ys], [], 'ys'), b.constant(u8(0), 'yz')];
    yq = b.op('QLinearConv', [xq, xsn, xzn, b.constant({ dtype: 'int8', dims: [K, C, 3, 3], data: w }, 'w'), b.floats(ws, [K], 'ws'),
      b.constant({ dtype: 'int8', dims: [K], data: new Int8Array(K) }, 'wz'), ysn, yzn, b.constant({ dtype: 'int32', dims: [K], data: bias }, 'bias')]);
    b.nodes[b.nodes.length - 1]!.attribute.push({ name: 'pads', type: 7, ints: [1, 1, 1, 1] });
    return b.op('DequantizeLinear', [yq, ysn, yzn]);
  }, [1, C, H, W], fc, false, () => [yq]);
  try {
    const x = Float32Array.from({ length: C * H * W }, () => rand() * 3); // some values beyond the input range [−2.56, 2.54]
    const g = await qop.grad(x);
    const y = (await qop.outputs(x))[yq]!.data as Uint8Array;
    // the reference: dy = fc row 1 where 0 < y < 255, through the transposed convolution with ws·w, where x was not clipped
    const want = new Float32Array(C * H * W);
    for (let k = 0; k < K; k++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
      const o = (k * H + i) * W + j;
      if (y[o] === 0 || y[o] === 255) continue;
      for (let c = 0; c < C; c++) for (let di = 0; di < 3; di++) for (let dj = 0; dj < 3; dj++) {
        const [ii, jj] = [i + di - 1, j + dj - 1];
        if (ii < 0 || jj < 0 || ii >= H || jj >= W) continue;
        want[(c * H + ii) * W + jj] += fc[K * H * W + o]! * ws[k]! * w[((k * C + c) * 3 + di) * 3 + dj]!;
      }
    }
    x.forEach((v, i) => { const q = Math.round(v / xs) + xz; if (q < 0 || q > 255) want[i] = 0; });
    let err = 0, top = 0;
    want.forEach((v, i) => { err = Math.max(err, Math.abs(v - g[i]!)); top = Math.max(top, Math.abs(v)); });
    assert.ok(err <= 1e-5 * top, `max error ${err} of ${top}`);
    assert.ok(y.some((v) => v === 0) && want.some((v, i) => v === 0 && Math.abs(x[i]!) > 2.6), 'the masks are exercised');
  } finally {
    await qop.release();
  }
});

it('gradcam explain on an int8 model: the JSON sidecar says the gradient is a straight-through estimate', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-quant-'));
  try {
    for (const method of ['gradcam', 'guided-backprop', 'eigencam']) {
      const r = gradcam('explain', path.join(Q, 'cnn', 'input.npy'), '--model', path.join(Q, 'cnn', 'qop.onnx'), '--method', method, '--class', '2', '--out', out, '--quiet');
      assert.equal(r.code, 0, r.err);
      const j = JSON.parse(fs.readFileSync(path.join(out, `input_0.${method}.json`), 'utf8'));
      assert.equal(j.gradient, method === 'eigencam' ? undefined : 'straight-through estimate (int8)', method);
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
