/** Abs: dx = dy · sign(x) (0 at x = 0, as torch). */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => [ctx.b.mul(dy0(ctx), ctx.b.op('Sign', [ctx.node.input[0]!]))];

export const abs: OpGradient = { op: 'Abs', rule };
