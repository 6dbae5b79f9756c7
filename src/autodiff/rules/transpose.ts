/** Transpose: transpose dy by the inverse permutation. */
import { attrInts } from '../../onnx/model.js';
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const rank = ctx.shape(ctx.node.input[0]!).length;
  const perm = attrInts(ctx.node, 'perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const inv = perm.map((_, i) => perm.indexOf(i));
  return [ctx.b.op('Transpose', [dy0(ctx)], { perm: inv })];
};

export const transpose: OpGradient = { op: 'Transpose', rule };
