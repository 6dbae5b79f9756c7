/**
 * TF.js graph models (`format: 'graph-model'`: a GraphDef as JSON, a weights manifest and .bin shards)
 * imported as ONNX, in TypeScript, with no TensorFlow runtime (issue 22). Weights stored quantised
 * (uint8/uint16 with scale and min, or float16) are dequantised on load. The graph stays NHWC: every
 * convolution, pooling and resize is wrapped in Transposes to ONNX's NCHW and back, and each TF node's
 * output keeps the node's name (`node`, `node:1` for its second output), so that the layer names users
 * type are TF's. Dilated convolutions written as SpaceToBatchND → conv → BatchToSpaceND become one
 * dilated Conv (padded as SpaceToBatchND pads) and a Slice (BatchToSpaceND's crops). Browser-safe.
 *
 * This file: the op list, the import (order, outputs, the ONNX model) and the dispatch of each node to
 * its converter; tfjs-graph/: graph.ts (the GraphDef, GraphImporter), context.ts (what a converter gets),
 * nchw.ts, elementwise.ts, shape.ts (the converters by kind). A new op: its converter in the file of its
 * kind and its name in that file's table (TFJS_GRAPH_OPS, the README's list, is the tables' keys).
 */
import { encodeModel, makeValueInfo, type GraphProto, type ModelProto } from '../model.js';
import { DATA_TYPE } from '../tensor.js';
import type { ImportedModel, ModelFiles } from './types.js';
import { dirOf, readTfjsWeights } from './tfjs-weights.js';
import { GraphImporter, ImportError, keyOf, OPSET, parseRef, type TfjsModelJson, type TfNode } from './tfjs-graph/graph.js';
import { nodeContext, type NodeCtx } from './tfjs-graph/context.js';
import { NCHW_OPS } from './tfjs-graph/nchw.js';
import { ELEMENTWISE_OPS } from './tfjs-graph/elementwise.js';
import { SHAPE_OPS } from './tfjs-graph/shape.js';

export { TFJS_FUSED_OPS } from './tfjs-graph/context.js';
export type { TfjsModelJson } from './tfjs-graph/graph.js';

/** Each op's converter. */
const CONVERTERS: Record<string, (ctx: NodeCtx) => void> = { ...NCHW_OPS, ...ELEMENTWISE_OPS, ...SHAPE_OPS };

/** The TF ops the importer reads: those with a converter (the README's list is generated from it: scripts/ops.ts). */
export const TFJS_GRAPH_OPS: readonly string[] = Object.keys(CONVERTERS);
const SUPPORTED = new Set(TFJS_GRAPH_OPS);

/** Imports a TF.js graph model: `entry` is its model.json inside `files`. */
export async function importTfjsGraph(files: ModelFiles, entry: string, json?: TfjsModelJson): Promise<ImportedModel> {
  const source = entry;
  if (!json) {
    const bytes = await files.read(entry);
    if (!bytes) throw new ImportError(`${source}: not found`);
    json = JSON.parse(new TextDecoder().decode(bytes)) as TfjsModelJson;
  }
  const topo = json.modelTopology;
  if (!topo || !Array.isArray(topo.node)) throw new ImportError(`${source}: a graph model's modelTopology has no node list`);
  if (topo.library?.function?.length) throw new ImportError(`${source}: the graph holds functions (control flow: If/While loops), which the importer does not read`);
  const notes: string[] = [`${source}: TF.js graph model, ${topo.node.length} nodes${json.convertedBy ? ` (${json.convertedBy})` : ''}`];
  const weights = await readTfjsWeights(files, dirOf(entry), json.weightsManifest ?? [], notes, source);
  const g = new GraphImporter(source, weights);
  const unsupported = topo.node.find((n) => !SUPPORTED.has(n.op));
  if (unsupported) throw new ImportError(`${source}: op ${unsupported.op} (node '${unsupported.name}') is not supported by the TF.js graph importer; supported: ${TFJS_GRAPH_OPS.join(', ')}`);
  const byName = new Map(topo.node.map((n) => [n.name, n]));
  // topological order (converters write it in order, but nothing requires it)
  const order: TfNode[] = [];
  const state = new Map<string, number>();
  const visit = (n: TfNode): void => {
    const s = state.get(n.name);
    if (s === 2) return;
    if (s === 1) throw new ImportError(`${source}: the graph has a cycle through node '${n.name}'`);
    state.set(n.name, 1);
    for (const ref of n.input ?? []) {
      const r = parseRef(ref);
      if (!r) continue;
      const p = byName.get(r.node);
      if (!p) throw new ImportError(`${source}: node '${n.name}' reads '${ref}', which no node produces`);
      visit(p);
    }
    state.set(n.name, 2);
    order.push(n);
  };
  for (const n of topo.node) visit(n);
  for (const n of order) {
    g.current = n.name;
    convertNode(g, n);
  }
  g.current = '';
  if (g.stopGradients.length) notes.push(`StopGradient read as Identity (${g.stopGradients.slice(0, 3).join(', ')}${g.stopGradients.length > 3 ? ', …' : ''}): gradients flow through it, as through the function the graph computes; TF's would stop there`);

  // outputs: the signature's, else the nodes nobody reads
  let outRefs = Object.values(json.signature?.outputs ?? {}).map((o) => o.name ?? '').filter(Boolean);
  if (!outRefs.length) {
    const read = new Set(topo.node.flatMap((n) => (n.input ?? []).map((r) => parseRef(r)?.node)));
    outRefs = topo.node.filter((n) => !read.has(n.name) && n.op !== 'Const' && n.op !== 'NoOp' && n.op !== 'Placeholder').map((n) => n.name);
  }
  if (!outRefs.length) throw new ImportError(`${source}: the graph has no outputs`);
  const outputs = outRefs.map((r) => {
    const v = g.ref(r, 'output');
    if (v.s2b || v.dilated) throw new ImportError(`${source}: output '${r}' is inside a SpaceToBatchND … BatchToSpaceND pair`);
    const p = parseRef(r)!;
    const want = keyOf(p.node, p.index);
    return v.name === want ? want : g.emit('Identity', [v.name], {}, want);
  });
  if (!g.inputs.length) throw new ImportError(`${source}: the graph has no Placeholder input`);
  const graph: GraphProto = {
    name: 'tfjs_graph',
    node: g.nodes,
    initializer: g.initializers,
    input: g.inputs.map((i) => makeValueInfo(i.name, DATA_TYPE.float32, i.dims)),
    output: outputs.map((o) => makeValueInfo(o, DATA_TYPE.float32)),
  };
  const model: ModelProto = { ir_version: 8, opset_import: [{ domain: '', version: OPSET }], producer_name: 'gradcam tfjs-graph importer', graph };
  const labels = labelsFromMetadata(json.userDefinedMetadata);
  return { onnx: encodeModel(model), format: 'tfjs-graph', ...(labels ? { labels } : {}), notes };
}

/** Labels in TF.js user metadata (`labels`, `classNames` or `class_names`), if any. */
function labelsFromMetadata(m: Record<string, unknown> | undefined): string[] | undefined {
  for (const k of ['labels', 'classNames', 'class_names']) {
    const v = m?.[k];
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  }
  return undefined;
}

/** Converts node `n` (its op was checked against TFJS_GRAPH_OPS before any node). */
function convertNode(g: GraphImporter, n: TfNode): void {
  CONVERTERS[n.op]!(nodeContext(g, n));
}
