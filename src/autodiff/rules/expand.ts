/** Expand: dy summed back over the broadcast axes. */
import { dy0, type GradRule, type OpGradient, firstInputOnly } from '../rule.js';
import { unbroadcast } from './util.js';

const rule: GradRule = (ctx) => {
  const x = ctx.node.input[0]!;
  return [unbroadcast(ctx, dy0(ctx), ctx.shape(ctx.node.output[0]!), ctx.shape(x), x), null];
};

export const expand: OpGradient = { op: 'Expand', rule, differentiable: firstInputOnly };
