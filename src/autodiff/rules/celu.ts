/** Celu y = max(0, x) + min(0, α(exp(x/α) − 1)): dx = dy · (1 if x > 0 else exp(x/α)). */
import { attrFloat } from '../../onnx/model.js';
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const alpha = attrFloat(node, 'alpha', 1);
  const x = node.input[0]!;
  const slope = b.op('Where', [b.op('Greater', [x, b.scalar(0)]), b.scalar(1), b.op('Exp', [b.mul(x, b.scalar(1 / alpha))])]);
  return [b.mul(dy0(ctx), slope)];
};

export const celu: OpGradient = { op: 'Celu', rule };
