/**
 * Static shape inference for the common ops, from the input's dimensions, the ops' attributes and the
 * graph's constants: what the probe runs (runtime/engine.ts probe) need not expose. A tensor whose shape
 * cannot be inferred here (an op not listed, a shape computed at run time, data-dependent sizes) is left
 * out, and the probe learns it by running the model. Wrong is worse than unknown: every case below is
 * exact or absent (test/shapes.test.ts compares it with the probe on every fixture).
 */
import { attrInt, attrInts, attrString, type Node } from './model.js';
import { tensorValues, type Tensor } from './tensor.js';

const SAME = new Set([
  'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Softplus', 'Softsign', 'Elu', 'Selu', 'Celu', 'Mish',
  'Gelu', 'Erf', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Abs', 'Neg', 'Identity', 'Dropout', 'Cast', 'Softmax', 'LogSoftmax', 'Clip',
  'BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization', 'LRN', 'Round', 'Floor', 'Ceil', 'Sign',
  'QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'QLinearSigmoid', 'QLinearLeakyRelu', 'QLinearSoftmax',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Where', 'PRelu']);
const CONVS: Record<string, [number, number]> = { Conv: [0, 1], ConvInteger: [0, 1], QLinearConv: [0, 3] }; // input and weight slots
const POOLS = new Set(['MaxPool', 'AveragePool', 'LpPool', 'QLinearAveragePool']);
const GLOBAL_POOLS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool', 'QLinearGlobalAveragePool']);

function broadcast(shapes: number[][]): number[] | undefined {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v !== 1) { if (d !== 1 && d !== v) return undefined; d = v; }
    }
    out.push(d);
  }
  return out;
}

/** Output spatial sizes of a convolution or pooling window, or undefined where the attributes are not resolved here. */
function window(n: Node, x: number[], kernel: number[]): number[] | undefined {
  const k = kernel.length;
  const strides = attrInts(n, 'strides') ?? kernel.map(() => 1);
  const dil = attrInts(n, 'dilations') ?? kernel.map(() => 1);
  const pads = attrInts(n, 'pads') ?? kernel.map(() => 0).concat(kernel.map(() => 0));
  const autoPad = attrString(n, 'auto_pad', 'NOTSET');
  const ceil = attrInt(n, 'ceil_mode', 0) === 1;
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    const size = x[2 + i]!;
    const span = dil[i]! * (kernel[i]! - 1) + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') out.push(Math.ceil(size / strides[i]!));
    else if (autoPad === 'VALID') out.push(Math.floor((size - span) / strides[i]!) + 1);
    else if (autoPad === 'NOTSET') {
      const v = (size + pads[i]! + pads[i + k]! - span) / strides[i]!;
      if (!ceil) out.push(Math.floor(v) + 1);
      else {
        // ceil mode: a last window that starts in the right padding is dropped
        let o = Math.ceil(v) + 1;
        if ((o - 1) * strides[i]! >= size + pads[i]!) o--;
        out.push(o);
      }
    } else return undefined;
  }
  return out;
}

/**
 * Shapes of the outputs of `order` (nodes in topological order) from `known` (the input's shape), where
 * this file can infer them. `constant` gives a graph constant (initializer, Constant node).
 */
export function inferShapes(order: readonly Node[], known: Map<string, number[]>, constant: (name: string) => Tensor | undefined): Map<string, number[]> {
  const shapes = new Map(known);
  const shapeOf = (t: string | undefined): number[] | undefined => (t ? shapes.get(t) ?? constant(t)?.dims : undefined);
  const ints = (t: string | undefined): number[] | undefined => {
    const c = t ? constant(t) : undefined;
    return c && (c.dtype === 'int64' || c.dtype === 'int32') ? tensorValues(c) : undefined;
  };
  for (const n of order) {
    const out = infer(n, shapeOf, ints, (t) => (t ? constant(t) : undefined));
    if (!out) continue;
    out.forEach((s, k) => { const o = n.output[k]; if (o && s && s.every((d) => Number.isInteger(d) && d >= 0)) shapes.set(o, s); });
  }
  for (const k of known.keys()) shapes.delete(k);
  return shapes;
}

function infer(n: Node, shapeOf: (t: string | undefined) => number[] | undefined, ints: (t: string | undefined) => number[] | undefined, constant: (t: string | undefined) => Tensor | undefined): (number[] | undefined)[] | undefined {
  if (n.op_type === 'Constant') return undefined;
  const domain = n.domain && n.domain !== 'ai.onnx' ? n.domain : '';
  if (domain && domain !== 'com.microsoft') return undefined;
  const op = n.op_type;
  const x = shapeOf(n.input[0]);
  if (SAME.has(op) && !BROADCAST.has(op)) {
    if (!x) return undefined;
    if (op === 'DynamicQuantizeLinear') return [x, [], []];
    if (op === 'LayerNormalization' || op === 'BatchNormalization' || op === 'Dropout') return [x];
    return [x];
  }
  if (BROADCAST.has(op)) {
    const all = n.input.filter(Boolean).map((t) => shapeOf(t));
    if (all.some((s) => !s)) return undefined;
    return [broadcast(all as number[][])];
  }
  if (op === 'QLinearAdd' || op === 'QLinearMul') {
    const [a, b] = [shapeOf(n.input[0]), shapeOf(n.input[3])];
    return a && b ? [broadcast([a, b])] : undefined;
  }
  if (!x) return undefined;
  if (CONVS[op]) {
    const w = shapeOf(n.input[CONVS[op]![1]]);
    if (!w || x.length < 3) return undefined;
    const sp = window(n, x, attrInts(n, 'kernel_shape') ?? w.slice(2));
    return sp ? [[x[0]!, w[0]!, ...sp]] : undefined;
  }
  if (POOLS.has(op)) {
    if (attrInt(n, 'channels_last', 0) === 1) return undefined;
    const kernel = attrInts(n, 'kernel_shape');
    if (!kernel || x.length !== kernel.length + 2) return undefined;
    const sp = window(n, x, kernel);
    return sp ? n.output.map(() => [x[0]!, x[1]!, ...sp]) : undefined;
  }
  if (GLOBAL_POOLS.has(op)) {
    if (attrInt(n, 'channels_last', 0) === 1) return undefined;
    return [[x[0]!, x[1]!, ...x.slice(2).map(() => 1)]];
  }
  switch (op) {
    case 'Resize': case 'Upsample': {
      const scalesIn = op === 'Upsample' ? n.input[1] : n.input[2];
      const sizes = op === 'Resize' ? ints(n.input[3]) : undefined;
      if (sizes && sizes.length === x.length && !attrInts(n, 'axes')) return [sizes];
      const sc = scalesIn ? constant(scalesIn) : undefined;
      if (!sc || sc.dtype !== 'float32' || sc.data.length !== x.length || attrInts(n, 'axes')) return undefined;
      return [x.map((d, i) => Math.floor(d * (sc.data as Float32Array)[i]!))];
    }
    case 'Concat': {
      const all = n.input.filter(Boolean).map((t) => shapeOf(t));
      if (all.some((s) => !s)) return undefined;
      const axis = attrInt(n, 'axis', 0);
      const a = axis < 0 ? axis + x.length : axis;
      const out = x.slice();
      out[a] = (all as number[][]).reduce((s, v) => s + v[a]!, 0);
      return [out];
    }
    case 'Flatten': {
      const axis = attrInt(n, 'axis', 1);
      const a = axis < 0 ? axis + x.length : axis;
      return [[x.slice(0, a).reduce((p, v) => p * v, 1), x.slice(a).reduce((p, v) => p * v, 1)]];
    }
    case 'Gemm': case 'QGemm': {
      const b = shapeOf(n.input[op === 'Gemm' ? 1 : 3]);
      if (!b || x.length !== 2 || b.length !== 2) return undefined;
      return [[attrInt(n, 'transA', 0) ? x[1]! : x[0]!, attrInt(n, 'transB', 0) ? b[0]! : b[1]!]];
    }
    case 'MatMul': case 'MatMulInteger': case 'QLinearMatMul': {
      const b = shapeOf(n.input[op === 'QLinearMatMul' ? 3 : 1]);
      if (!b || x.length < 2 || b.length < 2) return undefined;
      const batch = broadcast([x.slice(0, -2), b.slice(0, -2)]);
      return batch ? [[...batch, x[x.length - 2]!, b[b.length - 1]!]] : undefined;
    }
    case 'Reshape': {
      const target = ints(n.input[1]);
      if (!target || attrInt(n, 'allowzero', 0) === 1) return undefined;
      const total = x.reduce((p, v) => p * v, 1);
      const out = target.map((d, i) => (d === 0 ? x[i]! : d));
      const known = out.filter((d) => d !== -1).reduce((p, v) => p * v, 1);
      const free = out.indexOf(-1);
      if (free >= 0) { if (known === 0 || total % known !== 0) return undefined; out[free] = total / known; }
      return out.reduce((p, v) => p * v, 1) === total ? [out] : undefined;
    }
    case 'Pad': {
      const pads = attrInts(n, 'pads') ?? ints(n.input[1]);
      if (!pads) return undefined;
      const axes = ints(n.input[3])?.map((a) => (a < 0 ? a + x.length : a)) ?? x.map((_, k) => k);
      if (pads.length !== 2 * axes.length) return undefined;
      const out = x.slice();
      axes.forEach((a, j) => { out[a] = out[a]! + pads[j]! + pads[j + axes.length]!; });
      return [out];
    }
    case 'Slice': {
      const [starts, ends] = [ints(n.input[1]), ints(n.input[2])];
      if (!starts || !ends) return undefined;
      const axes = n.input[3] ? ints(n.input[3]) : x.map((_, k) => k).slice(0, starts.length);
      const steps = n.input[4] ? ints(n.input[4]) : starts.map(() => 1);
      if (!axes || !steps) return undefined;
      const out = x.slice();
      axes.forEach((ax, j) => {
        const a = ax < 0 ? ax + x.length : ax;
        const d = x[a]!;
        const step = steps[j]!;
        const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
        let b = starts[j]! < 0 ? starts[j]! + d : starts[j]!;
        let e = ends[j]! < 0 ? ends[j]! + d : ends[j]!;
        if (step > 0) { b = clamp(b, 0, d); e = clamp(e, 0, d); out[a] = Math.max(0, Math.ceil((e - b) / step)); }
        else { b = clamp(b, -1, d - 1); e = clamp(e, -1, d - 1); out[a] = Math.max(0, Math.ceil((e - b) / step)); }
      });
      return [out];
    }
    case 'Split': {
      const axis = attrInt(n, 'axis', 0);
      const a = axis < 0 ? axis + x.length : axis;
      const split = attrInts(n, 'split') ?? (n.input[1] ? ints(n.input[1]) : undefined);
      const parts = split ?? (x[a]! % n.output.length === 0 ? n.output.map(() => x[a]! / n.output.length) : undefined);
      if (!parts || parts.length !== n.output.length) return undefined;
      return parts.map((p) => x.map((d, k) => (k === a ? p : d)));
    }
    case 'Gather': {
      const idx = constant(n.input[1]);
      if (!idx) return undefined;
      const axis = attrInt(n, 'axis', 0);
      const a = axis < 0 ? axis + x.length : axis;
      return [[...x.slice(0, a), ...idx.dims, ...x.slice(a + 1)]];
    }
    case 'ReduceMean': case 'ReduceSum': case 'ReduceMax': case 'ReduceMin': case 'ReduceL2': case 'ReduceL1': case 'ReduceProd': case 'ReduceSumSquare': {
      const axes = attrInts(n, 'axes') ?? (n.input[1] ? ints(n.input[1]) : []);
      if (!axes) return undefined;
      const keep = attrInt(n, 'keepdims', 1) === 1;
      if (axes.length === 0 && attrInt(n, 'noop_with_empty_axes', 0) === 1) return [x];
      const set = new Set((axes.length ? axes : x.map((_, k) => k)).map((v) => (v < 0 ? v + x.length : v)));
      return [x.flatMap((d, k) => (set.has(k) ? (keep ? [1] : []) : [d]))];
    }
    case 'Transpose': {
      const perm = attrInts(n, 'perm') ?? x.map((_, k) => x.length - 1 - k);
      return [perm.map((p) => x[p]!)];
    }
    case 'Squeeze': {
      const axes = attrInts(n, 'axes') ?? ints(n.input[1]);
      if (!axes) return n.input[1] ? undefined : [x.filter((d) => d !== 1)];
      const set = new Set(axes.map((a) => (a < 0 ? a + x.length : a)));
      return [x.filter((_, k) => !set.has(k))];
    }
    case 'Unsqueeze': {
      const axes = attrInts(n, 'axes') ?? ints(n.input[1]);
      if (!axes) return undefined;
      const rank = x.length + axes.length;
      const set = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
      const out: number[] = [];
      let j = 0;
      for (let k = 0; k < rank; k++) out.push(set.has(k) ? 1 : x[j++]!);
      return [out];
    }
  }
  return undefined;
}
