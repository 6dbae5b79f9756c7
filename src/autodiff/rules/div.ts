/** Div (broadcasting): dA = dy / B, dB = −dy · Y / B, each unbroadcast. */
import { type GradRule, type OpGradient } from '../rule.js';
import { unbroadcast } from './util.js';

const rule: GradRule = (ctx) => {
  const { node, b } = ctx;
  const g = ctx.dy[0]!;
  const [a, c] = [node.input[0]!, node.input[1]!];
  const y = node.output[0]!;
  const outShape = ctx.shape(y);
  const gb = () => b.op('Neg', [b.op('Div', [b.mul(g, y), c])]);
  return [
    ctx.needs[0] ? unbroadcast(ctx, b.op('Div', [g, c]), outShape, ctx.shape(a), a) : null,
    ctx.needs[1] ? unbroadcast(ctx, gb(), outShape, ctx.shape(c), c) : null,
  ];
};

export const div: OpGradient = { op: 'Div', rule };
