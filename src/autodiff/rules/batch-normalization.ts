/** BatchNormalization (inference form): dx = dy · scale / sqrt(var + ε), per channel. */
import { attrFloat } from '../../onnx/model.js';
import { floatTensor, tensorValues } from '../../onnx/tensor.js';
import { dy0, type GradRule, type OpGradient, firstInputOnly } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const rank = ctx.shape(node.input[0]!).length;
  const scale = ctx.constant(node.input[1]!);
  const variance = ctx.constant(node.input[4]!);
  const bcast = [-1, ...Array(Math.max(rank - 2, 0)).fill(1)];
  let factor: string;
  if (scale && variance) {
    const s = tensorValues(scale);
    const v = tensorValues(variance);
    // float32 arithmetic, as the forward kernel does it
    const f = new Float32Array(s.length);
    for (let c = 0; c < s.length; c++) f[c] = Math.fround(s[c]! / Math.fround(Math.sqrt(Math.fround(v[c]! + eps))));
    factor = b.constant(floatTensor(f, bcast.map((d) => (d === -1 ? s.length : d))), 'bn_factor');
  } else {
    const denom = b.op('Sqrt', [b.op('Add', [node.input[4]!, b.scalar(eps)])]);
    factor = b.op('Reshape', [b.op('Div', [node.input[1]!, denom]), b.ints(bcast)]);
  }
  return [b.mul(dy0(ctx), factor), null, null, null, null];
};

export const batchNormalization: OpGradient = { op: 'BatchNormalization', rule, differentiable: firstInputOnly };
