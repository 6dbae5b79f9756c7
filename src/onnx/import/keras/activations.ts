/**
 * Keras activations as ONNX nodes (`activate`: every name in ACTIVATIONS, TF.js's camelCase included),
 * the end of a layer (`finish`, `finishNCHW`) and the Transposes between Keras's NHWC and ONNX's NCHW.
 */
import { float } from '../../model.js';
import { cfg } from './topology.js';
import { type Dim, err, type LayerCall, type T } from './layer-call.js';

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
export function activate(c: LayerCall, x: string, activation: unknown, out: string): string {
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

export function finish(c: LayerCall, x: string, shape: Dim[]): T[] {
  return [{ name: activate(c, x, cfg(c.layer.config, 'activation'), c.out), shape }];
}

/**
 * The end of a layer computed in NCHW (convolutions, pools, resizes): the layer's name goes to its NCHW
 * result (activation applied there, element-wise), and the channels-last tensor that the next layers read
 * is `<layer>/nhwc`. So the automatic layer, which walks up past data movement (Transposes), lands on
 * the layer's own name. A softmax activation (over the channels) is applied channels-last.
 */
export function finishNCHW(c: LayerCall, y: string, shape: Dim[], activation: unknown = cfg(c.layer.config, 'activation')): T[] {
  const a = activationName(activation).toLowerCase();
  if (a === 'softmax' || a === 'log_softmax') return [{ name: activate(c, toNHWC(c, y), activation, c.out), shape }];
  const named = activate(c, y, activation, c.out);
  return [{ name: c.e.node('Transpose', [named], { perm: [0, 2, 3, 1] }, `${c.out}/nhwc`), shape }];
}

// ---------------------------------------------------------------- NCHW and back

export const toNCHW = (c: LayerCall, x: string) => c.e.node('Transpose', [x], { perm: [0, 3, 1, 2] }, `${c.out}/to_nchw`);
const toNHWC = (c: LayerCall, x: string) => c.e.node('Transpose', [x], { perm: [0, 2, 3, 1] }, `${c.out}/nhwc`);
