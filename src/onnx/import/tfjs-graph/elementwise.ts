/**
 * TF inputs, constants and elementwise ops as ONNX: Placeholder, Const, Identity, the binary ops (folded
 * when both inputs are constants), the activations, unary maths, Softmax, the reductions, Cast and Shape.
 * Browser-safe.
 */
import { DATA_TYPE, type Tensor } from '../../tensor.js';
import { attrB, attrType, floatT, intT, tfTensorValue, values } from './graph.js';
import type { NodeCtx } from './context.js';

/** TF Placeholder, PlaceholderWithDefault. */
function placeholder(ctx: NodeCtx): void {
  const { g, n, fail, set, out } = ctx;
  const dt = attrType(n, 'dtype') ?? 'DT_FLOAT';
  if (dt !== 'DT_FLOAT') fail(`the model input is ${dt}; the importer explains float image inputs`);
  const shape = n.attr?.shape?.shape;
  if (!shape || shape.unknownRank || !shape.dim) fail('the input has no shape');
  const dims = shape!.dim!.map((d, k) => { const s = Number(d.size ?? -1); return s > 0 ? s : k === 0 ? 'N' : null; });
  g.inputs.push({ name: out, dims });
  set(out);
}

/** TF Const. */
function constant(ctx: NodeCtx): void {
  const { g, n, where, fail, out } = ctx;
  const w = g.weights.get(n.name);
  const t = w ?? (n.attr?.value?.tensor ? tfTensorValue(n.attr.value.tensor, where) : undefined);
  if (!t) fail('no value: it is not in the weights manifest and holds none');
  g.consts.set(out, t!);
}

/** TF Identity, StopGradient. */
function identity(ctx: NodeCtx): void {
  const { g, n, inVal, cst, allConst, set, out } = ctx;
  if (n.op === 'StopGradient') g.stopGradients.push(n.name);
  if (allConst) { g.consts.set(out, cst(0)); return; }
  const v = inVal(0);
  if (v.s2b) { g.vals.set(out, v); return; }
  set(g.emit('Identity', [v.name], {}, out), { dilated: v.dilated });
}

/** TF Add, AddV2, Sub, Mul, RealDiv, Maximum, Minimum, Pow. */
function binary(ctx: NodeCtx): void {
  const { g, n, fail, data, inVal, cst, allConst, set, out } = ctx;
  const op = { Add: 'Add', AddV2: 'Add', Sub: 'Sub', Mul: 'Mul', RealDiv: 'Div', Maximum: 'Max', Minimum: 'Min', Pow: 'Pow' }[n.op]!;
  if (allConst) { g.consts.set(out, foldBinary(op, cst(0), cst(1), fail)); return; }
  const [va, vb] = [inVal(0), inVal(1)];
  if (va.s2b || vb.s2b) fail('reads the output of SpaceToBatchND');
  const isC = (i: number) => !!g.constant(data[i]!);
  if ((va.dilated && !vb.dilated && !isC(1)) || (vb.dilated && !va.dilated && !isC(0))) fail('combines a tensor between SpaceToBatchND and BatchToSpaceND with one outside');
  set(g.emit(op, [va.name, vb.name], {}, out), { dilated: va.dilated || vb.dilated });
}

/** TF AddN. */
function addN(ctx: NodeCtx): void {
  const { g, data, x, set, out } = ctx;
  set(g.emit('Sum', data.map((_, i) => x(i)), {}, out));
}

/** TF Relu, Relu6, Elu, Selu, LeakyRelu, Sigmoid, Tanh. */
function activationOp(ctx: NodeCtx): void {
  const { n, inVal, set, out, activation } = ctx;
  const v = inVal(0);
  set(activation(n.op, v.name, out), { dilated: v.dilated });
}

/** TF Prelu. */
function prelu(ctx: NodeCtx): void {
  const { data, inVal, set, out, activation } = ctx;
  const v = inVal(0);
  set(activation('Prelu', v.name, out, data[1]), { dilated: v.dilated });
}

/** TF Neg. */
function neg(ctx: NodeCtx): void {
  const { g, inVal, set, out } = ctx;
  const v = inVal(0); set(g.emit('Neg', [v.name], {}, out), { dilated: v.dilated }); return;
}

/** TF Exp, Log, Sqrt. */
function unary(ctx: NodeCtx): void {
  const { g, n, inVal, set, out } = ctx;
  const v = inVal(0);
  set(g.emit(n.op, [v.name], {}, out), { dilated: v.dilated });
}

/** TF Rsqrt. */
function rsqrt(ctx: NodeCtx): void {
  const { g, inVal, set, out } = ctx;
  const v = inVal(0); set(g.emit('Reciprocal', [g.emit('Sqrt', [v.name])], {}, out), { dilated: v.dilated }); return;
}

/** TF Square. */
function square(ctx: NodeCtx): void {
  const { g, inVal, set, out } = ctx;
  const v = inVal(0); set(g.emit('Mul', [v.name, v.name], {}, out), { dilated: v.dilated }); return;
}

/** TF Softmax. */
function softmax(ctx: NodeCtx): void {
  const { g, x, set, out } = ctx;
  set(g.emit('Softmax', [x(0)], { axis: -1 }, out));
}

/** TF Mean, Max, Sum. */
function reduce(ctx: NodeCtx): void {
  const { g, n, x, nums, set, out } = ctx;
  const axes = nums(1);
  const keepdims = attrB(n, 'keep_dims', false) ? 1 : 0;
  if (n.op === 'Sum') set(g.emit('ReduceSum', [x(0), g.ints(axes, 'axes')], { keepdims }, out));
  else set(g.emit(n.op === 'Mean' ? 'ReduceMean' : 'ReduceMax', [x(0)], { axes, keepdims }, out));
}

/** TF Cast. */
function cast(ctx: NodeCtx): void {
  const { g, n, fail, x, cst, allConst, set, out } = ctx;
  const to = attrType(n, 'DstT') ?? 'DT_FLOAT';
  const from = attrType(n, 'SrcT') ?? 'DT_FLOAT';
  if (allConst) {
    const t = cst(0);
    g.consts.set(out, to === 'DT_FLOAT' ? floatT(Float32Array.from(values(t)), t.dims) : intT(values(t).map(Math.trunc), t.dims));
    return;
  }
  const code = to === 'DT_FLOAT' ? DATA_TYPE.float32 : to === 'DT_INT32' || to === 'DT_INT64' ? DATA_TYPE.int64 : to === 'DT_BOOL' ? DATA_TYPE.bool : 0;
  if (!code) fail(`casts to ${to}, which is not supported (DT_FLOAT, DT_INT32, DT_INT64, DT_BOOL)`);
  const same = to === from || ((to === 'DT_INT32' || to === 'DT_INT64') && (from === 'DT_INT32' || from === 'DT_INT64'));
  set(same ? g.emit('Identity', [x(0)], {}, out) : g.emit('Cast', [x(0)], { to: code }, out));
}

/** TF Shape. */
function shapeOp(ctx: NodeCtx): void {
  const { g, x, set, out } = ctx;
  set(g.emit('Shape', [x(0)], {}, out));
}

export const ELEMENTWISE_OPS: Record<string, (c: NodeCtx) => void> = {
  NoOp: () => {},
  Placeholder: placeholder, PlaceholderWithDefault: placeholder,
  Const: constant,
  Identity: identity, StopGradient: identity,
  Add: binary, AddV2: binary, Sub: binary, Mul: binary, RealDiv: binary, Maximum: binary, Minimum: binary, Pow: binary,
  AddN: addN,
  Relu: activationOp, Relu6: activationOp, Elu: activationOp, Selu: activationOp, LeakyRelu: activationOp, Sigmoid: activationOp, Tanh: activationOp,
  Prelu: prelu,
  Neg: neg,
  Exp: unary, Log: unary, Sqrt: unary,
  Rsqrt: rsqrt,
  Square: square,
  Softmax: softmax,
  Mean: reduce, Max: reduce, Sum: reduce,
  Cast: cast,
  Shape: shapeOp,
};

function foldBinary(op: string, a: Tensor, b: Tensor, fail: (w: string) => never): Tensor {
  const [av, bv] = [values(a), values(b)];
  if (av.length !== 1 && bv.length !== 1 && av.length !== bv.length) fail('constant folding of broadcast shapes is not supported');
  const dims = av.length >= bv.length ? a.dims : b.dims;
  const n = Math.max(av.length, bv.length);
  const f: Record<string, (p: number, q: number) => number> = { Add: (p, q) => p + q, Sub: (p, q) => p - q, Mul: (p, q) => p * q, Div: (p, q) => (a.dtype === 'int64' ? Math.trunc(p / q) : p / q), Max: Math.max, Min: Math.min, Pow: Math.pow };
  const r = Array.from({ length: n }, (_, i) => f[op]!(av[av.length === 1 ? 0 : i]!, bv[bv.length === 1 ? 0 : i]!));
  return a.dtype === 'float32' ? floatT(Float32Array.from(r), dims) : intT(r, dims);
}
