/**
 * Quantised (int8 / uint8) ops: the straight-through estimator (STE) of quantisation-aware training.
 *
 * Convention: the gradient carried for an integer tensor q is d(score)/dq with q read as a real number
 * (its integer value), so that every rule is local: for q = clip(round(x/s) + z), dx = dq/s where the
 * unclipped value lies in the type's range (the STE), and for x = s·(q − z), dq = s·dx. Integer ops are
 * differentiated as their real-valued counterparts on dequantised weights: QLinearConv's backward is
 * Conv's backward with the weight s_w·(w − z_w), scaled by x_scale / y_scale, its output masked where the
 * forward saturated (a ReLU fused as an output range [0, max] is a saturation at the zero point). The
 * forward is the model's own integer forward; the gradient is an estimate (the derivative of a rounded
 * function is zero almost everywhere).
 *
 * Forms: QuantizeLinear / DequantizeLinear (per tensor or per `axis`), DynamicQuantizeLinear,
 * ConvInteger, MatMulInteger (dynamic quantisation); QLinearConv, QLinearMatMul and the com.microsoft
 * QOperator ops QGemm, QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool,
 * QLinearSigmoid, QLinearLeakyRelu, QLinearConcat, QLinearSoftmax.
 */
import { attrFloat, attrInt, type Node } from '../../onnx/model.js';
import type { Builder } from '../builder.js';
import { numel, type Tensor } from '../../onnx/tensor.js';
import { dy0, GradError, nodeLabel, type GradContext, type GradRule, type OpGradient } from '../rule.js';
import { conv } from './conv.js';
import { averagePool } from './average-pool.js';
import { gemm } from './gemm.js';
import { matMul } from './mat-mul.js';
import { normAxis, unbroadcast } from './util.js';

const MS = 'com.microsoft';
const INT_RANGE: Record<string, [number, number]> = { uint8: [0, 255], int8: [-128, 127], uint16: [0, 65535], int16: [-32768, 32767], int32: [-(2 ** 31), 2 ** 31 - 1] };

/** The value range of the integer type of a quantised tensor, read from its zero point (uint8 when none is given). */
function intRange(ctx: GradContext, zero: string | undefined): [number, number] {
  const z = zero ? ctx.graphConstant(zero) : undefined;
  const r = INT_RANGE[z?.dtype ?? 'uint8'];
  if (!r) throw new GradError(`${nodeLabel(ctx.node)}: zero point of type ${z!.dtype} is not an integer type`);
  return r;
}

/**
 * A scale (or zero point) shaped to broadcast against a tensor of rank `rank` along `axis` (per-channel),
 * as float32: a constant where it is one, else computed in the graph.
 */
function along(ctx: GradContext, t: string | undefined, axis: number, rank: number, fallback = 0): string {
  const { b } = ctx;
  if (!t) return b.scalar(fallback);
  const c = ctx.constant(t);
  const perChannel = c ? numel(c.dims) > 1 : ctx.shape(t).length === 1 && ctx.shape(t)[0]! > 1;
  const dims = Array.from({ length: rank }, (_, i) => (perChannel && i === normAxis(axis, rank) ? -1 : 1));
  if (c) {
    const data = Float32Array.from(c.data as ArrayLike<number>, Number);
    return b.floats(data, perChannel ? dims.map((d) => (d === -1 ? data.length : 1)) : [], 'quant_param');
  }
  const f = b.op('Cast', [t], { to: 1 });
  return perChannel ? b.op('Reshape', [f, b.ints(dims)]) : f;
}

/** A constant integer weight dequantised at compile time: s·(q − z), s and z per tensor or along `axis`. */
function dequantizeConstant(ctx: GradContext, q: string, s: string, z: string | undefined, axis: number, subtractOnly = false): Tensor {
  const qt = ctx.constant(q);
  const st = subtractOnly ? undefined : ctx.constant(s);
  const zt = z ? ctx.constant(z) : undefined;
  if (!qt || (!subtractOnly && !st) || (z && !zt)) throw new GradError(`${nodeLabel(ctx.node)}: its weight, scale and zero point must be constants to differentiate it`);
  const dims = qt.dims;
  const ax = normAxis(axis, dims.length);
  const inner = numel(dims.slice(ax + 1));
  const size = dims[ax] ?? 1;
  const val = (t: Tensor | undefined, i: number, dflt: number) => (t ? Number((t.data as ArrayLike<number>)[numel(t.dims) > 1 ? Math.floor(i / inner) % size : 0]) : dflt);
  const src = qt.data as ArrayLike<number>;
  const out = new Float32Array(src.length);
  for (let i = 0; i < out.length; i++) out[i] = (subtractOnly ? 1 : val(st, i, 1)) * (Number(src[i]) - val(zt, i, 0));
  return { dtype: 'float32', dims: dims.slice(), data: out };
}

/** dy masked where an integer output saturated: strictly inside (min, max) of its type. */
function unsaturated(ctx: GradContext, g: string, y: string, zero: string | undefined): string {
  const { b } = ctx;
  const [lo, hi] = intRange(ctx, zero);
  const mask = b.memo(`quant-mask:${y}`, () => {
    const yf = b.op('Cast', [y], { to: 1 });
    return b.op('Cast', [b.op('And', [b.op('Greater', [yf, b.scalar(lo)]), b.op('Less', [yf, b.scalar(hi)])])], { to: 1 });
  });
  return b.mul(g, mask);
}

/** Whether an output's zero point is its type's minimum: the output range starts at 0, a fused ReLU. */
export function fusedRelu(ctx: Pick<GradContext, 'graphConstant' | 'node'>, zero: string | undefined): boolean {
  const z = zero ? ctx.graphConstant(zero) : undefined;
  const r = INT_RANGE[z?.dtype ?? 'uint8'];
  return !!r && (z ? numel(z.dims) === 1 && Number((z.data as ArrayLike<number>)[0]) === r[0] : true);
}

/** A float scalar (x_scale / y_scale and friends) from scalar scale inputs. */
function ratio(ctx: GradContext, num: string[], den?: string): string {
  const { b } = ctx;
  const cs = [...num, ...(den ? [den] : [])].map((t) => ctx.constant(t));
  if (cs.every((c) => c && numel(c.dims) === 1)) {
    let v = 1;
    num.forEach((_, i) => { v *= Number((cs[i]!.data as ArrayLike<number>)[0]); });
    if (den) v /= Number((cs[cs.length - 1]!.data as ArrayLike<number>)[0]);
    return b.scalar(v);
  }
  let r = b.op('Cast', [num[0]!], { to: 1 });
  for (const t of num.slice(1)) r = b.mul(r, b.op('Cast', [t], { to: 1 }));
  return den ? b.op('Div', [r, b.op('Cast', [den], { to: 1 })]) : r;
}

/** Runs another op's rule on a float stand-in of this node (same output, `inputs` replaced). */
function delegate(ctx: GradContext, rule: GradRule, op: string, inputs: string[], consts: Record<string, Tensor>, needs: boolean[], dy: string, attrs = ctx.node.attribute): (string | null)[] {
  const node: Node = { name: ctx.node.name, op_type: op, domain: '', input: inputs, output: [ctx.node.output[0]!], attribute: attrs };
  const constant = (n: string) => consts[n] ?? ctx.constant(n);
  const shape = (n: string) => (consts[n] ? consts[n]!.dims : ctx.shape(n));
  return rule({ ...ctx, node, needs, dy: [dy], constant, shape });
}

/** A constant registered in the graph under a fresh name, returned with the name. */
function weight(ctx: GradContext, key: string, make: () => Tensor): { name: string; t: Tensor } {
  let t: Tensor | undefined;
  const name = ctx.b.memo(`quant-weight:${key}`, () => ctx.b.constant((t = make()), 'dequantized_w'));
  t ??= make();
  return { name, t };
}

const only = (slots: number[]) => (n: Node): boolean[] => n.input.map((_, k) => slots.includes(k));

// ---- QDQ and dynamic quantisation --------------------------------------------------------------------

/** DequantizeLinear x = s·(q − z): dq = s·dx. */
const dequantizeLinear: GradRule = (ctx) => {
  const [, s] = ctx.node.input;
  const rank = ctx.shape(ctx.node.input[0]!).length;
  return [ctx.b.mul(dy0(ctx), along(ctx, s, attrInt(ctx.node, 'axis', 1), rank, 1)), null, null];
};

/** QuantizeLinear q = clip(round(x/s) + z): dx = dq/s where round(x/s) + z lies in the type's range (STE). */
const quantizeLinear: GradRule = (ctx) => {
  const { b, node } = ctx;
  const [x, s, z] = node.input as [string, string, string | undefined];
  const rank = ctx.shape(x).length;
  const axis = attrInt(node, 'axis', 1);
  const sb = along(ctx, s, axis, rank, 1);
  const [lo, hi] = intRange(ctx, z);
  const mask = b.memo(`quant-ste:${node.output[0]}`, () => {
    const v = b.op('Add', [b.op('Round', [b.op('Div', [x, sb])]), along(ctx, z, axis, rank, 0)]);
    return b.op('Cast', [b.op('And', [b.op('GreaterOrEqual', [v, b.scalar(lo)]), b.op('LessOrEqual', [v, b.scalar(hi)])])], { to: 1 });
  });
  return [b.mul(b.op('Div', [dy0(ctx), sb]), mask), null, null];
};

/** DynamicQuantizeLinear: the range always holds x, so dx = dq / y_scale (scale and zero point taken as constants). */
const dynamicQuantizeLinear: GradRule = (ctx) => [ctx.b.op('Div', [dy0(ctx), ctx.node.output[1]!]), null, null];

/** ConvInteger y = conv(x − z_x, w − z_w) (int32): Conv's backward with the weight w − z_w. */
const convInteger: GradRule = (ctx) => {
  const [x, w, , wz] = ctx.node.input as [string, string, string?, string?];
  const W = weight(ctx, `${w}|${wz}|sub`, () => dequantizeConstant(ctx, w, '', wz || undefined, 0, true));
  const [dx] = delegate(ctx, conv.rule, 'Conv', [x, W.name], { [W.name]: W.t }, [true, false], dy0(ctx));
  return [dx!, null, null, null];
};

/** MatMulInteger y = (A − z_a)·(B − z_b) (int32), B constant: MatMul's backward with B − z_b. */
const matMulInteger: GradRule = (ctx) => {
  const [a, bq, , bz] = ctx.node.input as [string, string, string?, string?];
  const B = weight(ctx, `${bq}|${bz}|sub`, () => dequantizeConstant(ctx, bq, '', bz || undefined, -1, true));
  const [da] = delegate(ctx, matMul.rule, 'MatMul', [a, B.name], { [B.name]: B.t }, [true, false], dy0(ctx), []);
  return [da!, null, null, null];
};

// ---- QOperator --------------------------------------------------------------------------------------

/** QLinearConv(x, xs, xz, w, ws, wz, ys, yz, B): (xs/ys)·Conv'(dy masked, ws·(w − wz)). */
const qLinearConv: GradRule = (ctx) => {
  const [x, xs, , w, ws, wz, ys, yz] = ctx.node.input as string[];
  const W = weight(ctx, `${w}|${ws}|${wz}`, () => dequantizeConstant(ctx, w!, ws!, wz || undefined, 0));
  // a ReLU fused as the output range [0, max] (zero point at the type's minimum) is a rectifier: guided /
  // deconvnet rules pass only positive gradients there, as they do at a Relu node
  let g0 = dy0(ctx);
  if (ctx.rectifier !== 'plain' && fusedRelu(ctx, yz)) g0 = ctx.b.op('Relu', [g0]);
  const g = ctx.b.mul(ctx.rectifier === 'deconvnet' && fusedRelu(ctx, yz) ? g0 : unsaturated(ctx, g0, ctx.node.output[0]!, yz), ratio(ctx, [xs!], ys));
  const [dx] = delegate(ctx, conv.rule, 'Conv', [x!, W.name], { [W.name]: W.t }, [true, false], g);
  return ctx.node.input.map((_, k) => (k === 0 ? dx! : null));
};

/** QLinearMatMul(a, as, az, b, bs, bz, ys, yz): (as/ys)·MatMul'(dy masked, bs·(b − bz)), b constant. */
const qLinearMatMul: GradRule = (ctx) => {
  const [a, as, , bq, bs, bz, ys, yz] = ctx.node.input as string[];
  const B = weight(ctx, `${bq}|${bs}|${bz}`, () => dequantizeConstant(ctx, bq!, bs!, bz || undefined, -1));
  const g = ctx.b.mul(unsaturated(ctx, dy0(ctx), ctx.node.output[0]!, yz), ratio(ctx, [as!], ys));
  const [da] = delegate(ctx, matMul.rule, 'MatMul', [a!, B.name], { [B.name]: B.t }, [true, false], g, []);
  return ctx.node.input.map((_, k) => (k === 0 ? da! : null));
};

/** QGemm (com.microsoft)(A, as, az, B, bs, bz, C, ys, yz): Gemm's backward on bs·(B − bz), times as (/ys for an integer output). */
const qGemm: GradRule = (ctx) => {
  const { node } = ctx;
  const [a, as, , bq, bs, bz, , ys, yz] = node.input as string[];
  if (attrInt(node, 'transA', 0)) throw new GradError(`${nodeLabel(node)}: transA = 1 is not supported`);
  const transB = attrInt(node, 'transB', 0);
  // per-channel scales run along B's output columns: axis 0 of a transposed B, axis 1 otherwise
  const B = weight(ctx, `${bq}|${bs}|${bz}|${transB}`, () => dequantizeConstant(ctx, bq!, bs!, bz || undefined, transB ? 0 : 1));
  let g = dy0(ctx);
  if (ys) g = unsaturated(ctx, g, node.output[0]!, yz);
  g = ctx.b.mul(g, ratio(ctx, [as!], ys || undefined));
  const attrs = node.attribute.filter((x) => x.name === 'transB' || x.name === 'alpha');
  const [da] = delegate(ctx, gemm.rule, 'Gemm', [a!, B.name], { [B.name]: B.t }, [true, false], g, attrs);
  return node.input.map((_, k) => (k === 0 ? da! : null));
};

/** QLinearAdd (com.microsoft)(A, As, Az, B, Bs, Bz, Cs, Cz): dA = dy·As/Cs, dB = dy·Bs/Cs (masked, unbroadcast). */
const qLinearAdd: GradRule = (ctx) => {
  const { node } = ctx;
  const [A, As, , B, Bs, , Cs, Cz] = node.input as string[];
  const g = unsaturated(ctx, dy0(ctx), node.output[0]!, Cz);
  const out = ctx.shape(node.output[0]!);
  const part = (x: string, s: string) => unbroadcast(ctx, ctx.b.mul(g, ratio(ctx, [s], Cs)), out, ctx.shape(x), x);
  return node.input.map((_, k) => (k === 0 && ctx.needs[0] ? part(A!, As!) : k === 3 && ctx.needs[3] ? part(B!, Bs!) : null));
};

/** QLinearMul (com.microsoft): dA = dy·As·B_real/Cs, dB = dy·Bs·A_real/Cs (masked, unbroadcast). */
const qLinearMul: GradRule = (ctx) => {
  const { node, b } = ctx;
  const [A, As, Az, B, Bs, Bz, Cs, Cz] = node.input as string[];
  const g = unsaturated(ctx, dy0(ctx), node.output[0]!, Cz);
  const out = ctx.shape(node.output[0]!);
  const real = (q: string, s: string, z: string | undefined) => b.op('DequantizeLinear', z ? [q, s, z] : [q, s]);
  const part = (x: string, s: string, other: string) => unbroadcast(ctx, b.mul(b.mul(g, ratio(ctx, [s], Cs)), other), out, ctx.shape(x), x);
  return node.input.map((_, k) => (k === 0 && ctx.needs[0] ? part(A!, As!, real(B!, Bs!, Bz || undefined))
    : k === 3 && ctx.needs[3] ? part(B!, Bs!, real(A!, As!, Az || undefined)) : null));
};

/** QLinearGlobalAveragePool (com.microsoft)(X, xs, xz, ys, yz): dy·(xs/ys)/cells, expanded (either channel order). */
const qLinearGlobalAveragePool: GradRule = (ctx) => {
  const { node, b } = ctx;
  const [x, xs, , ys, yz] = node.input as string[];
  const dims = ctx.shape(x!);
  const last = attrInt(node, 'channels_last', 0) === 1;
  const cells = numel(last ? dims.slice(1, -1) : dims.slice(2));
  const g = b.mul(unsaturated(ctx, dy0(ctx), node.output[0]!, yz), ratio(ctx, [xs!], ys));
  return [b.op('Expand', [b.mul(g, b.scalar(1 / cells)), b.shape(x!)]), null, null, null, null];
};

/** QLinearAveragePool (com.microsoft): AveragePool's backward times xs/ys (channels first only). */
const qLinearAveragePool: GradRule = (ctx) => {
  const { node } = ctx;
  const [x, xs, , ys, yz] = node.input as string[];
  if (attrInt(node, 'channels_last', 0) === 1) throw new GradError(`${nodeLabel(node)}: channels_last = 1 is not supported`);
  const g = ctx.b.mul(unsaturated(ctx, dy0(ctx), node.output[0]!, yz), ratio(ctx, [xs!], ys));
  const attrs = node.attribute.filter((a) => a.name !== 'channels_last');
  const [dx] = delegate(ctx, averagePool.rule, 'AveragePool', [x!], {}, [true], g, attrs);
  return [dx!, null, null, null, null];
};

/** QLinearSigmoid (com.microsoft): dy·(xs/ys)·σ(1 − σ) with σ = sigmoid of the dequantised input. */
const qLinearSigmoid: GradRule = (ctx) => {
  const { node, b } = ctx;
  const [x, xs, xz, ys, yz] = node.input as string[];
  const sig = b.op('Sigmoid', [b.op('DequantizeLinear', xz ? [x!, xs!, xz] : [x!, xs!])]);
  const d = b.mul(sig, b.op('Sub', [b.scalar(1), sig]));
  return [b.mul(b.mul(unsaturated(ctx, dy0(ctx), node.output[0]!, yz), ratio(ctx, [xs!], ys)), d), null, null, null, null];
};

/** QLinearLeakyRelu (com.microsoft): dy·(xs/ys)·(1 where x > z_x, else alpha). */
const qLinearLeakyRelu: GradRule = (ctx) => {
  const { node, b } = ctx;
  const [x, xs, xz, ys, yz] = node.input as string[];
  const alpha = attrFloat(node, 'alpha', 0.01);
  const pos = b.op('Cast', [b.op('Greater', [b.op('Cast', [x!], { to: 1 }), xz ? b.op('Cast', [xz], { to: 1 }) : b.scalar(0)])], { to: 1 });
  const slope = b.op('Add', [b.mul(pos, b.scalar(1 - alpha)), b.scalar(alpha)]);
  return [b.mul(b.mul(unsaturated(ctx, dy0(ctx), node.output[0]!, yz), ratio(ctx, [xs!], ys)), slope), null, null, null, null];
};

/** QLinearConcat (com.microsoft)(ys, yz, (X, s, z)...): each input's slice of dy, times s_i / ys. */
const qLinearConcat: GradRule = (ctx) => {
  const { node, b } = ctx;
  const [ys, yz] = node.input as string[];
  const xs = node.input.slice(2).filter((_, k) => k % 3 === 0);
  const rank = ctx.shape(node.output[0]!).length;
  const axis = normAxis(attrInt(node, 'axis', 0), rank);
  const g = unsaturated(ctx, dy0(ctx), node.output[0]!, yz);
  const parts = b.opN('Split', [g, b.ints(xs.map((x) => ctx.shape(x)[axis]!))], { axis }, xs.length);
  return node.input.map((_, k) => {
    if (k < 2 || (k - 2) % 3 !== 0 || !ctx.needs[k]) return null;
    const i = (k - 2) / 3;
    return b.mul(parts[i]!, ratio(ctx, [node.input[k + 1]!], ys));
  });
};

/** QLinearSoftmax (com.microsoft), over the last axis: dx = xs·y·(dy/ys − Σ y·dy/ys), y the dequantised output. */
const qLinearSoftmax: GradRule = (ctx) => {
  const { node, b } = ctx;
  const [, xs, , ys, yz] = node.input as string[];
  const y = node.output[0]!;
  const rank = ctx.shape(y).length;
  if (normAxis(attrInt(node, 'axis', -1), rank) !== rank - 1) throw new GradError(`${nodeLabel(node)}: only a softmax over the last axis is supported`);
  const yr = b.op('DequantizeLinear', yz ? [y, ys!, yz] : [y, ys!]);
  const g = b.op('Div', [dy0(ctx), b.op('Cast', [ys!], { to: 1 })]);
  const dot = b.op('ReduceSum', [b.mul(g, yr), b.ints([-1])], { keepdims: 1 });
  return [b.mul(b.mul(yr, b.op('Sub', [g, dot])), b.op('Cast', [xs!], { to: 1 })), null, null, null, null];
};

const STE = 'straight-through estimate';
export const QUANTIZE_GRADIENTS: readonly OpGradient[] = [
  { op: 'QuantizeLinear', rule: quantizeLinear, differentiable: only([0]), note: `${STE}: dx = dq/s inside the type's range` },
  { op: 'DequantizeLinear', rule: dequantizeLinear, differentiable: only([0]), note: 'dq = s·dx (per tensor or per axis)' },
  { op: 'DynamicQuantizeLinear', rule: dynamicQuantizeLinear, differentiable: only([0]), note: `${STE}: dx = dq/scale` },
  { op: 'ConvInteger', rule: convInteger, differentiable: only([0]), note: 'constant weight; as Conv on w − z_w' },
  { op: 'MatMulInteger', rule: matMulInteger, differentiable: only([0]), note: 'constant B; as MatMul on B − z_b' },
  { op: 'QLinearConv', rule: qLinearConv, differentiable: only([0]), rectifier: true, note: `${STE}; as Conv on the dequantised weight; a fused ReLU (output zero point at the type's minimum) is guided like Relu` },
  { op: 'QLinearMatMul', rule: qLinearMatMul, differentiable: only([0]), note: `${STE}; constant B` },
  { op: 'QGemm', domain: MS, rule: qGemm, differentiable: only([0]), note: `${STE}; constant B, transA = 0` },
  { op: 'QLinearAdd', domain: MS, rule: qLinearAdd, differentiable: only([0, 3]), note: STE },
  { op: 'QLinearMul', domain: MS, rule: qLinearMul, differentiable: only([0, 3]), note: STE },
  { op: 'QLinearGlobalAveragePool', domain: MS, rule: qLinearGlobalAveragePool, differentiable: only([0]), note: STE },
  { op: 'QLinearAveragePool', domain: MS, rule: qLinearAveragePool, differentiable: only([0]), note: `${STE}; channels first` },
  { op: 'QLinearSigmoid', domain: MS, rule: qLinearSigmoid, differentiable: only([0]), note: STE },
  { op: 'QLinearLeakyRelu', domain: MS, rule: qLinearLeakyRelu, differentiable: only([0]), note: STE },
  { op: 'QLinearConcat', domain: MS, rule: qLinearConcat, differentiable: (n) => n.input.map((_, k) => k >= 2 && (k - 2) % 3 === 0), note: STE },
  { op: 'QLinearSoftmax', domain: MS, rule: qLinearSoftmax, differentiable: only([0]), note: `${STE}; last axis` },
];

/**
 * How to read an integer tensor as real numbers: the scale and zero point (and axis) of the op that
 * produced it, followed back through ops that only move data (Reshape, Flatten, Transpose, MaxPool...).
 * Undefined for a float tensor or an integer tensor without a scale (ConvInteger's int32 accumulator).
 */
export interface QuantParams { scale: string; zero?: string; axis: number }

const MOVES = new Set(['Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'MaxPool', 'Slice', 'Identity', 'GlobalMaxPool', 'Resize', 'Pad', 'DepthToSpace', 'SpaceToDepth']);

export function quantParams(producer: (t: string) => Node | undefined, tensor: string): QuantParams | undefined {
  for (let t = tensor, hops = 0; hops < 64; hops++) {
    const n = producer(t);
    if (!n) return undefined;
    const k = n.output.indexOf(t);
    const i = n.input;
    switch (n.op_type) {
      case 'QuantizeLinear': return { scale: i[1]!, zero: i[2] || undefined, axis: attrInt(n, 'axis', 1) };
      case 'DynamicQuantizeLinear': return k === 0 ? { scale: n.output[1]!, zero: n.output[2]!, axis: 1 } : undefined;
      case 'QLinearConv': case 'QLinearMatMul': return { scale: i[6]!, zero: i[7] || undefined, axis: 1 };
      case 'QLinearAdd': case 'QLinearMul': return { scale: i[6]!, zero: i[7] || undefined, axis: 1 };
      case 'QLinearGlobalAveragePool': case 'QLinearAveragePool': case 'QLinearSigmoid': case 'QLinearLeakyRelu': case 'QLinearSoftmax':
        return { scale: i[3]!, zero: i[4] || undefined, axis: 1 };
      case 'QLinearConcat': return { scale: i[0]!, zero: i[1] || undefined, axis: 1 };
      case 'QGemm': return i[7] ? { scale: i[7], zero: i[8] || undefined, axis: 1 } : undefined;
      default:
        if (!MOVES.has(n.op_type) || k !== 0 || !i[0]) return undefined;
        t = i[0];
    }
  }
  return undefined;
}

/** Ops whose outputs are integer tensors (for choosing float layers first and for the JSON's note). */
export const QUANTIZED_OPS: ReadonlySet<string> = new Set(['QuantizeLinear', 'DynamicQuantizeLinear', 'ConvInteger', 'MatMulInteger', ...QUANTIZE_GRADIENTS.filter((d) => d.op.startsWith('Q')).map((d) => d.op)]);

/** The node producing an integer tensor's data (followed through data movement), or undefined for a float tensor. */
export function integerProducer(producer: (t: string) => Node | undefined, tensor: string): Node | undefined {
  for (let t = tensor, hops = 0; hops < 64; hops++) {
    const n = producer(t);
    if (!n) return undefined;
    if (QUANTIZED_OPS.has(n.op_type)) {
      if (n.op_type === 'DynamicQuantizeLinear' && n.output.indexOf(t) !== 0) return undefined;
      if (n.op_type === 'QGemm' && !n.input[7]) return undefined;
      return n;
    }
    if (!MOVES.has(n.op_type) || n.output.indexOf(t) !== 0 || !n.input[0]) return undefined;
    t = n.input[0];
  }
  return undefined;
}

/**
 * An integer layer as real numbers: its activation dequantised with the scale and zero point of the op
 * that produced it (an int32 accumulator without one: cast), and its gradient (d/dq, this file's
 * convention) divided by the scale, so that the CAM methods get d(score)/d(real value). Float tensors
 * are returned as they are.
 */
export function realLayer(b: Builder, producer: (t: string) => Node | undefined, layer: string, grad: string | undefined, rank: number): { activation: string; gradient?: string; quantized: boolean } {
  if (!integerProducer(producer, layer)) return { activation: layer, gradient: grad, quantized: false };
  const p = quantParams(producer, layer);
  if (!p) return { activation: b.op('Cast', [layer], { to: 1 }), gradient: grad, quantized: true };
  const activation = b.op('DequantizeLinear', p.zero ? [layer, p.scale, p.zero] : [layer, p.scale], { axis: p.axis });
  if (!grad) return { activation, quantized: true };
  // per-axis scales: shaped [1, .., C, .., 1] to divide the gradient
  const s = b.op('Cast', [p.scale], { to: 1 });
  const dims = Array.from({ length: rank }, (_, i) => (i === normAxis(p.axis, rank) ? -1 : 1));
  const sb = b.op('Reshape', [s, b.ints(dims)]);
  return { activation, gradient: b.op('Div', [grad, sb]), quantized: true };
}
