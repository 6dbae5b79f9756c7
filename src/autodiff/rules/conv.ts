/**
 * Conv: the input gradient.
 * - stride 1 with a constant weight: a Conv with spatially flipped, group-wise transposed weights and
 *   pads (k−1)·d − pad (faster than ConvTranspose in ORT);
 * - otherwise ConvTranspose with the same weight and
 *   output_padding = H_in − ((H_out−1)·s + (k−1)·d + 1 − pad_begin − pad_end).
 */
import { attrInt, attrString } from '../../onnx/model.js';
import { numel, type Tensor } from '../../onnx/tensor.js';
import { dy0, GradError, nodeLabel, type GradContext, type GradRule } from '../rule.js';
import { resolveWindow, type Window } from './util.js';

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

/**
 * A strided depthwise Conv's input gradient as zero insertion + a stride-1 depthwise Conv with
 * flipped weights: ORT's depthwise ConvTranspose is slow, its depthwise Conv is fast.
 */
function zeroInsertionGrad(ctx: GradContext, g: string, w: Tensor, group: number, win: Window, outputPadding: number[], ys: number[]): string | null {
  const { b } = ctx;
  const kernel = w.dims.slice(2);
  const [s0, s1] = win.strides as [number, number];
  const [ho, wo] = [ys[2]!, ys[3]!];
  const begin = [0, 1].map((i) => (kernel[i]! - 1) * win.dilations[i]! - win.pads[i]!);
  const end = [0, 1].map((i) => (kernel[i]! - 1) * win.dilations[i]! - win.pads[i + 2]! + outputPadding[i]! - (win.strides[i]! - 1));
  if (begin.some((p) => p < 0)) return null;
  const c = ys[1]!;
  const spread = b.op('Reshape', [g, b.ints([-1, c, ho, 1, wo, 1])]);
  const padded = b.op('Pad', [spread, b.ints([0, 0, 0, 0, 0, 0, 0, 0, 0, s0 - 1, 0, s1 - 1])]);
  let z = b.op('Reshape', [padded, b.ints([-1, c, ho * s0, wo * s1])]);
  const crop = end.map((e) => Math.min(e, 0));
  if (crop.some((e) => e < 0)) z = b.op('Slice', [z, b.ints([0, 0]), b.ints([ho * s0 + crop[0]!, wo * s1 + crop[1]!]), b.ints([2, 3])]);
  const wt = b.memo(`conv-flip:${ctx.node.input[1]}:${group}`, () => b.constant(flipTransposeWeight(w, group), 'conv_grad_w'));
  const pads = [begin[0]!, begin[1]!, Math.max(end[0]!, 0), Math.max(end[1]!, 0)];
  return b.op('Conv', [z, wt], { group, dilations: win.dilations, pads, kernel_shape: kernel });
}

export const conv: GradRule = (ctx) => {
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
  const depthwise = group > 1 && group === xs[1] && group === ys[1];
  if (depthwise && k === 2 && w && w.dtype === 'float32') {
    const lowered = zeroInsertionGrad(ctx, g, w, group, win, outputPadding, ys);
    if (lowered) return [lowered, null, null];
  }
  const dx = b.op('ConvTranspose', [g, wName], {
    group, strides: win.strides, dilations: win.dilations, pads: win.pads, kernel_shape: kernel, output_padding: outputPadding,
  });
  return [dx, null, null];
};
