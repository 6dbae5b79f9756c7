/**
 * Model-parameter randomisation (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018),
 * in memory on the ONNX graph: find the parameterised layers the score depends on and re-initialise
 * their weights — initializers or Constant nodes (through Identity) alike. Browser-safe.
 *
 * Parameterised layers: Conv, ConvTranspose, Gemm, MatMul with a constant operand,
 * BatchNormalization / InstanceNormalization / LayerNormalization (scale and shift; BatchNorm's running
 * statistics are left alone), ordered from the top (the logits) down, i.e. in reverse graph order.
 *
 * Distributions (seeded; a layer's new values depend only on the seed and the layer's position in the
 * top-down list, so cascading and independent randomisation draw the same values for a layer):
 * - `own` (default): every parameter tensor is redrawn i.i.d. from a normal distribution with the
 *   tensor's own mean and standard deviation (so activation scales stay roughly as trained);
 * - `he`: weight tensors (rank ≥ 2) from He-normal N(0, 2 / fan_in) (fan_in = the inputs summed over
 *   per output: C_in/group·kh·kw for Conv, K for Gemm/MatMul); other parameter tensors (biases,
 *   normalisation scale/shift) as `own`.
 */
import { GraphIndex, topoOrder, type ModelProto, type Node } from '../onnx/model.js';
import { decodeTensor, encodeTensor, type Tensor, type TensorProtoLike } from '../onnx/tensor.js';
import { scoreTensor } from '../autodiff/compiler.js';
import { attrInt } from '../onnx/model.js';
import { Rng, deriveSeed } from '../metrics/random.js';

export type InitKind = 'own' | 'he';
export const INIT_KINDS: readonly InitKind[] = ['own', 'he'];

export interface LayerParam {
  /** The input of the layer's node that reads it. */
  input: string;
  /** Where its value lives: an initializer or the output of a Constant node. */
  source: { kind: 'initializer' | 'constant'; name: string };
  role: 'weight' | 'bias' | 'scale';
  dims: number[];
  /** Inputs summed per output (for He-normal). */
  fanIn: number;
}

export interface ParamLayer {
  /** The node's name (or op:output when it has none). */
  name: string;
  op: string;
  params: LayerParam[];
  /** Position from the top (0 = the layer nearest the logits). */
  rank: number;
}

const PARAM_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'BatchNormalization', 'InstanceNormalization', 'LayerNormalization']);

/** Follows Identity nodes back to an initializer or a Constant node. */
function paramSource(index: GraphIndex, name: string): LayerParam['source'] | undefined {
  for (let guard = 0; guard < 64; guard++) {
    if (index.initializers.has(name)) return { kind: 'initializer', name };
    const p = index.producer.get(name);
    if (!p || p.domain) return undefined;
    if (p.op_type === 'Constant') return { kind: 'constant', name };
    if (p.op_type !== 'Identity' || !p.input[0]) return undefined;
    name = p.input[0];
  }
  return undefined;
}

function sourceTensor(model: ModelProto, index: GraphIndex, s: LayerParam['source']): Tensor | undefined {
  if (s.kind === 'initializer') return decodeTensor(index.initializers.get(s.name)!);
  return index.constant(s.name);
}

/** The parameterised layers that the output's score depends on, from the top (logits) down. */
export function parameterizedLayers(model: ModelProto, output?: string): ParamLayer[] {
  const out = output ?? model.graph.output[0]!.name;
  const score = scoreTensor(model, out);
  const order = topoOrder(model.graph);
  const index = new GraphIndex(model);
  const needed = new Set([out, score]);
  const onPath: Node[] = [];
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    if (!n.output.some((o) => needed.has(o))) continue;
    onPath.push(n);
    for (const i of n.input) if (i) needed.add(i);
  }
  const layers: ParamLayer[] = [];
  for (const n of onPath) {
    if (!PARAM_OPS.has(n.op_type) || n.domain) continue;
    const params: LayerParam[] = [];
    const add = (k: number, role: LayerParam['role']) => {
      const name = n.input[k];
      if (!name) return;
      const source = paramSource(index, name);
      if (!source) return;
      const t = sourceTensor(model, index, source);
      if (!t || t.dtype !== 'float32' || t.data.length === 0) return;
      params.push({ input: name, source, role, dims: t.dims, fanIn: fanIn(n, k, t.dims) });
    };
    switch (n.op_type) {
      case 'Conv': case 'ConvTranspose': add(1, 'weight'); add(2, 'bias'); break;
      case 'Gemm': add(1, 'weight'); add(2, 'bias'); if (!params.some((p) => p.role === 'weight')) { add(0, 'weight'); } break;
      case 'MatMul': add(1, 'weight'); if (!params.length) add(0, 'weight'); break;
      default: add(1, 'scale'); add(2, 'bias');
    }
    if (!params.length) continue;
    layers.push({ name: n.name || `${n.op_type}:${n.output[0]}`, op: n.op_type, params, rank: layers.length });
  }
  return layers;
}

function fanIn(n: Node, k: number, dims: number[]): number {
  const prod = (a: number[]) => a.reduce((x, v) => x * v, 1);
  switch (n.op_type) {
    case 'Conv': return prod(dims.slice(1));
    case 'ConvTranspose': return prod(dims.slice(1));
    case 'Gemm': {
      if (k === 1) return attrInt(n, 'transB', 0) ? dims[1] ?? 1 : dims[0] ?? 1;
      return attrInt(n, 'transA', 0) ? dims[0] ?? 1 : dims[1] ?? 1;
    }
    case 'MatMul': return k === 1 ? dims[dims.length - 2] ?? 1 : dims[dims.length - 1] ?? 1;
    default: return 1;
  }
}

function meanStd(d: ArrayLike<number>): [number, number] {
  let m = 0;
  for (let i = 0; i < d.length; i++) m += d[i]!;
  m /= d.length;
  let v = 0;
  for (let i = 0; i < d.length; i++) v += (d[i]! - m) ** 2;
  return [m, Math.sqrt(v / d.length)];
}

/** New values for one parameter. */
function redraw(p: LayerParam, old: Float32Array, init: InitKind, rng: Rng): Float32Array {
  const out = new Float32Array(old.length);
  if (init === 'he' && p.role === 'weight' && p.dims.length >= 2) {
    const s = Math.sqrt(2 / Math.max(1, p.fanIn));
    for (let i = 0; i < out.length; i++) out[i] = s * rng.normal();
    return out;
  }
  const [m, s] = meanStd(old);
  for (let i = 0; i < out.length; i++) out[i] = m + s * rng.normal();
  return out;
}

export interface RandomizeOptions {
  init?: InitKind;
  seed?: number;
}

/**
 * A copy of `model` with the parameters of `layers` redrawn (the rest of the model shares the
 * original's tensors; the original is not changed).
 */
export function randomizeLayers(model: ModelProto, layers: readonly ParamLayer[], opts: RandomizeOptions = {}): ModelProto {
  const init = opts.init ?? 'own';
  const seed = opts.seed ?? 0;
  const index = new GraphIndex(model);
  const newValues = new Map<string, Tensor>(); // source name -> tensor
  const kinds = new Map<string, LayerParam['source']['kind']>();
  for (const layer of layers) {
    const rng = new Rng(deriveSeed(seed, layer.rank));
    for (const p of layer.params) {
      if (newValues.has(p.source.name)) continue; // shared parameter: drawn once
      const old = sourceTensor(model, index, p.source)!;
      newValues.set(p.source.name, { dtype: 'float32', dims: old.dims.slice(), data: redraw(p, old.data as Float32Array, init, rng) });
      kinds.set(p.source.name, p.source.kind);
    }
  }
  const g = model.graph;
  const initializer: TensorProtoLike[] = g.initializer.map((t) => {
    const v = t.name !== undefined && kinds.get(t.name) === 'initializer' ? newValues.get(t.name) : undefined;
    return v ? encodeTensor(t.name!, v) : t;
  });
  const node = g.node.map((n) => {
    if (n.op_type !== 'Constant' || !n.output[0] || kinds.get(n.output[0]) !== 'constant') return n;
    const v = newValues.get(n.output[0])!;
    return { ...n, attribute: [{ name: 'value', type: 4, t: encodeTensor('', v) }] };
  });
  return { ...model, graph: { ...g, initializer, node } };
}

export { shortLayerName } from '../util/text.js';
