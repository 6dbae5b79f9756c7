/**
 * Unbatched image inputs: torchvision exports its detectors (`torch.onnx.export(model, ([img],), ...)`)
 * with one 3-D image input [C, H, W]. `batchImageInput` gives such a model the batched input everything
 * else expects: the graph input becomes [1, C, H, W] under the same name, and a Squeeze (axis 0) feeds the
 * model's own nodes — subgraphs included — with the image it was exported for. Other models are returned
 * as they are.
 */
import { declaredDims, elemType, makeAttr, makeValueInfo, opsetVersion, type AttributeProto, type GraphProto, type ModelProto, type Node } from './model.js';

/** The name the model's nodes read the unbatched image under. */
export const UNBATCHED_SUFFIX = '/gradcam_unbatched';

/** A 3-D [C, H, W] image input (C = 1 or 3, or symbolic) of a single-input model: its name. */
export function unbatchedImageInput(m: ModelProto): string | undefined {
  const inits = new Set(m.graph.initializer.map((t) => t.name));
  const inputs = m.graph.input.filter((i) => !inits.has(i.name));
  if (inputs.length !== 1) return undefined;
  const dims = declaredDims(inputs[0]!);
  if (!dims || dims.length !== 3) return undefined;
  const c = dims[0];
  return c === 1 || c === 3 || typeof c === 'string' || c === null ? inputs[0]!.name : undefined;
}

/** The model with a batched [1, C, H, W] input where it takes one unbatched [C, H, W] image; else the model itself. */
export function batchImageInput(m: ModelProto): ModelProto {
  const name = unbatchedImageInput(m);
  if (name === undefined) return m;
  const vi = m.graph.input.find((i) => i.name === name)!;
  const inner = name + UNBATCHED_SUFFIX;
  const squeeze: Node = opsetVersion(m) >= 13
    ? { name: 'gradcam/unbatch', op_type: 'Squeeze', domain: '', input: [name, 'gradcam/unbatch_axes'], output: [inner], attribute: [] }
    : { name: 'gradcam/unbatch', op_type: 'Squeeze', domain: '', input: [name], output: [inner], attribute: [makeAttr('axes', [0])] };
  const nodes: Node[] = [];
  if (opsetVersion(m) >= 13) {
    nodes.push({ name: 'gradcam/unbatch_axes', op_type: 'Constant', domain: '', input: [], output: ['gradcam/unbatch_axes'], attribute: [makeAttr('value', { dtype: 'int64', dims: [1], data: new BigInt64Array([0n]) })] });
  }
  nodes.push(squeeze);
  const graph = renameInput(m.graph, name, inner);
  return {
    ...m,
    graph: {
      ...graph,
      node: [...nodes, ...graph.node],
      input: m.graph.input.map((i) => (i.name === name ? makeValueInfo(name, elemType(vi) ?? 1, [1, ...declaredDims(vi)!]) : i)),
      // the model's outputs keep their names (a graph input that is also an output is read through the Squeeze)
      output: graph.output,
    },
  };
}

/** The graph with every node input `from` (in subgraphs too, unless a subgraph defines its own) read as `to`. */
function renameInput(g: GraphProto, from: string, to: string): GraphProto {
  return { ...g, node: g.node.map((n) => renameNode(n, from, to)) };
}

function renameNode(n: Node, from: string, to: string): Node {
  const attribute = n.attribute.map((a): AttributeProto => {
    if (a.g) return { ...a, g: renameSubgraph(a.g as GraphProto, from, to) };
    if (Array.isArray(a['graphs']) && (a['graphs'] as unknown[]).length) return { ...a, graphs: (a['graphs'] as GraphProto[]).map((s) => renameSubgraph(s, from, to)) };
    return a;
  });
  return { ...n, input: n.input.map((i) => (i === from ? to : i)), attribute };
}

function renameSubgraph(g: GraphProto, from: string, to: string): GraphProto {
  // a subgraph that declares the name itself (an input, or a node output) hides the outer tensor
  if (g.input?.some((i) => i.name === from) || g.node?.some((n) => n.output.includes(from))) return g;
  return { ...g, node: (g.node ?? []).map((n) => renameNode(n, from, to)) };
}
