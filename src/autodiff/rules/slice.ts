/**
 * Slice (constant starts / ends / axes / steps, any steps). Per sliced axis, dy is brought back to the
 * input's positions: a negative step first reverses it; a step s > 1 interleaves s − 1 zeros after each
 * element (Unsqueeze, Pad, Reshape); then one Pad puts the selected run at its start and fills the rest
 * with zeros.
 */
import { attrInts } from '../../onnx/model.js';
import { tensorValues } from '../../onnx/tensor.js';
import { dy0, firstInputOnly, GradError, nodeLabel, type GradRule, type OpGradient } from '../rule.js';
import { normAxis } from './util.js';

/** The positions a slice selects along one axis of size d: the first, the count and the (positive) spacing. */
export function slicedRun(start: number, end: number, step: number, d: number): { first: number; count: number; spacing: number } {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  if (step > 0) {
    const s = clamp(start < 0 ? start + d : start, 0, d);
    const e = clamp(end < 0 ? end + d : end, 0, d);
    return { first: s, count: Math.max(0, Math.ceil((e - s) / step)), spacing: step };
  }
  const s = clamp(start < 0 ? start + d : start, 0, d - 1);
  const e = clamp(end < 0 ? end + d : end, -1, d - 1);
  const count = Math.max(0, Math.ceil((s - e) / -step));
  // reversed, the positions run upwards from the last one selected
  return { first: s + step * (count - 1), count, spacing: -step };
}

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const label = nodeLabel(node);
  const xs = ctx.shape(node.input[0]!);
  const ys = ctx.shape(node.output[0]!);
  const rank = xs.length;
  const read = (i: number, attr: string): number[] | undefined => {
    if (ctx.opset < 10) return attrInts(node, attr);
    const name = node.input[i];
    if (!name) return undefined;
    const t = ctx.constant(name);
    if (!t) throw new GradError(`${label}: its ${attr} must be constant`);
    return tensorValues(t);
  };
  const starts = read(1, 'starts')!;
  const ends = read(2, 'ends')!;
  const axes = (read(3, 'axes') ?? starts.map((_, i) => i)).map((a) => normAxis(a, rank));
  const steps = read(4, 'steps') ?? starts.map(() => 1);
  if (steps.some((s) => s === 0)) throw new GradError(`${label}: a step of 0 is invalid`);
  const runs = axes.map((a, i) => slicedRun(starts[i]!, ends[i]!, steps[i]!, xs[a]!));
  if (runs.some((r) => r.count === 0)) return [b.zerosLike(node.input[0]!), null, null, null, null]; // an empty slice
  let g = dy0(ctx);
  const pads = Array(2 * rank).fill(0);
  const cur = ys.slice(); // static shape of g as the axes are restored
  axes.forEach((a, i) => {
    const d = xs[a]!;
    const { first, count, spacing } = runs[i]!;
    if (count !== ys[a]) throw new GradError(`${label}: internal: the slice of axis ${a} selects ${count} elements but its output has ${ys[a]}`);
    if (steps[i]! < 0 && count > 1) g = b.op('Slice', [g, b.ints([-1]), b.ints([-Number.MAX_SAFE_INTEGER]), b.ints([a]), b.ints([-1])]);
    let length = count;
    if (spacing > 1 && count > 1) {
      // [.., n, ..] → [.., n, 1, ..] → [.., n, s, ..] (zeros after each) → [.., n·s, ..], keeping what lies within the axis
      const unsq = b.op('Unsqueeze', [g, b.ints([a + 1])]);
      const p = Array(2 * (rank + 1)).fill(0);
      p[rank + 1 + a + 1] = spacing - 1;
      const spread = b.op('Pad', [unsq, b.ints(p)], { mode: 'constant' });
      length = Math.min(count * spacing, d - first);
      const target = cur.map((v, k) => (k < a ? 0 : k === a ? count * spacing : v));
      g = b.op('Reshape', [spread, b.ints(target)]);
      if (length < count * spacing) g = b.op('Slice', [g, b.ints([0]), b.ints([length]), b.ints([a])]);
    }
    pads[a] = first;
    pads[a + rank] = d - first - length;
    cur[a] = length; // the Pad at the end restores the full size
  });
  const out = pads.some((p) => p !== 0) ? b.op('Pad', [g, b.ints(pads)], { mode: 'constant' }) : g;
  return [out, null, null, null, null];
};

export const slice: OpGradient = { op: 'Slice', rule, differentiable: firstInputOnly };
