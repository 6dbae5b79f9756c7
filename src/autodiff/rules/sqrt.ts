/** Sqrt: dx = dy · 0.5 / y (infinite at x = 0, as torch). */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b } = ctx;
  return [b.op('Div', [b.mul(dy0(ctx), b.scalar(0.5)), ctx.node.output[0]!])];
};

export const sqrt: OpGradient = { op: 'Sqrt', rule };
