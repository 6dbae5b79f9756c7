/** Elu y = x if x > 0 else α(eˣ − 1): dx = dy · (1 if x > 0 else y + α), as torch. */
import { attrFloat } from '../../onnx/model.js';
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const alpha = attrFloat(node, 'alpha', 1);
  const slope = b.op('Where', [b.op('Greater', [node.input[0]!, b.scalar(0)]), b.scalar(1), b.op('Add', [node.output[0]!, b.scalar(alpha)])]);
  return [b.mul(dy0(ctx), slope)];
};

export const elu: OpGradient = { op: 'Elu', rule };
