/** Neg: dx = −dy. */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => [ctx.b.op('Neg', [dy0(ctx)])];

export const neg: OpGradient = { op: 'Neg', rule };
