/** ReduceSum and ReduceMean: dy (regaining the reduced axes) expanded to the input's shape, ÷ count for mean. */
import { attrInt } from '../../onnx/model.js';
import { dy0, firstInputOnly, type GradRule, type OpGradient } from '../rule.js';
import { reduceAxes } from './util.js';

function reduceRule(mean: boolean): GradRule {
  return (ctx) => {
    const { b, node } = ctx;
    const x = node.input[0]!;
    const xs = ctx.shape(x);
    const axes = reduceAxes(ctx, xs.length);
    let g = dy0(ctx);
    if (axes.length === 0) return [g, null]; // noop_with_empty_axes
    if (attrInt(node, 'keepdims', 1) === 0) g = b.op('Unsqueeze', [g, b.ints(axes)]);
    if (mean) g = b.mul(g, b.scalar(1 / axes.reduce((a, i) => a * xs[i]!, 1)));
    return [b.op('Expand', [g, b.shape(x)]), null];
  };
}

export const reduceSum: OpGradient = { op: 'ReduceSum', rule: reduceRule(false), differentiable: firstInputOnly };
export const reduceMean: OpGradient = { op: 'ReduceMean', rule: reduceRule(true), differentiable: firstInputOnly };
