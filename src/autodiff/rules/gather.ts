/**
 * Gather (indices of any rank; negative indices count from the end; repeated ones add up). The
 * output is x's shape with the axis replaced by the indices' shape.
 * - Constant indices: dy's index axes are flattened into one of size K, moved last and multiplied by a
 *   one-hot selection matrix S[K, D], then moved back.
 * - Computed indices (their values may depend on the data): ScatterND(reduction = add) of dy, with its
 *   index axes moved first, into zeros with the gathered axis first, at the run-time indices.
 */
import { attrInt } from '../../onnx/model.js';
import { floatTensor, int64Tensor, tensorValues } from '../../onnx/tensor.js';
import { dy0, firstInputOnly, GradError, nodeLabel, type GradContext, type GradRule, type OpGradient } from '../rule.js';
import { normAxis } from './util.js';

const range = (a: number, b: number) => Array.from({ length: Math.max(b - a, 0) }, (_, i) => a + i);
const inverse = (perm: number[]) => perm.map((_, i) => perm.indexOf(i));

function constantIndices(ctx: GradContext, xs: number[], axis: number, idx: number[], idxRank: number): string {
  const { b } = ctx;
  const rank = xs.length;
  const D = xs[axis]!;
  let g = dy0(ctx);
  if (idxRank === 0) g = b.op('Unsqueeze', [g, b.ints([axis])]);
  // [pre..., K, post...]: pre copied (it holds the batch axis), post static
  else if (idxRank > 1) g = b.op('Reshape', [g, b.ints([...Array(axis).fill(0), idx.length, ...xs.slice(axis + 1)])]);
  const S = new Float32Array(idx.length * D);
  idx.forEach((j, r) => (S[r * D + j] = 1));
  const perm = range(0, rank).filter((i) => i !== axis).concat([axis]);
  const moved = axis === rank - 1 ? g : b.op('Transpose', [g], { perm });
  const picked = b.op('MatMul', [moved, b.constant(floatTensor(S, [idx.length, D]), 'gather_onehot')]);
  return axis === rank - 1 ? picked : b.op('Transpose', [picked], { perm: inverse(perm) });
}

function computedIndices(ctx: GradContext, x: string, rank: number, axis: number, idxRank: number): string {
  const { b, node } = ctx;
  // indices as int64 [..., 1], negative ones made positive with the axis' run-time size
  const idx = b.op('Unsqueeze', [b.op('Cast', [node.input[1]!], { to: 7 }), b.ints([-1])]);
  const size = b.op('Shape', [x], { start: axis, end: axis + 1 });
  const positive = b.op('Where', [b.op('Less', [idx, b.ints([0])]), b.op('Add', [idx, size]), idx]);
  // zeros with the axis first; dy with its index axes first: ScatterND(data, idx, updates) adds
  // updates[i..., rest...] into data[idx[i...], rest...]
  const dataPerm = [axis, ...range(0, axis), ...range(axis + 1, rank)];
  const zeros = b.op('ConstantOfShape', [b.op('Gather', [b.shape(x), b.constant(int64Tensor(dataPerm), 'perm')])], { value: floatTensor([0], [1]) });
  const yRank = rank - 1 + idxRank;
  const updPerm = [...range(axis, axis + idxRank), ...range(0, axis), ...range(axis + idxRank, yRank)];
  const isId = (p: number[]) => p.every((v, i) => v === i);
  const updates = isId(updPerm) ? dy0(ctx) : b.op('Transpose', [dy0(ctx)], { perm: updPerm });
  const scattered = b.op('ScatterND', [zeros, positive, updates], { reduction: 'add' });
  return isId(dataPerm) ? scattered : b.op('Transpose', [scattered], { perm: inverse(dataPerm) });
}

const rule: GradRule = (ctx) => {
  const { node } = ctx;
  const x = node.input[0]!;
  const xs = ctx.shape(x);
  const rank = xs.length;
  const axis = normAxis(attrInt(node, 'axis', 0), rank);
  const idxRank = ctx.shape(node.output[0]!).length - rank + 1;
  const idxT = ctx.graphConstant(node.input[1]!);
  if (!idxT) return [computedIndices(ctx, x, rank, axis, idxRank), null];
  if (idxT.dims.length !== idxRank) throw new GradError(`${nodeLabel(node)}: its indices have rank ${idxT.dims.length} but its output implies ${idxRank}`);
  const D = xs[axis]!;
  const idx = tensorValues(idxT).map((i) => (i < 0 ? i + D : i));
  if (idx.some((i) => i < 0 || i >= D)) throw new GradError(`${nodeLabel(node)}: an index is out of range for axis ${axis} of size ${D}`);
  return [constantIndices(ctx, xs, axis, idx, idxRank), null];
};

export const gather: OpGradient = { op: 'Gather', rule, differentiable: firstInputOnly };
