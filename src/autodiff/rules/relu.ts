/**
 * Relu: dx = dy · [x > 0]. The mask is read from the forward *output* (y > 0 ⇔ x > 0) so ORT can keep
 * its Conv+Relu fusion. Guided: Relu(dy) · mask; deconvnet: Relu(dy).
 */
import { dy0, type GradRule } from '../rule.js';

export const relu: GradRule = (ctx) => {
  const { b } = ctx;
  const y = ctx.node.output[0]!;
  const g = dy0(ctx);
  if (ctx.rectifier === 'deconvnet') return [b.op('Relu', [g])];
  const mask = b.memo(`relu-mask:${y}`, () => b.op('Sign', [y])); // y ≥ 0, so Sign(y) is exactly the 0/1 mask
  return [b.mul(ctx.rectifier === 'guided' ? b.op('Relu', [g]) : g, mask)];
};
