/** Neg: dx = −dy. */
import { dy0, type GradRule } from '../rule.js';

export const neg: GradRule = (ctx) => [ctx.b.op('Neg', [dy0(ctx)])];
