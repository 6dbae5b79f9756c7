/**
 * Layout inference: what each axis of each tensor means — batch, channels, a spatial grid (as separate
 * H and W axes, or flattened into one token axis with class/register tokens before or after it) —
 * learnt from the graph, never guessed from a square number.
 *
 * Every axis carries a list of *atoms*: pieces of a semantic dimension in mixed-radix form (an image
 * row axis of 56 split by a window partition into 8 × 7 becomes two atoms of the same dimension). The
 * model input starts as [N, C, H, W] (or [N, H, W, C]); each op maps its input atoms to its outputs:
 * Reshape/Flatten/Squeeze split and merge atoms by matching products of the probed shapes, Transpose
 * permutes them, Concat adds prefix tokens (class, distillation, register tokens) or restores a
 * torch.roll, Slice removes them, MatMul keeps the rows of A and the columns of B, Conv/Pool/Resize
 * make a fresh grid, element-wise ops keep what their operands agree on. A tensor has a layout when its
 * axes are a batch axis, one channel axis, and whole grid dimensions, the rest of size 1; anything else
 * is `unknown`, with the reason.
 */
import { attrInt, attrInts, attrString, type Node } from '../onnx/model.js';

export type AtomKind = 'N' | 'C' | 'D' | 'H' | 'W' | 'U';

export interface Atom {
  /** The semantic dimension this atom is a piece of. */
  id: number;
  kind: AtomKind;
  size: number;
  /** Mixed-radix stride within the dimension (index = Σ atom index · stride). */
  stride: number;
  /** Size of the whole dimension. */
  full: number;
  /** torch.roll offset of the whole dimension (0: in place). */
  shift: number;
}

export interface Axis {
  size: number;
  atoms: Atom[];
  /** Tokens before / after the atoms on this axis (class, distillation, register tokens). */
  pre: number;
  post: number;
  /** A contiguous slice [start, end) of a single whole atom (the halves of a torch.roll). */
  range?: { start: number; end: number };
  /** A selection of prefix/suffix tokens only (the class token picked for the head). */
  tokensOnly?: boolean;
}

/** Labels of a tensor: one Axis per dimension, or undefined for tensors that do not derive from the input. */
export type Labels = Axis[] | undefined;

export class AtomFactory {
  private next = 0;
  fresh(kind: AtomKind, size: number): Atom {
    return { id: this.next++, kind, size, stride: 1, full: size, shift: 0 };
  }
  /** A fresh axis; size-1 axes keep their atom only for the batch and the grid (a 1×W text line is a grid). */
  axis(kind: AtomKind, size: number): Axis {
    if (size === 1 && (kind === 'C' || kind === 'U')) return { size: 1, atoms: [], pre: 0, post: 0 };
    return { size, atoms: [this.fresh(kind, size)], pre: 0, post: 0 };
  }
  unknown(size: number): Axis {
    return this.axis('U', size);
  }
}

const SPATIAL: ReadonlySet<AtomKind> = new Set(['D', 'H', 'W']);

export function hasSpatial(a: Axis): boolean {
  return a.atoms.some((t) => SPATIAL.has(t.kind));
}

/** Merges neighbouring atoms that are consecutive pieces of one dimension; drops size-1 pieces. */
function normalize(atoms: Atom[]): Atom[] {
  const out: Atom[] = [];
  for (const a of atoms) {
    if (a.size === 1 && (a.kind === 'C' || a.kind === 'U')) continue;
    const p = out[out.length - 1];
    if (p && p.id === a.id && p.shift === a.shift && p.stride === a.stride * a.size) {
      out[out.length - 1] = { ...p, size: p.size * a.size, stride: a.stride };
    } else out.push({ ...a });
  }
  return out;
}

/** Splits the atoms of a group of input axes into output axes of the given sizes (row-major). */
function splitGroup(f: AtomFactory, group: Axis[], sizes: number[]): Axis[] {
  if (group.length === 1 && sizes.length === 1) return [group[0]!];
  const bad = () => sizes.map((s) => f.unknown(s));
  if (group.some((a) => a.pre || a.post || a.range || a.tokensOnly)) return bad();
  const atoms = group.flatMap((a) => a.atoms.map((t) => ({ ...t })));
  const out: Axis[] = [];
  for (const size of sizes) {
    const take: Atom[] = [];
    let need = size;
    while (need > 1 || (atoms[0] && atoms[0].size === 1)) {
      const at = atoms.shift();
      if (!at) return bad();
      if (at.size <= need) {
        if (need % at.size) return bad();
        take.push(at);
        need /= at.size;
      } else {
        if (at.size % need) return bad();
        const inner = at.size / need;
        take.push({ ...at, size: need, stride: at.stride * inner });
        atoms.unshift({ ...at, size: inner });
        need = 1;
      }
    }
    out.push({ size, atoms: normalize(take), pre: 0, post: 0 });
  }
  return out;
}

/** Reshape (also Flatten, Squeeze, Unsqueeze): atoms follow the row-major order of the elements. */
export function reshapeAxes(f: AtomFactory, inp: Axis[], out: number[]): Axis[] {
  const res: Axis[] = [];
  let i = 0;
  let j = 0;
  while (i < inp.length || j < out.length) {
    const a = inp[i];
    const o = out[j];
    if (a && o !== undefined && a.size === 1 && o === 1) { res.push(a); i++; j++; continue; }
    if (o === 1) { res.push(f.unknown(1)); j++; continue; }
    if (a && a.size === 1) { i++; continue; }
    if (!a || o === undefined) {
      for (; j < out.length; j++) res.push(f.unknown(out[j]!));
      break;
    }
    const gi = [a];
    let pi = a.size;
    i++;
    const go = [o];
    let po = o;
    j++;
    while (pi !== po) {
      if (pi < po) {
        const nx = inp[i];
        if (!nx) break;
        gi.push(nx); pi *= nx.size; i++;
      } else {
        const nx = out[j];
        if (nx === undefined) break;
        go.push(nx); po *= nx; j++;
      }
    }
    if (pi !== po) { for (const s of go) res.push(f.unknown(s)); continue; }
    res.push(...splitGroup(f, gi, go));
  }
  return res;
}

function informative(a: Axis): boolean {
  return a.pre > 0 || a.post > 0 || a.atoms.some((t) => t.kind !== 'U');
}

function sameMeaning(a: Axis, b: Axis): boolean {
  if (a.size !== b.size || a.pre !== b.pre || a.post !== b.post || a.atoms.length !== b.atoms.length) return false;
  if (!!a.range !== !!b.range || (a.range && (a.range.start !== b.range!.start || a.range.end !== b.range!.end))) return false;
  return a.atoms.every((t, k) => {
    const u = b.atoms[k]!;
    if (t.id === u.id) return t.stride === u.stride && t.size === u.size && t.shift === u.shift;
    // two pieces of different dimensions of the same kind and size (e.g. the four strided slices of a
    // patch merging, or two branches' conv outputs): the same role
    return t.kind === u.kind && t.size === u.size && t.kind !== 'U' && t.shift === 0 && u.shift === 0 && t.full === t.size && u.full === u.size;
  });
}

/**
 * Numpy broadcasting of labelled operands: each output axis takes the label of the operands whose axis
 * has the output's size; disagreeing labels make it unknown.
 */
export function broadcastAxes(f: AtomFactory, ins: { labels: Labels; shape: number[] }[], outShape: number[]): Axis[] {
  const r = outShape.length;
  return outShape.map((d, k) => {
    let best: Axis | undefined;
    for (const { labels } of ins) {
      if (!labels) continue;
      const off = labels.length - r + k;
      if (off < 0) continue;
      const a = labels[off]!;
      if (a.size !== d) continue;
      if (!best) { best = a; continue; }
      if (!informative(a)) continue;
      if (!informative(best)) { best = a; continue; }
      if (!sameMeaning(best, a)) return f.unknown(d);
    }
    return best ?? f.unknown(d);
  });
}

/** What an op does to spatial positions, for the automatic layer choice. */
export type SpatialEffect = 'keeps' | 'mixes' | 'drops';

export interface OpContext {
  node: Node;
  f: AtomFactory;
  /** Labels of each input (undefined: constant or not derived from the model input). */
  inputs: Labels[];
  inShapes: (number[] | undefined)[];
  outShapes: (number[] | undefined)[];
  /** Integer values of a non-data input (axes, starts, indices...), from constants or the probe run. */
  ints(index: number): number[] | undefined;
}

export interface OpResult {
  outputs: Labels[];
  effect: SpatialEffect;
}

const normAxis = (a: number, r: number) => (a < 0 ? a + r : a);

const COPY_OPS = new Set([
  'Relu', 'LeakyRelu', 'PRelu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Softplus', 'Softsign', 'Elu', 'Selu',
  'Celu', 'Mish', 'Gelu', 'Erf', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Abs', 'Neg', 'Identity', 'Dropout', 'Cast', 'Softmax',
  'LogSoftmax', 'LayerNormalization', 'BatchNormalization', 'InstanceNormalization', 'GroupNormalization', 'LRN', 'ThresholdedRelu',
  'Sin', 'Cos', 'Floor', 'Ceil', 'Round', 'Sign', 'Not', 'IsNaN', 'IsInf', 'CastLike', 'Shrink', 'SimplifiedLayerNormalization',
]);
const ELEMENTWISE_OPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Greater', 'Less', 'And', 'Or', 'Mod', 'BitShift']);
const GRID_OPS = new Set(['Conv', 'ConvTranspose', 'MaxPool', 'AveragePool', 'LpPool', 'Resize', 'Upsample', 'ConvInteger', 'QLinearConv', 'DepthToSpace', 'SpaceToDepth', 'MaxUnpool', 'RoiAlign']);
const QUANT_FORMS: Record<string, 'copy' | 'binary' | 'gap' | 'grid'> = {
  QuantizeLinear: 'copy', DequantizeLinear: 'copy', DynamicQuantizeLinear: 'copy', 'com.microsoft.QuantizeLinear': 'copy', 'com.microsoft.DequantizeLinear': 'copy',
  'com.microsoft.QLinearSigmoid': 'copy', 'com.microsoft.QLinearLeakyRelu': 'copy', 'com.microsoft.QLinearSoftmax': 'copy',
  'com.microsoft.QLinearAdd': 'binary', 'com.microsoft.QLinearMul': 'binary',
  'com.microsoft.QLinearGlobalAveragePool': 'gap', 'com.microsoft.QLinearAveragePool': 'grid',
};
const REDUCE_OPS = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceProd', 'ReduceSumSquare']);

function spatialKinds(n: number): AtomKind[] {
  return n === 1 ? ['W'] : n === 2 ? ['H', 'W'] : n === 3 ? ['D', 'H', 'W'] : Array<AtomKind>(n).fill('U');
}

/** Labels of a node's outputs from its inputs' labels. */
export function propagate(c: OpContext): OpResult {
  const { node, f, inputs } = c;
  const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.op_type}` : node.op_type;
  const out0 = c.outShapes[0];
  const x = inputs[0];
  const keep = (labels: Labels): OpResult => ({ outputs: [labels, ...node.output.slice(1).map(() => undefined)], effect: 'keeps' });
  const unknownOut = (): OpResult => ({ outputs: c.outShapes.map((s) => s?.map((d) => f.unknown(d))), effect: inputs.some((l) => l?.some(hasSpatial)) ? 'mixes' : 'keeps' });
  if (!out0) return unknownOut();

  if (COPY_OPS.has(op)) {
    if (x && sameShape(c.inShapes[0], out0)) return keep(x);
    return unknownOut();
  }
  if (ELEMENTWISE_OPS.has(op) || op === 'Where') {
    const ins = inputs.map((labels, k) => ({ labels: op === 'Where' && k === 0 ? undefined : labels, shape: c.inShapes[k] ?? [] }));
    return keep(broadcastAxes(f, ins, out0));
  }
  // quantised forms of the ops above (int8 models): a quantised tensor has its float twin's axes
  const q = QUANT_FORMS[op];
  if (q) {
    const pick = (k: number) => ({ labels: inputs[k], shape: c.inShapes[k] ?? [] });
    if (q === 'copy') return x && sameShape(c.inShapes[0], out0) ? keep(x) : unknownOut();
    if (q === 'binary') return keep(broadcastAxes(f, [pick(0), pick(3)], out0));
    if (q === 'gap') return propagate({ ...c, node: { ...node, domain: '', op_type: attrInt(node, 'channels_last', 0) ? '' : 'GlobalAveragePool', input: [node.input[0]!] } });
    if (q === 'grid') return propagate({ ...c, node: { ...node, domain: '', op_type: attrInt(node, 'channels_last', 0) ? '' : 'AveragePool', input: [node.input[0]!] } });
  }
  switch (op) {
    case 'Reshape': case 'Flatten': case 'Squeeze': case 'Unsqueeze':
      return keep(x ? reshapeAxes(f, x, out0) : undefined);
    case 'Transpose': {
      if (!x) return keep(undefined);
      const perm = attrInts(node, 'perm') ?? x.map((_, k) => x.length - 1 - k);
      return keep(perm.map((p) => x[p]!));
    }
    case 'Expand': {
      if (!x) return keep(undefined);
      return keep(broadcastAxes(f, [{ labels: x, shape: c.inShapes[0] ?? [] }], out0));
    }
    case 'Tile': {
      if (!x) return keep(undefined);
      const reps = c.ints(1);
      return keep(x.map((a, k) => (reps && reps[k] === 1 ? a : f.unknown(out0[k]!))));
    }
    case 'Pad': {
      if (!x) return keep(undefined);
      const pads = c.ints(1);
      const r = x.length;
      let axes = c.ints(3)?.map((a) => normAxis(a, r));
      if (!axes) axes = x.map((_, k) => k);
      return keep(x.map((a, k) => {
        const j = axes!.indexOf(k);
        if (j < 0) return a;
        if (!pads) return f.unknown(out0[k]!);
        return pads[j] === 0 && pads[j + axes!.length] === 0 ? a : f.unknown(out0[k]!);
      }));
    }
    case 'Slice': return slice(c);
    case 'Split': return split(c);
    case 'Gather': return gather(c);
    case 'Concat': return concat(c);
    case 'MatMul': return matMul(c);
    case 'Gemm': return gemm(c);
    case 'Einsum': return einsum(c);
    case 'GlobalAveragePool': case 'GlobalMaxPool': case 'GlobalLpPool': {
      if (!x) return keep(undefined);
      const kinds = spatialKinds(x.length - 2);
      return { outputs: [x.map((a, k) => (k < 2 ? a : f.axis(kinds[k - 2]!, 1)))], effect: x.slice(2).some((a) => hasSpatial(a) && a.size > 1) ? 'mixes' : 'keeps' };
    }
  }
  if (REDUCE_OPS.has(op)) {
    if (!x) return keep(undefined);
    const r = x.length;
    let axes = attrInts(node, 'axes') ?? (node.input[1] ? c.ints(1) : undefined);
    const noop = attrInt(node, 'noop_with_empty_axes', 0);
    if (!axes || axes.length === 0) axes = noop ? [] : x.map((_, k) => k);
    const set = new Set(axes.map((a) => normAxis(a, r)));
    const keepdims = attrInt(node, 'keepdims', 1);
    const outputs = x.flatMap((a, k) => (!set.has(k) ? [a] : keepdims ? [f.unknown(1)] : []));
    if (outputs.length !== out0.length) return unknownOut();
    return { outputs: [outputs], effect: [...set].some((k) => x[k] && hasSpatial(x[k]!)) ? 'mixes' : 'keeps' };
  }
  if (GRID_OPS.has(op)) {
    if (!x || out0.length < 3) return unknownOut();
    const channelsKept = op !== 'Conv' && op !== 'ConvTranspose' && op !== 'ConvInteger' && op !== 'QLinearConv' && op !== 'DepthToSpace' && op !== 'SpaceToDepth';
    const kinds = spatialKinds(out0.length - 2);
    const outAxes: Axis[] = [x[0]!, channelsKept && x[1] && x[1].size === out0[1] ? x[1] : f.axis('C', out0[1]!), ...out0.slice(2).map((d, k) => f.axis(kinds[k]!, d))];
    const inGrid = (c.inShapes[0] ?? []).slice(2).reduce((a, v) => a * v, 1);
    const outGrid = out0.slice(2).reduce((a, v) => a * v, 1);
    const outputs: Labels[] = [outAxes, ...node.output.slice(1).map(() => undefined)];
    return { outputs, effect: outGrid === 1 && inGrid > 1 ? 'mixes' : 'keeps' };
  }
  // an op we do not know: shape-preserving ops keep their first input's labels
  if (x && sameShape(c.inShapes[0], out0) && node.output.length === 1) return keep(x);
  return unknownOut();
}

function sameShape(a: number[] | undefined, b: number[] | undefined): boolean {
  return !!a && !!b && a.length === b.length && a.every((d, k) => d === b[k]);
}

/** One axis cut to [start, end) with a step: what survives of its atoms and tokens. */
function sliceAxis(f: AtomFactory, a: Axis, start: number, end: number, step: number, outSize: number): Axis {
  if (step === 1 && start <= 0 && end >= a.size) return a;
  if (a.tokensOnly) return { ...f.unknown(outSize), tokensOnly: true };
  if (step === 1) {
    const atomsSize = a.size - a.pre - a.post;
    if (a.pre || a.post) {
      if (start <= a.pre && end >= a.pre + atomsSize) return { size: outSize, atoms: a.atoms, pre: a.pre - start, post: end - a.pre - atomsSize };
      if (end <= a.pre || start >= a.pre + atomsSize) return { ...f.unknown(outSize), tokensOnly: true };
      return f.unknown(outSize);
    }
    if (a.range) {
      const s = a.range.start + start;
      return { size: outSize, atoms: a.atoms, pre: 0, post: 0, range: { start: s, end: s + outSize } };
    }
    if (a.atoms.length === 1 && a.atoms[0]!.stride === 1 && a.atoms[0]!.size === a.atoms[0]!.full && a.atoms[0]!.kind !== 'U') {
      return { size: outSize, atoms: a.atoms, pre: 0, post: 0, range: { start, end: start + outSize } };
    }
    return f.unknown(outSize);
  }
  // a strided slice of a whole grid dimension (Swin's patch merging x[..., 0::2, 0::2, :]): a coarser grid
  if (step > 1 && !a.pre && !a.post && !a.range && a.atoms.length === 1 && a.atoms[0]!.size === a.atoms[0]!.full && start < step && SPATIAL.has(a.atoms[0]!.kind)) {
    return f.axis(a.atoms[0]!.kind, outSize);
  }
  return f.unknown(outSize);
}

function slice(c: OpContext): OpResult {
  const x = c.inputs[0];
  const out0 = c.outShapes[0]!;
  const shape = c.inShapes[0];
  if (!x || !shape) return { outputs: [undefined], effect: 'keeps' };
  const r = x.length;
  const starts = c.ints(1);
  const ends = c.ints(2);
  const axes = (c.node.input[3] ? c.ints(3) : x.map((_, k) => k))?.map((a) => normAxis(a, r));
  const steps = c.node.input[4] ? c.ints(4) : undefined;
  if (!starts || !ends || !axes) return { outputs: [out0.map((d, k) => (d === shape[k] ? x[k]! : c.f.unknown(d)))], effect: x.some(hasSpatial) ? 'drops' : 'keeps' };
  const outAxes = x.slice();
  let dropped = false;
  axes.forEach((ax, j) => {
    const d = shape[ax]!;
    const step = steps?.[j] ?? 1;
    let s = starts[j]!;
    let e = ends[j]!;
    if (s < 0) s += d;
    if (e < 0) e += d;
    s = Math.max(0, Math.min(s, d));
    e = Math.max(0, Math.min(e, d));
    const before = x[ax]!;
    const after = sliceAxis(c.f, before, s, e, step, out0[ax]!);
    if (hasSpatial(before) && !hasSpatial(after)) dropped = true;
    outAxes[ax] = after;
  });
  return { outputs: [outAxes], effect: dropped ? 'drops' : 'keeps' };
}

function split(c: OpContext): OpResult {
  const x = c.inputs[0];
  const shape = c.inShapes[0];
  if (!x || !shape) return { outputs: c.node.output.map(() => undefined), effect: 'keeps' };
  const r = x.length;
  const ax = normAxis(attrInt(c.node, 'axis', 0), r);
  let start = 0;
  const outputs: Labels[] = c.outShapes.map((s) => {
    if (!s) return undefined;
    const len = s[ax]!;
    const labels = x.slice();
    labels[ax] = sliceAxis(c.f, x[ax]!, start, start + len, 1, len);
    start += len;
    return labels;
  });
  return { outputs, effect: 'keeps' };
}

function gather(c: OpContext): OpResult {
  const x = c.inputs[0];
  const out0 = c.outShapes[0]!;
  const shape = c.inShapes[0];
  if (!x || !shape) return { outputs: [c.inputs[1] ? out0.map((d) => c.f.unknown(d)) : undefined], effect: 'keeps' };
  const r = x.length;
  const ax = normAxis(attrInt(c.node, 'axis', 0), r);
  const idxShape = c.inShapes[1] ?? [];
  const a = x[ax]!;
  const idx = c.ints(1)?.map((i) => (i < 0 ? i + a.size : i));
  const middle: Axis[] = idxShape.map((d) => c.f.unknown(d));
  const inPrefix = idx !== undefined && idx.every((i) => i < a.pre || i >= a.size - a.post);
  if (inPrefix && idxShape.length === 1) middle[0] = { ...middle[0]!, tokensOnly: true };
  const identity = idx !== undefined && idxShape.length === 1 && idx.length === a.size && idx.every((v, k) => v === k);
  const outAxes = identity ? x.slice() : [...x.slice(0, ax), ...middle, ...x.slice(ax + 1)];
  if (outAxes.length !== out0.length) return { outputs: [out0.map((d) => c.f.unknown(d))], effect: hasSpatial(a) ? 'mixes' : 'keeps' };
  const effect: SpatialEffect = identity || !hasSpatial(a) ? 'keeps' : inPrefix ? 'drops' : 'mixes';
  return { outputs: [outAxes], effect };
}

function concat(c: OpContext): OpResult {
  const out0 = c.outShapes[0]!;
  const r = out0.length;
  const ax = normAxis(attrInt(c.node, 'axis', 0), r);
  const f = c.f;
  if (c.inputs.every((l) => !l)) return { outputs: [undefined], effect: 'keeps' };
  // the other axes: as broadcasting of equal shapes
  const others = broadcastAxes(f, c.inputs.map((labels, k) => ({ labels, shape: c.inShapes[k] ?? [] })), out0);
  const parts = c.inputs.map((l, k) => ({ axis: l?.[ax], size: (c.inShapes[k] ?? [])[ax] ?? 0 }));
  others[ax] = concatAxis(f, parts, out0[ax]!);
  return { outputs: [others], effect: 'keeps' };
}

function concatAxis(f: AtomFactory, parts: { axis?: Axis; size: number }[], size: number): Axis {
  const live = parts.filter((p) => p.size > 0);
  // the two halves of a torch.roll of one whole dimension: [k, n) + [0, k)
  if (live.length >= 2 && live.every((p) => p.axis?.range && p.axis.atoms.length === 1)) {
    const id = live[0]!.axis!.atoms[0]!.id;
    const atom = live[0]!.axis!.atoms[0]!;
    let pos = live[0]!.axis!.range!.start;
    let ok = live.every((p) => p.axis!.atoms[0]!.id === id);
    for (const p of live) {
      if (!ok) break;
      if (p.axis!.range!.start !== pos % atom.full) ok = false;
      pos = p.axis!.range!.end;
    }
    if (ok && size === atom.full) {
      const shift = (atom.shift + live[0]!.axis!.range!.start) % atom.full;
      return { size, atoms: [{ ...atom, shift }], pre: 0, post: 0 };
    }
    return f.unknown(size);
  }
  const spatial = live.filter((p) => p.axis && (hasSpatial(p.axis) || p.axis.range));
  if (spatial.length === 1) {
    const p = spatial[0]!.axis!;
    if (p.range) return f.unknown(size);
    const k = live.indexOf(spatial[0]!);
    const otherTokens = live.every((q, j) => j === k || !q.axis || !q.axis.atoms.some((t) => t.kind !== 'U'));
    if (!otherTokens) return f.unknown(size);
    const pre = live.slice(0, k).reduce((s, q) => s + q.size, 0) + p.pre;
    const post = live.slice(k + 1).reduce((s, q) => s + q.size, 0) + p.post;
    return { size, atoms: p.atoms, pre, post };
  }
  if (spatial.length === 0 && live.some((p) => p.axis?.atoms.some((t) => t.kind === 'C'))) return f.axis('C', size);
  return f.unknown(size);
}

function matMul(c: OpContext): OpResult {
  const [A, B] = c.inputs;
  const [sa, sb] = c.inShapes;
  const out0 = c.outShapes[0]!;
  const f = c.f;
  if (!A && !B) return { outputs: [undefined], effect: 'keeps' };
  if (!sa || !sb) return { outputs: [out0.map((d) => f.unknown(d))], effect: 'mixes' };
  const ra = sa.length;
  const rb = sb.length;
  const colsB = (d: number): Axis => (B && rb >= 2 ? B[rb - 1]! : f.axis('C', d));
  const contractedA = A?.[ra - 1];
  const contractedB = B ? B[rb >= 2 ? rb - 2 : 0] : undefined;
  const effect: SpatialEffect = (contractedA && hasSpatial(contractedA)) || (contractedB && hasSpatial(contractedB)) ? 'mixes' : 'keeps';
  let outAxes: Axis[];
  if (ra >= 2 && rb >= 2) {
    const batch = broadcastAxes(f, [{ labels: A?.slice(0, ra - 2), shape: sa.slice(0, -2) }, { labels: B?.slice(0, rb - 2), shape: sb.slice(0, -2) }], out0.slice(0, -2));
    outAxes = [...batch, A ? A[ra - 2]! : f.unknown(out0[out0.length - 2]!), colsB(out0[out0.length - 1]!)];
  } else if (ra === 1 && rb >= 2) {
    outAxes = [...(B ? B.slice(0, rb - 2) : out0.slice(0, -1).map((d) => f.unknown(d))), colsB(out0[out0.length - 1]!)];
  } else if (rb === 1 && ra >= 2) {
    outAxes = A ? A.slice(0, ra - 1) : out0.map((d) => f.unknown(d));
  } else outAxes = out0.map((d) => f.unknown(d));
  if (outAxes.length !== out0.length) outAxes = out0.map((d) => f.unknown(d));
  return { outputs: [outAxes], effect };
}

function gemm(c: OpContext): OpResult {
  const [A, B] = c.inputs;
  const out0 = c.outShapes[0]!;
  const f = c.f;
  if (!A && !B) return { outputs: [undefined], effect: 'keeps' };
  const ta = attrInt(c.node, 'transA', 0);
  const tb = attrInt(c.node, 'transB', 0);
  const rows = A ? A[ta ? 1 : 0]! : f.unknown(out0[0]!);
  const cols = B ? B[tb ? 0 : 1]! : f.axis('C', out0[1]!);
  const kA = A?.[ta ? 0 : 1];
  const kB = B?.[tb ? 1 : 0];
  const effect: SpatialEffect = (kA && hasSpatial(kA)) || (kB && hasSpatial(kB)) ? 'mixes' : 'keeps';
  return { outputs: [[rows, cols]], effect };
}

function einsum(c: OpContext): OpResult {
  const out0 = c.outShapes[0]!;
  const f = c.f;
  const eq = attrString(c.node, 'equation', '').replace(/\s+/g, '');
  const [lhs, rhs] = eq.split('->');
  if (!lhs || rhs === undefined || eq.includes('...')) return { outputs: [out0.map((d) => f.unknown(d))], effect: c.inputs.some((l) => l?.some(hasSpatial)) ? 'mixes' : 'keeps' };
  const terms = lhs.split(',');
  const byLetter = new Map<string, Axis>();
  let effect: SpatialEffect = 'keeps';
  terms.forEach((t, k) => {
    const labels = c.inputs[k];
    [...t].forEach((ch, j) => {
      const a = labels?.[j];
      if (!a) return;
      if (!rhs.includes(ch) && hasSpatial(a)) effect = 'mixes';
      const prev = byLetter.get(ch);
      if (!prev || (!informative(prev) && informative(a))) byLetter.set(ch, a);
    });
  });
  if (c.inputs.every((l) => !l)) return { outputs: [undefined], effect };
  const outAxes = [...rhs].map((ch, j) => byLetter.get(ch) ?? f.axis('C', out0[j]!));
  return { outputs: [outAxes.length === out0.length ? outAxes : out0.map((d) => f.unknown(d))], effect };
}
