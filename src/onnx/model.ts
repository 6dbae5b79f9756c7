/**
 * A small, mutable graph IR over an ONNX ModelProto. Nodes and value infos stay close to their proto
 * form (snake_case fields) so that encoding back loses nothing; helpers give typed attribute access.
 */
import { modelType } from './proto.js';
import { decodeTensor, encodeTensor, toNumber, type ExternalDataReader, type Tensor, type TensorProtoLike } from './tensor.js';

export interface AttributeProto {
  name: string;
  type?: number;
  f?: number;
  i?: unknown;
  s?: Uint8Array;
  t?: TensorProtoLike;
  g?: unknown;
  floats?: number[];
  ints?: unknown[];
  strings?: Uint8Array[];
  [key: string]: unknown;
}

export interface Node {
  name: string;
  op_type: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute: AttributeProto[];
  [key: string]: unknown;
}

export interface ValueInfo {
  name: string;
  type?: { tensor_type?: { elem_type?: number; shape?: { dim?: { dim_value?: unknown; dim_param?: string }[] } } };
  [key: string]: unknown;
}

export interface GraphProto {
  node: Node[];
  name?: string;
  initializer: TensorProtoLike[];
  input: ValueInfo[];
  output: ValueInfo[];
  value_info?: ValueInfo[];
  [key: string]: unknown;
}

export interface ModelProto {
  ir_version?: unknown;
  opset_import: { domain?: string; version?: unknown }[];
  graph: GraphProto;
  metadata_props?: { key?: string; value?: string }[];
  [key: string]: unknown;
}

export const ATTR = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

/** Decodes ONNX bytes; `source` names the file in error messages. */
export function decodeModel(bytes: Uint8Array, source = 'model'): ModelProto {
  if (bytes.byteLength === 0) throw new ModelError(`${source}: the file is empty, not an ONNX model`);
  let m: ModelProto;
  try {
    m = modelType().toObject(modelType().decode(bytes), { defaults: false, arrays: true, longs: Number }) as ModelProto;
  } catch (e) {
    throw new ModelError(`${source}: not a valid ONNX model (${(e as Error).message}); is the file truncated or of another format?`);
  }
  if (!m.graph || !m.graph.node || m.graph.node.length === 0) {
    throw new ModelError(`${source}: not a valid ONNX model (no graph or no nodes found)`);
  }
  if (!m.opset_import || m.opset_import.length === 0) {
    throw new ModelError(`${source}: not a valid ONNX model (no opset_import)`);
  }
  const g = m.graph;
  g.initializer ??= [];
  g.input ??= [];
  g.output ??= [];
  if (g.input.length === 0) throw new ModelError(`${source}: the graph has no inputs`);
  if (g.output.length === 0) throw new ModelError(`${source}: the graph has no outputs`);
  if (g.input.some((v) => !v?.name) || g.output.some((v) => !v?.name)) throw new ModelError(`${source}: a graph input or output has no name`);
  for (const n of g.node) {
    n.input ??= [];
    n.output ??= [];
    n.attribute ??= [];
    n.name ??= '';
  }
  return m;
}

export function encodeModel(m: ModelProto): Uint8Array {
  const T = modelType();
  return T.encode(T.fromObject(m)).finish();
}

export function opsetVersion(m: ModelProto, domain = ''): number {
  for (const o of m.opset_import) {
    const d = o.domain ?? '';
    if (d === domain || (domain === '' && d === 'ai.onnx')) return toNumber(o.version);
  }
  return 0;
}

export function setOpsetVersion(m: ModelProto, version: number, domain = ''): void {
  const o = m.opset_import.find((x) => (x.domain ?? '') === domain || (domain === '' && x.domain === 'ai.onnx'));
  if (o) o.version = version;
  else m.opset_import.push({ domain, version });
}

export function metadata(m: ModelProto): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of m.metadata_props ?? []) if (e.key) out[e.key] = e.value ?? '';
  return out;
}

// ---- attributes ----

export function getAttr(n: Node, name: string): AttributeProto | undefined {
  return n.attribute.find((a) => a.name === name);
}

export function attrInt(n: Node, name: string, dflt: number): number;
export function attrInt(n: Node, name: string): number | undefined;
export function attrInt(n: Node, name: string, dflt?: number): number | undefined {
  const a = getAttr(n, name);
  return a && a.i !== undefined ? toNumber(a.i) : dflt;
}

export function attrFloat(n: Node, name: string, dflt: number): number {
  const a = getAttr(n, name);
  return a && a.f !== undefined ? a.f : dflt;
}

export function attrInts(n: Node, name: string): number[] | undefined {
  const a = getAttr(n, name);
  return a ? (a.ints ?? []).map(toNumber) : undefined;
}

export function attrFloats(n: Node, name: string): number[] | undefined {
  const a = getAttr(n, name);
  return a ? (a.floats ?? []).slice() : undefined;
}

export function attrString(n: Node, name: string, dflt: string): string {
  const a = getAttr(n, name);
  return a && a.s ? new TextDecoder().decode(a.s) : dflt;
}

/** A float attribute value: plain numbers become INT attributes, `float(x)` makes a FLOAT one. */
export class FloatAttr {
  constructor(readonly value: number) {}
}
export const float = (v: number): FloatAttr => new FloatAttr(v);
export class FloatsAttr {
  constructor(readonly value: number[]) {}
}
export const floats = (v: number[]): FloatsAttr => new FloatsAttr(v);
export type AttrValue = number | number[] | string | FloatAttr | FloatsAttr | Tensor;

export function makeAttr(name: string, v: AttrValue): AttributeProto {
  if (v instanceof FloatAttr) return { name, type: ATTR.FLOAT, f: v.value };
  if (v instanceof FloatsAttr) return { name, type: ATTR.FLOATS, floats: v.value };
  if (typeof v === 'string') return { name, type: ATTR.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer; use float()`);
    return { name, type: ATTR.INT, i: v };
  }
  if (Array.isArray(v)) return { name, type: ATTR.INTS, ints: v };
  return { name, type: ATTR.TENSOR, t: encodeTensor('', v) };
}

export function setAttr(n: Node, name: string, v: AttrValue): void {
  n.attribute = n.attribute.filter((a) => a.name !== name);
  n.attribute.push(makeAttr(name, v));
}

// ---- shapes from value infos ----

/** Declared dims of a value info: numbers where fixed, the symbolic name or null where not. */
export function declaredDims(v: ValueInfo): (number | string | null)[] | undefined {
  const s = v.type?.tensor_type?.shape;
  if (!s) return undefined;
  return (s.dim ?? []).map((d) => (d.dim_value !== undefined && toNumber(d.dim_value) > 0 ? toNumber(d.dim_value) : d.dim_param ?? null));
}

export function elemType(v: ValueInfo): number | undefined {
  return v.type?.tensor_type?.elem_type;
}

export function makeValueInfo(name: string, elem: number, dims?: (number | string | null)[]): ValueInfo {
  const tensor_type: NonNullable<NonNullable<ValueInfo['type']>['tensor_type']> = { elem_type: elem };
  if (dims) tensor_type.shape = { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : d ? { dim_param: d } : {})) };
  return { name, type: { tensor_type } };
}

// ---- graph queries ----

export class GraphIndex {
  readonly producer = new Map<string, Node>();
  readonly consumers = new Map<string, Node[]>();
  readonly initializers = new Map<string, TensorProtoLike>();
  private readonly decoded = new Map<string, Tensor | null>();

  constructor(readonly model: ModelProto, private readonly external?: ExternalDataReader) {
    const g = model.graph;
    for (const t of g.initializer) if (t.name) this.initializers.set(t.name, t);
    for (const n of g.node) {
      for (const o of n.output) if (o) this.producer.set(o, n);
      for (const i of n.input) {
        if (!i) continue;
        let list = this.consumers.get(i);
        if (!list) this.consumers.set(i, (list = []));
        list.push(n);
      }
    }
  }

  /** The tensor's value when it is constant: an initializer, a Constant node, or Identity of one. */
  constant(name: string): Tensor | undefined {
    if (this.decoded.has(name)) return this.decoded.get(name) ?? undefined;
    let t: Tensor | undefined;
    const init = this.initializers.get(name);
    const isGraphInput = this.model.graph.input.some((i) => i.name === name);
    if (init && !isGraphInput) t = decodeTensor(init, this.external);
    else {
      const p = this.producer.get(name);
      if (p && p.op_type === 'Constant' && !p.domain) t = constantNodeValue(p);
      else if (p && p.op_type === 'Identity' && !p.domain && p.input[0]) t = this.constant(p.input[0]);
    }
    this.decoded.set(name, t ?? null);
    return t;
  }
}

export function constantNodeValue(n: Node): Tensor | undefined {
  for (const a of n.attribute) {
    switch (a.name) {
      case 'value': return a.t ? decodeTensor(a.t) : undefined;
      case 'value_float': return { dtype: 'float32', dims: [], data: Float32Array.of(a.f ?? 0) };
      case 'value_floats': return { dtype: 'float32', dims: [(a.floats ?? []).length], data: Float32Array.from(a.floats ?? []) };
      case 'value_int': return { dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(toNumber(a.i))) };
      case 'value_ints': return { dtype: 'int64', dims: [(a.ints ?? []).length], data: BigInt64Array.from((a.ints ?? []).map((x) => BigInt(toNumber(x)))) };
    }
  }
  return undefined;
}

/** Nodes in topological order (the ONNX order is topological already for valid models; this checks). */
export function topoOrder(g: GraphProto): Node[] {
  const available = new Set<string>(['']);
  for (const i of g.input) available.add(i.name);
  for (const t of g.initializer) if (t.name) available.add(t.name);
  const pending = g.node.slice();
  const out: Node[] = [];
  let progress = true;
  while (pending.length && progress) {
    progress = false;
    for (let k = 0; k < pending.length; ) {
      const n = pending[k]!;
      if (n.input.every((i) => available.has(i))) {
        out.push(n);
        for (const o of n.output) available.add(o);
        pending.splice(k, 1);
        progress = true;
      } else k++;
    }
  }
  if (pending.length) {
    const n = pending[0]!;
    const missing = n.input.filter((i) => !available.has(i));
    throw new ModelError(`node '${n.name}' (${n.op_type}) reads tensor(s) ${missing.map((m) => `'${m}'`).join(', ')} that no node, input or initializer provides`);
  }
  return out;
}

/**
 * Replaces initializers stored in external files by inline raw data, so that the model (and every
 * graph compiled from it) runs from one buffer.
 */
export function inlineExternalData(m: ModelProto, reader: ExternalDataReader | undefined, source = 'model'): void {
  const g = m.graph;
  for (let i = 0; i < g.initializer.length; i++) {
    const t = g.initializer[i]!;
    if (t.data_location !== 1) continue;
    if (!reader) throw new ModelError(`${source}: initializer '${t.name}' is stored in an external file; load the model from its file path`);
    try {
      g.initializer[i] = encodeTensor(t.name ?? '', decodeTensor(t, reader));
    } catch (e) {
      throw e instanceof ModelError || (e as Error).message.startsWith(`${source}:`) ? e : new ModelError(`${source}: ${(e as Error).message}`);
    }
  }
}
