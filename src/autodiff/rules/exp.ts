/** Exp: dx = dy · y. */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => [ctx.b.mul(dy0(ctx), ctx.node.output[0]!)];

export const exp: OpGradient = { op: 'Exp', rule };
