/** Identity and Cast (float to float) pass the gradient through unchanged. */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => [dy0(ctx)];

export const identity: OpGradient = { op: 'Identity', rule };
export const cast: OpGradient = { op: 'Cast', rule };
