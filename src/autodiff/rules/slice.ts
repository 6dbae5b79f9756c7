/** Slice (unit steps, constant starts/ends/axes): Pad dy back to the input's shape with zeros. */
import { attrInts } from '../../onnx/model.js';
import { tensorValues } from '../../onnx/tensor.js';
import { dy0, GradError, nodeLabel, type GradRule, type OpGradient, firstInputOnly } from '../rule.js';
import { normAxis } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const xs = ctx.shape(node.input[0]!);
  const rank = xs.length;
  const read = (i: number, attr: string): number[] | undefined => {
    if (ctx.opset < 10) return attrInts(node, attr);
    const name = node.input[i];
    if (!name) return undefined;
    const t = ctx.constant(name);
    if (!t) throw new GradError(`${nodeLabel(node)}: its ${attr} must be constant`);
    return tensorValues(t);
  };
  const starts = read(1, 'starts')!;
  const ends = read(2, 'ends')!;
  const axes = (read(3, 'axes') ?? starts.map((_, i) => i)).map((a) => normAxis(a, rank));
  const steps = read(4, 'steps') ?? starts.map(() => 1);
  if (steps.some((s) => s !== 1)) throw new GradError(`${nodeLabel(node)}: slices with steps other than 1 are not supported`);
  const pads = Array(2 * rank).fill(0);
  axes.forEach((a, i) => {
    const d = xs[a]!;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    const s = clamp(starts[i]!);
    const e = Math.max(clamp(ends[i]!), s);
    pads[a] = s;
    pads[a + rank] = d - e;
  });
  return [b.op('Pad', [dy0(ctx), b.ints(pads)], { mode: 'constant' }), null, null, null, null];
};

export const slice: OpGradient = { op: 'Slice', rule, differentiable: firstInputOnly };
