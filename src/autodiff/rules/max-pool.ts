/**
 * MaxPool: the forward node is given its Indices output (flat positions into the input), and the
 * gradient is ScatterElements(reduction=add) of dy into zeros at those positions, which is exact for
 * overlapping windows (MaxUnpool is not). Needs opset ≥ 16 (the compiler upgrades older models).
 */
import { attrInt } from '../../onnx/model.js';
import { dy0, GradError, nodeLabel, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  if (attrInt(node, 'storage_order', 0) !== 0) throw new GradError(`${nodeLabel(node)}: column-major storage_order is not supported`);
  if (!node.output[1]) node.output[1] = b.fresh('maxpool_indices');
  const x = node.input[0]!;
  const flat = b.ints([-1]);
  const zeros = b.op('Reshape', [b.zerosLike(x), flat]);
  const idx = b.op('Reshape', [node.output[1], flat]);
  const upd = b.op('Reshape', [dy0(ctx), flat]);
  const scattered = b.op('ScatterElements', [zeros, idx, upd], { axis: 0, reduction: 'add' });
  return [b.reshapeLike(scattered, x)];
};

export const maxPool: OpGradient = { op: 'MaxPool', rule, note: 'row-major storage_order' };
