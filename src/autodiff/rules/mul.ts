/** Mul (broadcasting; squeeze-excite, SiLU = x·σ(x)): dA = dy·B, dB = dy·A, each unbroadcast. */
import { type GradRule, type OpGradient } from '../rule.js';
import { unbroadcast } from './util.js';

const rule: GradRule = (ctx) => {
  const { node, b } = ctx;
  const g = ctx.dy[0]!;
  const [a, c] = [node.input[0]!, node.input[1]!];
  const outShape = ctx.shape(node.output[0]!);
  return [
    ctx.needs[0] ? unbroadcast(ctx, b.mul(g, c), outShape, ctx.shape(a), a) : null,
    ctx.needs[1] ? unbroadcast(ctx, b.mul(g, a), outShape, ctx.shape(c), c) : null,
  ];
};

export const mul: OpGradient = { op: 'Mul', rule };
