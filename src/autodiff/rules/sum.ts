/** Sum (variadic, broadcasting): every operand gets dy summed over its broadcast axes. */
import { type GradRule, type OpGradient } from '../rule.js';
import { unbroadcast } from './util.js';

const rule: GradRule = (ctx) => {
  const g = ctx.dy[0]!;
  const outShape = ctx.shape(ctx.node.output[0]!);
  return ctx.node.input.map((x, i) => (ctx.needs[i] ? unbroadcast(ctx, g, outShape, ctx.shape(x), x) : null));
};

export const sum: OpGradient = { op: 'Sum', rule };
