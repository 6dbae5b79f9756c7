/** Where(cond, X, Y) (broadcasting): dX = dy where cond, dY = dy elsewhere, each summed back over its broadcast axes; cond has none. */
import { dy0, type GradRule, type OpGradient } from '../rule.js';
import { unbroadcast } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const g = dy0(ctx);
  const [cond, x, y] = [node.input[0]!, node.input[1]!, node.input[2]!];
  const ys = ctx.shape(node.output[0]!);
  const zero = b.scalar(0);
  const dx = ctx.needs[1] ? unbroadcast(ctx, b.op('Where', [cond, g, zero]), ys, ctx.shape(x), x) : null;
  const dyy = ctx.needs[2] ? unbroadcast(ctx, b.op('Where', [cond, zero, g]), ys, ctx.shape(y), y) : null;
  return [null, dx, dyy];
};

export const where: OpGradient = { op: 'Where', rule, differentiable: (n) => n.input.map((_, k) => k > 0) };
