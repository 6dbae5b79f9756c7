/**
 * Keras layers as ONNX nodes (opset 17). Tensors between layers stay in Keras's channels-last layout
 * (NHWC): the convolutions, pools and resizes, which ONNX defines on NCHW, are wrapped in a pair of
 * Transposes (ONNX Runtime folds the pairs between consecutive ones). Each layer's output tensor is named
 * by the layer's name, so that the names users type (`--layer conv_pw_13_relu`) are the topology's; for
 * a layer computed in NCHW that name is its NCHW result and `<layer>/nhwc` the tensor the next layers read.
 */
import { float, makeAttr, ModelError, type AttrValue, type Node } from '../../model.js';
import { encodeTensor, floatTensor, int64Tensor, type TensorProtoLike } from '../../tensor.js';
import { cfg, type KLayer } from './topology.js';
import type { Weight } from './weights.js';

export type Dim = number | null;

/** A tensor of the graph being built: its name and static shape (null where unknown; the batch is null). */
export interface T {
  name: string;
  shape: Dim[];
}

/** What differs between the files' Keras versions. */
export interface Dialect {
  /** Keras 3 semantics: hard_sigmoid = relu6(x + 3) / 6; UpSampling2D bilinear with half-pixel centres. */
  keras3: boolean;
  /** TF.js: UpSampling2D bilinear samples with tf.image.resizeBilinear's defaults (no half-pixel centres). */
  tfjs: boolean;
}

export class Emitter {
  readonly nodes: Node[] = [];
  readonly initializers: TensorProtoLike[] = [];
  private readonly names = new Set<string>();
  private readonly consts = new Map<string, string>();

  /** Reserves a tensor name; a taken one gets a suffix (_1, _2...). */
  unique(name: string): string {
    let n = name;
    for (let i = 1; this.names.has(n); i++) n = `${name}_${i}`;
    this.names.add(n);
    return n;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  node(op: string, inputs: string[], attrs: Record<string, AttrValue | undefined>, out: string): string {
    const name = this.unique(out);
    const attribute = Object.entries(attrs).filter((e): e is [string, AttrValue] => e[1] !== undefined).map(([k, v]) => makeAttr(k, v));
    this.nodes.push({ name: `${name}/node`, op_type: op, domain: '', input: inputs, output: [name], attribute });
    return name;
  }

  weight(data: Float32Array, dims: number[], name: string): string {
    const n = this.unique(name);
    this.initializers.push(encodeTensor(n, floatTensor(data, dims)));
    return n;
  }

  ints(values: number[]): string {
    const key = `i:${values.join(',')}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.unique(`const/ints_${this.consts.size}`);
      this.initializers.push(encodeTensor(n, int64Tensor(values)));
      this.consts.set(key, n);
    }
    return n;
  }

  scalar(v: number): string {
    const key = `f:${v}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.unique(`const/scalar_${this.consts.size}`);
      this.initializers.push(encodeTensor(n, floatTensor([v], [])));
      this.consts.set(key, n);
    }
    return n;
  }

  /** Gives the tensor `x` the name `to`: renames the node that just made it, else an Identity. */
  rename(x: string, to: string): string {
    const last = this.nodes[this.nodes.length - 1];
    if (last && last.output[0] === x && x !== to && !this.names.has(to)) {
      this.names.delete(x);
      const n = this.unique(to);
      last.output[0] = n;
      last.name = `${n}/node`;
      return n;
    }
    return this.node('Identity', [x], {}, to);
  }
}

/** One call of a layer. */
export interface LayerCall {
  layer: KLayer;
  /** The nested models it sits in, outermost first. */
  path: string[];
  inputs: T[];
  /** The name its (first) output should have. */
  out: string;
  e: Emitter;
  dialect: Dialect;
  /** The layer's weights in the order of `kinds` (undefined kinds: absent optional weights). */
  weights(kinds: (string | undefined)[]): (Weight | undefined)[];
}

type Converter = (c: LayerCall) => T[];

const err = (c: LayerCall, msg: string) => new ModelError(`layer '${c.layer.name}' (${c.layer.className}): ${msg}`);

function num(c: LayerCall, key: string, dflt: number): number {
  const v = cfg<unknown>(c.layer.config, key);
  if (v === undefined || v === null) return dflt;
  const n = Array.isArray(v) ? Number(v[0]) : Number(v);
  if (!Number.isFinite(n)) throw err(c, `${key} is not a number (${JSON.stringify(v)})`);
  return n;
}

function pair(c: LayerCall, key: string, dflt: [number, number]): [number, number] {
  const v = cfg<unknown>(c.layer.config, key);
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2) return [Number(v[0]), Number(v[1])];
  throw err(c, `${key} must be a number or a pair (${JSON.stringify(v)})`);
}

/** ZeroPadding2D / Cropping2D amounts: n, [a, b] (symmetric per axis) or [[top, bottom], [left, right]]. */
function amounts(c: LayerCall, key: string): [number, number, number, number] {
  const v = cfg<unknown>(c.layer.config, key) ?? 1;
  if (typeof v === 'number') return [v, v, v, v];
  if (Array.isArray(v) && v.length === 2) {
    const [a, b] = v as unknown[];
    if (typeof a === 'number' && typeof b === 'number') return [a, a, b, b];
    if (Array.isArray(a) && Array.isArray(b)) return [Number(a[0]), Number(a[1]), Number(b[0]), Number(b[1])];
  }
  throw err(c, `${key} must be n, [h, w] or [[top, bottom], [left, right]] (${JSON.stringify(v)})`);
}

function str(c: LayerCall, key: string, dflt: string): string {
  const v = cfg<unknown>(c.layer.config, key);
  return v === undefined || v === null ? dflt : String(v);
}

function channelsLast(c: LayerCall): void {
  const f = str(c, 'data_format', 'channels_last');
  if (f !== 'channels_last') throw err(c, `data_format '${f}' is not supported (channels_last only)`);
}

function one(c: LayerCall): T {
  if (c.inputs.length !== 1) throw err(c, `expects one input, got ${c.inputs.length}`);
  return c.inputs[0]!;
}

function rank4(c: LayerCall, x: T): void {
  if (x.shape.length !== 4) throw err(c, `expects a 4-D input [batch, height, width, channels], got rank ${x.shape.length}`);
}

function need(c: LayerCall, w: Weight | undefined, what: string): Weight {
  if (!w) throw err(c, `its ${what} weight is missing`);
  return w;
}

// ---------------------------------------------------------------- activations

/** The activation's name (a string, or Keras 3's serialised function object). */
function activationName(v: unknown): string {
  if (v === undefined || v === null) return 'linear';
  if (typeof v === 'string') return v;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.config === 'string') return o.config;
    if (typeof o.class_name === 'string') return o.class_name;
  }
  return String(v);
}

export const ACTIVATIONS = ['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'softmax', 'log_softmax', 'elu', 'selu', 'softplus', 'softsign', 'swish', 'silu',
  'gelu', 'gelu_new', 'hard_sigmoid', 'hard_swish', 'hard_silu', 'leaky_relu', 'exponential'] as const;

/** Applies a Keras activation to `x`; the result is named `out`. */
function activate(c: LayerCall, x: string, activation: unknown, out: string): string {
  const { e } = c;
  // TF.js writes camelCase class names (hardSigmoid, logSoftmax): snake_case as Keras
  const a = activationName(activation).replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  const h = `${c.out}/${a}`;
  switch (a) {
    case 'linear': case 'none': return e.rename(x, out);
    case 'relu': return e.node('Relu', [x], {}, out);
    case 'relu6': return e.node('Clip', [x, e.scalar(0), e.scalar(6)], {}, out);
    case 'sigmoid': return e.node('Sigmoid', [x], {}, out);
    case 'tanh': return e.node('Tanh', [x], {}, out);
    case 'softmax': return e.node('Softmax', [x], { axis: -1 }, out);
    case 'log_softmax': return e.node('LogSoftmax', [x], { axis: -1 }, out);
    case 'elu': return e.node('Elu', [x], { alpha: float(1) }, out);
    case 'selu': return e.node('Selu', [x], {}, out);
    case 'softplus': return e.node('Softplus', [x], {}, out);
    case 'softsign': return e.node('Softsign', [x], {}, out);
    case 'exponential': return e.node('Exp', [x], {}, out);
    case 'leaky_relu': return e.node('LeakyRelu', [x], { alpha: float(0.2) }, out);
    case 'swish': case 'silu': return e.node('Mul', [x, e.node('Sigmoid', [x], {}, h)], {}, out);
    case 'hard_swish': case 'hard_silu': return e.node('HardSwish', [x], {}, out);
    case 'hard_sigmoid':
      // Keras 2 and TF.js: clip(0.2 x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1)
      return e.node('HardSigmoid', [x], { alpha: float(c.dialect.keras3 ? 1 / 6 : 0.2), beta: float(0.5) }, out);
    case 'gelu': {
      // x · ½(1 + erf(x / √2)) (Keras's default approximate=False; TF.js's 'gelu')
      const erf = e.node('Erf', [e.node('Div', [x, e.scalar(Math.SQRT2)], {}, `${h}/div`)], {}, `${h}/erf`);
      const cdf = e.node('Mul', [e.scalar(0.5), e.node('Add', [e.scalar(1), erf], {}, `${h}/add`)], {}, `${h}/cdf`);
      return e.node('Mul', [x, cdf], {}, out);
    }
    case 'gelu_new': {
      // TF.js's tanh approximation: ½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))
      const cube = e.node('Mul', [e.scalar(0.044715), e.node('Pow', [x, e.scalar(3)], {}, `${h}/cube`)], {}, `${h}/cube_scaled`);
      const inner = e.node('Mul', [e.scalar(Math.sqrt(2 / Math.PI)), e.node('Add', [x, cube], {}, `${h}/sum`)], {}, `${h}/inner`);
      const t = e.node('Add', [e.scalar(1), e.node('Tanh', [inner], {}, `${h}/tanh`)], {}, `${h}/one_plus`);
      return e.node('Mul', [e.scalar(0.5), e.node('Mul', [x, t], {}, `${h}/prod`)], {}, out);
    }
    default:
      throw err(c, `activation '${a}' is not supported (supported: ${ACTIVATIONS.join(', ')})`);
  }
}

function finish(c: LayerCall, x: string, shape: Dim[]): T[] {
  return [{ name: activate(c, x, cfg(c.layer.config, 'activation'), c.out), shape }];
}

/**
 * The end of a layer computed in NCHW (convolutions, pools, resizes): the layer's name goes to its NCHW
 * result (activation applied there, element-wise), and the channels-last tensor that the next layers read
 * is `<layer>/nhwc`. So the automatic layer, which walks up past data movement (Transposes), lands on
 * the layer's own name. A softmax activation (over the channels) is applied channels-last.
 */
function finishNCHW(c: LayerCall, y: string, shape: Dim[], activation: unknown = cfg(c.layer.config, 'activation')): T[] {
  const a = activationName(activation).toLowerCase();
  if (a === 'softmax' || a === 'log_softmax') return [{ name: activate(c, toNHWC(c, y), activation, c.out), shape }];
  const named = activate(c, y, activation, c.out);
  return [{ name: c.e.node('Transpose', [named], { perm: [0, 2, 3, 1] }, `${c.out}/nhwc`), shape }];
}

// ---------------------------------------------------------------- convolutions and pools

const toNCHW = (c: LayerCall, x: string) => c.e.node('Transpose', [x], { perm: [0, 3, 1, 2] }, `${c.out}/to_nchw`);
const toNHWC = (c: LayerCall, x: string) => c.e.node('Transpose', [x], { perm: [0, 2, 3, 1] }, `${c.out}/nhwc`);

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

function kernelCheck(c: LayerCall, w: Weight, rank: number): void {
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

const conv2d: Converter = (c) => {
  const { x, k: [kernel], bias } = convInputs(c, ['kernel']);
  const d = pair(c, 'dilation_rate', [1, 1]);
  const win = window(c, x, kernel!.shape.slice(0, 2) as [number, number], pair(c, 'strides', [1, 1]), d);
  const y = convNode(c, 'Conv', toNCHW(c, x.name), convKernel(kernel!), 'kernel', bias, { ...win.attrs, dilations: d, group: num(c, 'groups', 1) }, 'conv');
  return finishNCHW(c, y, [x.shape[0]!, ...win.out, kernel!.shape[3]!]);
};

const depthwiseConv2d: Converter = (c) => {
  const { x, k: [kernel], bias } = convInputs(c, ['depthwise_kernel']);
  const d = pair(c, 'dilation_rate', [1, 1]);
  const win = window(c, x, kernel!.shape.slice(0, 2) as [number, number], pair(c, 'strides', [1, 1]), d);
  const kk = depthwiseKernel(kernel!);
  const y = convNode(c, 'Conv', toNCHW(c, x.name), kk, 'depthwise_kernel', bias, { ...win.attrs, dilations: d, group: kernel!.shape[2]! }, 'depthwise');
  return finishNCHW(c, y, [x.shape[0]!, ...win.out, kk.dims[0]!]);
};

const separableConv2d: Converter = (c) => {
  const { x, k: [dk, pk], bias } = convInputs(c, ['depthwise_kernel', 'pointwise_kernel']);
  const d = pair(c, 'dilation_rate', [1, 1]);
  const win = window(c, x, dk!.shape.slice(0, 2) as [number, number], pair(c, 'strides', [1, 1]), d);
  const mid = convNode(c, 'Conv', toNCHW(c, x.name), depthwiseKernel(dk!), 'depthwise_kernel', undefined, { ...win.attrs, dilations: d, group: dk!.shape[2]! }, 'depthwise');
  const y = convNode(c, 'Conv', mid, convKernel(pk!), 'pointwise_kernel', bias, { kernel_shape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0] }, 'pointwise');
  return finishNCHW(c, y, [x.shape[0]!, ...win.out, pk!.shape[3]!]);
};

const conv2dTranspose: Converter = (c) => {
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

function pool(op: 'MaxPool' | 'AveragePool'): Converter {
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

function globalPool(op: 'ReduceMean' | 'ReduceMax'): Converter {
  return (c) => {
    channelsLast(c);
    const x = one(c);
    rank4(c, x);
    const keep = cfg<boolean>(c.layer.config, 'keepdims') ? 1 : 0;
    const name = c.e.node(op, [x.name], { axes: [1, 2], keepdims: keep }, c.out);
    return [{ name, shape: keep ? [x.shape[0]!, 1, 1, x.shape[3]!] : [x.shape[0]!, x.shape[3]!] }];
  };
}

// ---------------------------------------------------------------- dense and normalisations

const dense: Converter = (c) => {
  const x = one(c);
  const useBias = cfg<boolean>(c.layer.config, 'use_bias') ?? true;
  const [kw, bw] = c.weights(['kernel', useBias ? 'bias' : undefined]);
  const kernel = need(c, kw, 'kernel');
  kernelCheck(c, kernel, 2);
  const last = x.shape[x.shape.length - 1];
  if (last != null && last !== kernel.shape[0]) throw err(c, `its kernel expects ${kernel.shape[0]} input features, the input has ${last}`);
  let y = c.e.node('MatMul', [x.name, c.e.weight(kernel.data, kernel.shape, `${c.out}/kernel`)], {}, `${c.out}/matmul`);
  if (bw) y = c.e.node('Add', [y, c.e.weight(bw.data, [bw.data.length], `${c.out}/bias`)], {}, `${c.out}/logits`);
  return finish(c, y, [...x.shape.slice(0, -1), kernel.shape[1]!]);
};

/** Keras axis (int, negative, or list) → positive axes of a rank-r tensor. */
function axesOf(c: LayerCall, r: number, dflt: number): number[] {
  const v = cfg<unknown>(c.layer.config, 'axis');
  const list = (v === undefined || v === null ? [dflt] : Array.isArray(v) ? v : [v]).map(Number);
  return list.map((a) => (a < 0 ? a + r : a)).sort((a, b) => a - b);
}

/** Per-channel constants shaped to broadcast over a rank-r tensor along `axes`. */
function broadcastDims(x: T, axes: number[], n: number, c: LayerCall): number[] {
  const dims = x.shape.map(() => 1);
  if (axes.length === 1) dims[axes[0]!] = n;
  else {
    let size = 1;
    for (const a of axes) {
      const d = x.shape[a];
      if (d == null) throw err(c, `axis ${a} of its input must be known`);
      dims[a] = d;
      size *= d;
    }
    if (size !== n) throw err(c, `its weights have ${n} values, the normalised axes ${size}`);
  }
  return dims;
}

const batchNorm: Converter = (c) => {
  const x = one(c);
  const axes = axesOf(c, x.shape.length, -1);
  const center = cfg<boolean>(c.layer.config, 'center') ?? true;
  const scale = cfg<boolean>(c.layer.config, 'scale') ?? true;
  const eps = num(c, 'epsilon', 1e-3);
  const [g, b, m, v] = c.weights([scale ? 'gamma' : undefined, center ? 'beta' : undefined, 'moving_mean', 'moving_variance']);
  const mean = need(c, m, 'moving_mean');
  const variance = need(c, v, 'moving_variance');
  const n = mean.data.length;
  // y = (x − mean) · γ / √(var + ε) + β = x · a + (β − mean · a), folded in float64
  const a = new Float32Array(n);
  const shift = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const ai = (g ? g.data[i]! : 1) / Math.sqrt(variance.data[i]! + eps);
    a[i] = ai;
    shift[i] = (b ? b.data[i]! : 0) - mean.data[i]! * ai;
  }
  const dims = broadcastDims(x, axes, n, c);
  const y = c.e.node('Mul', [x.name, c.e.weight(a, dims, `${c.out}/scale`)], {}, `${c.out}/mul`);
  return [{ name: c.e.node('Add', [y, c.e.weight(shift, dims, `${c.out}/shift`)], {}, c.out), shape: x.shape }];
};

const layerNorm: Converter = (c) => {
  const x = one(c);
  const r = x.shape.length;
  const axes = axesOf(c, r, -1);
  if (axes.some((a, i) => a !== r - axes.length + i)) throw err(c, `axis ${JSON.stringify(cfg(c.layer.config, 'axis'))} is not supported (the trailing axes only)`);
  if (cfg<boolean>(c.layer.config, 'rms_scaling')) throw err(c, 'rms_scaling is not supported');
  const center = cfg<boolean>(c.layer.config, 'center') ?? true;
  const scale = cfg<boolean>(c.layer.config, 'scale') ?? true;
  const [g, b] = c.weights([scale ? 'gamma' : undefined, center ? 'beta' : undefined]);
  const dims = axes.map((a) => x.shape[a]);
  if (dims.some((d) => d == null)) throw err(c, 'the normalised axes of its input must be known');
  const n = (dims as number[]).reduce((p, v) => p * v, 1);
  const gamma = g ? g.data : new Float32Array(n).fill(1);
  const beta = b ? b.data : new Float32Array(n);
  const name = c.e.node('LayerNormalization', [x.name, c.e.weight(gamma, dims as number[], `${c.out}/gamma`), c.e.weight(beta, dims as number[], `${c.out}/beta`)],
    { axis: axes[0]!, epsilon: float(num(c, 'epsilon', 1e-3)) }, c.out);
  return [{ name, shape: x.shape }];
};

/** Keras's Normalization: (x − mean) / max(√var, 1e-7) (or its inverse), mean and variance from the config or the weights. */
const normalization: Converter = (c) => {
  const x = one(c);
  const axes = axesOf(c, x.shape.length, -1);
  const mean = cfg<unknown>(c.layer.config, 'mean');
  const variance = cfg<unknown>(c.layer.config, 'variance');
  let mv: Float32Array;
  let vv: Float32Array;
  if (mean != null && variance != null) {
    const flat = (v: unknown) => Float32Array.from((Array.isArray(v) ? (v as unknown[]).flat(8) : [v]) as number[]);
    mv = flat(mean);
    vv = flat(variance);
  } else {
    const [m, v] = c.weights(['mean', 'variance']);
    mv = need(c, m, 'mean').data;
    vv = need(c, v, 'variance').data;
  }
  const n = Math.max(mv.length, vv.length);
  const expand = (a: Float32Array) => (a.length === n ? a : new Float32Array(n).fill(a[0]!));
  mv = expand(mv);
  vv = expand(vv);
  const std = vv.map((v) => Math.max(Math.sqrt(v), 1e-7));
  const dims = n === 1 ? [] : broadcastDims(x, axes, n, c);
  const m = c.e.weight(mv, dims, `${c.out}/mean`);
  const sd = c.e.weight(std, dims, `${c.out}/std`);
  const name = cfg<boolean>(c.layer.config, 'invert')
    ? c.e.node('Add', [c.e.node('Mul', [x.name, sd], {}, `${c.out}/mul`), m], {}, c.out)
    : c.e.node('Div', [c.e.node('Sub', [x.name, m], {}, `${c.out}/sub`), sd], {}, c.out);
  return [{ name, shape: x.shape }];
};

const rescaling: Converter = (c) => {
  const x = one(c);
  const vec = (key: string, dflt: number) => {
    const v = cfg<unknown>(c.layer.config, key);
    return Float32Array.from((v === undefined || v === null ? [dflt] : Array.isArray(v) ? v : [v]).map(Number));
  };
  const s = vec('scale', 1);
  const o = vec('offset', 0);
  const y = c.e.node('Mul', [x.name, c.e.weight(s, s.length === 1 ? [] : [s.length], `${c.out}/scale`)], {}, `${c.out}/mul`);
  return [{ name: c.e.node('Add', [y, c.e.weight(o, o.length === 1 ? [] : [o.length], `${c.out}/offset`)], {}, c.out), shape: x.shape }];
};

// ---------------------------------------------------------------- activation layers

const activationLayer: Converter = (c) => [{ name: activate(c, one(c).name, cfg(c.layer.config, 'activation'), c.out), shape: one(c).shape }];

/** ReLU(max_value, negative_slope, threshold) as Keras defines it. */
const reluLayer: Converter = (c) => {
  const x = one(c);
  const { e } = c;
  const maxValue = cfg<number | null>(c.layer.config, 'max_value') ?? undefined;
  const slope = num(c, 'negative_slope', 0);
  const threshold = num(c, 'threshold', 0);
  let y: string;
  if (threshold === 0) y = slope === 0 ? e.node('Relu', [x.name], {}, `${c.out}/relu`) : e.node('LeakyRelu', [x.name], { alpha: float(slope) }, `${c.out}/leaky_relu`);
  else {
    const below = e.node('Mul', [e.scalar(slope), e.node('Sub', [x.name, e.scalar(threshold)], {}, `${c.out}/shifted`)], {}, `${c.out}/below`);
    const mask = e.node('GreaterOrEqual', [x.name, e.scalar(threshold)], {}, `${c.out}/mask`);
    y = e.node('Where', [mask, x.name, below], {}, `${c.out}/where`);
  }
  if (maxValue != null) y = e.node('Clip', [y, '', e.scalar(Number(maxValue))], {}, `${c.out}/clip`);
  return [{ name: e.rename(y, c.out), shape: x.shape }];
};

const leakyRelu: Converter = (c) => {
  const x = one(c);
  const alpha = cfg<number>(c.layer.config, 'negative_slope') ?? cfg<number>(c.layer.config, 'alpha') ?? 0.3;
  return [{ name: c.e.node('LeakyRelu', [x.name], { alpha: float(Number(alpha)) }, c.out), shape: x.shape }];
};

const eluLayer: Converter = (c) => {
  const x = one(c);
  return [{ name: c.e.node('Elu', [x.name], { alpha: float(num(c, 'alpha', 1)) }, c.out), shape: x.shape }];
};

const softmaxLayer: Converter = (c) => {
  const x = one(c);
  const axis = axesOf(c, x.shape.length, -1);
  if (axis.length !== 1) throw err(c, 'a softmax over several axes is not supported');
  return [{ name: c.e.node('Softmax', [x.name], { axis: axis[0]! }, c.out), shape: x.shape }];
};

const prelu: Converter = (c) => {
  const x = one(c);
  const [aw] = c.weights(['alpha']);
  const alpha = need(c, aw, 'alpha');
  // alpha's shape is the input's without the batch (shared axes as 1): it broadcasts as it is
  return [{ name: c.e.node('PRelu', [x.name, c.e.weight(alpha.data, alpha.shape, `${c.out}/alpha`)], {}, c.out), shape: x.shape }];
};

// ---------------------------------------------------------------- shapes

const identity: Converter = (c) => [{ name: c.e.node('Identity', [one(c).name], {}, c.out), shape: one(c).shape }];

const flatten: Converter = (c) => {
  const x = one(c);
  const rest = x.shape.slice(1);
  const n = rest.every((d) => d != null) ? (rest as number[]).reduce((a, v) => a * v, 1) : null;
  // row-major over the channels-last tensor: Keras's own order
  return [{ name: c.e.node('Reshape', [x.name, c.e.ints([0, -1])], {}, c.out), shape: [x.shape[0]!, n] }];
};

const reshape: Converter = (c) => {
  const x = one(c);
  const target = (cfg<unknown[]>(c.layer.config, 'target_shape') ?? []).map(Number);
  let shape: Dim[] = [x.shape[0]!, ...target];
  if (target.includes(-1)) {
    const rest = x.shape.slice(1);
    const known = target.filter((t) => t !== -1).reduce((a, v) => a * v, 1);
    shape = rest.every((d) => d != null) ? [x.shape[0]!, ...target.map((t) => (t === -1 ? (rest as number[]).reduce((a, v) => a * v, 1) / known : t))] : shape.map((d) => (d === -1 ? null : d));
  }
  return [{ name: c.e.node('Reshape', [x.name, c.e.ints([0, ...target])], {}, c.out), shape }];
};

const permute: Converter = (c) => {
  const x = one(c);
  const dims = (cfg<unknown[]>(c.layer.config, 'dims') ?? []).map(Number);
  if (dims.length !== x.shape.length - 1) throw err(c, `dims ${JSON.stringify(dims)} do not match its rank-${x.shape.length} input`);
  return [{ name: c.e.node('Transpose', [x.name], { perm: [0, ...dims] }, c.out), shape: [x.shape[0]!, ...dims.map((d) => x.shape[d]!)] }];
};

const zeroPadding: Converter = (c) => {
  channelsLast(c);
  const x = one(c);
  rank4(c, x);
  const [t, b, l, r] = amounts(c, 'padding');
  const add = (d: Dim, p: number) => (d == null ? null : d + p);
  return [{ name: c.e.node('Pad', [x.name, c.e.ints([0, t, l, 0, 0, b, r, 0])], {}, c.out), shape: [x.shape[0]!, add(x.shape[1]!, t + b), add(x.shape[2]!, l + r), x.shape[3]!] }];
};

const cropping: Converter = (c) => {
  channelsLast(c);
  const x = one(c);
  rank4(c, x);
  const [t, b, l, r] = amounts(c, 'cropping');
  const BIG = 2 ** 31 - 1;
  const name = c.e.node('Slice', [x.name, c.e.ints([t, l]), c.e.ints([b ? -b : BIG, r ? -r : BIG]), c.e.ints([1, 2])], {}, c.out);
  const sub = (d: Dim, p: number) => (d == null ? null : d - p);
  return [{ name, shape: [x.shape[0]!, sub(x.shape[1]!, t + b), sub(x.shape[2]!, l + r), x.shape[3]!] }];
};

const upSampling: Converter = (c) => {
  channelsLast(c);
  const x = one(c);
  rank4(c, x);
  const [sh, sw] = pair(c, 'size', [2, 2]);
  const interp = str(c, 'interpolation', 'nearest').toLowerCase();
  let attrs: Record<string, AttrValue>;
  if (interp === 'nearest') attrs = { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' };
  else if (interp === 'bilinear') {
    // TF.js: tf.image.resizeBilinear (alignCorners and halfPixelCenters false); Keras 2/3: tf.image.resize (half-pixel centres)
    attrs = { mode: 'linear', coordinate_transformation_mode: c.dialect.tfjs ? 'asymmetric' : 'half_pixel' };
  } else throw err(c, `interpolation '${interp}' is not supported (nearest, bilinear)`);
  const scales = c.e.weight(Float32Array.of(1, 1, sh, sw), [4], `${c.out}/scales`);
  const y = c.e.node('Resize', [toNCHW(c, x.name), '', scales], attrs, `${c.out}/resize`);
  const mul = (d: Dim, s: number) => (d == null ? null : d * s);
  return finishNCHW(c, y, [x.shape[0]!, mul(x.shape[1]!, sh), mul(x.shape[2]!, sw), x.shape[3]!], 'linear');
};

// ---------------------------------------------------------------- merges

function broadcastShape(ts: T[]): Dim[] {
  const r = Math.max(...ts.map((t) => t.shape.length));
  return Array.from({ length: r }, (_, i) => {
    let d: Dim = 1;
    for (const t of ts) {
      const v = t.shape[t.shape.length - r + i];
      if (v === undefined) continue;
      if (v === null) return null;
      if (v !== 1) d = v;
    }
    return i === 0 ? null : d;
  });
}

function chain(op: string): Converter {
  return (c) => {
    if (c.inputs.length < 2) throw err(c, `expects at least two inputs, got ${c.inputs.length}`);
    let y = c.inputs[0]!.name;
    for (let i = 1; i < c.inputs.length; i++) y = c.e.node(op, [y, c.inputs[i]!.name], {}, i === c.inputs.length - 1 ? c.out : `${c.out}/${op.toLowerCase()}_${i}`);
    return [{ name: y, shape: broadcastShape(c.inputs) }];
  };
}

const average: Converter = (c) => {
  if (c.inputs.length < 2) throw err(c, `expects at least two inputs, got ${c.inputs.length}`);
  let y = c.inputs[0]!.name;
  for (let i = 1; i < c.inputs.length; i++) y = c.e.node('Add', [y, c.inputs[i]!.name], {}, `${c.out}/add_${i}`);
  return [{ name: c.e.node('Mul', [y, c.e.scalar(1 / c.inputs.length)], {}, c.out), shape: broadcastShape(c.inputs) }];
};

const concatenate: Converter = (c) => {
  if (c.inputs.length < 1) throw err(c, 'has no inputs');
  const r = c.inputs[0]!.shape.length;
  let axis = num(c, 'axis', -1);
  if (axis < 0) axis += r;
  const shape = c.inputs[0]!.shape.slice();
  shape[axis] = c.inputs.every((t) => t.shape[axis] != null) ? c.inputs.reduce((a, t) => a + (t.shape[axis] as number), 0) : null;
  return [{ name: c.e.node('Concat', c.inputs.map((t) => t.name), { axis }, c.out), shape }];
};

// ---------------------------------------------------------------- the table

export const CONVERTERS: Record<string, Converter> = {
  Conv2D: conv2d, Convolution2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d, SeparableConvolution2D: separableConv2d,
  Conv2DTranspose: conv2dTranspose, Convolution2DTranspose: conv2dTranspose,
  Dense: dense,
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  Normalization: normalization,
  Rescaling: rescaling,
  Activation: activationLayer,
  ReLU: reluLayer,
  LeakyReLU: leakyRelu,
  PReLU: prelu,
  ELU: eluLayer,
  Softmax: softmaxLayer,
  Dropout: identity, SpatialDropout2D: identity, GaussianNoise: identity, GaussianDropout: identity, AlphaDropout: identity,
  Flatten: flatten,
  Reshape: reshape,
  Permute: permute,
  GlobalAveragePooling2D: globalPool('ReduceMean'), GlobalAvgPool2D: globalPool('ReduceMean'),
  GlobalMaxPooling2D: globalPool('ReduceMax'), GlobalMaxPool2D: globalPool('ReduceMax'),
  MaxPooling2D: pool('MaxPool'), MaxPool2D: pool('MaxPool'),
  AveragePooling2D: pool('AveragePool'), AvgPool2D: pool('AveragePool'),
  ZeroPadding2D: zeroPadding,
  Cropping2D: cropping,
  UpSampling2D: upSampling,
  Add: chain('Add'),
  Subtract: chain('Sub'),
  Multiply: chain('Mul'),
  Maximum: chain('Max'),
  Minimum: chain('Min'),
  Average: average,
  Concatenate: concatenate,
};

/** The layer classes the importer reads (Keras's aliases included), for the README's list. */
export function supportedLayers(): string[] {
  return ['InputLayer', 'Sequential', 'Functional', 'Model', ...Object.keys(CONVERTERS)];
}

