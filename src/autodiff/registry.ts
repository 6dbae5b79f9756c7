/** The table of gradient rules, one per ONNX op type (default domain). */
import type { GradRule } from './rule.js';
import { add, sub } from './rules/add.js';
import { averagePool } from './rules/average-pool.js';
import { batchNormalization } from './rules/batch-normalization.js';
import { clip } from './rules/clip.js';
import { concat } from './rules/concat.js';
import { conv } from './rules/conv.js';
import { convTranspose } from './rules/conv-transpose.js';
import { div } from './rules/div.js';
import { expand } from './rules/expand.js';
import { gather } from './rules/gather.js';
import { gemm } from './rules/gemm.js';
import { globalAveragePool } from './rules/global-average-pool.js';
import { globalMaxPool } from './rules/global-max-pool.js';
import { hardSigmoid } from './rules/hard-sigmoid.js';
import { hardSwish } from './rules/hard-swish.js';
import { identity } from './rules/identity.js';
import { leakyRelu } from './rules/leaky-relu.js';
import { logSoftmax } from './rules/log-softmax.js';
import { matMul } from './rules/mat-mul.js';
import { maxPool } from './rules/max-pool.js';
import { mul } from './rules/mul.js';
import { neg } from './rules/neg.js';
import { pad } from './rules/pad.js';
import { prelu } from './rules/prelu.js';
import { reduceMean, reduceSum } from './rules/reduce.js';
import { relu } from './rules/relu.js';
import { reshape } from './rules/reshape.js';
import { resize } from './rules/resize.js';
import { sigmoid } from './rules/sigmoid.js';
import { slice } from './rules/slice.js';
import { softmax } from './rules/softmax.js';
import { softplus } from './rules/softplus.js';
import { split } from './rules/split.js';
import { sum } from './rules/sum.js';
import { tanh } from './rules/tanh.js';
import { tile } from './rules/tile.js';
import { transpose } from './rules/transpose.js';

export const GRADIENT_RULES: Readonly<Record<string, GradRule>> = {
  Add: add, Sub: sub, Mul: mul, Div: div, Sum: sum, Neg: neg,
  Relu: relu, LeakyRelu: leakyRelu, PRelu: prelu, Clip: clip,
  Sigmoid: sigmoid, HardSigmoid: hardSigmoid, HardSwish: hardSwish, Tanh: tanh, Softplus: softplus,
  Conv: conv, ConvTranspose: convTranspose, BatchNormalization: batchNormalization,
  MaxPool: maxPool, AveragePool: averagePool, GlobalAveragePool: globalAveragePool, GlobalMaxPool: globalMaxPool,
  ReduceMean: reduceMean, ReduceSum: reduceSum,
  Concat: concat, Split: split, Slice: slice, Gather: gather, Pad: pad, Tile: tile, Expand: expand,
  Flatten: reshape, Reshape: reshape, Squeeze: reshape, Unsqueeze: reshape, Transpose: transpose,
  Gemm: gemm, MatMul: matMul, Softmax: softmax, LogSoftmax: logSoftmax,
  Identity: identity, Dropout: identity, Cast: identity,
  Resize: resize,
};

/** Op types a rectifier rule (plain / guided / deconvnet) applies to. */
export const RECTIFIER_OPS = new Set(['Relu', 'Clip', 'LeakyRelu', 'PRelu']);

export function supportedOps(): string[] {
  return Object.keys(GRADIENT_RULES).sort();
}
