/**
 * What converting one TF node needs (`NodeCtx`, made by `nodeContext`): its data inputs as ONNX values or
 * constants, the one-line failure naming the node, the Transposes between NHWC and NCHW, the activations
 * TF fuses into convolutions and MatMuls, and batch norm as constant scale and shift. The converters of
 * the ops (nchw.ts, elementwise.ts, shape.ts) receive it. Browser-safe.
 */
import { float } from '../../model.js';
import type { Tensor } from '../../tensor.js';
import { attrF, attrS, ImportError, keyOf, parseRef, values, type GraphImporter, type TfNode, type Val } from './graph.js';

/** Fused ops inside FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul. */
export const TFJS_FUSED_OPS: readonly string[] = ['BiasAdd', 'FusedBatchNorm', 'Relu', 'Relu6', 'Elu', 'LeakyRelu', 'Prelu', 'Sigmoid'];

/** The ops that may read a tensor between SpaceToBatchND and BatchToSpaceND (besides the convolutions). */
const ELEMENTWISE = new Set(['BiasAdd', 'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Minimum', 'Relu', 'Relu6', 'Elu', 'Selu',
  'LeakyRelu', 'Prelu', 'Sigmoid', 'Tanh', 'Identity', 'StopGradient', 'FusedBatchNorm', 'FusedBatchNormV3', 'Neg', 'Square', 'Exp', 'Log', 'Sqrt', 'Rsqrt', 'Pow']);

/** One TF node being converted. */
export interface NodeCtx {
  g: GraphImporter;
  n: TfNode;
  /** "<op> node '<name>'", for messages. */
  where: string;
  /** Throws the import error naming the model and the node. */
  fail: (why: string) => never;
  /** The data inputs' references (control inputs '^x' dropped). */
  data: string[];
  /** Data input i as an ONNX value (SpaceToBatchND outputs included). */
  inVal: (i: number) => Val;
  /** Data input i's tensor name (fails on a SpaceToBatchND output: only a convolution may read it). */
  x: (i: number) => string;
  /** Data input i, which must be a constant. */
  cst: (i: number) => Tensor;
  /** Data input i's constant values. */
  nums: (i: number) => number[];
  /** Whether every data input is a constant (the op is folded). */
  allConst: boolean;
  /** Records `name` as the node's output `index` (default 0). */
  set: (name: string, extra?: Partial<Val>, index?: number) => void;
  /** The node's name: its first output's. */
  out: string;
  toNCHW: (t: string) => string;
  toNHWC: (t: string, name?: string) => string;
  /** data_format NHWC (the default) rather than NCHW. */
  channelsLast: boolean;
  /** Activation `kind` applied to `t`, named `name`; `alphaRef`: Prelu's alpha. */
  activation: (kind: string, t: string, name: string | undefined, alphaRef?: string) => string;
  /** Per-channel batch norm from the constant inputs scaleI.. scaleI+3 (scale, offset, mean, variance). */
  bnConsts: (scaleI: number, epsilon: number) => { mul: Float32Array; add: Float32Array };
}

/** The context of node `n`; fails on what no converter reads (a dilated tensor where it may not go, a data_format). */
export function nodeContext(g: GraphImporter, n: TfNode): NodeCtx {
  const where = `${n.op} node '${n.name}'`;
  const fail = (why: string): never => { throw new ImportError(`${g.source}: ${where}: ${why}`); };
  const data = (n.input ?? []).filter((r) => !r.startsWith('^'));
  const inVal = (i: number): Val => {
    const r = data[i];
    if (r === undefined) fail(`input ${i} is missing`);
    return g.ref(r!, n.name);
  };
  const x = (i: number): string => {
    const v = inVal(i);
    if (v.s2b) fail('reads the output of SpaceToBatchND; only a convolution may (dilated convolutions)');
    return v.name;
  };
  const cst = (i: number): Tensor => {
    const r = data[i];
    const t = r === undefined ? undefined : g.constant(r);
    if (!t) fail(`its input ${i} ('${r ?? ''}') must be a constant`);
    return t!;
  };
  const nums = (i: number): number[] => values(cst(i));
  const allConst = data.length > 0 && data.every((r) => g.constant(r));
  const set = (name: string, extra: Partial<Val> = {}, index = 0): void => { g.vals.set(keyOf(n.name, index), { name, ...extra }); };
  const dilatedIn = data.some((r) => { const v = g.vals.get(keyOf(parseRef(r)!.node, parseRef(r)!.index)); return !!v?.dilated; });
  if (dilatedIn && !ELEMENTWISE.has(n.op) && !['Conv2D', 'DepthwiseConv2dNative', '_FusedConv2D', 'FusedConv2D', 'FusedDepthwiseConv2dNative', 'BatchToSpaceND'].includes(n.op)) {
    fail('reads a tensor between SpaceToBatchND and BatchToSpaceND; only convolutions and elementwise ops may (dilated convolutions)');
  }
  const out = n.name;
  const toNCHW = (t: string) => g.emit('Transpose', [t], { perm: [0, 3, 1, 2] });
  const toNHWC = (t: string, name?: string) => g.emit('Transpose', [t], { perm: [0, 2, 3, 1] }, name);
  const nhwc = attrS(n, 'data_format', 'NHWC');
  if (['Conv2D', 'DepthwiseConv2dNative', '_FusedConv2D', 'FusedConv2D', 'FusedDepthwiseConv2dNative', 'MaxPool', 'AvgPool', 'BiasAdd'].includes(n.op) && nhwc !== 'NHWC' && nhwc !== 'NCHW') fail(`data_format ${nhwc} is not supported (NHWC, NCHW)`);
  const channelsLast = nhwc === 'NHWC';

  /** Activation `kind` applied to `t`; `args` are the fused node's extra inputs after the bias. */
  const activation = (kind: string, t: string, name: string | undefined, alphaRef?: string): string => {
    switch (kind) {
      case 'Relu': return g.emit('Relu', [t], {}, name);
      case 'Relu6': return g.emit('Clip', [t, g.scalar(0), g.scalar(6)], {}, name);
      case 'Elu': return g.emit('Elu', [t], { alpha: float(1) }, name);
      case 'Selu': return g.emit('Selu', [t], {}, name);
      case 'Sigmoid': return g.emit('Sigmoid', [t], {}, name);
      case 'Tanh': return g.emit('Tanh', [t], {}, name);
      case 'LeakyRelu': return g.emit('LeakyRelu', [t], { alpha: float(attrF(n, n.op === 'LeakyRelu' ? 'alpha' : 'leakyrelu_alpha', 0.2)) }, name);
      case 'Prelu': {
        if (!alphaRef) fail('Prelu without its alpha');
        return g.emit('PRelu', [t, g.ref(alphaRef!, n.name).name], {}, name);
      }
      default: return fail(`fused op ${kind} is not supported (fused ops: ${TFJS_FUSED_OPS.join(', ')})`);
    }
  };

  /** Per-channel batch norm as constant scale and shift. */
  const bnConsts = (scaleI: number, epsilon: number): { mul: Float32Array; add: Float32Array } => {
    const [scale, offset, mean, variance] = [nums(scaleI), nums(scaleI + 1), nums(scaleI + 2), nums(scaleI + 3)];
    const c = scale.length;
    const mul = new Float32Array(c);
    const add = new Float32Array(c);
    for (let k = 0; k < c; k++) {
      mul[k] = scale[k]! / Math.sqrt(variance[k]! + epsilon);
      add[k] = offset[k]! - mean[k]! * mul[k]!;
    }
    return { mul, add };
  };
  return { g, n, where, fail, data, inVal, x, cst, nums, allConst, set, out, toNCHW, toNHWC, channelsLast, activation, bnConsts };
}
