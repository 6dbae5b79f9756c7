/** Sigmoid: dx = dy · y · (1 − y). */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b } = ctx;
  const y = ctx.node.output[0]!;
  return [b.mul(dy0(ctx), b.mul(y, b.op('Sub', [b.scalar(1), y])))];
};

export const sigmoid: OpGradient = { op: 'Sigmoid', rule };
