/**
 * TF ops that move data, as ONNX: ConcatV2, Pack, Unpack, Reshape, Squeeze, ExpandDims, the pads, the
 * slices (StridedSlice with its five masks), Transpose, and SpaceToBatchND / BatchToSpaceND around a
 * dilated convolution; constants are folded where TF computes shapes. Browser-safe.
 */
import type { AttrValue } from '../../model.js';
import { numel, type Tensor } from '../../tensor.js';
import { attrI, attrInts, attrS, BIG, floatT, type GraphImporter, intT, keyOf, type TfNode, values } from './graph.js';
import type { NodeCtx } from './context.js';

/** TF ConcatV2. */
function concat(ctx: NodeCtx): void {
  const { g, fail, data, x, nums, set, out } = ctx;
  const axis = nums(data.length - 1)[0]!;
  const parts = data.slice(0, -1);
  if (parts.every((r) => g.constant(r))) {
    g.consts.set(out, foldConcat(parts.map((r) => g.constant(r)!), axis, fail));
    return;
  }
  set(g.emit('Concat', parts.map((_, i) => x(i)), { axis }, out));
}

/** TF Pack. */
function pack(ctx: NodeCtx): void {
  const { g, n, data, x, allConst, set, out } = ctx;
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
}

/** TF Unpack. */
function unpack(ctx: NodeCtx): void {
  const { g, n, fail, x, set, out } = ctx;
  const axis = attrI(n, 'axis', 0);
  const num = attrI(n, 'num', 0);
  if (num < 1) fail('num must be given');
  const split = Array.from({ length: num }, () => g.fresh(`${out}_split`));
  g.emitMulti('Split', [x(0), g.ints(Array(num).fill(1), 'split')], { axis }, split);
  split.forEach((s, k) => set(g.emit('Squeeze', [s, g.ints([axis], 'axes')], {}, keyOf(out, k)), {}, k));
}

/** TF Reshape. */
function reshape(ctx: NodeCtx): void {
  const { g, fail, x, cst, nums, allConst, set, out } = ctx;
  if (allConst) { const t = cst(0); g.consts.set(out, { ...t, dims: resolveShape(nums(1), numel(t.dims), fail) }); return; }
  set(g.emit('Reshape', [x(0), x(1)], {}, out));
}

/** TF Squeeze. */
function squeeze(ctx: NodeCtx): void {
  const { g, n, x, set, out } = ctx;
  const dims = attrInts(n, 'squeeze_dims') ?? attrInts(n, 'axis') ?? [];
  set(g.emit('Squeeze', dims.length ? [x(0), g.ints(dims, 'axes')] : [x(0)], {}, out));
}

/** TF ExpandDims. */
function expandDims(ctx: NodeCtx): void {
  const { g, x, nums, set, out } = ctx;
  set(g.emit('Unsqueeze', [x(0), g.ints(nums(1), 'axes')], {}, out));
}

/** TF Pad, PadV2, MirrorPad. */
function pad(ctx: NodeCtx): void {
  const { g, n, fail, x, nums, set, out } = ctx;
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
}

/** TF StridedSlice. */
function stridedSliceOp(ctx: NodeCtx): void {
  const { g, n, fail, x, nums, set, out } = ctx;
  stridedSlice(g, n, x(0), nums(1), nums(2), nums(3), out, fail);
  set(out);
}

/** TF Slice. */
function slice(ctx: NodeCtx): void {
  const { g, x, nums, set, out } = ctx;
  const begin = nums(1);
  const size = nums(2);
  const ends = begin.map((b, i) => (size[i]! < 0 ? BIG : b + size[i]!));
  set(g.emit('Slice', [x(0), g.ints(begin, 'starts'), g.ints(ends, 'ends'), g.ints(begin.map((_, i) => i), 'axes')], {}, out));
}

/** TF Transpose. */
function transpose(ctx: NodeCtx): void {
  const { g, x, nums, set, out } = ctx;
  set(g.emit('Transpose', [x(0)], { perm: nums(1) }, out));
}

/** TF SpaceToBatchND. */
function spaceToBatch(ctx: NodeCtx): void {
  const { g, fail, x, nums, out } = ctx;
  const block = nums(1);
  const p = nums(2);
  if (block.length !== 2) fail('only 2-D block shapes are supported');
  g.vals.set(out, { name: out, s2b: { input: x(0), block, paddings: [[p[0]!, p[1]!], [p[2]!, p[3]!]] } });
}

/** TF BatchToSpaceND. */
function batchToSpace(ctx: NodeCtx): void {
  const { g, fail, inVal, nums, set, out } = ctx;
  const v = inVal(0);
  if (!v.dilated) fail('reads no dilated convolution: only SpaceToBatchND → convolution → BatchToSpaceND is supported');
  const c = nums(2);
  if (c.every((k) => k === 0)) { set(g.emit('Identity', [v.name], {}, out)); return; }
  const starts = [c[0]!, c[2]!];
  const ends = [c[1]! > 0 ? -c[1]! : BIG, c[3]! > 0 ? -c[3]! : BIG];
  set(g.emit('Slice', [v.name, g.ints(starts, 'starts'), g.ints(ends, 'ends'), g.ints([1, 2], 'axes')], {}, out));
}

export const SHAPE_OPS: Record<string, (c: NodeCtx) => void> = {
  ConcatV2: concat,
  Pack: pack,
  Unpack: unpack,
  Reshape: reshape,
  Squeeze: squeeze,
  ExpandDims: expandDims,
  Pad: pad, PadV2: pad, MirrorPad: pad,
  StridedSlice: stridedSliceOp,
  Slice: slice,
  Transpose: transpose,
  SpaceToBatchND: spaceToBatch,
  BatchToSpaceND: batchToSpace,
};

function intOrFloat(v: number[], like: Tensor): Tensor {
  return like.dtype === 'float32' ? floatT(Float32Array.from(v), [v.length]) : intT(v, [v.length]);
}

function resolveShape(shape: number[], n: number, fail: (w: string) => never): number[] {
  const known = shape.filter((d) => d >= 0).reduce((a, d) => a * d, 1);
  const out = shape.map((d) => (d < 0 ? n / known : d));
  if (numel(out) !== n || out.some((d) => !Number.isInteger(d))) fail(`cannot reshape ${n} values to [${shape.join(', ')}]`);
  return out;
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
