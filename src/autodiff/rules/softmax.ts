/** Softmax (opset ≥ 13 semantics, one axis): dx = y · (dy − Σ(dy·y)). */
import { attrInt } from '../../onnx/model.js';
import { dy0, type GradRule, type OpGradient } from '../rule.js';
import { normAxis } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const y = node.output[0]!;
  const axis = normAxis(attrInt(node, 'axis', -1), ctx.shape(y).length);
  const g = dy0(ctx);
  const s = b.op('ReduceSum', [b.mul(g, y), b.ints([axis])], { keepdims: 1 });
  return [b.mul(y, b.op('Sub', [g, s]))];
};

export const softmax: OpGradient = { op: 'Softmax', rule };
