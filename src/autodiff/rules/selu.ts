/** Selu y = γ·x if x > 0 else γ·α(eˣ − 1): dx = dy · (γ if x > 0 else y + γ·α). */
import { attrFloat } from '../../onnx/model.js';
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const alpha = attrFloat(node, 'alpha', 1.67326319217681884765625);
  const gamma = attrFloat(node, 'gamma', 1.05070102214813232421875);
  const slope = b.op('Where', [b.op('Greater', [node.input[0]!, b.scalar(0)]), b.scalar(gamma), b.op('Add', [node.output[0]!, b.scalar(gamma * alpha)])]);
  return [b.mul(dy0(ctx), slope)];
};

export const selu: OpGradient = { op: 'Selu', rule };
