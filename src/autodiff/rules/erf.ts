/** Erf: dx = dy · 2/√π · exp(−x²). */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b } = ctx;
  const x = ctx.node.input[0]!;
  const e = b.op('Exp', [b.op('Neg', [b.mul(x, x)])]);
  return [b.mul(dy0(ctx), b.mul(e, b.scalar(2 / Math.sqrt(Math.PI))))];
};

export const erf: OpGradient = { op: 'Erf', rule };
