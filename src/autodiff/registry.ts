/**
 * The table of gradient rules, one per ONNX op type (default domain), collected from the descriptors
 * that each rule file exports (rule.ts: `OpGradient`). The per-op facts the compiler needs (which
 * inputs carry gradients, which ops are rectifiers, the supported-op list) are derived from it.
 */
import type { Node } from '../onnx/model.js';
import { firstInputOnly, type GradRule, type OpGradient } from './rule.js';
import { abs } from './rules/abs.js';
import { add, sub } from './rules/add.js';
import { averagePool } from './rules/average-pool.js';
import { batchNormalization } from './rules/batch-normalization.js';
import { celu } from './rules/celu.js';
import { clip } from './rules/clip.js';
import { concat } from './rules/concat.js';
import { convTranspose } from './rules/conv-transpose.js';
import { conv } from './rules/conv.js';
import { div } from './rules/div.js';
import { dropout } from './rules/dropout.js';
import { einsum } from './rules/einsum.js';
import { elu } from './rules/elu.js';
import { erf } from './rules/erf.js';
import { exp } from './rules/exp.js';
import { expand } from './rules/expand.js';
import { gatherElements } from './rules/gather-elements.js';
import { gather } from './rules/gather.js';
import { gelu } from './rules/gelu.js';
import { gemm } from './rules/gemm.js';
import { globalAveragePool } from './rules/global-average-pool.js';
import { globalMaxPool } from './rules/global-max-pool.js';
import { groupNormalization } from './rules/group-normalization.js';
import { hardSigmoid } from './rules/hard-sigmoid.js';
import { hardSwish } from './rules/hard-swish.js';
import { cast, identity } from './rules/identity.js';
import { instanceNormalization } from './rules/instance-normalization.js';
import { layerNormalization } from './rules/layer-normalization.js';
import { leakyRelu } from './rules/leaky-relu.js';
import { logSoftmax } from './rules/log-softmax.js';
import { log } from './rules/log.js';
import { matMul } from './rules/mat-mul.js';
import { maxPool } from './rules/max-pool.js';
import { max, min } from './rules/min-max.js';
import { mish } from './rules/mish.js';
import { mul } from './rules/mul.js';
import { neg } from './rules/neg.js';
import { FIRST_INPUT_ONLY_WITHOUT_RULE, NON_DIFFERENTIABLE_OPS } from './rules/non-differentiable.js';
import { pad } from './rules/pad.js';
import { pow } from './rules/pow.js';
import { prelu } from './rules/prelu.js';
import { QUANTIZE_GRADIENTS } from './rules/quantize.js';
import { reciprocal } from './rules/reciprocal.js';
import { reduceL2 } from './rules/reduce-l2.js';
import { reduceMax, reduceMin } from './rules/reduce-max.js';
import { reduceMean, reduceSum } from './rules/reduce.js';
import { relu } from './rules/relu.js';
import { flatten, reshape, squeeze, unsqueeze } from './rules/reshape.js';
import { resize } from './rules/resize.js';
import { selu } from './rules/selu.js';
import { sigmoid } from './rules/sigmoid.js';
import { slice } from './rules/slice.js';
import { softmax } from './rules/softmax.js';
import { softplus } from './rules/softplus.js';
import { softsign } from './rules/softsign.js';
import { split } from './rules/split.js';
import { sqrt } from './rules/sqrt.js';
import { sum } from './rules/sum.js';
import { tanh } from './rules/tanh.js';
import { tile } from './rules/tile.js';
import { transpose } from './rules/transpose.js';
import { where } from './rules/where.js';

const DESCRIPTORS: readonly OpGradient[] = [
  add, sub, mul, div, sum, neg, pow, sqrt, reciprocal, exp, log, abs, max, min, where,
  relu, leakyRelu, prelu, clip, elu, selu, celu,
  sigmoid, hardSigmoid, hardSwish, tanh, softplus, softsign, mish, erf, gelu,
  conv, convTranspose, batchNormalization, instanceNormalization, groupNormalization, layerNormalization,
  maxPool, averagePool, globalAveragePool, globalMaxPool,
  reduceMean, reduceSum, reduceMax, reduceMin, reduceL2,
  concat, split, slice, gather, gatherElements, pad, tile, expand,
  flatten, reshape, squeeze, unsqueeze, transpose,
  gemm, matMul, einsum, softmax, logSoftmax,
  identity, dropout, cast,
  resize,
  ...QUANTIZE_GRADIENTS,
];

function table(list: readonly OpGradient[]): Readonly<Record<string, OpGradient>> {
  const t: Record<string, OpGradient> = {};
  for (const d of list) {
    if (t[d.op]) throw new Error(`two gradient rules for op '${d.op}'`);
    if (NON_DIFFERENTIABLE_OPS.has(d.op)) throw new Error(`op '${d.op}' has a gradient rule and is listed as non-differentiable`);
    t[d.op] = d;
  }
  return Object.freeze(t);
}

/** Every op with a gradient rule, by op type. */
export const OP_GRADIENTS: Readonly<Record<string, OpGradient>> = table(DESCRIPTORS);

/** The rules alone, by op type. */
export const GRADIENT_RULES: Readonly<Record<string, GradRule>> = Object.freeze(
  Object.fromEntries(Object.values(OP_GRADIENTS).map((d) => [d.op, d.rule])),
);

/** Op types a rectifier rule (plain / guided / deconvnet) applies to. */
export const RECTIFIER_OPS: ReadonlySet<string> = new Set(DESCRIPTORS.filter((d) => d.rectifier).map((d) => d.op));

/** Ops whose outputs carry no gradient (rules/non-differentiable.ts). */
export const NON_DIFFERENTIABLE: ReadonlySet<string> = NON_DIFFERENTIABLE_OPS;

/** Whether a node is one a gradient rule is for: its op type, in the rule's domain (ai.onnx when none). */
export function hasRule(n: Node): boolean {
  const d = OP_GRADIENTS[n.op_type];
  if (!d) return false;
  const domain = n.domain && n.domain !== 'ai.onnx' ? n.domain : undefined;
  return domain === d.domain || (domain === 'com.microsoft' && (n.op_type === 'QuantizeLinear' || n.op_type === 'DequantizeLinear'));
}

export function supportedOps(): string[] {
  return Object.keys(OP_GRADIENTS).sort();
}

/** Which input slots carry differentiable float data (as opposed to shapes, axes, indices, pads, weights). */
export function differentiableInputs(n: Node): boolean[] {
  const d = OP_GRADIENTS[n.op_type];
  if (d?.differentiable) return d.differentiable(n);
  if (!d && FIRST_INPUT_ONLY_WITHOUT_RULE.has(n.op_type)) return firstInputOnly(n);
  return n.input.map(() => true);
}
