/** GlobalAveragePool: dx = dy / (H·W), expanded over the spatial axes. */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const x = node.input[0]!;
  const count = ctx.shape(x).slice(2).reduce((a, v) => a * v, 1);
  return [b.op('Expand', [b.mul(dy0(ctx), b.scalar(1 / count)), b.shape(x)])];
};

export const globalAveragePool: OpGradient = { op: 'GlobalAveragePool', rule };
