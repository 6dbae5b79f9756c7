/** Tile (constant repeats): view dy as [r0, d0, r1, d1, ...] and sum over the repeat axes. */
import { tensorValues } from '../../onnx/tensor.js';
import { dy0, requireConstant, type GradRule, type OpGradient, firstInputOnly } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const xs = ctx.shape(node.input[0]!);
  const repeats = tensorValues(requireConstant(ctx, 1, 'repeats'));
  const shape: number[] = [];
  const axes: number[] = [];
  xs.forEach((d, i) => {
    if (repeats[i] !== 1) { axes.push(shape.length); shape.push(repeats[i]!); }
    shape.push(i === 0 && repeats[0] === 1 ? -1 : d);
  });
  if (axes.length === 0) return [dy0(ctx), null];
  const viewed = b.op('Reshape', [dy0(ctx), b.ints(shape)]);
  return [b.op('ReduceSum', [viewed, b.ints(axes)], { keepdims: 0 }), null];
};

export const tile: OpGradient = { op: 'Tile', rule, differentiable: firstInputOnly, note: 'constant repeats' };
