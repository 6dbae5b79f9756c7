/** PRelu: dx = dy · (x > 0 ? 1 : slope), slope broadcast as in the forward op. */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const x = node.input[0]!;
  let g = dy0(ctx);
  if (ctx.rectifier === 'deconvnet') return [b.op('Relu', [g]), null];
  if (ctx.rectifier === 'guided') g = b.op('Relu', [g]);
  const one = b.op('Add', [b.op('Mul', [node.input[1]!, b.scalar(0)]), b.scalar(1)]);
  const slope = b.op('Where', [b.op('Greater', [x, b.scalar(0)]), one, node.input[1]!]);
  return [b.mul(g, slope), null];
};

export const prelu: OpGradient = { op: 'PRelu', rule, rectifier: true };
