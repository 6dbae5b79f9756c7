/** Log: dx = dy / x. */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => [ctx.b.op('Div', [dy0(ctx), ctx.node.input[0]!])];

export const log: OpGradient = { op: 'Log', rule };
