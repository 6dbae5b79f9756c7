/**
 * GatherElements: dx = ScatterElements(zeros, indices, dy, reduction = add) along the same axis, with the
 * run-time indices (constant or computed; negative ones count from the end; repeated ones add up).
 */
import { attrInt } from '../../onnx/model.js';
import { dy0, firstInputOnly, type GradRule, type OpGradient } from '../rule.js';
import { normAxis } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const x = node.input[0]!;
  const axis = normAxis(attrInt(node, 'axis', 0), ctx.shape(x).length);
  return [b.op('ScatterElements', [b.zerosLike(x), node.input[1]!, dy0(ctx)], { axis, reduction: 'add' }), null];
};

export const gatherElements: OpGradient = { op: 'GatherElements', rule, differentiable: firstInputOnly };
