/**
 * Layout inference: what each axis of each tensor means — batch, channels, a spatial grid (as separate
 * H and W axes, or flattened into one token axis with class/register tokens before or after it) —
 * learnt from the graph, never guessed from a square number.
 *
 * Every axis carries a list of *atoms*: pieces of a semantic dimension in mixed-radix form (an image
 * row axis of 56 split by a window partition into 8 × 7 becomes two atoms of the same dimension). The
 * model input starts as [N, C, H, W] (or [N, H, W, C]); each op maps its input atoms to its outputs:
 * Reshape/Flatten/Squeeze split and merge atoms by matching products of the probed shapes, Transpose
 * permutes them, Concat adds prefix tokens (class, distillation, register tokens) or restores a
 * torch.roll, Slice removes them, MatMul keeps the rows of A and the columns of B, Conv/Pool/Resize
 * make a fresh grid, element-wise ops keep what their operands agree on. A tensor has a layout when its
 * axes are a batch axis, one channel axis, and whole grid dimensions, the rest of size 1; anything else
 * is `unknown`, with the reason.
 *
 * This file: `propagate`, the rule of each op (element-wise and copy ops, grids, reductions, quantised
 * forms, Transpose, Reshape...); atoms.ts: atoms, axes, reshape and broadcasting; infer-ops.ts: the slicing,
 * joining and contracting ops. A new op: a line in one of the sets below, or a rule in infer-ops.ts and its
 * case in `propagate`.
 */
import { attrInt, attrInts } from '../onnx/model.js';
import { type AtomKind, type Axis, broadcastAxes, hasSpatial, type Labels, normAxis, type OpContext, type OpResult, reshapeAxes } from './atoms.js';
import { concat, einsum, gather, gemm, matMul, slice, split } from './infer-ops.js';

export { AtomFactory, reshapeAxes, type Atom, type Axis, type Labels, type SpatialEffect } from './atoms.js';

const COPY_OPS = new Set([
  'Relu', 'LeakyRelu', 'PRelu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Softplus', 'Softsign', 'Elu', 'Selu',
  'Celu', 'Mish', 'Gelu', 'Erf', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Abs', 'Neg', 'Identity', 'Dropout', 'Cast', 'Softmax',
  'LogSoftmax', 'LayerNormalization', 'BatchNormalization', 'InstanceNormalization', 'GroupNormalization', 'LRN', 'ThresholdedRelu',
  'Sin', 'Cos', 'Floor', 'Ceil', 'Round', 'Sign', 'Not', 'IsNaN', 'IsInf', 'CastLike', 'Shrink', 'SimplifiedLayerNormalization',
]);
const ELEMENTWISE_OPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Greater', 'Less', 'And', 'Or', 'Mod', 'BitShift']);
const GRID_OPS = new Set(['Conv', 'ConvTranspose', 'MaxPool', 'AveragePool', 'LpPool', 'Resize', 'Upsample', 'ConvInteger', 'QLinearConv', 'DepthToSpace', 'SpaceToDepth', 'MaxUnpool', 'RoiAlign']);
const QUANT_FORMS: Record<string, 'copy' | 'binary' | 'gap' | 'grid'> = {
  QuantizeLinear: 'copy', DequantizeLinear: 'copy', DynamicQuantizeLinear: 'copy', 'com.microsoft.QuantizeLinear': 'copy', 'com.microsoft.DequantizeLinear': 'copy',
  'com.microsoft.QLinearSigmoid': 'copy', 'com.microsoft.QLinearLeakyRelu': 'copy', 'com.microsoft.QLinearSoftmax': 'copy',
  'com.microsoft.QLinearAdd': 'binary', 'com.microsoft.QLinearMul': 'binary',
  'com.microsoft.QLinearGlobalAveragePool': 'gap', 'com.microsoft.QLinearAveragePool': 'grid',
};
const REDUCE_OPS = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceProd', 'ReduceSumSquare']);

function spatialKinds(n: number): AtomKind[] {
  return n === 1 ? ['W'] : n === 2 ? ['H', 'W'] : n === 3 ? ['D', 'H', 'W'] : Array<AtomKind>(n).fill('U');
}

/** Labels of a node's outputs from its inputs' labels. */
export function propagate(c: OpContext): OpResult {
  const { node, f, inputs } = c;
  const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.op_type}` : node.op_type;
  const out0 = c.outShapes[0];
  const x = inputs[0];
  const keep = (labels: Labels): OpResult => ({ outputs: [labels, ...node.output.slice(1).map(() => undefined)], effect: 'keeps' });
  const unknownOut = (): OpResult => ({ outputs: c.outShapes.map((s) => s?.map((d) => f.unknown(d))), effect: inputs.some((l) => l?.some(hasSpatial)) ? 'mixes' : 'keeps' });
  if (!out0) return unknownOut();

  if (COPY_OPS.has(op)) {
    if (x && sameShape(c.inShapes[0], out0)) return keep(x);
    return unknownOut();
  }
  if (ELEMENTWISE_OPS.has(op) || op === 'Where') {
    const ins = inputs.map((labels, k) => ({ labels: op === 'Where' && k === 0 ? undefined : labels, shape: c.inShapes[k] ?? [] }));
    return keep(broadcastAxes(f, ins, out0));
  }
  // quantised forms of the ops above (int8 models): a quantised tensor has its float twin's axes
  const q = QUANT_FORMS[op];
  if (q) {
    const pick = (k: number) => ({ labels: inputs[k], shape: c.inShapes[k] ?? [] });
    if (q === 'copy') return x && sameShape(c.inShapes[0], out0) ? keep(x) : unknownOut();
    if (q === 'binary') return keep(broadcastAxes(f, [pick(0), pick(3)], out0));
    if (q === 'gap') return propagate({ ...c, node: { ...node, domain: '', op_type: attrInt(node, 'channels_last', 0) ? '' : 'GlobalAveragePool', input: [node.input[0]!] } });
    if (q === 'grid') return propagate({ ...c, node: { ...node, domain: '', op_type: attrInt(node, 'channels_last', 0) ? '' : 'AveragePool', input: [node.input[0]!] } });
  }
  switch (op) {
    case 'Reshape': case 'Flatten': case 'Squeeze': case 'Unsqueeze':
      return keep(x ? reshapeAxes(f, x, out0) : undefined);
    case 'Transpose': {
      if (!x) return keep(undefined);
      const perm = attrInts(node, 'perm') ?? x.map((_, k) => x.length - 1 - k);
      return keep(perm.map((p) => x[p]!));
    }
    case 'Expand': {
      if (!x) return keep(undefined);
      return keep(broadcastAxes(f, [{ labels: x, shape: c.inShapes[0] ?? [] }], out0));
    }
    case 'Tile': {
      if (!x) return keep(undefined);
      const reps = c.ints(1);
      return keep(x.map((a, k) => (reps && reps[k] === 1 ? a : f.unknown(out0[k]!))));
    }
    case 'Pad': {
      if (!x) return keep(undefined);
      const pads = c.ints(1);
      const r = x.length;
      let axes = c.ints(3)?.map((a) => normAxis(a, r));
      if (!axes) axes = x.map((_, k) => k);
      return keep(x.map((a, k) => {
        const j = axes!.indexOf(k);
        if (j < 0) return a;
        if (!pads) return f.unknown(out0[k]!);
        return pads[j] === 0 && pads[j + axes!.length] === 0 ? a : f.unknown(out0[k]!);
      }));
    }
    case 'Slice': return slice(c);
    case 'Split': return split(c);
    case 'Gather': return gather(c);
    case 'Concat': return concat(c);
    case 'MatMul': return matMul(c);
    case 'Gemm': return gemm(c);
    case 'Einsum': return einsum(c);
    case 'GlobalAveragePool': case 'GlobalMaxPool': case 'GlobalLpPool': {
      if (!x) return keep(undefined);
      const kinds = spatialKinds(x.length - 2);
      return { outputs: [x.map((a, k) => (k < 2 ? a : f.axis(kinds[k - 2]!, 1)))], effect: x.slice(2).some((a) => hasSpatial(a) && a.size > 1) ? 'mixes' : 'keeps' };
    }
  }
  if (REDUCE_OPS.has(op)) {
    if (!x) return keep(undefined);
    const r = x.length;
    let axes = attrInts(node, 'axes') ?? (node.input[1] ? c.ints(1) : undefined);
    const noop = attrInt(node, 'noop_with_empty_axes', 0);
    if (!axes || axes.length === 0) axes = noop ? [] : x.map((_, k) => k);
    const set = new Set(axes.map((a) => normAxis(a, r)));
    const keepdims = attrInt(node, 'keepdims', 1);
    const outputs = x.flatMap((a, k) => (!set.has(k) ? [a] : keepdims ? [f.unknown(1)] : []));
    if (outputs.length !== out0.length) return unknownOut();
    return { outputs: [outputs], effect: [...set].some((k) => x[k] && hasSpatial(x[k]!)) ? 'mixes' : 'keeps' };
  }
  if (GRID_OPS.has(op)) {
    if (!x || out0.length < 3) return unknownOut();
    const channelsKept = op !== 'Conv' && op !== 'ConvTranspose' && op !== 'ConvInteger' && op !== 'QLinearConv' && op !== 'DepthToSpace' && op !== 'SpaceToDepth';
    const kinds = spatialKinds(out0.length - 2);
    const outAxes: Axis[] = [x[0]!, channelsKept && x[1] && x[1].size === out0[1] ? x[1] : f.axis('C', out0[1]!), ...out0.slice(2).map((d, k) => f.axis(kinds[k]!, d))];
    const inGrid = (c.inShapes[0] ?? []).slice(2).reduce((a, v) => a * v, 1);
    const outGrid = out0.slice(2).reduce((a, v) => a * v, 1);
    const outputs: Labels[] = [outAxes, ...node.output.slice(1).map(() => undefined)];
    return { outputs, effect: outGrid === 1 && inGrid > 1 ? 'mixes' : 'keeps' };
  }
  // an op we do not know: shape-preserving ops keep their first input's labels
  if (x && sameShape(c.inShapes[0], out0) && node.output.length === 1) return keep(x);
  return unknownOut();
}

function sameShape(a: number[] | undefined, b: number[] | undefined): boolean {
  return !!a && !!b && a.length === b.length && a.every((d, k) => d === b[k]);
}
