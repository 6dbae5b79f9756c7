/**
 * Keras convolutions (Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose) and pools (local and
 * global) as ONNX NCHW ops between Transposes; padding and output sizes as Keras computes them.
 */
import type { AttrValue } from '../../model.js';
import { cfg } from './topology.js';
import type { Weight } from './weights.js';
import { channelsLast, type Converter, type Dim, err, type LayerCall, need, num, one, pair, rank4, str, type T } from './layer-call.js';
import { finishNCHW, toNCHW } from './activations.js';

interface Window {
  attrs: Record<string, AttrValue | undefined>;
  out: [Dim, Dim];
}

/** TF's 'same' (extra padding at the end: ONNX SAME_UPPER, explicit where the size is known) and 'valid'. */
function window(c: LayerCall, x: T, k: [number, number], s: [number, number], d: [number, number]): Window {
  const padding = str(c, 'padding', 'valid').toLowerCase();
  if (padding !== 'same' && padding !== 'valid') throw err(c, `padding '${padding}' is not supported (same, valid)`);
  const hw: Dim[] = [x.shape[1] ?? null, x.shape[2] ?? null];
  const keff = [(k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1];
  const out = hw.map((n, i) => (n === null ? null : padding === 'same' ? Math.ceil(n / s[i]!) : Math.floor((n - keff[i]!) / s[i]!) + 1)) as [Dim, Dim];
  if (out.some((o) => o !== null && o <= 0)) throw err(c, `its ${k.join('x')} window does not fit the ${hw.join('x')} input`);
  const attrs: Record<string, AttrValue | undefined> = { kernel_shape: k, strides: s };
  if (padding === 'valid') attrs.pads = [0, 0, 0, 0];
  else if (hw.every((n) => n !== null)) {
    const tot = hw.map((n, i) => Math.max((out[i]! - 1) * s[i]! + keff[i]! - n!, 0));
    attrs.pads = [Math.floor(tot[0]! / 2), Math.floor(tot[1]! / 2), tot[0]! - Math.floor(tot[0]! / 2), tot[1]! - Math.floor(tot[1]! / 2)];
  } else attrs.auto_pad = 'SAME_UPPER';
  return { attrs, out };
}

/** Keras kernel [kh, kw, cin, cout] → ONNX [cout, cin, kh, kw]. */
function convKernel(w: Weight): { data: Float32Array; dims: number[] } {
  const [kh, kw, ci, co] = w.shape as [number, number, number, number];
  const out = new Float32Array(w.data.length);
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let a = 0; a < ci; a++) for (let b = 0; b < co; b++) {
    out[((b * ci + a) * kh + i) * kw + j] = w.data[((i * kw + j) * ci + a) * co + b]!;
  }
  return { data: out, dims: [co, ci, kh, kw] };
}

/** Keras depthwise kernel [kh, kw, cin, m] → ONNX grouped [cin·m, 1, kh, kw] (output channel c·m + k). */
function depthwiseKernel(w: Weight): { data: Float32Array; dims: number[] } {
  const [kh, kw, ci, m] = w.shape as [number, number, number, number];
  const out = new Float32Array(w.data.length);
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let a = 0; a < ci; a++) for (let b = 0; b < m; b++) {
    out[((a * m + b) * kh + i) * kw + j] = w.data[((i * kw + j) * ci + a) * m + b]!;
  }
  return { data: out, dims: [ci * m, 1, kh, kw] };
}

export function kernelCheck(c: LayerCall, w: Weight, rank: number): void {
  if (w.shape.length !== rank) throw err(c, `its kernel has shape [${w.shape.join(', ')}], expected ${rank} axes`);
}

/** A convolution's 4-D input and its kernels (every one 4-D) and bias, from the layer's weights. */
function convInputs(c: LayerCall, kernels: string[]): { x: T; k: Weight[]; bias?: Weight } {
  channelsLast(c);
  const x = one(c);
  rank4(c, x);
  const useBias = cfg<boolean>(c.layer.config, 'use_bias') ?? true;
  const ws = c.weights([...kernels, useBias ? 'bias' : undefined]);
  const k = kernels.map((kind, i) => {
    const w = need(c, ws[i], kind);
    kernelCheck(c, w, 4);
    return w;
  });
  const bias = ws[kernels.length];
  return bias ? { x, k, bias } : { x, k };
}

/** A Conv/ConvTranspose node on NCHW `x` with the ONNX-ordered kernel `w` and the bias, if any. */
function convNode(c: LayerCall, op: string, x: string, w: { data: Float32Array; dims: number[] }, kind: string, bias: Weight | undefined, attrs: Record<string, AttrValue | undefined>, hint: string): string {
  const inputs = [x, c.e.weight(w.data, w.dims, `${c.out}/${kind}`)];
  if (bias) inputs.push(c.e.weight(bias.data, [bias.data.length], `${c.out}/bias`));
  return c.e.node(op, inputs, attrs, `${c.out}/${hint}`);
}

export const conv2d: Converter = (c) => {
  const { x, k: [kernel], bias } = convInputs(c, ['kernel']);
  const d = pair(c, 'dilation_rate', [1, 1]);
  const win = window(c, x, kernel!.shape.slice(0, 2) as [number, number], pair(c, 'strides', [1, 1]), d);
  const y = convNode(c, 'Conv', toNCHW(c, x.name), convKernel(kernel!), 'kernel', bias, { ...win.attrs, dilations: d, group: num(c, 'groups', 1) }, 'conv');
  return finishNCHW(c, y, [x.shape[0]!, ...win.out, kernel!.shape[3]!]);
};

export const depthwiseConv2d: Converter = (c) => {
  const { x, k: [kernel], bias } = convInputs(c, ['depthwise_kernel']);
  const d = pair(c, 'dilation_rate', [1, 1]);
  const win = window(c, x, kernel!.shape.slice(0, 2) as [number, number], pair(c, 'strides', [1, 1]), d);
  const kk = depthwiseKernel(kernel!);
  const y = convNode(c, 'Conv', toNCHW(c, x.name), kk, 'depthwise_kernel', bias, { ...win.attrs, dilations: d, group: kernel!.shape[2]! }, 'depthwise');
  return finishNCHW(c, y, [x.shape[0]!, ...win.out, kk.dims[0]!]);
};

export const separableConv2d: Converter = (c) => {
  const { x, k: [dk, pk], bias } = convInputs(c, ['depthwise_kernel', 'pointwise_kernel']);
  const d = pair(c, 'dilation_rate', [1, 1]);
  const win = window(c, x, dk!.shape.slice(0, 2) as [number, number], pair(c, 'strides', [1, 1]), d);
  const mid = convNode(c, 'Conv', toNCHW(c, x.name), depthwiseKernel(dk!), 'depthwise_kernel', undefined, { ...win.attrs, dilations: d, group: dk!.shape[2]! }, 'depthwise');
  const y = convNode(c, 'Conv', mid, convKernel(pk!), 'pointwise_kernel', bias, { kernel_shape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0] }, 'pointwise');
  return finishNCHW(c, y, [x.shape[0]!, ...win.out, pk!.shape[3]!]);
};

export const conv2dTranspose: Converter = (c) => {
  const { x, k: [kernel], bias } = convInputs(c, ['kernel']);
  const [kh, kwid, co, ci] = kernel!.shape as [number, number, number, number];
  const s = pair(c, 'strides', [1, 1]);
  const d = pair(c, 'dilation_rate', [1, 1]);
  if (d[0] !== 1 || d[1] !== 1) throw err(c, 'dilated transposed convolutions are not supported');
  const padding = str(c, 'padding', 'valid').toLowerCase();
  if (padding !== 'same' && padding !== 'valid') throw err(c, `padding '${padding}' is not supported (same, valid)`);
  const op = cfg<unknown>(c.layer.config, 'output_padding');
  const outPad = op === undefined || op === null ? undefined : typeof op === 'number' ? [op, op] : (op as number[]).map(Number);
  const k = [kh, kwid];
  const hw = [x.shape[1], x.shape[2]];
  if (hw.some((n) => n == null)) throw err(c, 'its input height and width must be known');
  // Keras's deconv_output_length, then the crop of ONNX's full output that TF's conv2d_transpose takes
  const len = hw.map((n, i) => {
    if (!outPad) return padding === 'valid' ? n! * s[i]! + Math.max(k[i]! - s[i]!, 0) : n! * s[i]!;
    const p = padding === 'same' ? Math.floor(k[i]! / 2) : 0;
    return (n! - 1) * s[i]! + k[i]! - 2 * p + outPad[i]!;
  });
  const before = len.map((l, i) => (padding === 'same' ? Math.floor(Math.max((hw[i]! - 1) * s[i]! + k[i]! - l, 0) / 2) : 0));
  const after = len.map((l, i) => (hw[i]! - 1) * s[i]! + k[i]! - before[i]! - l);
  // kernel [kh, kw, cout, cin] → ONNX ConvTranspose [cin, cout, kh, kw]
  const w = new Float32Array(kernel.data.length);
  for (let i = 0; i < kh; i++) for (let j = 0; j < kwid; j++) for (let a = 0; a < co; a++) for (let b = 0; b < ci; b++) {
    w[((b * co + a) * kh + i) * kwid + j] = kernel!.data[((i * kwid + j) * co + a) * ci + b]!;
  }
  const y = convNode(c, 'ConvTranspose', toNCHW(c, x.name), { data: w, dims: [ci, co, kh, kwid] }, 'kernel', bias, {
    kernel_shape: k, strides: s, pads: [before[0]!, before[1]!, Math.max(after[0]!, 0), Math.max(after[1]!, 0)],
    output_padding: after.some((a) => a < 0) ? after.map((a) => Math.max(-a, 0)) : undefined,
  }, 'conv_transpose');
  return finishNCHW(c, y, [x.shape[0]!, len[0]!, len[1]!, co]);
};

export function pool(op: 'MaxPool' | 'AveragePool'): Converter {
  return (c) => {
    channelsLast(c);
    const x = one(c);
    rank4(c, x);
    const k = pair(c, 'pool_size', [2, 2]);
    const win = window(c, x, k, pair(c, 'strides', k), [1, 1]);
    // AveragePool's count_include_pad=0: the mean over the window's real pixels, as TF's 'same' pooling
    const y = c.e.node(op, [toNCHW(c, x.name)], win.attrs, `${c.out}/pool`);
    return finishNCHW(c, y, [x.shape[0]!, ...win.out, x.shape[3]!], 'linear');
  };
}

export function globalPool(op: 'ReduceMean' | 'ReduceMax'): Converter {
  return (c) => {
    channelsLast(c);
    const x = one(c);
    rank4(c, x);
    const keep = cfg<boolean>(c.layer.config, 'keepdims') ? 1 : 0;
    const name = c.e.node(op, [x.name], { axes: [1, 2], keepdims: keep }, c.out);
    return [{ name, shape: keep ? [x.shape[0]!, 1, 1, x.shape[3]!] : [x.shape[0]!, x.shape[3]!] }];
  };
}
