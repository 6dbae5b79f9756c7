/**
 * ReduceMax and ReduceMin: dy goes to the positions equal to the result, shared equally among ties
 * (as torch.amax / amin): dx = dy · [x = y] / count(x = y) over the reduced axes.
 */
import { attrInt } from '../../onnx/model.js';
import { dy0, firstInputOnly, type GradRule, type OpGradient } from '../rule.js';
import { reduceAxes, reduceOver } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const x = node.input[0]!;
  const axes = reduceAxes(ctx, ctx.shape(x).length);
  let g = dy0(ctx);
  if (axes.length === 0) return [g, null]; // noop_with_empty_axes
  let y = node.output[0]!;
  if (attrInt(node, 'keepdims', 1) === 0) {
    g = b.op('Unsqueeze', [g, b.ints(axes)]);
    y = b.op('Unsqueeze', [y, b.ints(axes)]);
  }
  const mask = b.op('Cast', [b.op('Equal', [x, y])], { to: 1 });
  const count = reduceOver(ctx, 'ReduceSum', mask, axes);
  return [b.mul(mask, b.op('Div', [g, count])), null];
};

export const reduceMax: OpGradient = { op: 'ReduceMax', rule, differentiable: firstInputOnly };
export const reduceMin: OpGradient = { op: 'ReduceMin', rule, differentiable: firstInputOnly };
