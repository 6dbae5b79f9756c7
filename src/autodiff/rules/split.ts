/** Split: Concat the outputs' gradients along the axis (zeros for outputs no gradient reaches). */
import { attrInt } from '../../onnx/model.js';
import { type GradRule, type OpGradient, firstInputOnly } from '../rule.js';
import { normAxis } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const rank = ctx.shape(node.input[0]!).length;
  const axis = normAxis(attrInt(node, 'axis', 0), rank);
  const parts = node.output.map((y, i) => ctx.dy[i] ?? b.zerosLike(y));
  return [b.op('Concat', parts, { axis }), null];
};

export const split: OpGradient = { op: 'Split', rule, differentiable: firstInputOnly };
