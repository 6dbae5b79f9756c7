/**
 * Reshape, Flatten, Squeeze, Unsqueeze: reshape dy back to the input's run-time shape. Flatten at axis 1
 * (the classifier head's) reshapes to [0, d1, d2...] instead, a constant that keeps the batch axis
 * (0: copied) and lets onnxruntime's shape inference know every backward tensor's shape after it.
 */
import { attrInt } from '../../onnx/model.js';
import { dy0, firstInputOnly, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => [ctx.b.reshapeLike(dy0(ctx), ctx.node.input[0]!), ...ctx.node.input.slice(1).map(() => null)];

const flattenRule: GradRule = (ctx) => {
  const x = ctx.node.input[0]!;
  const xs = ctx.shape(x);
  if (attrInt(ctx.node, 'axis', 1) !== 1 || xs.length < 2 || xs.slice(1).some((d) => !(d > 0))) return rule(ctx);
  return [ctx.b.op('Reshape', [dy0(ctx), ctx.b.ints([0, ...xs.slice(1)])])];
};

export const reshape: OpGradient = { op: 'Reshape', rule, differentiable: firstInputOnly };
export const flatten: OpGradient = { op: 'Flatten', rule: flattenRule, differentiable: firstInputOnly };
export const squeeze: OpGradient = { op: 'Squeeze', rule, differentiable: firstInputOnly };
export const unsqueeze: OpGradient = { op: 'Unsqueeze', rule, differentiable: firstInputOnly };
