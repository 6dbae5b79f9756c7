/** Reshape, Flatten, Squeeze, Unsqueeze: reshape dy back to the input's run-time shape. */
import { dy0, firstInputOnly, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => [ctx.b.reshapeLike(dy0(ctx), ctx.node.input[0]!), ...ctx.node.input.slice(1).map(() => null)];

export const reshape: OpGradient = { op: 'Reshape', rule, differentiable: firstInputOnly };
export const flatten: OpGradient = { op: 'Flatten', rule, differentiable: firstInputOnly };
export const squeeze: OpGradient = { op: 'Squeeze', rule, differentiable: firstInputOnly };
export const unsqueeze: OpGradient = { op: 'Unsqueeze', rule, differentiable: firstInputOnly };
