/** Emits new nodes and constants into a graph under a private name prefix. */
import { makeAttr, type AttrValue, type ModelProto, type Node } from '../onnx/model.js';
import { encodeTensor, floatTensor, int64Tensor, type Tensor } from '../onnx/tensor.js';

export class Builder {
  private counter = 0;
  private readonly constCache = new Map<string, string>();
  readonly nodes: Node[] = [];

  constructor(readonly model: ModelProto, readonly prefix = 'gradcam/') {}

  private readonly memos = new Map<string, string>();

  /** Builds a value once per key: masks and transformed weights shared by several backward chains. */
  memo(key: string, make: () => string): string {
    let v = this.memos.get(key);
    if (v === undefined) this.memos.set(key, (v = make()));
    return v;
  }

  fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  /** Adds a node; returns its output names (`outputs` of them). */
  opN(opType: string, inputs: string[], attrs: Record<string, AttrValue | undefined> = {}, outputs = 1, hint = opType): string[] {
    const out = Array.from({ length: outputs }, () => this.fresh(hint));
    const attribute = Object.entries(attrs)
      .filter((e): e is [string, AttrValue] => e[1] !== undefined)
      .map(([k, v]) => makeAttr(k, v));
    this.nodes.push({ name: this.fresh(`${hint}_node`), op_type: opType, domain: '', input: inputs, output: out, attribute });
    return out;
  }

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue | undefined> = {}, hint = opType): string {
    return this.opN(opType, inputs, attrs, 1, hint)[0]!;
  }

  /** Adds an initializer; small constants with equal content are shared. */
  constant(t: Tensor, hint = 'const'): string {
    let key: string | undefined;
    if (t.data.length <= 64) key = `${t.dtype}|${t.dims.join(',')}|${Array.from(t.data as ArrayLike<number | bigint>).join(',')}`;
    if (key && this.constCache.has(key)) return this.constCache.get(key)!;
    const name = this.fresh(hint);
    this.model.graph.initializer.push(encodeTensor(name, t));
    if (key) this.constCache.set(key, name);
    return name;
  }

  ints(values: number[]): string {
    return this.constant(int64Tensor(values), 'ints');
  }

  scalar(v: number): string {
    return this.constant(floatTensor([v], []), 'scalar');
  }

  floats(data: Float32Array | number[], dims: number[], hint = 'weights'): string {
    return this.constant(floatTensor(data, dims), hint);
  }

  shape(x: string): string {
    return this.op('Shape', [x]);
  }

  zerosLike(x: string): string {
    return this.op('ConstantOfShape', [this.shape(x)], { value: floatTensor([0], [1]) });
  }

  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }

  reshapeLike(x: string, like: string): string {
    return this.op('Reshape', [x, this.shape(like)]);
  }

  /** Sum of several tensors of the same shape. */
  sum(xs: string[]): string {
    if (xs.length === 1) return xs[0]!;
    if (xs.length === 2) return this.op('Add', xs);
    return this.op('Sum', xs);
  }
}
