/** Dropout (inference): the gradient passes through unchanged. */
import { dy0, firstInputOnly, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => [dy0(ctx), null, null];

export const dropout: OpGradient = { op: 'Dropout', rule, differentiable: firstInputOnly };
