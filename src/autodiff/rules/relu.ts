/**
 * Relu: dx = dy · [x > 0]. The mask is read from the forward *output* (y > 0 ⇔ x > 0) so ORT can keep
 * its Conv+Relu fusion; it is built once and shared when several backward chains need it. Guided: Relu(dy) · mask; deconvnet: Relu(dy).
 */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b } = ctx;
  const y = ctx.node.output[0]!;
  const g = dy0(ctx);
  if (ctx.rectifier === 'deconvnet') return [b.op('Relu', [g])];
  // Cast(y > 0): in ORT's CPU kernels a comparison and a cast cost about a third of one Sign
  const mask = b.memo(`relu-mask:${y}`, () => b.op('Cast', [b.op('Greater', [y, b.scalar(0)])], { to: 1 }));
  return [b.mul(ctx.rectifier === 'guided' ? b.op('Relu', [g]) : g, mask)];
};

export const relu: OpGradient = { op: 'Relu', rule, rectifier: true };
