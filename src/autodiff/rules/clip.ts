/**
 * Clip (ReLU6 and friends): dx = dy where min < x < max (torch's hardtanh backward), read from the
 * output. Treated as a rectifier for guided/deconvnet backprop when it clips at 0 from below.
 */
import { attrFloat } from '../../onnx/model.js';
import { tensorValues } from '../../onnx/tensor.js';
import { GradError, dy0, nodeLabel, type GradRule, type GradContext } from '../rule.js';

function bound(ctx: GradContext, index: number, attr: string, dflt: number): number {
  const n = ctx.node;
  if (ctx.opset < 11 || n.input.length <= index) return attrFloat(n, attr, dflt);
  const name = n.input[index];
  if (!name) return dflt;
  const t = ctx.constant(name);
  if (!t) throw new GradError(`${nodeLabel(n)}: its ${attr} bound must be a constant`);
  return tensorValues(t)[0]!;
}

export const clip: GradRule = (ctx) => {
  const { b } = ctx;
  const y = ctx.node.output[0]!;
  let g = dy0(ctx);
  const lo = bound(ctx, 1, 'min', -Infinity);
  const hi = bound(ctx, 2, 'max', Infinity);
  if (ctx.rectifier === 'deconvnet') return [b.op('Relu', [g])];
  if (ctx.rectifier === 'guided') g = b.op('Relu', [g]);
  if (lo === -Infinity && hi === Infinity) return [g];
  const mask = b.memo(`clip-mask:${y}`, () => {
    if (lo > -Infinity && hi < Infinity) {
      // y ∈ [lo, hi], so (y − lo)·(hi − y) > 0 exactly where lo < y < hi: one Sign instead of two
      // comparisons, And and Cast (cheaper on the wide activations of ReLU6 networks)
      const below = lo === 0 ? y : b.op('Sub', [y, b.scalar(lo)]);
      return b.op('Sign', [b.mul(below, b.op('Sub', [b.scalar(hi), y]))]);
    }
    const cond = lo > -Infinity ? b.op('Greater', [y, b.scalar(lo)]) : b.op('Less', [y, b.scalar(hi)]);
    return b.op('Cast', [cond], { to: 1 });
  });
  return [b.mul(g, mask)];
};
