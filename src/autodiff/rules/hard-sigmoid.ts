/** HardSigmoid y = max(0, min(1, αx + β)): dx = dy · α where 0 < αx + β < 1. */
import { attrFloat } from '../../onnx/model.js';
import { dy0, type GradRule, type OpGradient } from '../rule.js';
import { maskWhere } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const alpha = attrFloat(node, 'alpha', 0.2);
  const beta = attrFloat(node, 'beta', 0.5);
  const z = b.op('Add', [b.mul(node.input[0]!, b.scalar(alpha)), b.scalar(beta)]);
  const inside = b.op('And', [b.op('Greater', [z, b.scalar(0)]), b.op('Less', [z, b.scalar(1)])]);
  return [maskWhere(ctx, b.mul(dy0(ctx), b.scalar(alpha)), inside)];
};

export const hardSigmoid: OpGradient = { op: 'HardSigmoid', rule };
