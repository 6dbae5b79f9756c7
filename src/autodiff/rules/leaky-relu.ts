/** LeakyRelu: dx = dy · (x > 0 ? 1 : alpha). */
import { attrFloat } from '../../onnx/model.js';
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const alpha = attrFloat(node, 'alpha', 0.01);
  const x = node.input[0]!;
  let g = dy0(ctx);
  if (ctx.rectifier === 'deconvnet') return [b.op('Relu', [g])];
  if (ctx.rectifier === 'guided') g = b.op('Relu', [g]);
  const slope = b.op('Where', [b.op('Greater', [x, b.scalar(0)]), b.scalar(1), b.scalar(alpha)]);
  return [b.mul(g, slope)];
};

export const leakyRelu: OpGradient = { op: 'LeakyRelu', rule, rectifier: true };
