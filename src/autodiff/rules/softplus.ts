/** Softplus: dx = dy · σ(x). */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => [ctx.b.mul(dy0(ctx), ctx.b.op('Sigmoid', [ctx.node.input[0]!]))];

export const softplus: OpGradient = { op: 'Softplus', rule };
