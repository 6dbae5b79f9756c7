/**
 * Gradient rules one by one, on small graphs built here: the compiled input gradient must equal
 * central finite differences along random directions (float32, so the tolerance is loose, but a wrong
 * rule is off by O(1)). Covers attribute forms the fixtures do not: auto_pad, ceil_mode,
 * output_shape, transposed Gemm, broadcasting MatMul, Tile, Expand, Resize modes, negative Slice
 * starts, scalar Gather, Split outputs without gradient, ... and, one op per case, the normalisation,
 * element-wise, reduction, Einsum and indexing rules (kinks and ties kept out of reach of the finite
 * differences with ramps). Ties are checked directly against the expected equal split; refused forms
 * must give a one-line GradError; rules compiled from the batch-1 probe must hold at batch 3; the
 * README's op list must equal the registry.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Builder } from '../src/autodiff/builder.js';
import { compile, differentiableInputs, prepare } from '../src/autodiff/compiler.js';
import { GRADIENT_RULES, NON_DIFFERENTIABLE, RECTIFIER_OPS, supportedOps } from '../src/autodiff/registry.js';
import { GradError } from '../src/autodiff/rule.js';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { encodeModel, float, makeValueInfo, type ModelProto, type Node } from '../src/onnx/model.js';
import { OPS_END, OPS_START, opsSection, README, readmeSection } from '../scripts/ops.js';

let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const randn = (n: number) => Float32Array.from({ length: n }, rand);

type Body = (b: Builder, x: string) => string;

/**
 * A model x → body → Flatten → Gemm (5 logits, random weights `fc` [5, width]); `grad` is the compiled
 * input gradient of logit 2, `f` logit 2 itself. d(logit 2)/d(body output) is row 2 of `fc`.
 */
async function harness(name: string, body: Body, inputDims: number[], opset: number) {
  const m: ModelProto = {
    ir_version: opset >= 21 ? 10 : opset >= 19 ? 9 : 8, opset_import: [{ domain: '', version: opset }],
    graph: { node: [], initializer: [], input: [makeValueInfo('x', 1, ['batch', ...inputDims.slice(1)])], output: [makeValueInfo('logits', 1)] },
  };
  const b = new Builder(m, 'test/');
  const y = body(b, 'x');
  const flat = b.op('Flatten', [y], { axis: 1 });
  m.graph.node.push(...b.nodes);
  // learn the flattened width with a probe-free trick: run the body once
  const probe = await createNodeSession(encodeModel({ ...m, graph: { ...m.graph, output: [makeValueInfo(flat, 1)] } }));
  const n = inputDims.reduce((a, v) => a * v, 1);
  const width = (await probe.run({ x: { data: new Float32Array(n), dims: inputDims } }))[flat]!.dims[1]!;
  await probe.release();
  const fc = randn(5 * width);
  const w = b.floats(fc, [5, width], 'fc');
  m.graph.node.push({ name: 'fc', op_type: 'Gemm', domain: '', input: [flat, w], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] });
  const ex = Explainer.fromBytes(encodeModel(m), { createSession: createNodeSession, source: name });
  const plain = await createNodeSession(encodeModel(m));
  return {
    dy: fc.subarray(2 * width, 3 * width),
    grad: async (x: Float32Array, dims = inputDims) => (await ex.run(x, dims, { layers: [], classes: 2, inputGradient: true })).inputGradient!.data,
    f: async (x: Float32Array) => ((await plain.run({ x: { data: x, dims: inputDims } })).logits!.data as Float32Array)[2]!,
    release: async () => { await ex.release(); await plain.release(); },
  };
}

interface CheckOptions { dims?: number[]; eps?: number; tol?: number; opset?: number }

async function check(name: string, body: Body, { dims: inputDims = [1, 4, 8, 8], eps = 1e-3, tol = 5e-3, opset = 17 }: CheckOptions = {}) {
  const h = await harness(name, body, inputDims, opset);
  try {
    const x0 = randn(inputDims.reduce((a, v) => a * v, 1));
    const g = await h.grad(x0);
    assert.equal(g.length, x0.length, `${name}: gradient size`);
    // three random directions, and the gradient's own (where the errors of a wrong rule cannot cancel)
    let gmax = 0;
    for (const a of g) gmax = Math.max(gmax, Math.abs(a));
    for (let d = 0; d < 4; d++) {
      const v = d < 3 ? randn(x0.length) : Float32Array.from(g, (a) => a / (gmax || 1));
      const xp = x0.map((a, i) => a + eps * v[i]!);
      const xm = x0.map((a, i) => a - eps * v[i]!);
      const fd = ((await h.f(xp)) - (await h.f(xm))) / (2 * eps);
      let an = 0;
      let norm = 0;
      for (let i = 0; i < g.length; i++) { an += g[i]! * v[i]!; norm += Math.abs(g[i]! * v[i]!); }
      assert.ok(Number.isFinite(an) && Math.abs(fd - an) <= tol * Math.max(norm, 1e-3), `${name}: directional derivative ${an} vs finite difference ${fd}`);
    }
  } finally {
    await h.release();
  }
}

describe('gradient rules against finite differences', () => {
  const cases: [string, Body, number[]?, number?][] = [
    ['Conv auto_pad SAME_UPPER stride 2', (b, x) => b.op('Conv', [x, b.floats(randn(6 * 4 * 9), [6, 4, 3, 3])], { auto_pad: 'SAME_UPPER', strides: [2, 2] })],
    ['Conv dilated, asymmetric pads', (b, x) => b.op('Conv', [x, b.floats(randn(6 * 4 * 9), [6, 4, 3, 3])], { dilations: [2, 2], pads: [1, 2, 2, 0] })],
    ['Conv grouped stride 2', (b, x) => b.op('Conv', [x, b.floats(randn(8 * 2 * 9), [8, 2, 3, 3])], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] })],
    ['depthwise Conv stride 2, 5x5 kernel', (b, x) => b.op('Conv', [x, b.floats(randn(4 * 25), [4, 1, 5, 5])], { group: 4, strides: [2, 2], pads: [2, 2, 2, 2] })],
    ['depthwise Conv stride 2, no padding, odd size', (b, x) => b.op('Conv', [x, b.floats(randn(4 * 9), [4, 1, 3, 3])], { group: 4, strides: [2, 2] }), [1, 4, 9, 9]],
    ['ConvTranspose with output_shape', (b, x) => b.op('ConvTranspose', [x, b.floats(randn(4 * 3 * 9), [4, 3, 3, 3])], { strides: [2, 2], output_shape: [16, 16] })],
    ['MaxPool ceil_mode with pads', (b, x) => b.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 0, 0], ceil_mode: 1 })],
    ['AveragePool ceil_mode, count_include_pad=0', (b, x) => b.op('AveragePool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 })],
    ['AveragePool count_include_pad=1', (b, x) => b.op('AveragePool', [x], { kernel_shape: [2, 3], strides: [1, 2], pads: [1, 0, 0, 1], count_include_pad: 1 })],
    // a ramp keeps the arg-max away from ties, which finite differences cannot handle
    ['GlobalMaxPool', (b, x) => b.op('GlobalMaxPool', [b.op('Add', [b.mul(x, b.scalar(0.01)), b.floats(Float32Array.from({ length: 64 }, (_, i) => ((i * 37) % 64) * 0.05), [8, 8])])]), undefined, 0.1],
    ['Tile', (b, x) => b.op('Tile', [x, b.ints([1, 2, 1, 3])])],
    ['Expand', (b, x) => b.op('Expand', [b.op('ReduceSum', [x, b.ints([2])], { keepdims: 1 }), b.ints([1, 4, 5, 8])])],
    ['Gemm transA on a 2-D view', (b, x) => b.op('Reshape', [b.op('Gemm', [b.op('Reshape', [x, b.ints([16, 16])]), b.floats(randn(16 * 6), [16, 6])], { transA: 1, alpha: float(0.5) }), b.ints([1, -1])])],
    ['Gemm transB, path × path', (b, x) => b.op('Reshape', [b.op('Gemm', [b.op('Reshape', [x, b.ints([16, 16])]), b.op('Reshape', [b.op('Tanh', [x]), b.ints([16, 16])])], { transB: 1 }), b.ints([1, -1])])],
    ['MatMul with batch broadcasting', (b, x) => b.op('MatMul', [x, b.op('Transpose', [x], { perm: [0, 1, 3, 2] })])],
    ['MatMul path × path, broadcast operand', (b, x) => b.op('MatMul', [x, b.op('ReduceMean', [x], { axes: [1], keepdims: 1 })])],
    ['Sum of three with broadcasting', (b, x) => b.op('Sum', [x, b.op('ReduceSum', [x, b.ints([3])], { keepdims: 1 }), b.op('Neg', [x])])],
    ['Div by a path tensor', (b, x) => b.op('Div', [x, b.op('Add', [b.op('Sigmoid', [x]), b.scalar(1)])])],
    ['Resize nearest, scale 1.5, round_prefer_floor', (b, x) => b.op('Resize', [x, '', b.floats([1, 1, 1.5, 1.5], [4])], { mode: 'nearest' })],
    ['Resize linear asymmetric to sizes', (b, x) => b.op('Resize', [x, '', '', b.ints([1, 4, 11, 5])], { mode: 'linear', coordinate_transformation_mode: 'asymmetric' })],
    ['Resize linear pytorch_half_pixel', (b, x) => b.op('Resize', [x, '', b.floats([1, 1, 2, 2], [4])], { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' })],
    ['Slice with negative starts and ends', (b, x) => b.op('Slice', [x, b.ints([-6, 1]), b.ints([-1, 100]), b.ints([2, 3])])],
    ['Gather scalar index on channels', (b, x) => b.op('Gather', [x, b.constant({ dtype: 'int64', dims: [], data: BigInt64Array.of(-2n) })], { axis: 1 })],
    ['Gather with repeated indices', (b, x) => b.op('Gather', [x, b.ints([0, 3, 3, 1])], { axis: 3 })],
    ['Pad', (b, x) => b.op('Pad', [x, b.ints([0, 0, 1, 2, 0, 0, 0, 3])])],
    ['Split with an unused output', (b, x) => b.opN('Split', [x, b.ints([1, 2, 1])], { axis: 1 }, 3)[1]!],
    ['Concat of a tensor with itself', (b, x) => b.op('Concat', [x, b.op('Tanh', [x]), x], { axis: 2 })],
    ['Softmax over channels of a 4-D tensor', (b, x) => b.op('Softmax', [x], { axis: 1 })],
    ['LogSoftmax over the last axis', (b, x) => b.op('LogSoftmax', [x], { axis: -1 })],
    ['HardSigmoid, LeakyRelu, Softplus', (b, x) => b.op('Softplus', [b.op('LeakyRelu', [b.op('HardSigmoid', [x], { alpha: float(0.3), beta: float(0.4) })], { alpha: float(0.2) })])],
    ['PRelu with per-channel slopes', (b, x) => b.op('PRelu', [x, b.floats([0.1, 0.2, 0.3, 0.4], [4, 1, 1])])],
    ['Clip with a lower bound only', (b, x) => b.op('Concat', [b.op('Clip', [b.op('Add', [x, b.scalar(2)]), b.scalar(0.5)]), b.op('Clip', [b.op('Sub', [x, b.scalar(2)]), b.scalar(0.5)])], { axis: 1 })],
    // inside (0, 1.5), and clipped above and below; finite differences cannot cross the kinks
    ['Clip with both bounds (ReLU6-like)', (b, x) => b.op('Concat', ['0.75', '3', '-3'].map((c) => b.op('Clip', [b.op('Add', [b.mul(x, b.scalar(0.7)), b.scalar(Number(c))]), b.scalar(0), b.scalar(1.5)])), { axis: 1 })],
    // three regions, kept away from the kinks at ±3 that finite differences cannot cross
    ['HardSwish', (b, x) => b.op('Concat', [b.op('HardSwish', [b.mul(x, b.scalar(2.5))]), b.op('HardSwish', [b.op('Add', [x, b.scalar(5)])]), b.op('HardSwish', [b.op('Sub', [x, b.scalar(5)])])], { axis: 1 })],
    ['ReduceSum keepdims=0 then Unsqueeze', (b, x) => b.op('Unsqueeze', [b.op('ReduceSum', [x, b.ints([1, 3])], { keepdims: 0 }), b.ints([1])])],
    ['Transpose and Squeeze', (b, x) => b.op('Squeeze', [b.op('Transpose', [b.op('ReduceMean', [x], { axes: [1], keepdims: 1 })], { perm: [0, 2, 3, 1] }), b.ints([3])])],
    ['BatchNormalization', (b, x) => b.op('BatchNormalization', [x, b.floats([1, 2, 0.5, -1], [4]), b.floats([0, 0.1, 0.2, 0.3], [4]), b.floats([0.1, -0.2, 0, 0.4], [4]), b.floats([0.5, 1, 2, 0.3], [4])], { epsilon: float(1e-3) })],
  ];
  for (const [name, body, dims, eps] of cases) it(name, () => check(name, body, { dims, eps }));
});

describe('3-D gradient rules against finite differences ([N, C, D, H, W] inputs)', () => {
  const d3 = [1, 2, 4, 6, 6];
  const cases: [string, Body, number[]?, number?][] = [
    ['Conv3d stride 1 (flipped-kernel Conv)', (b, x) => b.op('Conv', [x, b.floats(randn(3 * 2 * 27), [3, 2, 3, 3, 3])], { pads: [1, 1, 1, 1, 1, 1] })],
    ['Conv3d stride 2, anisotropic kernel (ConvTranspose)', (b, x) => b.op('Conv', [x, b.floats(randn(3 * 2 * 18), [3, 2, 2, 3, 3])], { strides: [2, 2, 1], pads: [0, 1, 1, 1, 0, 1] })],
    ['Conv3d grouped, dilated', (b, x) => b.op('Conv', [x, b.floats(randn(4 * 1 * 8), [4, 1, 2, 2, 2])], { group: 2, dilations: [1, 2, 2] })],
    ['MaxPool3d', (b, x) => b.op('MaxPool', [spread3(b, x)], { kernel_shape: [2, 3, 3], strides: [2, 2, 2] }), undefined, 0.1],
    ['MaxPool3d ceil_mode', (b, x) => b.op('MaxPool', [spread3(b, x)], { kernel_shape: [2, 3, 3], strides: [2, 2, 2], ceil_mode: 1 }), undefined, 0.1],
    ['AveragePool3d with pads', (b, x) => b.op('AveragePool', [x], { kernel_shape: [3, 3, 3], strides: [1, 2, 2], pads: [1, 1, 1, 1, 1, 1] })],
    ['GlobalAveragePool 3-D', (b, x) => b.op('GlobalAveragePool', [b.op('Tanh', [x])])],
    ['GlobalMaxPool 3-D', (b, x) => b.op('GlobalMaxPool', [spread3(b, x)]), undefined, 0.1],
    ['BatchNormalization 3-D', (b, x) => b.op('BatchNormalization', [x, b.floats([1.5, -0.5], [2]), b.floats([0, 0.1], [2]), b.floats([0.1, -0.2], [2]), b.floats([0.5, 2], [2])], { epsilon: float(1e-3) })],
    ['Resize trilinear half_pixel ×2', (b, x) => b.op('Resize', [x, '', b.floats([1, 1, 2, 2, 2], [5])], { mode: 'linear' })],
    ['Resize trilinear to sizes, align_corners', (b, x) => b.op('Resize', [x, '', '', b.ints([1, 2, 7, 5, 9])], { mode: 'linear', coordinate_transformation_mode: 'align_corners' })],
    ['Resize nearest in-plane only', (b, x) => b.op('Resize', [x, '', b.floats([1, 1, 1, 1.5, 1.5], [5])], { mode: 'nearest' })],
  ];
  for (const [name, body, dims, eps] of cases) it(name, () => check(name, body, { dims: dims ?? d3, eps }));

  it('the 3-D Resize gradient holds at batch 3 (compiled from the batch-1 probe)', async () => {
    const h = await harness('resize3d batch', (b, x) => b.op('Resize', [x, '', b.floats([1, 1, 2, 1, 2], [5])], { mode: 'linear' }), [3, 2, 4, 6, 6], 17);
    try {
      const one = randn(2 * 4 * 6 * 6);
      const three = new Float32Array(3 * one.length);
      for (let k = 0; k < 3; k++) three.set(one, k * one.length);
      const g3 = await h.grad(three, [3, 2, 4, 6, 6]);
      const g1 = await h.grad(one, [1, 2, 4, 6, 6]);
      for (let k = 0; k < 3; k++) for (let i = 0; i < one.length; i++) assert.ok(Math.abs(g3[k * one.length + i]! - g1[i]!) < 1e-5);
    } finally {
      await h.release();
    }
  });
});

/** x · 0.01 + a [2, 4, 6, 6] ramp of distinct values (no ties for the max pools). */
const spread3 = (b: Builder, x: string) => b.op('Add', [b.mul(x, b.scalar(0.01)), b.floats(Float32Array.from({ length: 288 }, (_, i) => ((i * 97) % 288) * 0.05), [2, 4, 6, 6], 'ramp3')]);

// ---- helpers for the cases below ----

/** A [4, 8, 8] constant of distinct multiples of 0.05 (a permutation of 0..255), plus `offset`. */
const ramp = (b: Builder, mult = 37, add = 0, offset = 0, dims = [4, 8, 8]) =>
  b.floats(Float32Array.from({ length: dims.reduce((a, v) => a * v, 1) }, (_, i) => ((i * mult + add) % 256) * 0.05 + offset), dims, 'ramp');
/** x · 0.01 + a ramp: values spread 0.05 apart that small perturbations of x cannot reorder. */
const spread = (b: Builder, x: string, mult = 37, add = 0, offset = 0) => b.op('Add', [b.mul(x, b.scalar(0.01)), ramp(b, mult, add, offset)]);
/** Flattened to [1, n] each and concatenated. */
const flatCat = (b: Builder, ys: string[]) => b.op('Concat', ys.map((y) => b.op('Flatten', [y], { axis: 1 })), { axis: 1 });
const toRow = (b: Builder, y: string) => b.op('Reshape', [y, b.ints([1, -1])]);
const i64 = (b: Builder, values: number[], dims: number[]) => b.constant({ dtype: 'int64', dims, data: BigInt64Array.from(values.map(BigInt)) }, 'indices');
/** Indices computed at run time (Neg of a constant), so the rule cannot read them. */
const computedI64 = (b: Builder, values: number[], dims: number[]) => b.op('Neg', [i64(b, values.map((v) => -v), dims)]);
const bool = (b: Builder, values: boolean[], dims: number[]) => b.constant({ dtype: 'bool', dims, data: Uint8Array.from(values.map(Number)) }, 'cond');
const positive = (b: Builder, x: string) => b.op('Add', [b.mul(x, b.scalar(0.5)), b.scalar(1.5)]);
/** Away from 0 with both signs: ±(0.3 .. 3.45) + 0.2·x. */
const signed = (b: Builder, x: string) => b.op('Add', [b.mul(x, b.scalar(0.2)), b.floats(Float32Array.from({ length: 256 }, (_, i) => (i % 2 ? -1 : 1) * (0.3 + ((i * 37) % 64) * 0.05)), [4, 8, 8], 'signed')]);

interface Case { name: string; body: Body; opts?: CheckOptions }

describe('normalisation, element-wise, reduction, Einsum and indexing rules against finite differences', () => {
  const cases: Case[] = [
    // LayerNormalization (opset 17)
    { name: 'LayerNormalization over the last axis, with bias', body: (b, x) => b.op('LayerNormalization', [x, b.floats(randn(8), [8]), b.floats(randn(8), [8])], { axis: -1 }) },
    { name: 'LayerNormalization axis 1 (C, H, W), no bias, epsilon 0.1', body: (b, x) => b.op('LayerNormalization', [x, b.floats(randn(256), [4, 8, 8])], { axis: 1, epsilon: float(0.1) }) },
    {
      name: 'LayerNormalization axis -2, scale and bias on the path, Mean and InvStdDev outputs',
      body: (b, x) => {
        const scale = b.op('Reshape', [b.op('Tanh', [b.op('ReduceMean', [x], { axes: [0, 1], keepdims: 0 })]), b.ints([8, 8])]);
        const bias = b.op('Reshape', [b.op('ReduceSum', [x, b.ints([0, 1, 2])], { keepdims: 0 }), b.ints([1, 8])]);
        return b.opN('LayerNormalization', [x, scale, bias], { axis: -2, epsilon: float(1e-3) }, 3)[0]!;
      },
    },
    // Pow and friends
    // one op per case: in a concatenation, a wrong rule for a small part hides under the tolerance
    { name: 'Pow with the constant exponent 2', body: (b, x) => b.op('Pow', [x, b.scalar(2)]) },
    { name: 'Pow with the constant exponent 3', body: (b, x) => b.op('Pow', [x, b.scalar(3)]) },
    { name: 'Pow with the constant exponent 0.5', body: (b, x) => b.op('Pow', [positive(b, x), b.scalar(0.5)]) },
    { name: 'Pow with the constant exponent −1.5', body: (b, x) => b.op('Pow', [positive(b, x), b.scalar(-1.5)]) },
    { name: 'Pow with the constant int64 exponent 3', body: (b, x) => b.op('Pow', [x, b.ints([3])]) },
    { name: 'Pow with a broadcast exponent on the path', body: (b, x) => b.op('Pow', [b.op('Add', [b.op('Sigmoid', [x]), b.scalar(0.5)]), b.op('Tanh', [b.op('ReduceMean', [x], { axes: [1], keepdims: 1 })])]) },
    { name: 'Pow with a constant per-channel exponent', body: (b, x) => b.op('Pow', [positive(b, x), b.floats([2, 0.5, -1, 1.5], [4, 1, 1])]) },
    { name: 'Sqrt', body: (b, x) => b.op('Sqrt', [positive(b, x)]) },
    { name: 'Reciprocal', body: (b, x) => b.op('Reciprocal', [positive(b, x)]) },
    { name: 'Log', body: (b, x) => b.op('Log', [positive(b, x)]) },
    { name: 'Exp', body: (b, x) => b.op('Exp', [x]) },
    { name: 'Erf', body: (b, x) => b.op('Erf', [b.mul(x, b.scalar(1.5))]) },
    { name: 'Abs away from 0', body: (b, x) => b.op('Abs', [signed(b, x)]) },
    { name: "Gelu approximate 'none' (opset 20)", body: (b, x) => b.op('Gelu', [b.mul(x, b.scalar(2.5))]), opts: { opset: 20 } },
    { name: "Gelu approximate 'tanh' (opset 20)", body: (b, x) => b.op('Gelu', [b.mul(x, b.scalar(2.5))], { approximate: 'tanh' }), opts: { opset: 20 } },
    { name: 'Elu (alpha 1)', body: (b, x) => b.op('Elu', [b.mul(x, b.scalar(2))]) },
    { name: 'Celu (alpha 0.5)', body: (b, x) => b.op('Celu', [b.mul(x, b.scalar(2))], { alpha: float(0.5) }) },
    // kinks at 0 that finite differences cannot cross
    { name: 'Elu (alpha 0.7) away from 0', body: (b, x) => b.op('Elu', [signed(b, x)], { alpha: float(0.7) }) },
    { name: 'Selu away from 0', body: (b, x) => b.op('Selu', [signed(b, x)]) },
    { name: 'Selu with alpha 2, gamma 0.5 away from 0', body: (b, x) => b.op('Selu', [signed(b, x)], { alpha: float(2), gamma: float(0.5) }) },
    { name: 'Mish (opset 18)', body: (b, x) => b.op('Mish', [b.mul(x, b.scalar(3))]), opts: { opset: 18 } },
    { name: 'Softsign', body: (b, x) => b.op('Softsign', [b.mul(x, b.scalar(3))]) },
    // Min / Max, ReduceMax / ReduceMin / ReduceL2, Where
    // x enters scaled by 0.01 (spread), so the finite differences need a larger step to rise above rounding
    { name: 'Max of two path tensors (no ties)', body: (b, x) => b.op('Max', [spread(b, x), spread(b, b.op('Neg', [x]), 101, 13)]), opts: { eps: 0.1 } },
    {
      name: 'Min of three with a broadcast path operand and a constant (no ties)',
      body: (b, x) => b.op('Min', [spread(b, x), b.op('Add', [b.mul(b.op('ReduceMean', [x], { axes: [1], keepdims: 1 }), b.scalar(0.01)), ramp(b, 29, 3, 0.025, [8, 8])]), ramp(b, 101, 13, 0.025)]),
      opts: { eps: 0.1 },
    },
    { name: 'Max of one input', body: (b, x) => b.op('Max', [x]) },
    { name: 'ReduceMax over H, W (keepdims 1), axes attribute', body: (b, x) => b.op('ReduceMax', [spread(b, x)], { axes: [2, 3], keepdims: 1 }), opts: { eps: 0.1 } },
    { name: 'ReduceMin over C (keepdims 0), axes attribute', body: (b, x) => b.op('ReduceMin', [spread(b, x)], { axes: [-3], keepdims: 0 }), opts: { eps: 0.1 } },
    {
      name: 'ReduceMax over all axes (opset 18)',
      body: (b, x) => b.op('Unsqueeze', [b.op('ReduceMax', [spread(b, x)], { keepdims: 0 }), b.ints([0, 1])]),
      opts: { opset: 18, eps: 0.1 },
    },
    { name: 'ReduceMin with an axes input (opset 18)', body: (b, x) => b.op('ReduceMin', [spread(b, x), b.ints([3])], { keepdims: 1 }), opts: { opset: 18, eps: 0.1 } },
    { name: 'ReduceL2 with an axes input (opset 18)', body: (b, x) => b.op('ReduceL2', [x, b.ints([1, 3])], { keepdims: 0 }), opts: { opset: 18 } },
    { name: 'ReduceL2 with an axes attribute, keepdims 1', body: (b, x) => b.op('ReduceL2', [x], { axes: [2], keepdims: 1 }) },
    {
      name: 'Where with broadcast X and Y on the path',
      body: (b, x) => b.op('Where', [bool(b, Array.from({ length: 64 }, (_, i) => (i * 7) % 3 === 0), [8, 8]), x, b.op('ReduceMean', [b.op('Tanh', [x])], { axes: [1], keepdims: 1 })]),
    },
    // Einsum
    { name: 'Einsum bhid,bhjd->bhij (attention scores), path × path', body: (b, x) => b.op('Einsum', [x, b.op('Tanh', [x])], { equation: 'bhid,bhjd->bhij' }) },
    { name: 'Einsum bij,bjk->bik with a constant', body: (b, x) => toRow(b, b.op('Einsum', [b.op('Reshape', [x, b.ints([4, 8, 8])]), b.floats(randn(4 * 8 * 3), [4, 8, 3])], { equation: 'bij,bjk->bik' })) },
    // ONNX's Einsum wants every ellipsis to stand for the same number of axes
    { name: 'Einsum ...ij,...jk->...ik with a constant', body: (b, x) => b.op('Einsum', [x, b.floats(randn(96), [1, 4, 8, 3])], { equation: '...ij,...jk->...ik' }) },
    { name: 'Einsum ...ij,...jk->...ik with a size-1 broadcast path operand', body: (b, x) => b.op('Einsum', [x, b.op('ReduceMean', [b.op('Sigmoid', [x])], { axes: [1], keepdims: 1 })], { equation: '...ij,...jk->...ik' }) },
    { name: 'Einsum implicit output bij,bjk (path × path)', body: (b, x) => toRow(b, b.op('Einsum', [b.op('Reshape', [x, b.ints([4, 8, 8])]), b.op('Reshape', [b.op('Tanh', [x]), b.ints([4, 8, 8])])], { equation: 'bij,bjk' })) },
    { name: 'Einsum permutation bij->jbi', body: (b, x) => toRow(b, b.op('Einsum', [b.op('Reshape', [x, b.ints([2, 16, 8])])], { equation: 'bij->jbi' })) },
    { name: 'Einsum transpose ij->ji', body: (b, x) => toRow(b, b.op('Einsum', [b.op('Reshape', [x, b.ints([32, 8])])], { equation: 'ij->ji' })) },
    { name: 'Einsum reduction bij->bj', body: (b, x) => toRow(b, b.op('Einsum', [b.op('Reshape', [x, b.ints([4, 8, 8])])], { equation: 'bij->bj' })) },
    {
      name: 'Einsum outer product i,j->ij (path × path)',
      body: (b, x) => {
        const flat = b.op('Reshape', [x, b.ints([-1])]);
        const i = b.op('Slice', [flat, b.ints([0]), b.ints([16])]);
        const j = b.op('Tanh', [b.op('Slice', [flat, b.ints([100]), b.ints([120])])]);
        return toRow(b, b.op('Einsum', [i, j], { equation: 'i,j->ij' }));
      },
    },
    { name: 'Einsum bij,bk->bj (subscripts only in one operand)', body: (b, x) => toRow(b, b.op('Einsum', [b.op('Reshape', [x, b.ints([4, 8, 8])]), b.op('Reshape', [b.op('Tanh', [x]), b.ints([4, 64])])], { equation: 'bij, bk -> bj' })) },
    // normalisations
    { name: 'InstanceNormalization with scale and bias', body: (b, x) => b.op('InstanceNormalization', [x, b.floats([1, -2, 0.5, 1.5], [4]), b.floats([0.1, 0.2, -0.3, 0], [4])], { epsilon: float(1e-3) }) },
    { name: 'InstanceNormalization with scale and bias on the path', body: (b, x) => b.op('InstanceNormalization', [x, b.op('ReduceMean', [x], { axes: [0, 2, 3], keepdims: 0 }), b.op('ReduceMax', [b.op('Tanh', [x])], { axes: [0, 2, 3], keepdims: 0 })]) },
    { name: 'GroupNormalization-18, 2 groups, per-group scale and bias', body: (b, x) => b.op('GroupNormalization', [x, b.floats([1.5, -0.5], [2]), b.floats([0.2, -1], [2])], { num_groups: 2 }), opts: { opset: 18 } },
    {
      name: 'GroupNormalization-18, per-group scale and bias on the path',
      body: (b, x) => {
        const perGroup = (t: string) => b.op('ReduceMean', [b.op('Reshape', [t, b.ints([2, -1])]), b.ints([1])], { keepdims: 0 });
        return b.op('GroupNormalization', [x, perGroup(x), perGroup(b.op('Sigmoid', [x]))], { num_groups: 2, epsilon: float(1e-2) });
      },
      opts: { opset: 18 },
    },
    { name: 'GroupNormalization-21, 2 groups, per-channel scale and bias', body: (b, x) => b.op('GroupNormalization', [x, b.floats([1.5, -0.5, 2, 0.3], [4]), b.floats([0.2, -1, 0, 0.5], [4])], { num_groups: 2 }), opts: { opset: 21 } },
    { name: 'GroupNormalization-21, 4 groups, per-channel scale and bias on the path', body: (b, x) => b.op('GroupNormalization', [x, b.op('ReduceMean', [x, b.ints([0, 2, 3])], { keepdims: 0 }), b.op('ReduceMean', [b.op('Sigmoid', [x]), b.ints([0, 2, 3])], { keepdims: 0 })], { num_groups: 4 }), opts: { opset: 21 } },
    // indexing
    { name: 'GatherElements with negative and repeated indices on axis 2', body: (b, x) => b.op('GatherElements', [x, i64(b, Array.from({ length: 160 }, (_, i) => ((i * 5) % 16) - 8), [1, 4, 5, 8])], { axis: 2 }) },
    { name: 'GatherElements with computed indices on the last axis', body: (b, x) => b.op('GatherElements', [x, computedI64(b, Array.from({ length: 96 }, (_, i) => ((i * 3) % 11) - 3), [1, 4, 8, 3])], { axis: -1 }) },
    { name: 'Gather with 2-D constant indices (negative, repeated) on axis 2', body: (b, x) => b.op('Gather', [x, i64(b, [0, -1, 3, 3, -8, 2], [3, 2])], { axis: 2 }) },
    { name: 'Gather with 2-D computed indices (negative, repeated) on axis 1', body: (b, x) => b.op('Gather', [x, computedI64(b, [-1, 0, 2, 1, -4, -1], [2, 3])], { axis: 1 }) },
    { name: 'Gather with a computed scalar index on the last axis', body: (b, x) => b.op('Gather', [x, computedI64(b, [-3], [])], { axis: 3 }) },
    { name: 'Gather on axis 0 with computed 1-D indices', body: (b, x) => toRow(b, b.op('Gather', [b.op('Reshape', [x, b.ints([4, 64])]), computedI64(b, [3, -1, 0], [3])], { axis: 0 })) },
    // Slice with steps, Pad modes
    { name: 'Slice x[..., ::2] and x[:, :, 1::3]', body: (b, x) => b.op('Slice', [x, b.ints([0, 1]), b.ints([2 ** 53 - 1, 8]), b.ints([3, 2]), b.ints([2, 3])]) },
    { name: 'Slice x[..., ::-1] and x[:, :, 6::-2], with clamped ends', body: (b, x) => b.op('Slice', [x, b.ints([-1, 6]), b.ints([-(2 ** 53 - 1), -100]), b.ints([-1, 2]), b.ints([-1, -2])]) },
    { name: 'Slice x[..., ::-2] then x[:, :, 1::3] (a stepped axis after a shortened one)', body: (b, x) => b.op('Slice', [x, b.ints([-1, 1]), b.ints([-(2 ** 53 - 1), 8]), b.ints([3, 2]), b.ints([-2, 3])]) },
    { name: 'Slice x[:, 3:0:-1] and x[..., 1:6:2]', body: (b, x) => b.op('Slice', [x, b.ints([3, 1]), b.ints([0, 6]), b.ints([1, 3]), b.ints([-1, 2])]) },
    { name: 'Pad reflect', body: (b, x) => b.op('Pad', [x, b.ints([0, 0, 2, 1, 0, 0, 1, 7])], { mode: 'reflect' }) },
    { name: 'Pad edge, pads beyond the size', body: (b, x) => b.op('Pad', [x, b.ints([0, 1, 3, 0, 0, 0, 2, 10])], { mode: 'edge' }) },
    { name: 'Pad reflect with an axes input (opset 18)', body: (b, x) => b.op('Pad', [x, b.ints([3, 1, 2, 4]), b.scalar(0), b.ints([-1, 2])], { mode: 'reflect' }), opts: { opset: 18 } },
    { name: 'Pad wrap (opset 19)', body: (b, x) => b.op('Pad', [x, b.ints([0, 0, 3, 8, 0, 2, 5, 1])], { mode: 'wrap' }), opts: { opset: 19 } },
    // MatMul with 1-D operands, Dropout
    { name: 'MatMul with a 1-D second operand', body: (b, x) => b.op('MatMul', [x, b.floats(randn(8), [8])]) },
    { name: 'MatMul with a 1-D first operand', body: (b, x) => b.op('MatMul', [b.floats(randn(8), [8]), x]) },
    { name: 'MatMul with a 1-D first operand on the path', body: (b, x) => b.op('MatMul', [b.op('ReduceMean', [x], { axes: [0, 1, 2], keepdims: 0 }), b.op('Tanh', [x])]) },
    { name: 'MatMul of two 1-D path operands', body: (b, x) => toRow(b, b.op('MatMul', [b.op('Reshape', [x, b.ints([-1])]), b.op('Reshape', [b.op('Tanh', [x]), b.ints([-1])])])) },
    { name: 'Dropout with training_mode a constant false', body: (b, x) => b.mul(b.opN('Dropout', [x, b.scalar(0.5), bool(b, [false], [])], {}, 2)[0]!, b.scalar(3)) },
    { name: 'Dropout with training_mode true and ratio 0 (torchvision Swin exports)', body: (b, x) => b.mul(b.opN('Dropout', [x, b.scalar(0), bool(b, [true], [])], {}, 2)[0]!, b.scalar(3)) },
    { name: 'Dropout-13 with training_mode a constant false (upgraded to opset 17)', body: (b, x) => b.mul(b.op('Dropout', [x, b.scalar(0.5), bool(b, [false], [])]), b.scalar(3)), opts: { opset: 13 } },
  ];
  for (const c of cases) it(c.name, () => check(c.name, c.body, c.opts));
});

/** The compiled input gradient of logit 2 at `x0`, and d(logit 2)/d(body output) (flattened). */
async function gradientAt(name: string, body: Body, x0: Float32Array, dims = [1, 4, 8, 8], opset = 17) {
  const h = await harness(name, body, dims, opset);
  try {
    return { g: await h.grad(x0), dy: h.dy };
  } finally {
    await h.release();
  }
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-5) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol * Math.max(1, Math.abs(expected[i]!)), `${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

/** Values in {−1, 0, 1, 2}: many exact ties. */
const tied = (n: number, mult = 7, add = 0) => Float32Array.from({ length: n }, (_, i) => ((i * mult + add) % 4) - 1);
const tiedSlow = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i >> 2) % 4) - 1);

describe('ties split the gradient equally (checked directly, no finite differences)', () => {
  it('Max and Min: two-way and three-way ties, a broadcast scalar', async () => {
    const x0 = tied(256, 1);
    const c = tiedSlow(256);
    const { g, dy } = await gradientAt('Max/Min ties', (b, x) => flatCat(b, [b.op('Max', [x, b.scalar(0)]), b.op('Min', [x, b.floats(c, [1, 4, 8, 8], 'c'), b.scalar(0)])]), x0);
    const expected = new Float32Array(256);
    const ties = [0, 0];
    for (let i = 0; i < 256; i++) {
      const m = Math.max(x0[i]!, 0);
      expected[i] = x0[i] === m ? dy[i]! / (x0[i] === 0 ? 2 : 1) : 0;
      const n = Math.min(x0[i]!, c[i]!, 0);
      const count = [x0[i], c[i], 0].filter((v) => v === n).length;
      if (x0[i] === n) expected[i] += dy[256 + i]! / count;
      if (count > 1 && x0[i] === n) ties[count - 2]!++;
    }
    assert.ok(ties[0]! > 10 && ties[1]! > 10, `the data has two-way (${ties[0]}) and three-way (${ties[1]}) ties`);
    assertClose(g, expected, 'Max/Min ties');
  });

  it('Max with a broadcast path operand that ties with itself', async () => {
    // y[c, i, j] = max(x[c, i, j], x[c, 0, j]): row 0 ties with itself everywhere, other rows sometimes
    const x0 = tied(256, 3, 2);
    const { g, dy } = await gradientAt('Max broadcast ties', (b, x) => b.op('Max', [x, b.op('Slice', [x, b.ints([0]), b.ints([1]), b.ints([2])])]), x0);
    const expected = new Float32Array(256);
    for (let c = 0; c < 4; c++) for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) {
      const k = c * 64 + i * 8 + j;
      const r = c * 64 + j;
      const m = Math.max(x0[k]!, x0[r]!);
      const count = (x0[k] === m ? 1 : 0) + (x0[r] === m ? 1 : 0);
      if (x0[k] === m) expected[k] += dy[k]! / count;
      if (x0[r] === m) expected[r] += dy[k]! / count;
    }
    assertClose(g, expected, 'Max broadcast ties');
  });

  it('ReduceMax and ReduceMin share among tied extremes (as torch.amax / amin)', async () => {
    const x0 = tied(256, 11, 3);
    const { g, dy } = await gradientAt('ReduceMax/ReduceMin ties', (b, x) => flatCat(b, [b.op('ReduceMax', [x], { axes: [2, 3], keepdims: 1 }), b.op('ReduceMin', [x], { axes: [1], keepdims: 0 })]), x0);
    const expected = new Float32Array(256);
    for (let c = 0; c < 4; c++) {
      const plane = Array.from(x0.subarray(c * 64, c * 64 + 64));
      const m = Math.max(...plane);
      const count = plane.filter((v) => v === m).length;
      assert.ok(count > 1, 'the maximum is tied');
      plane.forEach((v, k) => { if (v === m) expected[c * 64 + k] += dy[c]! / count; });
    }
    for (let p = 0; p < 64; p++) {
      const col = [0, 1, 2, 3].map((c) => x0[c * 64 + p]!);
      const m = Math.min(...col);
      const count = col.filter((v) => v === m).length;
      col.forEach((v, c) => { if (v === m) expected[c * 64 + p] += dy[4 + p]! / count; });
    }
    assertClose(g, expected, 'ReduceMax/ReduceMin ties');
  });
});

describe('forms the rules refuse, with a clear error', () => {
  /** Compiles x → body → Flatten → Gemm directly (shapes from an unoptimised run) and expects a one-line GradError. */
  const refuse = async (body: Body, pattern: RegExp, opset = 17) => {
    const m: ModelProto = {
      ir_version: 8, opset_import: [{ domain: '', version: opset }],
      graph: { node: [], initializer: [], input: [makeValueInfo('x', 1, ['batch', 4, 8, 8])], output: [makeValueInfo('logits', 1)] },
    };
    const b = new Builder(m, 'test/');
    const flat = b.op('Flatten', [body(b, 'x')], { axis: 1 });
    b.nodes.push({ name: 'fc', op_type: 'Gemm', domain: '', input: [flat, b.floats(randn(5 * 256), [5, 256], 'fc')], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] });
    m.graph.node.push(...b.nodes);
    const p = prepare(m, { layers: [], inputGradient: true });
    // ORT's optimisers reject some of these graphs (a Dropout with a computed training_mode), so no probe()
    const wanted = [...p.shapeTensors, ...p.valueTensors].filter((t) => t !== p.input);
    const s = await createNodeSession(encodeModel({ ...p.model, graph: { ...p.model.graph, output: wanted.map((name) => ({ name })) } }), { optimization: 'disabled' });
    const shapes = new Map<string, number[]>([[p.input, [1, 4, 8, 8]]]);
    try {
      const r = await s.run({ x: { data: randn(256), dims: [1, 4, 8, 8] } }, wanted);
      for (const t of wanted) shapes.set(t, r[t]!.dims);
    } finally {
      await s.release();
    }
    assert.throws(() => compile(p, shapes), (e: Error) => e instanceof GradError && pattern.test(e.message) && !e.message.includes('\n'));
  };
  it('Einsum with a repeated subscript (diagonal)', () =>
    refuse((b, x) => toRow(b, b.op('Einsum', [b.op('Reshape', [x, b.ints([4, 8, 8])]), b.op('Reshape', [x, b.ints([4, 64])])], { equation: 'bii,bj->bj' })), /^Einsum node .*: equation 'bii,bj->bj' repeats subscript 'i' within operand 0; diagonals and traces are not supported$/));
  it('Dropout with training_mode true', () =>
    refuse((b, x) => b.op('Dropout', [x, b.scalar(0.5), bool(b, [true], [])]), /^Dropout node .*: its training_mode is true/));
  it('Dropout-13 with training_mode true (the opset upgrade keeps it a Dropout)', () =>
    refuse((b, x) => b.op('Dropout', [x, b.scalar(0.5), bool(b, [true], [])]), /^Dropout node .*: its training_mode is true/, 13));
  it('Dropout with a computed training_mode', () =>
    refuse((b, x) => b.op('Dropout', [x, b.scalar(0.5), b.op('Greater', [b.op('ReduceMax', [x], { keepdims: 0 }), b.scalar(100)])]), /^Dropout node .*: its training_mode input .* is computed/));
});

describe('the rule registry', () => {
  it("README's op list equals the registry (regenerate with `npx tsx scripts/ops.ts`)", () => {
    const section = readmeSection(fs.readFileSync(README, 'utf8'));
    assert.ok(section !== undefined, `README.md has the ${OPS_START} ... ${OPS_END} markers`);
    assert.equal(section, opsSection(), 'README.md is stale: run `npx tsx scripts/ops.ts`');
    for (const op of supportedOps()) assert.match(section, new RegExp(`\\b${op}\\b`));
  });

  it('derives the differentiable inputs, rectifiers and the op list from the descriptors', () => {
    const node = (op_type: string, n: number): Node => ({ name: op_type, op_type, input: Array.from({ length: n }, (_, i) => `t${i}`), output: ['y'], attribute: [] });
    const cases: [string, number, boolean[]][] = [
      ['Conv', 3, [true, false, false]], ['Where', 3, [false, true, true]], ['Slice', 5, [true, false, false, false, false]],
      ['Dropout', 3, [true, false, false]], ['ReduceMax', 2, [true, false]], ['Gather', 2, [true, false]],
      ['GatherElements', 2, [true, false]], ['LayerNormalization', 3, [true, true, true]], ['Pow', 2, [true, true]],
      ['Einsum', 3, [true, true, true]], ['Add', 2, [true, true]],
      // no rule, but their later inputs are parameters (as before the registry)
      ['Upsample', 2, [true, false]], ['TopK', 2, [true, false]], ['SomeCustomOp', 2, [true, true]],
    ];
    for (const [op, n, expected] of cases) assert.deepEqual(differentiableInputs(node(op, n)), expected, op);
    assert.deepEqual([...RECTIFIER_OPS].sort(), ['Clip', 'LeakyRelu', 'PRelu', 'QLinearConv', 'Relu']);
    assert.deepEqual(supportedOps(), Object.keys(GRADIENT_RULES).sort());
    for (const op of ['Shape', 'Equal', 'ArgMax']) {
      assert.ok(NON_DIFFERENTIABLE.has(op) && !GRADIENT_RULES[op], `${op} carries no gradient`);
    }
    for (const op of ['LayerNormalization', 'Einsum', 'Gelu', 'GroupNormalization', 'Max', 'ReduceL2', 'Where']) assert.ok(supportedOps().includes(op), op);
  });
});

describe('rules compiled from a batch-1 probe run at batch 3', () => {
  // each image's gradient must equal its gradient alone: no batch size may be baked into the graph
  const bodies: [string, Body, number?][] = [
    ['Slice with steps', (b, x) => b.op('Slice', [x, b.ints([-1, 1]), b.ints([-(2 ** 53 - 1), 8]), b.ints([3, 2]), b.ints([-2, 3])])],
    ['Pad reflect and edge', (b, x) => b.op('Pad', [b.op('Pad', [x, b.ints([0, 0, 2, 1, 0, 0, 1, 3])], { mode: 'reflect' }), b.ints([0, 1, 0, 2, 0, 1, 3, 0])], { mode: 'edge' })],
    ['Gather with 2-D constant indices', (b, x) => b.op('Gather', [x, i64(b, [0, -1, 3, 3], [2, 2])], { axis: 3 })],
    ['Gather with 2-D computed indices', (b, x) => b.op('Gather', [x, computedI64(b, [-1, 0, 2, 2], [2, 2])], { axis: 2 })],
    [
      'GatherElements with batch-shaped computed indices',
      (b, x) => {
        const zeros = b.op('Slice', [b.op('ConstantOfShape', [b.shape(x)], { value: { dtype: 'int64', dims: [1], data: BigInt64Array.of(0n) } }), b.ints([0]), b.ints([3]), b.ints([3])]);
        return b.op('GatherElements', [x, b.op('Add', [zeros, i64(b, Array.from({ length: 96 }, (_, i) => ((i * 3) % 11) - 3), [4, 8, 3])])], { axis: -1 });
      },
    ],
    ['Einsum bhid,bhjd->bhij', (b, x) => b.op('Einsum', [x, b.op('Tanh', [x])], { equation: 'bhid,bhjd->bhij' })],
    ['Einsum bij->bj on [batch, C, H·W]', (b, x) => b.op('Einsum', [b.op('Reshape', [x, b.ints([0, 4, 64])])], { equation: 'bij->bj' })],
    ['LayerNormalization axis 1', (b, x) => b.op('LayerNormalization', [x, b.floats(randn(256), [4, 8, 8])], { axis: 1 })],
    ['GroupNormalization-21', (b, x) => b.op('GroupNormalization', [x, b.floats([1.5, -0.5, 2, 0.3], [4]), b.floats([0.2, -1, 0, 0.5], [4])], { num_groups: 2 }), 21],
    ['InstanceNormalization', (b, x) => b.op('InstanceNormalization', [x, b.floats([1, -2, 0.5, 1.5], [4]), b.floats([0.1, 0.2, -0.3, 0], [4])])],
    ['ReduceMax, Max with a broadcast operand', (b, x) => b.op('Max', [x, b.op('ReduceMax', [x], { axes: [1], keepdims: 1 })])],
    ['MatMul with a 1-D operand, Where', (b, x) => b.op('Where', [bool(b, [true, false, false, true, true, false, true, false], [8]), b.op('MatMul', [x, b.floats(randn(8), [8])]), b.op('MatMul', [b.floats(randn(8), [8]), x])])],
  ];
  for (const [name, body, opset] of bodies) {
    it(name, async () => {
      const h = await harness(name, body, [1, 4, 8, 8], opset ?? 17);
      try {
        const xs = [randn(256), randn(256), randn(256)];
        const batch = new Float32Array(768);
        xs.forEach((x, i) => batch.set(x, i * 256));
        const g = await h.grad(batch, [3, 4, 8, 8]);
        for (let i = 0; i < 3; i++) {
          const single = await h.grad(xs[i]!);
          let scale = 0;
          for (const v of single) scale = Math.max(scale, Math.abs(v));
          assertClose(g.subarray(i * 256, i * 256 + 256), Array.from(single, (v) => v), `${name}, image ${i}`, 1e-4 * Math.max(scale, 1));
        }
      } finally {
        await h.release();
      }
    });
  }
});

describe('strided depthwise Conv: the zero-insertion form of its input gradient against ConvTranspose', () => {
  // conv.ts writes it as a 1×1 ConvTranspose of ones (the zeros) and a stride-1 depthwise Conv with the
  // flipped kernel: the same sums as ConvTranspose(dy, W), in another order, so equal to float32 rounding
  const cases: { name: string; dims: number[]; k: number[]; attrs: Record<string, number[]> }[] = [
    { name: '3×3, stride 2, pads 1, odd size', dims: [1, 8, 13, 13], k: [3, 3], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } },
    { name: '5×5, stride 2, asymmetric pads', dims: [1, 8, 12, 12], k: [5, 5], attrs: { strides: [2, 2], pads: [2, 1, 1, 2] } },
    { name: '3×3, stride 3, dilation 2', dims: [1, 4, 14, 14], k: [3, 3], attrs: { strides: [3, 3], dilations: [2, 2], pads: [2, 2, 2, 2] } },
    { name: '3-D, 3×3×3, strides 2, 2, 1', dims: [1, 4, 7, 9, 9], k: [3, 3, 3], attrs: { strides: [2, 2, 1], pads: [1, 1, 1, 1, 1, 1] } },
  ];
  for (const { name, dims, k, attrs } of cases) {
    it(name, async () => {
      const C = dims[1]!;
      const w = randn(C * k.reduce((a, v) => a * v, 1));
      const h = await harness(name, (b, x) => b.op('Conv', [x, b.floats(w, [C, 1, ...k])], { group: C, ...attrs }), dims, 17);
      try {
        const g = await h.grad(randn(dims.reduce((a, v) => a * v, 1)));
        // the reference: ConvTranspose of d(logit 2)/d(conv output) with the conv's own weight
        const strides = attrs.strides!;
        const dil = attrs.dilations ?? k.map(() => 1);
        const pads = attrs.pads!;
        const out = dims.slice(2).map((d, i) => Math.floor((d + pads[i]! + pads[i + k.length]! - dil[i]! * (k[i]! - 1) - 1) / strides[i]!) + 1);
        const outputPadding = out.map((o, i) => dims[2 + i]! - ((o - 1) * strides[i]! + (k[i]! - 1) * dil[i]! + 1 - pads[i]! - pads[i + k.length]!));
        const m: ModelProto = {
          ir_version: 8, opset_import: [{ domain: '', version: 17 }],
          graph: { node: [], initializer: [], input: [makeValueInfo('dy', 1, [1, C, ...out])], output: [] },
        };
        const b = new Builder(m, 'ref/');
        const dx = b.op('ConvTranspose', ['dy', b.floats(w, [C, 1, ...k])], { group: C, strides, pads, dilations: dil, output_padding: outputPadding });
        m.graph.node.push(...b.nodes);
        m.graph.output.push(makeValueInfo(dx, 1));
        const s = await createNodeSession(encodeModel(m));
        const ref = (await s.run({ dy: { data: Float32Array.from(h.dy), dims: [1, C, ...out] } }))[dx]!.data as Float32Array;
        await s.release();
        let scale = 0;
        let diff = 0;
        for (let i = 0; i < ref.length; i++) { scale = Math.max(scale, Math.abs(ref[i]!)); diff = Math.max(diff, Math.abs(g[i]! - ref[i]!)); }
        assert.equal(g.length, ref.length);
        assert.ok(scale > 0.1, `${name}: the reference gradient is not trivially zero`);
        assert.ok(diff <= 1e-6 * scale, `${name}: max |zero-insertion form − ConvTranspose| = ${diff} (scale ${scale})`);
      } finally {
        await h.release();
      }
    });
  }
});
