/**
 * Conv: the input gradient.
 * - stride 1 with a constant weight: a Conv with spatially flipped, group-wise transposed weights and
 *   pads (k−1)·d − pad (faster than ConvTranspose in ORT);
 * - depthwise (one channel per group) with stride s > 1 and a constant weight: the gradient with zeros
 *   inserted (a ConvTranspose with a 1×1 kernel of ones, stride s: no channel mixing, cheap) and then
 *   the same stride-1 depthwise Conv with the flipped kernel. ORT runs a grouped ConvTranspose one group
 *   at a time on one thread (mobilenet_v2's four: 4.9 ms, this form 1.6 ms, one thread, one profile),
 *   while the depthwise Conv runs on its NCHWc kernels and takes the guided ReLU that follows as its
 *   activation;
 * - otherwise ConvTranspose with the same weight and
 *   output_padding = H_in − ((H_out−1)·s + (k−1)·d + 1 − pad_begin − pad_end). Dense strided convs keep
 *   it: their Conv forms (one Conv per output phase + DepthToSpace, or zero insertion + a stride-1
 *   Conv at s² the work) measured no faster in ORT 1.30, DepthToSpace and Pad being slow there.
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
  const depthwise = w && w.dtype === 'float32' && wShape[1] === 1 && group > 1 && wShape[0] === group && xs[1] === group;
  if (depthwise && !unitStride && flippedPads.slice(0, k).every((p) => p >= 0)) {
    // the zero-inserted gradient has s·H_out positions; pad the end so that the output has H_in
    const ends = kernel.map((kk, i) => xs[2 + i]! - win.strides[i]! * ys[2 + i]! - flippedPads[i]! + (kk - 1) * win.dilations[i]!);
    if (ends.every((p) => p >= 0)) {
      const ones = b.memo(`conv-ones:${group}:${k}`, () => b.constant({ dtype: 'float32', dims: [group, 1, ...kernel.map(() => 1)], data: new Float32Array(group).fill(1) }, 'conv_grad_ones'));
      const zeros = b.op('ConvTranspose', [g, ones], { group, strides: win.strides, kernel_shape: kernel.map(() => 1), output_padding: win.strides.map((s) => s - 1) });
      const wt = b.memo(`conv-flip:${wName}:${group}`, () => b.constant(flipTransposeWeight(w, group), 'conv_grad_w'));
      return [b.op('Conv', [zeros, wt], { group, dilations: win.dilations, pads: [...flippedPads.slice(0, k), ...ends], kernel_shape: kernel }), null, null];
    }
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
