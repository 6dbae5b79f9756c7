/**
 * Graph edits for the gradient-free methods: the plain forward model with extra outputs, and the
 * ablation model (a per-channel mask multiplied into the graph right after a layer).
 */
import { makeAttr, makeValueInfo, topoOrder, type ModelProto, type Node } from '../onnx/model.js';
import { integerProducer, quantParams } from '../autodiff/rules/quantize.js';
import { InputError } from '../util/scores.js';

export const ABLATION_MASK_INPUT = 'gradcam/ablation_mask';

function withGraph(m: ModelProto, graph: Partial<ModelProto['graph']>): ModelProto {
  return { ...m, graph: { ...m.graph, ...graph } };
}

/**
 * The model with `outputs` as its outputs (the score, layers, ...), nothing else changed but that an
 * integer output (an int8 model's layer) comes out dequantised (autodiff/rules/quantize.ts realLayer's
 * reading: the scale and zero point of the op that produced it), under its own name.
 */
export function forwardModel(model: ModelProto, outputs: string[]): ModelProto {
  const declared = new Map(model.graph.output.map((o) => [o.name, o]));
  const output = [...new Set(outputs)].map((name) => declared.get(name) ?? { name });
  const producers = new Map<string, Node>();
  for (const n of model.graph.node) for (const o of n.output) if (o) producers.set(o, n);
  const producer = (t: string) => producers.get(t);
  const ints = [...new Set(outputs)].filter((o) => !declared.has(o) && integerProducer(producer, o));
  if (!ints.length) return withGraph(model, { output });
  // the integer tensor is renamed; a DequantizeLinear (a Cast for an int32 accumulator) gives its name back
  const rename = new Map(ints.map((o) => [o, `${o}/integer`]));
  const node = model.graph.node.map((n) => ({ ...n, input: n.input.map((i) => rename.get(i) ?? i), output: n.output.map((o) => rename.get(o) ?? o) }));
  for (const o of ints) {
    const p = quantParams(producer, o);
    const q = rename.get(o)!;
    node.push(p
      ? { name: `${o}/dequantize`, op_type: 'DequantizeLinear', domain: '', input: p.zero ? [q, p.scale, p.zero] : [q, p.scale], output: [o], attribute: [makeAttr('axis', p.axis)] }
      : { name: `${o}/cast`, op_type: 'Cast', domain: '', input: [q], output: [o], attribute: [makeAttr('to', 1)] });
  }
  return withGraph(model, { node, output });
}

export interface AblationGraph {
  model: ModelProto;
  /** The graph inputs besides the mask: the model input (full mode), or the tensors the layers after the layer read (suffix mode). */
  feeds: string[];
  mask: string;
  /** Suffix mode: only the nodes after the layer run; their inputs are fed from one forward pass. */
  suffix: boolean;
}

/** Nodes the tensors depend on (transitively), in graph order. */
function ancestors(order: Node[], tensors: string[]): Set<Node> {
  const need = new Set(tensors);
  const out = new Set<Node>();
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    if (n.output.some((o) => need.has(o))) {
      out.add(n);
      for (const i of n.input) if (i) need.add(i);
    }
  }
  return out;
}

/**
 * `layer` multiplied by a mask input (per-channel, e.g. [B, C, 1, 1]) right after its producer, all its consumers rewired;
 * the only output is `score`. With `suffix`, the graph keeps only the nodes that the score needs and the
 * layer does not, and takes the tensors they read from the rest as inputs (the "frontier": the layer and
 * e.g. a skip connection's source), so that the layers before the ablated one are not recomputed.
 */
export function ablationModel(model: ModelProto, layer: string, score: string, input: string, suffix: boolean): AblationGraph {
  const order = topoOrder(model.graph);
  const producer = new Map(model.graph.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
  if (integerProducer((t) => producer.get(t), layer)) {
    throw new InputError(`ablationcam cannot mask '${layer}': it is an integer tensor of a quantised model; choose a float layer (a DequantizeLinear output) with --layer, or another method`);
  }
  const masked = `gradcam/ablated:${layer}`;
  const rewire = (n: Node): Node => (n.input.includes(layer) ? { ...n, input: n.input.map((i) => (i === layer ? masked : i)) } : n);
  const mul: Node = { name: 'gradcam/ablation_mul', op_type: 'Mul', domain: '', input: [layer, ABLATION_MASK_INPUT], output: [masked], attribute: [] };
  // [ablations, C] shaped to broadcast along the layer's channel axis: [B, C, 1, 1], [B, 1, 1, C], [B, 1, C]...
  const maskInfo = makeValueInfo(ABLATION_MASK_INPUT, 1);
  const scoreOut = model.graph.output.find((o) => o.name === score) ?? { name: score };
  if (!suffix) {
    const nodes: Node[] = [];
    for (const n of order) {
      nodes.push(rewire(n));
      if (n.output.includes(layer)) nodes.push(mul);
    }
    if (!order.some((n) => n.output.includes(layer))) throw new Error(`internal: no node produces '${layer}'`);
    return { model: withGraph(model, { node: nodes, input: [...model.graph.input, maskInfo], output: [scoreOut] }), feeds: [input], mask: ABLATION_MASK_INPUT, suffix: false };
  }
  const prefix = ancestors(order, [layer]);
  const needed = ancestors(order, [score]);
  const tail = order.filter((n) => needed.has(n) && !prefix.has(n));
  const inits = new Set(model.graph.initializer.map((t) => t.name));
  const produced = new Map<string, Node>();
  for (const n of prefix) for (const o of n.output) produced.set(o, n);
  const frontier: string[] = [];
  for (const n of tail) {
    for (const i of n.input) {
      if (!i || inits.has(i) || frontier.includes(i)) continue;
      if (produced.has(i) || i === input) frontier.push(i);
    }
  }
  if (!frontier.includes(layer)) frontier.unshift(layer);
  const inputs = frontier.map((t) => makeValueInfo(t, 1));
  const used = new Set(tail.flatMap((n) => n.input));
  const initializer = model.graph.initializer.filter((t) => used.has(t.name ?? ''));
  return {
    model: withGraph(model, { node: [mul, ...tail.map(rewire)], input: [...inputs, maskInfo], output: [scoreOut], value_info: [], initializer }),
    feeds: frontier, mask: ABLATION_MASK_INPUT, suffix: true,
  };
}
