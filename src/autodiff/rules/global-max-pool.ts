/**
 * GlobalMaxPool: rewritten in place as a MaxPool whose window is the whole plane, so that the gradient
 * goes to the arg-max position only (as torch routes it), via the MaxPool rule's Indices.
 */
import { setAttr } from '../../onnx/model.js';
import { type GradRule, type OpGradient } from '../rule.js';
import { maxPool } from './max-pool.js';

const rule: GradRule = (ctx) => {
  const node = ctx.node;
  node.op_type = 'MaxPool';
  setAttr(node, 'kernel_shape', ctx.shape(node.input[0]!).slice(2));
  return maxPool.rule(ctx);
};

export const globalMaxPool: OpGradient = { op: 'GlobalMaxPool', rule };
