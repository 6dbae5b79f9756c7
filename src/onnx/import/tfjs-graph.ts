/**
 * TF.js graph models (`format: 'graph-model'`: a GraphDef as JSON, a weights manifest and .bin shards)
 * imported as ONNX, in TypeScript, with no TensorFlow runtime (issue 22). Weights stored quantised
 * (uint8/uint16 with scale and min, or float16) are dequantised on load. The graph stays NHWC: every
 * convolution, pooling and resize is wrapped in Transposes to ONNX's NCHW and back, and each TF node's
 * output keeps the node's name (`node`, `node:1` for its second output), so that the layer names users
 * type are TF's. Dilated convolutions written as SpaceToBatchND → conv → BatchToSpaceND become one
 * dilated Conv (padded as SpaceToBatchND pads) and a Slice (BatchToSpaceND's crops). Browser-safe.
 */
import { ModelError, encodeModel, makeAttr, makeValueInfo, float, type AttrValue, type GraphProto, type ModelProto, type Node } from '../model.js';
import { DATA_TYPE, encodeTensor, numel, type Tensor } from '../tensor.js';
import type { ImportedModel, ModelFiles } from './types.js';
import { dirOf, readTfjsWeights, type TfjsManifestGroup } from './tfjs-weights.js';

/** The TF ops the importer reads (the README's list is generated from it: scripts/ops.ts). */
export const TFJS_GRAPH_OPS: readonly string[] = [
  'Placeholder', 'PlaceholderWithDefault', 'Const', 'Identity', 'NoOp', 'StopGradient', 'Conv2D', 'DepthwiseConv2dNative', '_FusedConv2D', 'FusedConv2D', 'FusedDepthwiseConv2dNative',
  '_FusedMatMul', 'MatMul', 'BiasAdd', 'Add', 'AddV2', 'AddN', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Minimum', 'Neg',
  'Relu', 'Relu6', 'Elu', 'Selu', 'LeakyRelu', 'Prelu', 'Sigmoid', 'Tanh', 'Softmax', 'Square', 'Sqrt', 'Rsqrt', 'Pow', 'Exp', 'Log',
  'Mean', 'Max', 'Sum', 'MaxPool', 'AvgPool', 'ConcatV2', 'Pack', 'Unpack', 'Reshape', 'Squeeze', 'ExpandDims', 'Pad', 'PadV2',
  'MirrorPad', 'StridedSlice', 'Slice', 'Transpose', 'ResizeBilinear', 'ResizeNearestNeighbor', 'Cast', 'Shape',
  'FusedBatchNorm', 'FusedBatchNormV3', 'SpaceToBatchND', 'BatchToSpaceND',
];
const SUPPORTED = new Set(TFJS_GRAPH_OPS);

/** Fused ops inside FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul. */
export const TFJS_FUSED_OPS: readonly string[] = ['BiasAdd', 'FusedBatchNorm', 'Relu', 'Relu6', 'Elu', 'LeakyRelu', 'Prelu', 'Sigmoid'];

const OPSET = 17;
const BIG = 2 ** 53 - 1;

interface TfShape { dim?: { size?: string | number }[]; unknownRank?: boolean }
interface TfTensor { dtype?: string; tensorShape?: TfShape; floatVal?: number[]; intVal?: (number | string)[]; int64Val?: (number | string)[]; boolVal?: boolean[]; halfVal?: number[]; tensorContent?: string }
interface TfAttr {
  s?: string; i?: string | number; f?: number; b?: boolean; type?: string; shape?: TfShape; tensor?: TfTensor;
  list?: { s?: string[]; i?: (string | number)[]; f?: number[]; type?: string[]; shape?: TfShape[] };
}
interface TfNode { name: string; op: string; input?: string[]; attr?: Record<string, TfAttr>; device?: string }
export interface TfjsModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology?: { node?: TfNode[]; library?: { function?: unknown[] }; versions?: unknown };
  weightsManifest?: TfjsManifestGroup[];
  signature?: { inputs?: Record<string, { name?: string }>; outputs?: Record<string, { name?: string }> };
  userDefinedMetadata?: Record<string, unknown>;
}

/** An ONNX-side value: its tensor name, its kind, and the dilated-convolution bookkeeping. */
interface Val {
  name: string;
  /** Output of SpaceToBatchND, waiting for its convolution. */
  s2b?: { input: string; block: number[]; paddings: number[][] };
  /** A full-resolution dilated-convolution result waiting for BatchToSpaceND's crop. */
  dilated?: boolean;
}

class ImportError extends ModelError {}

function b64(s: string): Uint8Array {
  if (typeof atob === 'function') {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  throw new Error('no base64 decoder');
}
const str = (s: string | undefined): string => (s === undefined ? '' : new TextDecoder().decode(b64(s)));


const floatT = (data: Float32Array, dims: number[]): Tensor => ({ dtype: 'float32', dims, data });
const intT = (values: ArrayLike<number>, dims: number[]): Tensor => ({ dtype: 'int64', dims, data: BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v)))) });
const values = (t: Tensor): number[] => Array.from(t.data as ArrayLike<number | bigint>, Number);





function tfTensorValue(t: TfTensor, where: string): Tensor {
  const dims = (t.tensorShape?.dim ?? []).map((d) => Number(d.size ?? 0));
  const n = numel(dims);
  const dtype = t.dtype ?? 'DT_FLOAT';
  const fill = (v: ArrayLike<number>): number[] => (v.length === n ? Array.from(v) : v.length === 1 ? Array(n).fill(v[0]) : v.length === 0 ? Array(n).fill(0) : (() => { throw new ImportError(`${where}: its constant holds ${v.length} values for shape [${dims.join(', ')}]`); })());
  if (t.tensorContent) {
    const bytes = b64(t.tensorContent);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dtype === 'DT_FLOAT') return floatT(Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true)), dims);
    if (dtype === 'DT_INT32') return intT(Array.from({ length: n }, (_, i) => view.getInt32(i * 4, true)), dims);
    if (dtype === 'DT_INT64') return intT(Array.from({ length: n }, (_, i) => Number(view.getBigInt64(i * 8, true))), dims);
  } else {
    if (dtype === 'DT_FLOAT') return floatT(Float32Array.from(fill((t.floatVal ?? []).map(Number))), dims);
    if (dtype === 'DT_INT32') return intT(fill((t.intVal ?? []).map(Number)), dims);
    if (dtype === 'DT_INT64') return intT(fill((t.int64Val ?? []).map(Number)), dims);
    if (dtype === 'DT_BOOL') return { dtype: 'bool', dims, data: Uint8Array.from(fill((t.boolVal ?? []).map(Number))) };
  }
  throw new ImportError(`${where}: constants of type ${dtype} are not supported`);
}

/** Splits a TF input reference into node name and output index ('^x' control inputs: undefined). */
function parseRef(ref: string): { node: string; index: number } | undefined {
  if (ref.startsWith('^')) return undefined;
  const m = /^(.*):(\d+)$/.exec(ref);
  return m ? { node: m[1]!, index: Number(m[2]) } : { node: ref, index: 0 };
}
const keyOf = (node: string, index: number): string => (index === 0 ? node : `${node}:${index}`);

const ELEMENTWISE = new Set(['BiasAdd', 'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Minimum', 'Relu', 'Relu6', 'Elu', 'Selu',
  'LeakyRelu', 'Prelu', 'Sigmoid', 'Tanh', 'Identity', 'StopGradient', 'FusedBatchNorm', 'FusedBatchNormV3', 'Neg', 'Square', 'Exp', 'Log', 'Sqrt', 'Rsqrt', 'Pow']);

class GraphImporter {
  readonly nodes: Node[] = [];
  readonly initializers: ReturnType<typeof encodeTensor>[] = [];
  readonly vals = new Map<string, Val>();
  readonly consts = new Map<string, Tensor>();
  private readonly used = new Set<string>();
  private readonly constInit = new Map<string, string>();
  private counter = 0;
  inputs: { name: string; dims: (number | string | null)[] }[] = [];
  /** StopGradient nodes (read as Identity: the explanation differentiates the function the graph computes). */
  readonly stopGradients: string[] = [];

  constructor(readonly source: string, readonly weights: Map<string, Tensor>) {}

  /** The TF node being converted: the helper tensors it adds are named below it ('conv1/Conv2D/nchw_2'). */
  current = '';

  fresh(base: string): string {
    const prefix = this.current && !base.startsWith(`${this.current}/`) ? `${this.current}/` : '';
    let n: string;
    do n = `${prefix}${base}_${this.counter++}`; while (this.used.has(n));
    this.used.add(n);
    return n;
  }

  emit(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out?: string, nOut = 1): string {
    const output = [out ?? this.fresh(op === 'Transpose' && attrs.perm ? (String(attrs.perm) === '0,3,1,2' ? 'nchw' : String(attrs.perm) === '0,2,3,1' ? 'nhwc' : 'transpose') : op.toLowerCase())];
    for (let k = 1; k < nOut; k++) output.push(this.fresh(`${output[0]}_out`));
    if (out) this.used.add(out);
    this.nodes.push({ name: output[0]!, op_type: op, input: inputs, output, attribute: Object.entries(attrs).map(([k, v]) => makeAttr(k, v)) });
    return output[0]!;
  }

  emitMulti(op: string, inputs: string[], attrs: Record<string, AttrValue>, outs: string[]): void {
    for (const o of outs) this.used.add(o);
    this.nodes.push({ name: outs[0]!, op_type: op, input: inputs, output: outs, attribute: Object.entries(attrs).map(([k, v]) => makeAttr(k, v)) });
  }

  /** An initializer holding `t` (named `base` when free). */
  init(t: Tensor, base: string): string {
    const name = this.used.has(base) ? this.fresh(base) : base;
    this.used.add(name);
    this.initializers.push(encodeTensor(name, t));
    return name;
  }
  ints(v: number[], base = 'ints'): string { return this.init(intT(v, [v.length]), this.fresh(base)); }
  scalar(v: number): string { return this.init(floatT(Float32Array.of(v), []), this.fresh('scalar')); }

  /** The ONNX tensor of a TF reference (constants become initializers on first use). */
  ref(ref: string, where: string): Val {
    const r = parseRef(ref)!;
    const key = keyOf(r.node, r.index);
    const v = this.vals.get(key);
    if (v) return v;
    const c = this.consts.get(key);
    if (c) {
      let name = this.constInit.get(key);
      if (!name) {
        name = this.init(c, key);
        this.constInit.set(key, name);
      }
      return { name };
    }
    throw new ImportError(`${this.source}: node '${where}' reads '${ref}', which no node produces`);
  }

  constant(ref: string): Tensor | undefined {
    const r = parseRef(ref)!;
    return this.consts.get(keyOf(r.node, r.index));
  }
}

const attrS = (n: TfNode, k: string, d: string): string => (n.attr?.[k]?.s !== undefined ? str(n.attr[k]!.s) : d);
const attrI = (n: TfNode, k: string, d: number): number => (n.attr?.[k]?.i !== undefined ? Number(n.attr[k]!.i) : d);
const attrF = (n: TfNode, k: string, d: number): number => (n.attr?.[k]?.f !== undefined ? Number(n.attr[k]!.f) : d);
const attrB = (n: TfNode, k: string, d: boolean): boolean => (n.attr?.[k]?.b !== undefined ? !!n.attr[k]!.b : d);
const attrInts = (n: TfNode, k: string): number[] | undefined => (n.attr?.[k]?.list ? (n.attr[k]!.list!.i ?? []).map(Number) : undefined);
const attrStrs = (n: TfNode, k: string): string[] => (n.attr?.[k]?.list?.s ?? []).map(str);
const attrType = (n: TfNode, k: string): string | undefined => n.attr?.[k]?.type;

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

function convertNode(g: GraphImporter, n: TfNode): void {
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

  switch (n.op) {
    case 'NoOp':
      return;
    case 'Placeholder':
    case 'PlaceholderWithDefault': {
      const dt = attrType(n, 'dtype') ?? 'DT_FLOAT';
      if (dt !== 'DT_FLOAT') fail(`the model input is ${dt}; the importer explains float image inputs`);
      const shape = n.attr?.shape?.shape;
      if (!shape || shape.unknownRank || !shape.dim) fail('the input has no shape');
      const dims = shape!.dim!.map((d, k) => { const s = Number(d.size ?? -1); return s > 0 ? s : k === 0 ? 'N' : null; });
      g.inputs.push({ name: out, dims });
      set(out);
      return;
    }
    case 'Const': {
      const w = g.weights.get(n.name);
      const t = w ?? (n.attr?.value?.tensor ? tfTensorValue(n.attr.value.tensor, where) : undefined);
      if (!t) fail('no value: it is not in the weights manifest and holds none');
      g.consts.set(out, t!);
      return;
    }
    case 'Identity':
    case 'StopGradient': {
      if (n.op === 'StopGradient') g.stopGradients.push(n.name);
      if (allConst) { g.consts.set(out, cst(0)); return; }
      const v = inVal(0);
      if (v.s2b) { g.vals.set(out, v); return; }
      set(g.emit('Identity', [v.name], {}, out), { dilated: v.dilated });
      return;
    }
    case 'Conv2D':
    case 'DepthwiseConv2dNative':
    case '_FusedConv2D':
    case 'FusedConv2D':
    case 'FusedDepthwiseConv2dNative': {
      const depthwise = n.op.includes('Depthwise');
      const xin = inVal(0);
      const f = cst(1);
      if (f.dims.length !== 4) fail(`its filter must be 4-D, got [${f.dims.join(', ')}]`);
      const [kh, kw, cin, cout] = f.dims as [number, number, number, number];
      const fv = f.data as Float32Array;
      let w: Float32Array;
      let wdims: number[];
      if (depthwise) {
        // [kh, kw, cin, mult] → [cin·mult, 1, kh, kw]
        w = new Float32Array(fv.length);
        for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) for (let c = 0; c < cin; c++) for (let m = 0; m < cout; m++) {
          w[((c * cout + m) * kh + a) * kw + b] = fv[((a * kw + b) * cin + c) * cout + m]!;
        }
        wdims = [cin * cout, 1, kh, kw];
      } else {
        w = new Float32Array(fv.length);
        for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) for (let c = 0; c < cin; c++) for (let o = 0; o < cout; o++) {
          w[((o * cin + c) * kh + a) * kw + b] = fv[((a * kw + b) * cin + c) * cout + o]!;
        }
        wdims = [cout, cin, kh, kw];
      }
      const strides = attrInts(n, 'strides') ?? [1, 1, 1, 1];
      const dil = attrInts(n, 'dilations') ?? [1, 1, 1, 1];
      const [sh, sw] = channelsLast ? [strides[1]!, strides[2]!] : [strides[2]!, strides[3]!];
      let [dh, dw] = channelsLast ? [dil[1]!, dil[2]!] : [dil[2]!, dil[3]!];
      const padding = attrS(n, 'padding', 'VALID');
      const attrs: Record<string, AttrValue> = { kernel_shape: [kh, kw], strides: [sh, sw] };
      let input = xin.name;
      let dilated = false;
      if (xin.s2b) {
        if (padding !== 'VALID') fail('a convolution after SpaceToBatchND must have VALID padding');
        if (sh !== 1 || sw !== 1 || dh !== 1 || dw !== 1) fail('a convolution after SpaceToBatchND must have strides and dilations 1');
        input = xin.s2b.input;
        [dh, dw] = xin.s2b.block as [number, number];
        const p = xin.s2b.paddings;
        attrs.pads = [p[0]![0]!, p[1]![0]!, p[0]![1]!, p[1]![1]!];
        dilated = true;
      } else if (xin.dilated) {
        fail('a convolution reads a tensor between SpaceToBatchND and BatchToSpaceND');
      } else if (padding === 'SAME') attrs.auto_pad = 'SAME_UPPER';
      else if (padding === 'EXPLICIT') {
        const e = attrInts(n, 'explicit_paddings') ?? [];
        const pr = channelsLast ? [e[2]!, e[3]!, e[4]!, e[5]!] : [e[4]!, e[5]!, e[6]!, e[7]!];
        attrs.pads = [pr[0]!, pr[2]!, pr[1]!, pr[3]!];
      } else if (padding !== 'VALID') fail(`padding ${padding} is not supported (SAME, VALID, EXPLICIT)`);
      attrs.dilations = [dh, dw];
      if (depthwise) attrs.group = cin;
      const fused = /^_?Fused/.test(n.op) ? attrStrs(n, 'fused_ops') : [];
      const inputs = [channelsLast ? toNCHW(input) : input, g.init(floatT(w, wdims), g.fresh(`${out}/filter`))];
      let k = 0;
      let bnAfter: { mul: Float32Array; add: Float32Array } | undefined;
      if (fused[0] === 'BiasAdd') { inputs.push(x(2)); k = 1; } else if (fused[0] === 'FusedBatchNorm') { bnAfter = bnConsts(2, attrF(n, 'epsilon', 1e-3)); k = 1; }
      const acts = fused.slice(k);
      if (acts.length > 1) fail(`fused ops [${fused.join(', ')}] are not supported`);
      // the bias inside the Conv; batch norm and activation after the transpose back (alphas broadcast as TF's)
      const after = !!(acts.length || bnAfter);
      let t = g.emit('Conv', inputs, attrs, after || channelsLast ? undefined : out);
      if (channelsLast) t = toNHWC(t, after ? undefined : out);
      if (bnAfter) {
        const c = bnAfter.mul.length;
        const shape = channelsLast ? [c] : [c, 1, 1];
        t = g.emit('Add', [g.emit('Mul', [t, g.init(floatT(bnAfter.mul, shape), g.fresh('bn_mul'))]), g.init(floatT(bnAfter.add, shape), g.fresh('bn_add'))], {}, acts.length ? undefined : out);
      }
      if (acts.length) t = activation(acts[0]!, t, out, data[3] ?? data[2 + (bnAfter ? 4 : 1)]);
      set(t, { dilated });
      return;
    }
    case '_FusedMatMul':
    case 'MatMul': {
      let a = x(0);
      if (attrB(n, 'transpose_a', false)) a = g.emit('Transpose', [a], { perm: [1, 0] });
      let b: string;
      const bc = g.constant(data[1]!);
      if (bc && attrB(n, 'transpose_b', false)) {
        const [r, c] = bc.dims as [number, number];
        const src = bc.data as Float32Array;
        const tr = new Float32Array(src.length);
        for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) tr[j * r + i] = src[i * c + j]!;
        b = g.init(floatT(tr, [c, r]), g.fresh(`${out}/weights`));
      } else {
        b = x(1);
        if (attrB(n, 'transpose_b', false)) b = g.emit('Transpose', [b], { perm: [1, 0] });
      }
      const fused = n.op === '_FusedMatMul' ? attrStrs(n, 'fused_ops') : [];
      let k = 0;
      const acts = fused[0] === 'BiasAdd' ? (k = 1, fused.slice(1)) : fused;
      if (acts.length > 1) fail(`fused ops [${fused.join(', ')}] are not supported`);
      let t = g.emit('MatMul', [a, b], {}, k || acts.length ? undefined : out);
      if (k) t = g.emit('Add', [t, x(2)], {}, acts.length ? undefined : out);
      if (acts.length) t = activation(acts[0]!, t, out, data[2 + k]);
      set(t);
      return;
    }
    case 'BiasAdd': {
      const v = inVal(0);
      let bias = x(1);
      if (!channelsLast) {
        const c = cst(1);
        bias = g.init(floatT(Float32Array.from(values(c)), [c.dims[0]!, 1, 1]), g.fresh(`${out}/bias`));
      }
      set(g.emit('Add', [v.name, bias], {}, out), { dilated: v.dilated });
      return;
    }
    case 'Add': case 'AddV2': case 'Sub': case 'Mul': case 'RealDiv': case 'Maximum': case 'Minimum': case 'Pow': {
      const op = { Add: 'Add', AddV2: 'Add', Sub: 'Sub', Mul: 'Mul', RealDiv: 'Div', Maximum: 'Max', Minimum: 'Min', Pow: 'Pow' }[n.op]!;
      if (allConst) { g.consts.set(out, foldBinary(op, cst(0), cst(1), fail)); return; }
      const [va, vb] = [inVal(0), inVal(1)];
      if (va.s2b || vb.s2b) fail('reads the output of SpaceToBatchND');
      const isC = (i: number) => !!g.constant(data[i]!);
      if ((va.dilated && !vb.dilated && !isC(1)) || (vb.dilated && !va.dilated && !isC(0))) fail('combines a tensor between SpaceToBatchND and BatchToSpaceND with one outside');
      set(g.emit(op, [va.name, vb.name], {}, out), { dilated: va.dilated || vb.dilated });
      return;
    }
    case 'AddN': {
      set(g.emit('Sum', data.map((_, i) => x(i)), {}, out));
      return;
    }
    case 'Relu': case 'Relu6': case 'Elu': case 'Selu': case 'LeakyRelu': case 'Sigmoid': case 'Tanh': {
      const v = inVal(0);
      set(activation(n.op, v.name, out), { dilated: v.dilated });
      return;
    }
    case 'Prelu': {
      const v = inVal(0);
      set(activation('Prelu', v.name, out, data[1]), { dilated: v.dilated });
      return;
    }
    case 'Neg': { const v = inVal(0); set(g.emit('Neg', [v.name], {}, out), { dilated: v.dilated }); return; }
    case 'Exp': case 'Log': case 'Sqrt': {
      const v = inVal(0);
      set(g.emit(n.op, [v.name], {}, out), { dilated: v.dilated });
      return;
    }
    case 'Rsqrt': { const v = inVal(0); set(g.emit('Reciprocal', [g.emit('Sqrt', [v.name])], {}, out), { dilated: v.dilated }); return; }
    case 'Square': { const v = inVal(0); set(g.emit('Mul', [v.name, v.name], {}, out), { dilated: v.dilated }); return; }
    case 'Softmax': {
      set(g.emit('Softmax', [x(0)], { axis: -1 }, out));
      return;
    }
    case 'Mean': case 'Max': case 'Sum': {
      const axes = nums(1);
      const keepdims = attrB(n, 'keep_dims', false) ? 1 : 0;
      if (n.op === 'Sum') set(g.emit('ReduceSum', [x(0), g.ints(axes, 'axes')], { keepdims }, out));
      else set(g.emit(n.op === 'Mean' ? 'ReduceMean' : 'ReduceMax', [x(0)], { axes, keepdims }, out));
      return;
    }
    case 'MaxPool': case 'AvgPool': {
      const k = attrInts(n, 'ksize') ?? [];
      const s = attrInts(n, 'strides') ?? [1, 1, 1, 1];
      const [kh, kw, sh, sw] = channelsLast ? [k[1]!, k[2]!, s[1]!, s[2]!] : [k[2]!, k[3]!, s[2]!, s[3]!];
      const padding = attrS(n, 'padding', 'VALID');
      if (padding !== 'SAME' && padding !== 'VALID') fail(`padding ${padding} is not supported (SAME, VALID)`);
      const attrs: Record<string, AttrValue> = { kernel_shape: [kh, kw], strides: [sh, sw], auto_pad: padding === 'SAME' ? 'SAME_UPPER' : 'VALID' };
      const t = g.emit(n.op === 'MaxPool' ? 'MaxPool' : 'AveragePool', [channelsLast ? toNCHW(x(0)) : x(0)], attrs, channelsLast ? undefined : out);
      set(channelsLast ? toNHWC(t, out) : t);
      return;
    }
    case 'ConcatV2': {
      const axis = nums(data.length - 1)[0]!;
      const parts = data.slice(0, -1);
      if (parts.every((r) => g.constant(r))) {
        g.consts.set(out, foldConcat(parts.map((r) => g.constant(r)!), axis, fail));
        return;
      }
      set(g.emit('Concat', parts.map((_, i) => x(i)), { axis }, out));
      return;
    }
    case 'Pack': {
      const axis = attrI(n, 'axis', 0);
      if (allConst && data.every((r) => g.constant(r)!.dims.length === 0) && axis === 0) { g.consts.set(out, intOrFloat(data.map((r) => values(g.constant(r)!)[0]!), g.constant(data[0]!)!)); return; }
      // constants are given their new axis here (an Unsqueeze of an initializer is left for onnxruntime to fold, which it warns about)
      const parts = data.map((r, i) => {
        const c = g.constant(r);
        if (!c) return g.emit('Unsqueeze', [x(i), g.ints([axis], 'axes')]);
        const rank = c.dims.length + 1;
        const at = axis < 0 ? axis + rank : axis;
        return g.init({ ...c, dims: [...c.dims.slice(0, at), 1, ...c.dims.slice(at)] }, g.fresh('packed'));
      });
      set(g.emit('Concat', parts, { axis }, out));
      return;
    }
    case 'Unpack': {
      const axis = attrI(n, 'axis', 0);
      const num = attrI(n, 'num', 0);
      if (num < 1) fail('num must be given');
      const split = Array.from({ length: num }, () => g.fresh(`${out}_split`));
      g.emitMulti('Split', [x(0), g.ints(Array(num).fill(1), 'split')], { axis }, split);
      split.forEach((s, k) => set(g.emit('Squeeze', [s, g.ints([axis], 'axes')], {}, keyOf(out, k)), {}, k));
      return;
    }
    case 'Reshape': {
      if (allConst) { const t = cst(0); g.consts.set(out, { ...t, dims: resolveShape(nums(1), numel(t.dims), fail) }); return; }
      set(g.emit('Reshape', [x(0), x(1)], {}, out));
      return;
    }
    case 'Squeeze': {
      const dims = attrInts(n, 'squeeze_dims') ?? attrInts(n, 'axis') ?? [];
      set(g.emit('Squeeze', dims.length ? [x(0), g.ints(dims, 'axes')] : [x(0)], {}, out));
      return;
    }
    case 'ExpandDims': {
      set(g.emit('Unsqueeze', [x(0), g.ints(nums(1), 'axes')], {}, out));
      return;
    }
    case 'Pad': case 'PadV2': case 'MirrorPad': {
      const p = nums(1);
      const r = p.length / 2;
      const pads = [...Array.from({ length: r }, (_, i) => p[2 * i]!), ...Array.from({ length: r }, (_, i) => p[2 * i + 1]!)];
      const inputs = [x(0), g.ints(pads, 'pads')];
      const attrs: Record<string, AttrValue> = {};
      if (n.op === 'PadV2') inputs.push(g.scalar(nums(2)[0]!));
      if (n.op === 'MirrorPad') {
        const mode = attrS(n, 'mode', 'REFLECT');
        if (mode !== 'REFLECT') fail(`mode ${mode} is not supported (REFLECT; ONNX Pad has no SYMMETRIC)`);
        attrs.mode = 'reflect';
      }
      set(g.emit('Pad', inputs, attrs, out));
      return;
    }
    case 'StridedSlice': {
      stridedSlice(g, n, x(0), nums(1), nums(2), nums(3), out, fail);
      set(out);
      return;
    }
    case 'Slice': {
      const begin = nums(1);
      const size = nums(2);
      const ends = begin.map((b, i) => (size[i]! < 0 ? BIG : b + size[i]!));
      set(g.emit('Slice', [x(0), g.ints(begin, 'starts'), g.ints(ends, 'ends'), g.ints(begin.map((_, i) => i), 'axes')], {}, out));
      return;
    }
    case 'Transpose': {
      set(g.emit('Transpose', [x(0)], { perm: nums(1) }, out));
      return;
    }
    case 'ResizeBilinear': case 'ResizeNearestNeighbor': {
      const size = nums(1);
      if (size.length !== 2) fail('its size must hold [height, width]');
      const align = attrB(n, 'align_corners', false);
      const half = attrB(n, 'half_pixel_centers', false);
      if (align && half) fail('align_corners and half_pixel_centers cannot both be set');
      const mode = align ? 'align_corners' : half ? 'half_pixel' : 'asymmetric';
      const nearest = n.op === 'ResizeNearestNeighbor';
      const attrs: Record<string, AttrValue> = { mode: nearest ? 'nearest' : 'linear', coordinate_transformation_mode: mode };
      // TF nearest: floor(x·scale) (asymmetric), floor((x + 0.5)·scale) (half pixel: round_prefer_ceil of the half-pixel coordinate), round (align corners)
      if (nearest) attrs.nearest_mode = align || half ? 'round_prefer_ceil' : 'floor';
      const xt = toNCHW(x(0));
      const nc = g.emit('Slice', [g.emit('Shape', [xt]), g.ints([0], 'starts'), g.ints([2], 'ends'), g.ints([0], 'axes')]);
      const sizes = g.emit('Concat', [nc, g.ints(size, 'size')], { axis: 0 });
      set(toNHWC(g.emit('Resize', [xt, '', '', sizes], attrs), out));
      return;
    }
    case 'Cast': {
      const to = attrType(n, 'DstT') ?? 'DT_FLOAT';
      const from = attrType(n, 'SrcT') ?? 'DT_FLOAT';
      if (allConst) {
        const t = cst(0);
        g.consts.set(out, to === 'DT_FLOAT' ? floatT(Float32Array.from(values(t)), t.dims) : intT(values(t).map(Math.trunc), t.dims));
        return;
      }
      const code = to === 'DT_FLOAT' ? DATA_TYPE.float32 : to === 'DT_INT32' || to === 'DT_INT64' ? DATA_TYPE.int64 : to === 'DT_BOOL' ? DATA_TYPE.bool : 0;
      if (!code) fail(`casts to ${to}, which is not supported (DT_FLOAT, DT_INT32, DT_INT64, DT_BOOL)`);
      const same = to === from || ((to === 'DT_INT32' || to === 'DT_INT64') && (from === 'DT_INT32' || from === 'DT_INT64'));
      set(same ? g.emit('Identity', [x(0)], {}, out) : g.emit('Cast', [x(0)], { to: code }, out));
      return;
    }
    case 'Shape': {
      set(g.emit('Shape', [x(0)], {}, out));
      return;
    }
    case 'FusedBatchNorm': case 'FusedBatchNormV3': {
      if (attrB(n, 'is_training', false)) fail('is_training is set: a model for inference has it false');
      const v = inVal(0);
      const { mul, add } = bnConsts(1, attrF(n, 'epsilon', 1e-3));
      const c = mul.length;
      const shape = channelsLast ? [c] : [c, 1, 1];
      const t = g.emit('Mul', [v.name, g.init(floatT(mul, shape), g.fresh(`${out}/scale`))]);
      set(g.emit('Add', [t, g.init(floatT(add, shape), g.fresh(`${out}/shift`))], {}, out), { dilated: v.dilated });
      return;
    }
    case 'SpaceToBatchND': {
      const block = nums(1);
      const p = nums(2);
      if (block.length !== 2) fail('only 2-D block shapes are supported');
      g.vals.set(out, { name: out, s2b: { input: x(0), block, paddings: [[p[0]!, p[1]!], [p[2]!, p[3]!]] } });
      return;
    }
    case 'BatchToSpaceND': {
      const v = inVal(0);
      if (!v.dilated) fail('reads no dilated convolution: only SpaceToBatchND → convolution → BatchToSpaceND is supported');
      const c = nums(2);
      if (c.every((k) => k === 0)) { set(g.emit('Identity', [v.name], {}, out)); return; }
      const starts = [c[0]!, c[2]!];
      const ends = [c[1]! > 0 ? -c[1]! : BIG, c[3]! > 0 ? -c[3]! : BIG];
      set(g.emit('Slice', [v.name, g.ints(starts, 'starts'), g.ints(ends, 'ends'), g.ints([1, 2], 'axes')], {}, out));
      return;
    }
    default:
      fail('is not supported');
  }
}

function intOrFloat(v: number[], like: Tensor): Tensor {
  return like.dtype === 'float32' ? floatT(Float32Array.from(v), [v.length]) : intT(v, [v.length]);
}

function resolveShape(shape: number[], n: number, fail: (w: string) => never): number[] {
  const known = shape.filter((d) => d >= 0).reduce((a, d) => a * d, 1);
  const out = shape.map((d) => (d < 0 ? n / known : d));
  if (numel(out) !== n || out.some((d) => !Number.isInteger(d))) fail(`cannot reshape ${n} values to [${shape.join(', ')}]`);
  return out;
}

function foldBinary(op: string, a: Tensor, b: Tensor, fail: (w: string) => never): Tensor {
  const [av, bv] = [values(a), values(b)];
  if (av.length !== 1 && bv.length !== 1 && av.length !== bv.length) fail('constant folding of broadcast shapes is not supported');
  const dims = av.length >= bv.length ? a.dims : b.dims;
  const n = Math.max(av.length, bv.length);
  const f: Record<string, (p: number, q: number) => number> = { Add: (p, q) => p + q, Sub: (p, q) => p - q, Mul: (p, q) => p * q, Div: (p, q) => (a.dtype === 'int64' ? Math.trunc(p / q) : p / q), Max: Math.max, Min: Math.min, Pow: Math.pow };
  const r = Array.from({ length: n }, (_, i) => f[op]!(av[av.length === 1 ? 0 : i]!, bv[bv.length === 1 ? 0 : i]!));
  return a.dtype === 'float32' ? floatT(Float32Array.from(r), dims) : intT(r, dims);
}

function foldConcat(ts: Tensor[], axis: number, fail: (w: string) => never): Tensor {
  if (ts.some((t) => t.dims.length > 1) || (axis !== 0 && axis !== -1)) fail('constant folding of concatenations above 1-D is not supported');
  const v = ts.flatMap(values);
  return intOrFloat(v, ts[0]!);
}

/** TF StridedSlice with its five masks, as ONNX Slice, then Squeeze (shrink) and Unsqueeze (new axes). */
function stridedSlice(g: GraphImporter, n: TfNode, x: string, begin: number[], end: number[], strides: number[], out: string, fail: (w: string) => never): void {
  const bm = attrI(n, 'begin_mask', 0), em = attrI(n, 'end_mask', 0), ell = attrI(n, 'ellipsis_mask', 0);
  const nm = attrI(n, 'new_axis_mask', 0), sm = attrI(n, 'shrink_axis_mask', 0);
  if (ell) {
    // the ellipsis must be the last spec entry (the dims after it are then untouched), which needs no rank
    const k = Math.log2(ell);
    if (!Number.isInteger(k) || k !== begin.length - 1) fail('an ellipsis is supported only as the last entry of the slice');
  }
  const starts: number[] = [], ends: number[] = [], axes: number[] = [], steps: number[] = [];
  const squeeze: number[] = [], unsqueeze: number[] = [];
  let inAxis = 0, outAxis = 0;
  for (let i = 0; i < begin.length; i++) {
    const bit = 1 << i;
    if (ell & bit) break;
    if (nm & bit) { unsqueeze.push(outAxis++); continue; }
    const s = strides[i] ?? 1;
    if (s === 0) fail('a stride is 0');
    if (sm & bit) {
      const b = begin[i]!;
      starts.push(b); ends.push(b === -1 ? BIG : b + 1); axes.push(inAxis); steps.push(1);
      squeeze.push(inAxis);
    } else {
      const b = bm & bit ? (s > 0 ? 0 : BIG) : begin[i]!;
      const e = em & bit ? (s > 0 ? BIG : -BIG) : end[i]!;
      if (!(bm & bit && em & bit && s === 1)) { starts.push(b); ends.push(e); axes.push(inAxis); steps.push(s); }
      outAxis++;
    }
    inAxis++;
  }
  let t = x;
  const last = () => !squeeze.length && !unsqueeze.length;
  t = axes.length ? g.emit('Slice', [t, g.ints(starts, 'starts'), g.ints(ends, 'ends'), g.ints(axes, 'axes'), g.ints(steps, 'steps')], {}, last() ? out : undefined) : (last() ? g.emit('Identity', [t], {}, out) : t);
  if (squeeze.length) t = g.emit('Squeeze', [t, g.ints(squeeze, 'axes')], {}, unsqueeze.length ? undefined : out);
  if (unsqueeze.length) g.emit('Unsqueeze', [t, g.ints(unsqueeze, 'axes')], {}, out);
}
