/** Concat: Split dy along the axis into the inputs' static sizes. */
import { attrInt } from '../../onnx/model.js';
import { dy0, type GradRule, type OpGradient } from '../rule.js';
import { normAxis } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const rank = ctx.shape(node.output[0]!).length;
  const axis = normAxis(attrInt(node, 'axis', 0), rank);
  const sizes = node.input.map((x) => ctx.shape(x)[axis]!);
  const parts = b.opN('Split', [dy0(ctx), b.ints(sizes)], { axis }, node.input.length);
  return parts.map((p, i) => (ctx.needs[i] ? p : null));
};

export const concat: OpGradient = { op: 'Concat', rule };
