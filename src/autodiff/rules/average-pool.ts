/**
 * AveragePool: dy divided by each window's divisor (a constant map computed from the static shapes,
 * honouring pads, count_include_pad and ceil_mode as torch and ORT do), then spread back by a depthwise
 * ConvTranspose with a kernel of ones.
 */
import { attrInt, attrInts, attrString } from '../../onnx/model.js';
import { floatTensor } from '../../onnx/tensor.js';
import { dy0, GradError, nodeLabel, type GradRule, type OpGradient } from '../rule.js';
import { resolveWindow } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const x = node.input[0]!;
  const xs = ctx.shape(x);
  const ys = ctx.shape(node.output[0]!);
  const kernel = attrInts(node, 'kernel_shape');
  if (!kernel) throw new GradError(`${nodeLabel(node)}: missing kernel_shape`);
  const k = kernel.length;
  const win = resolveWindow(ctx, xs.slice(2), kernel, attrString(node, 'auto_pad', 'NOTSET'));
  if (win.dilations.some((d) => d !== 1)) throw new GradError(`${nodeLabel(node)}: dilated AveragePool is not supported`);
  const includePad = attrInt(node, 'count_include_pad', 0) === 1;
  const inS = xs.slice(2);
  const outS = ys.slice(2);
  // per-axis divisor factors (the window count is a product over axes)
  const axisCounts = outS.map((o, i) => {
    const c = new Float32Array(o);
    for (let j = 0; j < o; j++) {
      const start = j * win.strides[i]! - win.pads[i]!;
      let end = Math.min(start + kernel[i]!, inS[i]! + win.pads[i + k]!);
      let s = start;
      if (!includePad) { s = Math.max(start, 0); end = Math.min(end, inS[i]!); }
      c[j] = end - s;
    }
    return c;
  });
  const total = outS.reduce((a, v) => a * v, 1);
  const inv = new Float32Array(total);
  for (let idx = 0; idx < total; idx++) {
    let rem = idx;
    let cnt = 1;
    for (let i = k - 1; i >= 0; i--) {
      cnt *= axisCounts[i]![rem % outS[i]!]!;
      rem = Math.floor(rem / outS[i]!);
    }
    inv[idx] = 1 / cnt;
  }
  const scaled = b.mul(dy0(ctx), b.constant(floatTensor(inv, [1, 1, ...outS]), 'avgpool_inv_count'));
  const channels = xs[1]!;
  const ones = b.constant(floatTensor(new Float32Array(channels * kernel.reduce((a, v) => a * v, 1)).fill(1), [channels, 1, ...kernel]), 'avgpool_ones');
  // ConvTranspose output = s·(o−1) + k − pb − pe + op; extend pe to crop windows that run past the input (ceil_mode)
  const pads = win.pads.slice();
  const outputPadding = Array(k).fill(0);
  for (let i = 0; i < k; i++) {
    const natural = win.strides[i]! * (outS[i]! - 1) + kernel[i]! - pads[i]! - pads[i + k]!;
    const diff = inS[i]! - natural;
    if (diff >= 0) outputPadding[i] = diff;
    else pads[i + k] = pads[i + k]! - diff;
  }
  const dx = b.op('ConvTranspose', [scaled, ones], {
    group: channels, strides: win.strides, pads, kernel_shape: kernel, output_padding: outputPadding,
  });
  return [dx];
};

export const averagePool: OpGradient = { op: 'AveragePool', rule, note: 'no dilations' };
