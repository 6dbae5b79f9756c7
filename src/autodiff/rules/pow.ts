/**
 * Pow y = xᵉ (broadcasting), as torch's pow backward:
 * - d/dx = dy · e · x^(e−1), and 0 where e = 0 (so 0⁰ has no NaN gradient); constant exponents take
 *   short forms (e = 1: dy; e = 2: 2x·dy; e = 0.5: dy/(2y));
 * - d/de = dy · y · ln(x), and 0 where x = 0 and e ≥ 0.
 * Each is summed back over its operand's broadcast axes.
 */
import { tensorValues } from '../../onnx/tensor.js';
import { dy0, type GradContext, type GradRule, type OpGradient } from '../rule.js';
import { unbroadcast } from './util.js';

function baseGrad(ctx: GradContext, g: string): string {
  const { b, node } = ctx;
  const [x, e] = [node.input[0]!, node.input[1]!];
  const c = ctx.graphConstant(e);
  if (c && c.data.length === 1) {
    const v = tensorValues(c)[0]!;
    if (v === 0) return b.zerosLike(g);
    if (v === 1) return g;
    if (v === 2) return b.mul(g, b.mul(x, b.scalar(2)));
    if (v === 0.5) return b.op('Div', [b.mul(g, b.scalar(0.5)), node.output[0]!]);
    return b.mul(g, b.mul(b.op('Pow', [x, b.scalar(v - 1)]), b.scalar(v)));
  }
  const ef = c ? b.floats(Float32Array.from(tensorValues(c)), c.dims, 'pow_exponent') : b.op('Cast', [e], { to: 1 });
  const d = b.mul(b.op('Pow', [x, b.op('Sub', [ef, b.scalar(1)])]), ef);
  return b.mul(g, b.op('Where', [b.op('Equal', [ef, b.scalar(0)]), b.scalar(0), d]));
}

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const g = dy0(ctx);
  const [x, e] = [node.input[0]!, node.input[1]!];
  const y = node.output[0]!;
  const ys = ctx.shape(y);
  const dx = ctx.needs[0] ? unbroadcast(ctx, baseGrad(ctx, g), ys, ctx.shape(x), x) : null;
  let de: string | null = null;
  if (ctx.needs[1]) {
    const raw = b.mul(g, b.mul(y, b.op('Log', [x])));
    const zero = b.op('And', [b.op('Equal', [x, b.scalar(0)]), b.op('GreaterOrEqual', [e, b.scalar(0)])]);
    de = unbroadcast(ctx, b.op('Where', [zero, b.scalar(0), raw]), ys, ctx.shape(e), e);
  }
  return [dx, de];
};

export const pow: OpGradient = { op: 'Pow', rule };
