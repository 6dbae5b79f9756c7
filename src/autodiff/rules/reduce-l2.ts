/** ReduceL2 y = √Σx²: dx = dy · x / y, and 0 where y = 0 (as torch's norm backward). */
import { attrInt } from '../../onnx/model.js';
import { dy0, firstInputOnly, GradError, nodeLabel, type GradRule, type OpGradient } from '../rule.js';
import { reduceAxes } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const x = node.input[0]!;
  const axes = reduceAxes(ctx, ctx.shape(x).length);
  let g = dy0(ctx);
  let y = node.output[0]!;
  if (axes.length === 0) {
    // the specification makes this an identity, ORT 1.30 computes |x|: no single gradient is right
    throw new GradError(`${nodeLabel(node)}: ReduceL2 with noop_with_empty_axes and no axes is not supported (runtimes disagree on its value)`);
  }
  if (attrInt(node, 'keepdims', 1) === 0) {
    g = b.op('Unsqueeze', [g, b.ints(axes)]);
    y = b.op('Unsqueeze', [y, b.ints(axes)]);
  }
  const scaled = b.op('Where', [b.op('Equal', [y, b.scalar(0)]), b.scalar(0), b.op('Div', [g, y])]);
  return [b.mul(x, scaled), null];
};

export const reduceL2: OpGradient = { op: 'ReduceL2', rule, differentiable: firstInputOnly };
