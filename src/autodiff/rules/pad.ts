/**
 * Pad (non-negative pads). The gradient is the slice of dy at the input's place, plus, for the
 * non-constant modes, what each padded border copied, folded back axis by axis:
 * - reflect: the border before is x[p..1] (and after x[d−2..d−1−p]): reversed, it adds to x[1..p];
 * - edge: every element of the border copies x[0] (x[d−1]): its sum adds there;
 * - wrap (opset 19): the border before is x[d−p..d−1], after x[0..p−1]: it adds there.
 */
import { attrInts, attrString } from '../../onnx/model.js';
import { tensorValues } from '../../onnx/tensor.js';
import { dy0, firstInputOnly, GradError, nodeLabel, type GradContext, type GradRule, type OpGradient } from '../rule.js';
import { normAxis, reduceOver } from './util.js';

interface AxisPad { a: number; begin: number; end: number }

/** Folds one padded axis of g (of rank `rank`) back to size d. */
function foldAxis(ctx: GradContext, g: string, rank: number, p: AxisPad, d: number, mode: string): string {
  const { b } = ctx;
  const { a, begin, end } = p;
  const part = (from: number, to: number) => b.op('Slice', [g, b.ints([from]), b.ints([to]), b.ints([a])]);
  const place = (t: string, before: number, after: number) => {
    if (before === 0 && after === 0) return t;
    const pads = Array(2 * rank).fill(0);
    pads[a] = before;
    pads[a + rank] = after;
    return b.op('Pad', [t, b.ints(pads)], { mode: 'constant' });
  };
  const reverse = (t: string) => b.op('Slice', [t, b.ints([-1]), b.ints([-Number.MAX_SAFE_INTEGER]), b.ints([a]), b.ints([-1])]);
  const terms = [part(begin, begin + d)];
  if (begin > 0) {
    const border = part(0, begin);
    if (mode === 'reflect') terms.push(place(reverse(border), 1, d - 1 - begin));
    else if (mode === 'edge') terms.push(place(reduceOver(ctx, 'ReduceSum', border, [a]), 0, d - 1));
    else terms.push(place(border, d - begin, 0));
  }
  if (end > 0) {
    const border = part(begin + d, begin + d + end);
    if (mode === 'reflect') terms.push(place(reverse(border), d - 1 - end, 1));
    else if (mode === 'edge') terms.push(place(reduceOver(ctx, 'ReduceSum', border, [a]), d - 1, 0));
    else terms.push(place(border, 0, d - end));
  }
  return b.sum(terms);
}

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const label = nodeLabel(node);
  const mode = attrString(node, 'mode', 'constant');
  if (!['constant', 'reflect', 'edge', 'wrap'].includes(mode)) throw new GradError(`${label}: Pad mode '${mode}' is not supported (constant, reflect, edge, wrap)`);
  const xs = ctx.shape(node.input[0]!);
  const rank = xs.length;
  let pads: number[] | undefined;
  if (ctx.opset < 11) pads = attrInts(node, 'pads');
  else {
    const t = ctx.constant(node.input[1]!);
    if (!t) throw new GradError(`${label}: its pads must be constant`);
    pads = tensorValues(t);
  }
  let axes = Array.from({ length: rank }, (_, i) => i);
  if (node.input[3]) {
    const t = ctx.constant(node.input[3]);
    if (!t) throw new GradError(`${label}: its axes must be constant`);
    axes = tensorValues(t).map((a) => normAxis(a, rank));
  }
  const n = axes.length;
  if (pads!.some((p) => p < 0)) throw new GradError(`${label}: negative pads (cropping) are not supported`);
  // only the padded axes (static sizes are known at batch 1, so the batch axis must stay untouched)
  const padded = axes.map((a, i): AxisPad => ({ a, begin: pads![i]!, end: pads![i + n]! })).filter((p) => p.begin !== 0 || p.end !== 0);
  if (padded.length === 0) return [dy0(ctx), null, null, null];
  if (mode === 'constant') {
    const starts = padded.map((p) => p.begin);
    const ends = padded.map((p) => p.begin + xs[p.a]!);
    const sliceAxes = padded.map((p) => p.a);
    return [b.op('Slice', [dy0(ctx), b.ints(starts), b.ints(ends), b.ints(sliceAxes)]), null, null, null];
  }
  for (const p of padded) {
    const d = xs[p.a]!;
    const limit = mode === 'reflect' ? d - 1 : mode === 'wrap' ? d : Infinity;
    if (p.begin > limit || p.end > limit) throw new GradError(`${label}: ${mode} pads of ${Math.max(p.begin, p.end)} on axis ${p.a} of size ${d} are not supported (at most ${limit})`);
  }
  let g = dy0(ctx);
  for (const p of padded) g = foldAxis(ctx, g, rank, p, xs[p.a]!, mode);
  return [g, null, null, null];
};

export const pad: OpGradient = { op: 'Pad', rule, differentiable: firstInputOnly, note: 'constant, reflect, edge, wrap' };
