/** Reciprocal y = 1/x: dx = −dy · y². */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b } = ctx;
  const y = ctx.node.output[0]!;
  return [b.op('Neg', [b.mul(dy0(ctx), b.mul(y, y))])];
};

export const reciprocal: OpGradient = { op: 'Reciprocal', rule };
