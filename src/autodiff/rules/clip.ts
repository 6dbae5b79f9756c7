/**
 * Clip (ReLU6 and friends): dx = dy where min < x < max (torch's hardtanh backward), read from the
 * output. Treated as a rectifier for guided/deconvnet backprop when it clips at 0 from below.
 */
import { attrFloat } from '../../onnx/model.js';
import { tensorValues } from '../../onnx/tensor.js';
import { GradError, dy0, nodeLabel, type GradRule, type GradContext, type OpGradient, firstInputOnly } from '../rule.js';

function bound(ctx: GradContext, index: number, attr: string, dflt: number): number {
  const n = ctx.node;
  if (ctx.opset < 11 || n.input.length <= index) return attrFloat(n, attr, dflt);
  const name = n.input[index];
  if (!name) return dflt;
  const t = ctx.constant(name);
  if (!t) throw new GradError(`${nodeLabel(n)}: its ${attr} bound must be a constant`);
  return tensorValues(t)[0]!;
}

const rule: GradRule = (ctx) => {
  const { b } = ctx;
  const y = ctx.node.output[0]!;
  let g = dy0(ctx);
  const lo = bound(ctx, 1, 'min', -Infinity);
  const hi = bound(ctx, 2, 'max', Infinity);
  if (ctx.rectifier === 'deconvnet') return [b.op('Relu', [g])];
  if (ctx.rectifier === 'guided') g = b.op('Relu', [g]);
  if (lo === -Infinity && hi === Infinity) return [g];
  const mask = b.memo(`clip-mask:${y}`, () => {
    // comparisons, And and Cast: each far cheaper in ORT's CPU kernels than Sign or Where
    const conds: string[] = [];
    if (lo > -Infinity) conds.push(b.op('Greater', [y, b.scalar(lo)]));
    if (hi < Infinity) conds.push(b.op('Less', [y, b.scalar(hi)]));
    return b.op('Cast', [conds.length === 2 ? b.op('And', conds) : conds[0]!], { to: 1 });
  });
  return [b.mul(g, mask)];
};

export const clip: OpGradient = { op: 'Clip', rule, rectifier: true, differentiable: firstInputOnly };
