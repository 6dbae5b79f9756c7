/**
 * CAM (Zhou et al. 2016), the original class activation map: for a network whose layer is followed by
 * global average pooling and a linear classifier, map_k = Σ_c W[k, c]·A_c with W the classifier's
 * weights. Targets other than one class weigh the classes by the target's seed: w_c = Σ_k seed_k·W[k, c]
 * (a contrast c − D gives W[c] − W[D]; a counterfactual −W[c]).
 *
 * Recognised heads (pass-through ops Identity, Dropout, Flatten, Reshape, Squeeze allowed between, and
 * Transposes before the pooling, whose axes are followed):
 * - layer → GlobalAveragePool | ReduceMean over the grid axes | AveragePool over the whole map → Gemm |
 *   MatMul (+ Add) | 1×1 Conv → score; channels-last layers included (Swin's norm → permute → pooling,
 *   a TF/Keras ReduceMean over H and W);
 * - layer → 1×1 Conv (+ Add, Relu) → global average pooling → score (fully convolutional classifiers such
 *   as SqueezeNet: the map is the class plane before the ReLU).
 */
import { weightedSum } from './gradcam.js';
import { attrInt, attrInts, GraphIndex, type ModelProto, type Node } from '../../onnx/model.js';
import type { ExternalDataReader, Tensor } from '../../onnx/tensor.js';
import type { CamContext, CamMethod, LayerTensors } from '../types.js';
import type { LayerLayout } from '../../layout/describe.js';
import { FORWARD_NEEDS, FORWARD_BATCHING, FORWARD_COST } from './common.js';

export class CamShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

export interface Classifier {
  /** [K, C] */
  weights: Float32Array;
  classes: number;
  channels: number;
  /** The ops of the head, e.g. ['GlobalAveragePool', 'Flatten', 'Gemm']. */
  ops: string[];
}

const PASS = new Set(['Identity', 'Dropout', 'Flatten', 'Reshape', 'Squeeze']);

/**
 * The classifier weights after `layer` ([N, C, h, w]) up to the score tensor, or a CamShapeError saying
 * what the model has instead.
 */
export function findClassifier(model: ModelProto, layer: string, score: string, layerDims: readonly number[], external?: ExternalDataReader, layout?: LayerLayout): Classifier {
  const index = new GraphIndex(model, external);
  const [, C, h, w] = layerDims as [number, number, number, number];
  // where the grid axes of the layer's own tensor are (followed through Transposes before the pooling)
  let grid = layout ? (layout.gridAxes ?? null) : [2, 3];
  let rank = layout?.rank ?? 4;
  const ops: string[] = [];
  const fail = (why: string): never => {
    throw new CamShapeError(`cam needs the layer to be followed by global average pooling and a linear classifier (Gemm, MatMul or 1×1 Conv) that gives the score; after '${layer}' the model has ${ops.length ? ops.join(' → ') : 'nothing'}: ${why}. Use gradcam (equal to CAM up to scale on such heads) or choose the last convolutional layer (see 'gradcam layers')`);
  };
  const next = (t: string): Node => {
    const users = (index.consumers.get(t) ?? []).filter((n) => n.op_type !== 'Shape');
    if (users.length !== 1) fail(users.length ? `tensor '${t}' feeds ${users.length} nodes (${users.map((u) => u.op_type).join(', ')})` : `tensor '${t}' feeds no node`);
    ops.push(users[0]!.op_type);
    return users[0]!;
  };
  const constant = (name: string | undefined, what: string): Tensor => {
    const c = name ? index.constant(name) : undefined;
    if (!c) return fail(`the ${what} is not a constant`);
    return c;
  };
  const nchwGrid = () => !!grid && rank === 4 && grid.join(',') === '2,3';
  const isGap = (n: Node): boolean => {
    if (n.op_type === 'GlobalAveragePool') return nchwGrid();
    if (n.op_type === 'ReduceMean') {
      const axes = attrInts(n, 'axes') ?? (n.input[1] ? Array.from(constant(n.input[1], 'ReduceMean axes').data as BigInt64Array, Number) : undefined);
      return !!axes && !!grid && axes.map((a) => (a < 0 ? a + rank : a)).sort().join(',') === [...grid].sort().join(',');
    }
    if (n.op_type === 'AveragePool') {
      if (!nchwGrid()) return false;
      const k = attrInts(n, 'kernel_shape') ?? [];
      const pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
      return k[0] === h && k[1] === w && pads.every((p) => p === 0);
    }
    return false;
  };
  /** [K, C] weights of a linear node applied to pooled features (x is the path input). */
  const linear = (n: Node, x: string): Float32Array => {
    if (n.op_type === 'Gemm') {
      if (n.input[0] !== x || attrInt(n, 'transA', 0) !== 0) fail('the Gemm does not take the pooled features as its first operand');
      const Wt = constant(n.input[1], 'Gemm weight');
      const alpha = n.attribute.find((a) => a.name === 'alpha')?.f ?? 1;
      const transB = attrInt(n, 'transB', 0) === 1;
      return toKC(Wt, transB ? 'KC' : 'CK', alpha);
    }
    if (n.op_type === 'MatMul') {
      if (n.input[0] !== x) fail('the MatMul does not take the pooled features as its first operand');
      return toKC(constant(n.input[1], 'MatMul weight'), 'CK', 1);
    }
    if (n.op_type === 'Conv') {
      const Wt = constant(n.input[1], 'Conv weight');
      if (Wt.dims.length !== 4 || Wt.dims[2] !== 1 || Wt.dims[3] !== 1 || attrInt(n, 'group', 1) !== 1) fail('the Conv is not a 1×1 convolution with group 1');
      return toKC({ ...Wt, dims: [Wt.dims[0]!, Wt.dims[1]!] }, 'KC', 1);
    }
    return fail(`${n.op_type} is not a linear classifier`);
  };
  const toKC = (t: Tensor, layout: 'KC' | 'CK', alpha: number): Float32Array => {
    if (t.dims.length !== 2) fail(`the classifier weight has shape [${t.dims.join(', ')}]`);
    const [a, b] = t.dims as [number, number];
    const [K, c] = layout === 'KC' ? [a, b] : [b, a];
    if (c !== C) fail(`the classifier takes ${c} features but the layer has ${C} channels`);
    const out = new Float32Array(K * C);
    const src = t.data as Float32Array;
    for (let k = 0; k < K; k++) for (let j = 0; j < C; j++) out[k * C + j] = alpha * (layout === 'KC' ? src[k * C + j]! : src[j * K + k]!);
    return out;
  };
  // follow the single chain from the layer
  let t = layer;
  let n = next(t);
  while (PASS.has(n.op_type) || n.op_type === 'Transpose') {
    if (n.op_type === 'Transpose') {
      const perm = attrInts(n, 'perm') ?? Array.from({ length: rank }, (_, k) => rank - 1 - k);
      grid = grid ? grid.map((a) => perm.indexOf(a)) : null;
    } else if (n.op_type !== 'Identity' && n.op_type !== 'Dropout') {
      grid = null; // a reshape before the pooling: the grid axes are lost
    }
    t = n.output[0]!;
    n = next(t);
  }
  let W: Float32Array;
  if (isGap(n)) {
    const noLinear = () => fail(`the score follows the pooling with no linear classifier in between (with a 1×1-conv classifier before the pooling, choose the layer that feeds it)`);
    t = n.output[0]!;
    if (t === score) noLinear();
    n = next(t);
    while (PASS.has(n.op_type)) {
      t = n.output[0]!;
      if (t === score) noLinear();
      n = next(t);
    }
    W = linear(n, t);
    t = n.output[0]!;
    while (t !== score) {
      n = next(t);
      if (!(PASS.has(n.op_type) || (n.op_type === 'Add' && n.input.some((i) => i !== t && index.constant(i))))) fail(`${n.op_type} after the classifier is not a bias or a reshape`);
      t = n.output[0]!;
    }
  } else if (n.op_type === 'Conv') {
    W = linear(n, t);
    t = n.output[0]!;
    n = next(t);
    while (!isGap(n)) {
      if (!(PASS.has(n.op_type) || n.op_type === 'Relu' || (n.op_type === 'Add' && n.input.some((i) => i !== t && index.constant(i))))) fail(`${n.op_type} between the 1×1 classifier and the pooling`);
      t = n.output[0]!;
      n = next(t);
    }
    t = n.output[0]!;
    while (t !== score) {
      n = next(t);
      if (!PASS.has(n.op_type)) fail(`${n.op_type} after the pooling`);
      t = n.output[0]!;
    }
  } else {
    return fail(`${n.op_type} is neither global average pooling nor a 1×1 classifier`);
  }
  return { weights: W, classes: W.length / C, channels: C, ops };
}

/** CAM channel weights [rows, C]: the seed of each row pulled back through the classifier. */
export async function camWeights(t: LayerTensors, ctx: CamContext): Promise<Float32Array> {
  const [rows, c] = t.dims;
  const { weights: W, classes: K } = await ctx.classifier();
  if (K !== ctx.scoreSize) throw new CamShapeError(`cam: the classifier has ${K} outputs but the score has ${ctx.scoreSize} values per image`);
  const out = new Float32Array(rows * c);
  for (let r = 0; r < rows; r++) {
    const row = ctx.rows[r]!;
    const seed = row.seed(ctx.scores.subarray(row.image * K, (row.image + 1) * K));
    for (let k = 0; k < K; k++) {
      const s = seed[k]!;
      if (s === 0) continue;
      for (let j = 0; j < c; j++) out[r * c + j] += s * W[k * c + j]!;
    }
  }
  return out;
}

export const cam: CamMethod = {
  name: 'cam',
  kind: 'cam',
  summary: 'CAM: activations weighted by the classifier weights after global average pooling (needs that head)',
  citation: 'Zhou et al. 2016, Learning Deep Features for Discriminative Localization (CVPR)',
  needs: FORWARD_NEEDS,
  batching: FORWARD_BATCHING,
  cost: FORWARD_COST,
  options: [],
  volumes: false,
  compute: () => {
    throw new Error('cam reads the classifier weights from the model: use Explainer.explain');
  },
  weightsAsync: camWeights,
};
