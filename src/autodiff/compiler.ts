/**
 * The gradient-graph compiler. Given an ONNX model, the tensors to explain (layers, and optionally the
 * input) and the output to explain, it appends backward nodes built from standard ONNX ops so that one
 * run of the augmented model returns the model outputs, the class scores, the layer activations and
 * d(seed · score)/d(layer). The seed is a graph input ([batch, classes]), so one compiled graph serves
 * every class, every weighting of classes and every batch size.
 *
 * Compilation has two steps because the rules need static shapes: `prepare` clones and upgrades the
 * model and finds the gradient path (the tensors whose shapes are needed); the caller learns those
 * shapes from one probe run; `compile` then emits the backward graph.
 */
import { Builder } from './builder.js';
import { differentiableInputs, GRADIENT_RULES, hasRule, NON_DIFFERENTIABLE, RECTIFIER_OPS, supportedOps } from './registry.js';
import { GradError, nodeLabel, type GradContext, type Rectifier } from './rule.js';
import { declaredDims, GraphIndex, makeValueInfo, opsetVersion, topoOrder, type ModelProto, type Node } from '../onnx/model.js';
import { QUANTIZED_OPS, realLayer } from './rules/quantize.js';
import type { ExternalDataReader, Tensor } from '../onnx/tensor.js';
import { upgradeOpset } from '../onnx/upgrade.js';

export interface GradientSpec {
  /** The model output to explain (default: the first). */
  output?: string;
  /** Tensors whose activations and gradients are returned. */
  layers: string[];
  /** Also return the gradient with respect to the model's (first) input. */
  inputGradient?: boolean;
  /** Rectifier rule for the input gradient (default plain); layer gradients are always plain. */
  rectifier?: Rectifier;
  /** Which nodes the rectifier rule applies to: only Relu (as pytorch-grad-cam) or Relu, Clip, LeakyRelu, PRelu. */
  rectifierOps?: 'relu' | 'all';
  /**
   * A method's post-processing of the (single) layer inside the graph (Grad-CAM's maps: cam/methods/
   * gradcam-graph.ts): the layer's activation and gradient then stay in the graph and the run returns the
   * hook's outputs instead.
   */
  post?: LayerPost;
}

/**
 * The compiler's hook for a method's in-graph post-processing of one layer: `build` adds nodes with the
 * builder from the layer's activation and gradient (and its static dims) and names its outputs. `key`
 * identifies the hook and its parameters in the compiled graphs' cache keys (JSON drops `build`).
 */
export interface LayerPost {
  key: string;
  build(b: Builder, opset: number, activation: string, gradient: string, dims: number[]): Record<string, string>;
}

export const SEED_INPUT = 'gradcam/seed';
/** [batch, 1]: 1 adds the one-hot of the arg-max class to the seed inside the graph (one run for 'top'). */
export const USE_TOP_INPUT = 'gradcam/use_top';
const SCORE_OUTPUT = 'gradcam/score';
const gradOutput = (t: string) => `gradcam/grad:${t}`;

export interface Prepared {
  model: ModelProto;
  spec: GradientSpec;
  /** The tensor that is differentiated: the output, or the input of a final Softmax / LogSoftmax. */
  score: string;
  output: string;
  input: string;
  pathNodes: Node[];
  needsGrad: Set<string>;
  /** Tensors whose static shapes `compile` needs. */
  shapeTensors: string[];
  /** Non-constant parameter tensors (pads, axes...) whose values `compile` needs. */
  valueTensors: string[];
  index: GraphIndex;
}

export interface Compiled {
  model: ModelProto;
  input: string;
  seed: string;
  /** The use-top input's name, when the score is [batch, classes]. */
  useTop?: string;
  /** Run outputs: the score tensor, per-layer activation and gradient, the input gradient. */
  outputs: { score: string; activations: Record<string, string>; gradients: Record<string, string>; inputGradient?: string; post?: Record<string, string> };
  scoreShape: number[];
  backwardNodes: number;
  /** Which forward node's gradient rule emitted each backward node (by name), for errors that name gradcam's own nodes. */
  origins: Map<string, string>;
  /** How the gradient was computed when it is not exact: through quantised (int8) ops, the straight-through estimate. */
  gradient?: string;
}

/** The note an explanation carries when its gradients went through quantised ops (rules/quantize.ts). */
export const STE_NOTE = 'straight-through estimate (int8)';

export function cloneModel(m: ModelProto): ModelProto {
  const g = m.graph;
  return {
    ...m,
    opset_import: m.opset_import.map((o) => ({ ...o })),
    graph: {
      ...g,
      node: g.node.map((n) => ({ ...n, input: n.input.slice(), output: n.output.slice(), attribute: n.attribute.slice() })),
      initializer: g.initializer.slice(),
      input: g.input.slice(),
      output: g.output.slice(),
      value_info: (g.value_info ?? []).slice(),
    },
  };
}

/** Model inputs that are real inputs (not initializers listed as inputs, as old exporters did). */
export function realInputs(m: ModelProto): string[] {
  const inits = new Set(m.graph.initializer.map((t) => t.name));
  return m.graph.input.map((i) => i.name).filter((n) => !inits.has(n));
}

/**
 * The differentiated tensor for an output: the logits before a final Softmax / LogSoftmax, and before the
 * final Sigmoid of a one-plane dense output (`onePlaneSigmoid`: saturated sigmoid pixels give no gradient).
 */
export function scoreTensor(m: ModelProto, output: string): string {
  const producer = m.graph.node.find((n) => n.output.includes(output));
  if (producer && !producer.domain && (producer.op_type === 'Softmax' || producer.op_type === 'LogSoftmax')) return producer.input[0]!;
  if (onePlaneSigmoid(m, output)) return producer!.input[0]!;
  return output;
}

/**
 * Whether `output` is a one-plane dense map that ends in a Sigmoid (salient-object, matting, text
 * detectors): declared [N, 1, H, W] or [N, H, W] and made by a Sigmoid node. Its score is the Sigmoid's
 * input (the logit) and its segmentation region is `sigmoid(logit) > threshold`.
 */
export function onePlaneSigmoid(m: ModelProto, output: string): boolean {
  const producer = m.graph.node.find((n) => n.output.includes(output));
  if (!producer || producer.domain || producer.op_type !== 'Sigmoid') return false;
  const v = m.graph.output.find((o) => o.name === output);
  const dims = v ? declaredDims(v) : undefined;
  return !!dims && (dims.length === 3 || (dims.length === 4 && dims[1] === 1));
}

export function prepare(original: ModelProto, spec: GradientSpec, external?: ExternalDataReader): Prepared {
  const outputs = original.graph.output.map((o) => o.name);
  const output = spec.output ?? outputs[0]!;
  if (!outputs.includes(output)) throw new GradError(`unknown output '${output}'; the model's outputs are: ${outputs.join(', ')}`);
  const inputs = realInputs(original);
  if (inputs.length !== 1) throw new GradError(`models with ${inputs.length} inputs are not supported (inputs: ${inputs.join(', ')}); gradcam explains single-input image models`);
  const input = inputs[0]!;
  const score = scoreTensor(original, output);

  const model = cloneModel(original);
  upgradeOpset(model);
  const index = new GraphIndex(model, external);
  const order = topoOrder(model.graph);
  const known = new Set<string>([input, ...model.graph.initializer.map((t) => t.name ?? '')]);
  for (const n of order) for (const o of n.output) known.add(o);
  const sources = [...spec.layers];
  if (spec.inputGradient) sources.push(input);
  for (const l of sources) if (!known.has(l)) throw new GradError(`unknown tensor '${l}'`);

  // forward reach from the sources, backward reach from the score, along differentiable edges only
  const fwd = downstream(order, sources);
  const bwd = upstream(order, [score]);
  for (const l of sources) {
    if (!bwd.has(l)) throw new GradError(`tensor '${l}' does not influence the output '${output}', so it has no gradient`);
  }
  if (spec.layers.includes(score)) throw new GradError(`tensor '${score}' is the score itself; choose a layer before it`);
  const needsGrad = new Set([...fwd].filter((t) => bwd.has(t)));
  const pathNodes = order.filter((n) => {
    if (NON_DIFFERENTIABLE.has(n.op_type)) return false;
    const diff = differentiableInputs(n);
    return n.input.some((i, k) => diff[k] && needsGrad.has(i)) && n.output.some((o) => bwd.has(o));
  });
  for (const n of pathNodes) if (!hasRule(n)) throw noRule(n, output);
  const shapeTensors = new Set<string>([score]);
  const valueTensors = new Set<string>();
  for (const n of pathNodes) {
    const diff = differentiableInputs(n);
    for (const t of n.output) if (t) shapeTensors.add(t);
    n.input.forEach((t, k) => {
      if (!t || index.constant(t)) return;
      if (diff[k]) shapeTensors.add(t);
      else valueTensors.add(t); // pads, axes, starts... computed by a shape subgraph: learnt by the probe
    });
  }
  return { model, spec, score, output, input, pathNodes, needsGrad, shapeTensors: [...shapeTensors], valueTensors: [...valueTensors], index };
}

/** Tensors reached from `sources` along differentiable edges (not through the ops in `stop`). */
function downstream(order: readonly Node[], sources: readonly string[], stop?: ReadonlySet<string>): Set<string> {
  const reach = new Set(sources);
  for (const n of order) {
    if (NON_DIFFERENTIABLE.has(n.op_type) || stop?.has(n.op_type)) continue;
    const diff = differentiableInputs(n);
    if (n.input.some((i, k) => diff[k] && reach.has(i))) for (const o of n.output) if (o) reach.add(o);
  }
  return reach;
}

/** Tensors that reach one of `targets` along differentiable edges. */
function upstream(order: readonly Node[], targets: readonly string[]): Set<string> {
  const reach = new Set(targets);
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    if (NON_DIFFERENTIABLE.has(n.op_type) || !n.output.some((o) => reach.has(o))) continue;
    const diff = differentiableInputs(n);
    n.input.forEach((i, j) => { if (i && diff[j]) reach.add(i); });
  }
  return reach;
}

function noRule(n: Node, output: string): GradError {
  return new GradError(
    `cannot differentiate ${n.domain ? `${n.domain}.` : ''}${nodeLabel(n)}: no gradient rule for op '${n.op_type}' (it lies between the explained tensors and the output '${output}'). Supported ops: ${supportedOps().join(', ')}`,
  );
}

/** Ops after which no tensor has a grid (the automatic layer lies before them). */
const COLLAPSING = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool', 'QLinearGlobalAveragePool', 'Flatten']);

/**
 * The refusals that need no run of the model, thrown before any (issue 21: a model that will be refused
 * is refused before the probe's expensive work): `prepare`'s checks for the layers named by tensor, and
 * for 'auto' when every tensor before the grid collapses (global pooling, Flatten) has an op without a
 * gradient rule between it and the score, so that no automatic layer could be differentiated.
 */
export function refuseEarly(original: ModelProto, layers: readonly string[], output: string | undefined, inputGradient: boolean): void {
  const g = original.graph;
  const tensors = new Set<string>([...g.input.map((i) => i.name), ...g.node.flatMap((n) => n.output)]);
  const named = layers.filter((l) => l !== 'auto' && tensors.has(l));
  if (named.length || inputGradient) prepare(original, { layers: named, output, inputGradient });
  if (!layers.includes('auto')) return;
  const out = output ?? g.output[0]?.name;
  const input = realInputs(original)[0];
  if (!out || !input || !g.output.some((o) => o.name === out)) return;
  const score = scoreTensor(original, out);
  const order = topoOrder(g);
  const bwd = upstream(order, [score]);
  // tensors from the input along differentiable edges, and those reached before the grid collapses
  const fwd = downstream(order, [input]);
  const grid = downstream(order, [input], COLLAPSING);
  const blocking = order.filter((n) => !NON_DIFFERENTIABLE.has(n.op_type) && n.output.some((o) => bwd.has(o)) && !hasRule(n)
    && n.input.some((i, k) => differentiableInputs(n)[k] && fwd.has(i)));
  if (!blocking.length) return;
  // every tensor upstream of an op without a rule is refused
  const dirty = upstream(order, blocking.flatMap((n) => n.input.filter((t, k) => t && differentiableInputs(n)[k])));
  const clear = [...grid].some((t) => t !== input && t !== score && bwd.has(t) && !dirty.has(t));
  if (!clear) throw noRule(blocking[blocking.length - 1]!, out);
}

/** Which input slots carry gradients: from each op's descriptor (registry.ts). */
export { differentiableInputs } from './registry.js';

export function compile(p: Prepared, shapes: Map<string, number[]>, values: Map<string, Tensor> = new Map()): Compiled {
  const { model, spec, index } = p;
  const b = new Builder(model);
  const opset = opsetVersion(model, '');
  const shape = (name: string): number[] => {
    const s = shapes.get(name);
    if (s) return s;
    const c = index.constant(name);
    if (c) return c.dims;
    throw new GradError(`internal: the shape of tensor '${name}' is unknown`);
  };
  const scoreShape = shape(p.score);
  let seed = SEED_INPUT;
  const topInput = scoreShape.length === 2;
  if (topInput) {
    // seed + use_top · onehot(argmax(score)), so the predicted class needs no second run
    const arg = b.op('ArgMax', [p.score], { axis: 1, keepdims: 1 });
    const hot = b.op('OneHot', [arg, b.ints([scoreShape[1]!]), b.floats([0, 1], [2], 'onehot_values')], { axis: -1 });
    const top = b.op('Squeeze', [hot, b.ints([1])]);
    seed = b.op('Add', [SEED_INPUT, b.mul(USE_TOP_INPUT, top)]);
  }
  const rectifier = spec.rectifier ?? 'plain';
  const rectifierOps = spec.rectifierOps ?? 'all';
  const origins = new Map<string, string>();

  /** One backward chain from the score to `sources`; rectifier nodes follow `rect`. */
  const chain = (sources: string[], rect: Rectifier) => {
    const reach = new Set(sources);
    const nodes = p.pathNodes.filter((n) => {
      const diff = differentiableInputs(n);
      if (!n.input.some((i, k) => diff[k] && reach.has(i))) return false;
      for (const o of n.output) if (o) reach.add(o);
      return true;
    });
    const contributions = new Map<string, string[]>([[p.score, [seed]]]);
    const totals = new Map<string, string | null>();
    const total = (t: string): string | null => {
      if (totals.has(t)) return totals.get(t)!;
      const list = contributions.get(t);
      const g = list && list.length ? b.sum(list) : null;
      totals.set(t, g);
      return g;
    };
    for (let k = nodes.length - 1; k >= 0; k--) {
      const node = nodes[k]!;
      const dy = node.output.map((o) => (o ? total(o) : null));
      if (dy.every((d) => d === null)) continue;
      const diff = differentiableInputs(node);
      const needs = node.input.map((i, j) => !!i && diff[j]! && reach.has(i) && p.needsGrad.has(i));
      // a QLinearConv with its ReLU fused counts as a Relu (its rule applies the rectifier only then)
      const guided = RECTIFIER_OPS.has(node.op_type) && (rectifierOps === 'all' || node.op_type === 'Relu' || node.op_type === 'QLinearConv');
      const ctx: GradContext = {
        node, b, dy, needs, shape, opset,
        constant: (name) => index.constant(name) ?? values.get(name),
        graphConstant: (name) => index.constant(name),
        rectifier: guided ? rect : 'plain',
      };
      let grads: (string | null)[];
      const before = b.nodes.length;
      try {
        grads = GRADIENT_RULES[node.op_type]!(ctx);
      } catch (e) {
        if (e instanceof GradError) throw e;
        throw new GradError(`${nodeLabel(node)}: ${(e as Error).message}`);
      }
      for (const n of b.nodes.slice(before)) origins.set(n.name, `the gradient rule for ${node.op_type} (src/autodiff/rules/) at ${nodeLabel(node)}`);
      node.input.forEach((i, j) => {
        const g = grads[j];
        if (!g || !needs[j]) return;
        let list = contributions.get(i);
        if (!list) contributions.set(i, (list = []));
        list.push(g);
      });
    }
    return total;
  };

  // Layer gradients are always the true gradient (Grad-CAM); the input gradient follows the rectifier.
  // With a non-plain rectifier the two chains are separate but share masks and transformed weights.
  const sharedChain = rectifier === 'plain' || spec.layers.length === 0;
  const layerTotal = spec.layers.length ? chain(sharedChain && spec.inputGradient ? [...spec.layers, p.input] : spec.layers, 'plain') : undefined;
  const inputTotal = spec.inputGradient ? (sharedChain && layerTotal ? layerTotal : chain([p.input], rectifier)) : undefined;

  const g = model.graph;
  const existing = new Set(g.output.map((o) => o.name));
  const addOutput = (name: string) => {
    if (!existing.has(name)) {
      g.output.push(makeValueInfo(name, 1));
      existing.add(name);
    }
  };
  const named = (src: string, name: string) => {
    b.nodes.push({ name: `${name}/identity`, op_type: 'Identity', domain: '', input: [src], output: [name], attribute: [] });
    addOutput(name);
    return name;
  };
  const activations: Record<string, string> = {};
  const gradients: Record<string, string> = {};
  const producers = new Map<string, Node>();
  for (const n of model.graph.node) for (const o of n.output) if (o) producers.set(o, n);
  let quantized = false;
  for (const l of spec.layers) {
    const total = layerTotal!(l);
    if (!total) throw new GradError(`no gradient reaches tensor '${l}'`);
    // an integer layer (int8 models) reaches the methods dequantised, its gradient w.r.t. the real value
    const real = realLayer(b, (t) => producers.get(t), l, total, shape(l).length);
    const gl = real.gradient!;
    quantized ||= real.quantized || p.pathNodes.some((n) => QUANTIZED_OPS.has(n.op_type));
    // with a post-processing hook the layer's tensors stay inside the graph (no copy out)
    if (spec.post) {
      activations[l] = real.activation;
      gradients[l] = gl;
      continue;
    }
    activations[l] = real.quantized ? named(real.activation, `gradcam/real:${l}`) : l;
    if (!real.quantized) addOutput(l);
    gradients[l] = named(gl, gradOutput(l));
  }
  if (spec.inputGradient && p.pathNodes.some((n) => QUANTIZED_OPS.has(n.op_type))) quantized = true;
  let inputGradient: string | undefined;
  if (spec.inputGradient) {
    const gi = inputTotal!(p.input);
    if (!gi) throw new GradError(`no gradient reaches the input '${p.input}'`);
    inputGradient = named(gi, gradOutput(p.input));
  }
  let post: Record<string, string> | undefined;
  if (spec.post) {
    if (spec.layers.length !== 1) throw new GradError('internal: an in-graph post-processing takes exactly one layer');
    const l = spec.layers[0]!;
    post = spec.post.build(b, opset, activations[l]!, gradients[l]!, shape(l));
    for (const name of Object.values(post)) addOutput(name);
  }
  const score = existing.has(p.score) ? p.score : named(p.score, SCORE_OUTPUT);
  g.node.push(...b.nodes);
  g.input.push(makeValueInfo(SEED_INPUT, 1, scoreShape.map((d, i) => (i === 0 ? 'batch' : d))));
  if (topInput) g.input.push(makeValueInfo(USE_TOP_INPUT, 1, ['batch', 1]));
  return {
    model, input: p.input, seed: SEED_INPUT, useTop: topInput ? USE_TOP_INPUT : undefined,
    outputs: { score, activations, gradients, inputGradient, post },
    scoreShape, backwardNodes: b.nodes.length, origins, ...(quantized ? { gradient: STE_NOTE } : {}),
  };
}

