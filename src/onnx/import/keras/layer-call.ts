/**
 * One Keras layer call being converted: the `LayerCall` a converter receives, the `Emitter` that writes
 * ONNX nodes and initializers (unique tensor names), and the readers of a layer's config (numbers, pairs,
 * padding amounts, strings) with their one-line errors naming the layer.
 */
import { type AttrValue, makeAttr, ModelError, type Node } from '../../model.js';
import { encodeTensor, floatTensor, int64Tensor, type TensorProtoLike } from '../../tensor.js';
import { cfg, type KLayer } from './topology.js';
import type { Weight } from './weights.js';

export type Dim = number | null;

/** A tensor of the graph being built: its name and static shape (null where unknown; the batch is null). */
export interface T {
  name: string;
  shape: Dim[];
}

/** What differs between the files' Keras versions. */
export interface Dialect {
  /** Keras 3 semantics: hard_sigmoid = relu6(x + 3) / 6; UpSampling2D bilinear with half-pixel centres. */
  keras3: boolean;
  /** TF.js: UpSampling2D bilinear samples with tf.image.resizeBilinear's defaults (no half-pixel centres). */
  tfjs: boolean;
}

export class Emitter {
  readonly nodes: Node[] = [];
  readonly initializers: TensorProtoLike[] = [];
  private readonly names = new Set<string>();
  private readonly consts = new Map<string, string>();

  /** Reserves a tensor name; a taken one gets a suffix (_1, _2...). */
  unique(name: string): string {
    let n = name;
    for (let i = 1; this.names.has(n); i++) n = `${name}_${i}`;
    this.names.add(n);
    return n;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  node(op: string, inputs: string[], attrs: Record<string, AttrValue | undefined>, out: string): string {
    const name = this.unique(out);
    const attribute = Object.entries(attrs).filter((e): e is [string, AttrValue] => e[1] !== undefined).map(([k, v]) => makeAttr(k, v));
    this.nodes.push({ name: `${name}/node`, op_type: op, domain: '', input: inputs, output: [name], attribute });
    return name;
  }

  weight(data: Float32Array, dims: number[], name: string): string {
    const n = this.unique(name);
    this.initializers.push(encodeTensor(n, floatTensor(data, dims)));
    return n;
  }

  ints(values: number[]): string {
    const key = `i:${values.join(',')}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.unique(`const/ints_${this.consts.size}`);
      this.initializers.push(encodeTensor(n, int64Tensor(values)));
      this.consts.set(key, n);
    }
    return n;
  }

  scalar(v: number): string {
    const key = `f:${v}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.unique(`const/scalar_${this.consts.size}`);
      this.initializers.push(encodeTensor(n, floatTensor([v], [])));
      this.consts.set(key, n);
    }
    return n;
  }

  /** Gives the tensor `x` the name `to`: renames the node that just made it, else an Identity. */
  rename(x: string, to: string): string {
    const last = this.nodes[this.nodes.length - 1];
    if (last && last.output[0] === x && x !== to && !this.names.has(to)) {
      this.names.delete(x);
      const n = this.unique(to);
      last.output[0] = n;
      last.name = `${n}/node`;
      return n;
    }
    return this.node('Identity', [x], {}, to);
  }
}

/** One call of a layer. */
export interface LayerCall {
  layer: KLayer;
  /** The nested models it sits in, outermost first. */
  path: string[];
  inputs: T[];
  /** The name its (first) output should have. */
  out: string;
  e: Emitter;
  dialect: Dialect;
  /** The layer's weights in the order of `kinds` (undefined kinds: absent optional weights). */
  weights(kinds: (string | undefined)[]): (Weight | undefined)[];
}

export type Converter = (c: LayerCall) => T[];

export const err = (c: LayerCall, msg: string) => new ModelError(`layer '${c.layer.name}' (${c.layer.className}): ${msg}`);

export function num(c: LayerCall, key: string, dflt: number): number {
  const v = cfg<unknown>(c.layer.config, key);
  if (v === undefined || v === null) return dflt;
  const n = Array.isArray(v) ? Number(v[0]) : Number(v);
  if (!Number.isFinite(n)) throw err(c, `${key} is not a number (${JSON.stringify(v)})`);
  return n;
}

export function pair(c: LayerCall, key: string, dflt: [number, number]): [number, number] {
  const v = cfg<unknown>(c.layer.config, key);
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2) return [Number(v[0]), Number(v[1])];
  throw err(c, `${key} must be a number or a pair (${JSON.stringify(v)})`);
}

/** ZeroPadding2D / Cropping2D amounts: n, [a, b] (symmetric per axis) or [[top, bottom], [left, right]]. */
export function amounts(c: LayerCall, key: string): [number, number, number, number] {
  const v = cfg<unknown>(c.layer.config, key) ?? 1;
  if (typeof v === 'number') return [v, v, v, v];
  if (Array.isArray(v) && v.length === 2) {
    const [a, b] = v as unknown[];
    if (typeof a === 'number' && typeof b === 'number') return [a, a, b, b];
    if (Array.isArray(a) && Array.isArray(b)) return [Number(a[0]), Number(a[1]), Number(b[0]), Number(b[1])];
  }
  throw err(c, `${key} must be n, [h, w] or [[top, bottom], [left, right]] (${JSON.stringify(v)})`);
}

export function str(c: LayerCall, key: string, dflt: string): string {
  const v = cfg<unknown>(c.layer.config, key);
  return v === undefined || v === null ? dflt : String(v);
}

export function channelsLast(c: LayerCall): void {
  const f = str(c, 'data_format', 'channels_last');
  if (f !== 'channels_last') throw err(c, `data_format '${f}' is not supported (channels_last only)`);
}

export function one(c: LayerCall): T {
  if (c.inputs.length !== 1) throw err(c, `expects one input, got ${c.inputs.length}`);
  return c.inputs[0]!;
}

export function rank4(c: LayerCall, x: T): void {
  if (x.shape.length !== 4) throw err(c, `expects a 4-D input [batch, height, width, channels], got rank ${x.shape.length}`);
}

export function need(c: LayerCall, w: Weight | undefined, what: string): Weight {
  if (!w) throw err(c, `its ${what} weight is missing`);
  return w;
}
