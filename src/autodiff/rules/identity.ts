/** Identity, Dropout (inference) and float-to-float Cast pass the gradient through unchanged. */
import { dy0, type GradRule } from '../rule.js';

export const identity: GradRule = (ctx) => [dy0(ctx)];
