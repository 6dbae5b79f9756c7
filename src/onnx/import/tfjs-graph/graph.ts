/**
 * The TF.js graph importer's model of a GraphDef: the JSON types of model.json's topology, constant
 * tensors decoded from it, node references (`node`, `node:1`), attribute readers, and `GraphImporter`, which
 * collects the ONNX nodes and initializers and maps each TF output to its ONNX value. Browser-safe.
 */
import { ModelError, makeAttr, type AttrValue, type Node } from '../../model.js';
import { encodeTensor, numel, type Tensor } from '../../tensor.js';
import type { TfjsManifestGroup } from '../tfjs-weights.js';

export const OPSET = 17;
export const BIG = 2 ** 53 - 1;

interface TfShape { dim?: { size?: string | number }[]; unknownRank?: boolean }
interface TfTensor { dtype?: string; tensorShape?: TfShape; floatVal?: number[]; intVal?: (number | string)[]; int64Val?: (number | string)[]; boolVal?: boolean[]; halfVal?: number[]; tensorContent?: string }
interface TfAttr {
  s?: string; i?: string | number; f?: number; b?: boolean; type?: string; shape?: TfShape; tensor?: TfTensor;
  list?: { s?: string[]; i?: (string | number)[]; f?: number[]; type?: string[]; shape?: TfShape[] };
}
export interface TfNode { name: string; op: string; input?: string[]; attr?: Record<string, TfAttr>; device?: string }
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
export interface Val {
  name: string;
  /** Output of SpaceToBatchND, waiting for its convolution. */
  s2b?: { input: string; block: number[]; paddings: number[][] };
  /** A full-resolution dilated-convolution result waiting for BatchToSpaceND's crop. */
  dilated?: boolean;
}

export class ImportError extends ModelError {}

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

export const floatT = (data: Float32Array, dims: number[]): Tensor => ({ dtype: 'float32', dims, data });
export const intT = (values: ArrayLike<number>, dims: number[]): Tensor => ({ dtype: 'int64', dims, data: BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v)))) });
export const values = (t: Tensor): number[] => Array.from(t.data as ArrayLike<number | bigint>, Number);

export function tfTensorValue(t: TfTensor, where: string): Tensor {
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
export function parseRef(ref: string): { node: string; index: number } | undefined {
  if (ref.startsWith('^')) return undefined;
  const m = /^(.*):(\d+)$/.exec(ref);
  return m ? { node: m[1]!, index: Number(m[2]) } : { node: ref, index: 0 };
}
export const keyOf = (node: string, index: number): string => (index === 0 ? node : `${node}:${index}`);

export class GraphImporter {
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

export const attrS = (n: TfNode, k: string, d: string): string => (n.attr?.[k]?.s !== undefined ? str(n.attr[k]!.s) : d);
export const attrI = (n: TfNode, k: string, d: number): number => (n.attr?.[k]?.i !== undefined ? Number(n.attr[k]!.i) : d);
export const attrF = (n: TfNode, k: string, d: number): number => (n.attr?.[k]?.f !== undefined ? Number(n.attr[k]!.f) : d);
export const attrB = (n: TfNode, k: string, d: boolean): boolean => (n.attr?.[k]?.b !== undefined ? !!n.attr[k]!.b : d);
export const attrInts = (n: TfNode, k: string): number[] | undefined => (n.attr?.[k]?.list ? (n.attr[k]!.list!.i ?? []).map(Number) : undefined);
export const attrStrs = (n: TfNode, k: string): string[] => (n.attr?.[k]?.list?.s ?? []).map(str);
export const attrType = (n: TfNode, k: string): string | undefined => n.attr?.[k]?.type;
