/**
 * Gradient rules one by one, on small graphs built here: the compiled input gradient must equal
 * central finite differences along random directions (float32, so the tolerance is loose, but a wrong
 * rule is off by O(1)). Covers attribute forms the fixtures do not: auto_pad, ceil_mode,
 * output_shape, transposed Gemm, broadcasting MatMul, Tile, Expand, Resize modes, negative Slice
 * starts, scalar Gather, Split outputs without gradient, ...
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Builder } from '../src/autodiff/builder.js';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { encodeModel, float, makeValueInfo, type ModelProto } from '../src/onnx/model.js';

let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const randn = (n: number) => Float32Array.from({ length: n }, rand);

async function check(name: string, body: (b: Builder, x: string) => string, inputDims = [1, 4, 8, 8], eps = 1e-3, tol = 5e-3) {
  const m: ModelProto = {
    ir_version: 8, opset_import: [{ domain: '', version: 17 }],
    graph: { node: [], initializer: [], input: [makeValueInfo('x', 1, ['batch', ...inputDims.slice(1)])], output: [makeValueInfo('logits', 1)] },
  };
  const b = new Builder(m, 'test/');
  const y = body(b, 'x');
  const flat = b.op('Flatten', [y], { axis: 1 });
  m.graph.node.push(...b.nodes);
  // learn the flattened width with a probe-free trick: run the body once
  const probe = await createNodeSession(encodeModel({ ...m, graph: { ...m.graph, output: [makeValueInfo(flat, 1)] } }));
  const x0 = randn(inputDims.reduce((a, v) => a * v, 1));
  const width = (await probe.run({ x: { data: x0, dims: inputDims } }))[flat]!.dims[1]!;
  await probe.release();
  const w = b.floats(randn(5 * width), [5, width], 'fc');
  m.graph.node.push({ name: 'fc', op_type: 'Gemm', domain: '', input: [flat, w], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] });
  const ex = Explainer.fromBytes(encodeModel(m), { createSession: createNodeSession, source: name });
  const plain = await createNodeSession(encodeModel(m));
  try {
    const r = await ex.run(x0, inputDims, { layers: [], classes: 2, inputGradient: true });
    const g = r.inputGradient!.data;
    const f = async (x: Float32Array) => ((await plain.run({ x: { data: x, dims: inputDims } })).logits!.data as Float32Array)[2]!;
    for (let d = 0; d < 3; d++) {
      const v = randn(x0.length);
      const xp = x0.map((a, i) => a + eps * v[i]!);
      const xm = x0.map((a, i) => a - eps * v[i]!);
      const fd = ((await f(xp)) - (await f(xm))) / (2 * eps);
      let an = 0;
      let norm = 0;
      for (let i = 0; i < g.length; i++) { an += g[i]! * v[i]!; norm += Math.abs(g[i]! * v[i]!); }
      assert.ok(Math.abs(fd - an) <= tol * Math.max(norm, 1e-3), `${name}: directional derivative ${an} vs finite difference ${fd}`);
    }
  } finally {
    await ex.release();
    await plain.release();
  }
}

describe('gradient rules against finite differences', () => {
  const cases: [string, (b: Builder, x: string) => string, number[]?, number?][] = [
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
  for (const [name, body, dims, eps] of cases) it(name, () => check(name, body, dims, eps));
});
