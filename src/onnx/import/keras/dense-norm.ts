/**
 * Keras Dense, the normalisations (BatchNormalization, LayerNormalization, Normalization, Rescaling) and
 * the activation layers (Activation, ReLU, LeakyReLU, ELU, Softmax, PReLU) as ONNX nodes.
 */
import { float } from '../../model.js';
import { cfg } from './topology.js';
import { type Converter, err, type LayerCall, need, num, one, type T } from './layer-call.js';
import { activate, finish } from './activations.js';
import { kernelCheck } from './conv.js';

// ---------------------------------------------------------------- dense and normalisations

export const dense: Converter = (c) => {
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

export const batchNorm: Converter = (c) => {
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

export const layerNorm: Converter = (c) => {
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
export const normalization: Converter = (c) => {
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

export const rescaling: Converter = (c) => {
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

export const activationLayer: Converter = (c) => [{ name: activate(c, one(c).name, cfg(c.layer.config, 'activation'), c.out), shape: one(c).shape }];

/** ReLU(max_value, negative_slope, threshold) as Keras defines it. */
export const reluLayer: Converter = (c) => {
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

export const leakyRelu: Converter = (c) => {
  const x = one(c);
  const alpha = cfg<number>(c.layer.config, 'negative_slope') ?? cfg<number>(c.layer.config, 'alpha') ?? 0.3;
  return [{ name: c.e.node('LeakyRelu', [x.name], { alpha: float(Number(alpha)) }, c.out), shape: x.shape }];
};

export const eluLayer: Converter = (c) => {
  const x = one(c);
  return [{ name: c.e.node('Elu', [x.name], { alpha: float(num(c, 'alpha', 1)) }, c.out), shape: x.shape }];
};

export const softmaxLayer: Converter = (c) => {
  const x = one(c);
  const axis = axesOf(c, x.shape.length, -1);
  if (axis.length !== 1) throw err(c, 'a softmax over several axes is not supported');
  return [{ name: c.e.node('Softmax', [x.name], { axis: axis[0]! }, c.out), shape: x.shape }];
};

export const prelu: Converter = (c) => {
  const x = one(c);
  const [aw] = c.weights(['alpha']);
  const alpha = need(c, aw, 'alpha');
  // alpha's shape is the input's without the batch (shared axes as 1): it broadcasts as it is
  return [{ name: c.e.node('PRelu', [x.name, c.e.weight(alpha.data, alpha.shape, `${c.out}/alpha`)], {}, c.out), shape: x.shape }];
};
