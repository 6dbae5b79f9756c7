/**
 * Max and Min (element-wise, variadic, broadcasting): each operand gets dy where it equals the result,
 * divided by the number of operands that tie there (torch's maximum/minimum split ties equally), summed
 * back over its broadcast axes.
 */
import { dy0, type GradRule, type OpGradient } from '../rule.js';
import { unbroadcast } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const g = dy0(ctx);
  const y = node.output[0]!;
  const inputs = node.input;
  if (inputs.length === 1) return [g];
  const ys = ctx.shape(y);
  const masks = inputs.map((x) => b.op('Cast', [b.op('Equal', [x, y])], { to: 1 }));
  // the count of tied operands is ≥ 1 everywhere (the result is one of them)
  const share = b.op('Div', [g, b.sum(masks)]);
  return inputs.map((x, i) => (ctx.needs[i] ? unbroadcast(ctx, b.mul(share, masks[i]!), ys, ctx.shape(x), x) : null));
};

export const max: OpGradient = { op: 'Max', rule };
export const min: OpGradient = { op: 'Min', rule };
