/** Softplus: dx = dy · σ(x). */
import { dy0, type GradRule } from '../rule.js';

export const softplus: GradRule = (ctx) => [ctx.b.mul(dy0(ctx), ctx.b.op('Sigmoid', [ctx.node.input[0]!]))];
