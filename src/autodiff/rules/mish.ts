/** Mish y = x·tanh(softplus(x)): dx = dy · (t + x·(1 − t²)·σ(x)), t = tanh(softplus(x)). */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b } = ctx;
  const x = ctx.node.input[0]!;
  const t = b.op('Tanh', [b.op('Softplus', [x])]);
  const sech2 = b.op('Sub', [b.scalar(1), b.mul(t, t)]);
  const d = b.op('Add', [t, b.mul(b.mul(x, sech2), b.op('Sigmoid', [x]))]);
  return [b.mul(dy0(ctx), d)];
};

export const mish: OpGradient = { op: 'Mish', rule };
