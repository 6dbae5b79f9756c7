/**
 * Gelu (opset 20), emitted with standard ops only (Erf, Exp, Tanh), so the backward runs wherever the
 * forward does:
 * - approximate 'none': y = x·Φ(x), dx = dy · (Φ(x) + x·φ(x)), Φ(x) = (1 + erf(x/√2))/2, φ(x) = exp(−x²/2)/√(2π);
 * - approximate 'tanh': y = x/2·(1 + t), t = tanh(u), u = √(2/π)·(x + 0.044715x³),
 *   dx = dy · ((1 + t)/2 + x/2·(1 − t²)·√(2/π)·(1 + 3·0.044715x²)).
 */
import { attrString } from '../../onnx/model.js';
import { dy0, GradError, nodeLabel, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const x = node.input[0]!;
  const approximate = attrString(node, 'approximate', 'none');
  const s = (v: number) => b.scalar(v);
  let d: string;
  if (approximate === 'none') {
    const cdf = b.mul(b.op('Add', [b.op('Erf', [b.mul(x, s(Math.SQRT1_2))]), s(1)]), s(0.5));
    const pdf = b.mul(b.op('Exp', [b.mul(b.mul(x, x), s(-0.5))]), s(1 / Math.sqrt(2 * Math.PI)));
    d = b.op('Add', [cdf, b.mul(x, pdf)]);
  } else if (approximate === 'tanh') {
    const k = Math.sqrt(2 / Math.PI);
    const x2 = b.mul(x, x);
    const u = b.mul(b.mul(x, b.op('Add', [b.mul(x2, s(0.044715)), s(1)])), s(k));
    const t = b.op('Tanh', [u]);
    const du = b.mul(b.op('Add', [b.mul(x2, s(3 * 0.044715)), s(1)]), s(k));
    const half = b.mul(b.op('Add', [t, s(1)]), s(0.5));
    const sech2 = b.op('Sub', [s(1), b.mul(t, t)]);
    d = b.op('Add', [half, b.mul(b.mul(b.mul(x, s(0.5)), sech2), du)]);
  } else throw new GradError(`${nodeLabel(node)}: unknown approximate '${approximate}' (none, tanh)`);
  return [b.mul(dy0(ctx), d)];
};

export const gelu: OpGradient = { op: 'Gelu', rule, note: "approximate 'none', 'tanh'" };
