/** Reshape, Flatten, Squeeze, Unsqueeze: reshape dy back to the input's run-time shape. */
import { dy0, type GradRule } from '../rule.js';

export const reshape: GradRule = (ctx) => [ctx.b.reshapeLike(dy0(ctx), ctx.node.input[0]!), ...ctx.node.input.slice(1).map(() => null)];
