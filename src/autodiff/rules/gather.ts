/**
 * Gather with constant indices: move the axis last, multiply by a one-hot selection matrix
 * S[k, D] (repeated indices add up), move it back. A scalar index first regains its axis.
 */
import { attrInt } from '../../onnx/model.js';
import { floatTensor, tensorValues } from '../../onnx/tensor.js';
import { dy0, GradError, nodeLabel, type GradRule, type OpGradient, firstInputOnly } from '../rule.js';
import { normAxis } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const xs = ctx.shape(node.input[0]!);
  const rank = xs.length;
  const axis = normAxis(attrInt(node, 'axis', 0), rank);
  const idxT = ctx.constant(node.input[1]!);
  if (!idxT) throw new GradError(`${nodeLabel(node)}: only constant indices can be differentiated`);
  if (idxT.dims.length > 1) throw new GradError(`${nodeLabel(node)}: indices of rank > 1 are not supported`);
  const D = xs[axis]!;
  const idx = tensorValues(idxT).map((i) => (i < 0 ? i + D : i));
  let g = dy0(ctx);
  if (idxT.dims.length === 0) g = b.op('Unsqueeze', [g, b.ints([axis])]);
  const S = new Float32Array(idx.length * D);
  idx.forEach((j, r) => (S[r * D + j] = 1));
  const perm = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis).concat([axis]);
  const inv = perm.map((_, i) => perm.indexOf(i));
  const moved = axis === rank - 1 ? g : b.op('Transpose', [g], { perm });
  const picked = b.op('MatMul', [moved, b.constant(floatTensor(S, [idx.length, D]), 'gather_onehot')]);
  return [axis === rank - 1 ? picked : b.op('Transpose', [picked], { perm: inv }), null];
};

export const gather: OpGradient = { op: 'Gather', rule, differentiable: firstInputOnly };
