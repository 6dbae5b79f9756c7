/**
 * Conv: the input gradient.
 * - stride 1 with a constant weight: a Conv with spatially flipped, group-wise transposed weights and
 *   pads (k−1)·d − pad (faster than ConvTranspose in ORT);
 * - otherwise ConvTranspose with the same weight and
 *   output_padding = H_in − ((H_out−1)·s + (k−1)·d + 1 − pad_begin − pad_end).
 */
import { attrInt, attrString } from '../../onnx/model.js';
import { numel, type Tensor } from '../../onnx/tensor.js';
import { dy0, GradError, nodeLabel, type GradRule, type OpGradient, firstInputOnly } from '../rule.js';
import { resolveWindow } from './util.js';

/** [Cout, Cin/g, k...] → flipped and transposed per group: [Cin, Cout/g, k...]. */
export function flipTransposeWeight(w: Tensor, group: number): Tensor {
  const [cout, cinG, ...k] = w.dims as [number, number, ...number[]];
  const ks = numel(k);
  const coutG = cout / group;
  const src = w.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let g = 0; g < group; g++)
    for (let o = 0; o < coutG; o++)
      for (let i = 0; i < cinG; i++) {
        const from = ((g * coutG + o) * cinG + i) * ks;
        const to = ((g * cinG + i) * coutG + o) * ks;
        for (let s = 0; s < ks; s++) out[to + s] = src[from + ks - 1 - s]!;
      }
  return { dtype: 'float32', dims: [cinG * group, coutG, ...k], data: out };
}

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  if (!ctx.needs[0]) return node.input.map(() => null);
  if (ctx.needs[1]) throw new GradError(`${nodeLabel(node)}: gradients through a computed (non-constant) weight are not supported`);
  const x = node.input[0]!;
  const wName = node.input[1]!;
  const xs = ctx.shape(x);
  const ys = ctx.shape(node.output[0]!);
  const w = ctx.constant(wName);
  const wShape = w ? w.dims : ctx.shape(wName);
  const kernel = wShape.slice(2);
  const group = attrInt(node, 'group', 1);
  const win = resolveWindow(ctx, xs.slice(2), kernel, attrString(node, 'auto_pad', 'NOTSET'));
  const k = kernel.length;
  const g = dy0(ctx);
  const unitStride = win.strides.every((s) => s === 1);
  const flippedPads = win.pads.map((p, i) => (kernel[i % k]! - 1) * win.dilations[i % k]! - p);
  if (unitStride && w && w.dtype === 'float32' && flippedPads.every((p) => p >= 0)) {
    const wt = b.memo(`conv-flip:${wName}:${group}`, () => b.constant(flipTransposeWeight(w, group), 'conv_grad_w'));
    return [b.op('Conv', [g, wt], { group, dilations: win.dilations, pads: flippedPads, kernel_shape: kernel }), null, null];
  }
  const outputPadding = kernel.map((kk, i) => {
    const natural = (ys[2 + i]! - 1) * win.strides[i]! + (kk - 1) * win.dilations[i]! + 1 - win.pads[i]! - win.pads[i + k]!;
    return xs[2 + i]! - natural;
  });
  if (outputPadding.some((p) => p < 0)) throw new GradError(`${nodeLabel(node)}: unexpected output shape for its attributes`);
  const dx = b.op('ConvTranspose', [g, wName], {
    group, strides: win.strides, dilations: win.dilations, pads: win.pads, kernel_shape: kernel, output_padding: outputPadding,
  });
  return [dx, null, null];
};

export const conv: OpGradient = { op: 'Conv', rule, differentiable: firstInputOnly, note: 'weight off the gradient path' };
