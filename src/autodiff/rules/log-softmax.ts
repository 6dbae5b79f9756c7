/** LogSoftmax (opset ≥ 13 semantics): dx = dy − exp(y) · Σ dy. */
import { attrInt } from '../../onnx/model.js';
import { dy0, type GradRule, type OpGradient } from '../rule.js';
import { normAxis } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const y = node.output[0]!;
  const axis = normAxis(attrInt(node, 'axis', -1), ctx.shape(y).length);
  const g = dy0(ctx);
  const s = b.op('ReduceSum', [g, b.ints([axis])], { keepdims: 1 });
  return [b.op('Sub', [g, b.mul(b.op('Exp', [y]), s)])];
};

export const logSoftmax: OpGradient = { op: 'LogSoftmax', rule };
