/** Tanh: dx = dy · (1 − y²). */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b } = ctx;
  const y = ctx.node.output[0]!;
  return [b.mul(dy0(ctx), b.op('Sub', [b.scalar(1), b.mul(y, y)]))];
};

export const tanh: OpGradient = { op: 'Tanh', rule };
