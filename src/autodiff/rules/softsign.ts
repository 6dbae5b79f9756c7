/** Softsign y = x/(1 + |x|): dx = dy / (1 + |x|)². */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b } = ctx;
  const den = b.op('Add', [b.op('Abs', [ctx.node.input[0]!]), b.scalar(1)]);
  return [b.op('Div', [dy0(ctx), b.mul(den, den)])];
};

export const softsign: OpGradient = { op: 'Softsign', rule };
