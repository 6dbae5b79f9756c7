/**
 * ConvTranspose: its adjoint is a Conv with the same weight, strides, dilations and group, with the
 * pads that crop the transposed output (output_padding rows only receive, so they drop out).
 */
import { attrInt, attrInts, attrString } from '../../onnx/model.js';
import { dy0, GradError, nodeLabel, type GradRule, type OpGradient, firstInputOnly } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  if (!ctx.needs[0]) return node.input.map(() => null);
  if (ctx.needs[1]) throw new GradError(`${nodeLabel(node)}: gradients through a computed (non-constant) weight are not supported`);
  const xs = ctx.shape(node.input[0]!);
  const ys = ctx.shape(node.output[0]!);
  const w = ctx.constant(node.input[1]!);
  const kernel = (w ? w.dims : ctx.shape(node.input[1]!)).slice(2);
  const k = kernel.length;
  const strides = attrInts(node, 'strides') ?? Array(k).fill(1);
  const dilations = attrInts(node, 'dilations') ?? Array(k).fill(1);
  const outputPadding = attrInts(node, 'output_padding') ?? Array(k).fill(0);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  let pads = attrInts(node, 'pads') ?? Array(2 * k).fill(0);
  if (attrInts(node, 'output_shape') || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    // total padding from the actual output size; the split follows the ONNX specification
    pads = Array(2 * k).fill(0);
    for (let i = 0; i < k; i++) {
      const total = strides[i]! * (xs[2 + i]! - 1) + outputPadding[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - ys[2 + i]!;
      const half = Math.floor(total / 2);
      if (autoPad === 'SAME_UPPER') { pads[i] = half; pads[i + k] = total - half; }
      else { pads[i] = total - half; pads[i + k] = half; }
    }
  }
  // The forward output has `outputPadding` extra trailing rows beyond the cropped full result; Conv needs
  // its input to be exactly covered, which a trailing pad of −outputPadding would express. Since those
  // rows lie past the last full window, the Conv simply ignores them by the floor in its output size.
  const dx = b.op('Conv', [dy0(ctx), node.input[1]!], {
    group: attrInt(node, 'group', 1), strides, dilations, pads, kernel_shape: kernel,
  });
  return [dx, null, null];
};

export const convTranspose: OpGradient = { op: 'ConvTranspose', rule, differentiable: firstInputOnly, note: 'weight off the gradient path' };
