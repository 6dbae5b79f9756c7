/**
 * GlobalAveragePool: dx = dy / (H·W), broadcast over the spatial axes. Written as one Mul of dy
 * [N, C, 1, 1] by a constant [1, 1, H, W] of 1/(H·W) (the same values as Expand(dy · 1/(H·W))), so
 * that onnxruntime's shape inference knows dx's shape: without it every backward tensor after this
 * one has unknown dims, and ORT's NCHWc pass cannot prove two gradients the same shape (it then
 * reorders them to NCHW to add them instead of fusing the sum into the backward Conv).
 */
import { floatTensor } from '../../onnx/tensor.js';
import { dy0, type GradRule, type OpGradient } from '../rule.js';

/** Above this many spatial positions the constant is not worth its bytes: Expand instead. */
const MAX_CONSTANT = 1 << 16;

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const x = node.input[0]!;
  const spatial = ctx.shape(x).slice(2);
  const count = spatial.reduce((a, v) => a * v, 1);
  if (count > MAX_CONSTANT) return [b.op('Expand', [b.mul(dy0(ctx), b.scalar(1 / count)), b.shape(x)])];
  const scale = b.memo(`gap-scale:${spatial.join('x')}`, () => b.constant(floatTensor(new Float32Array(count).fill(1 / count), [1, 1, ...spatial]), 'gap_scale'));
  return [b.mul(dy0(ctx), scale)];
};

export const globalAveragePool: OpGradient = { op: 'GlobalAveragePool', rule };
