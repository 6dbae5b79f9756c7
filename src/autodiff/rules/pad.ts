/** Pad (constant mode): the gradient is the slice of dy at the input's place. */
import { attrInts, attrString } from '../../onnx/model.js';
import { tensorValues } from '../../onnx/tensor.js';
import { dy0, GradError, nodeLabel, type GradRule, type OpGradient, firstInputOnly } from '../rule.js';
import { normAxis } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const mode = attrString(node, 'mode', 'constant');
  if (mode !== 'constant') throw new GradError(`${nodeLabel(node)}: Pad mode '${mode}' is not supported (only 'constant')`);
  const xs = ctx.shape(node.input[0]!);
  const rank = xs.length;
  let pads: number[] | undefined;
  if (ctx.opset < 11) pads = attrInts(node, 'pads');
  else {
    const t = ctx.constant(node.input[1]!);
    if (!t) throw new GradError(`${nodeLabel(node)}: its pads must be constant`);
    pads = tensorValues(t);
  }
  let axes = Array.from({ length: rank }, (_, i) => i);
  if (node.input[3]) {
    const t = ctx.constant(node.input[3]);
    if (!t) throw new GradError(`${nodeLabel(node)}: its axes must be constant`);
    axes = tensorValues(t).map((a) => normAxis(a, rank));
  }
  const n = axes.length;
  if (pads!.some((p) => p < 0)) throw new GradError(`${nodeLabel(node)}: negative pads (cropping) are not supported`);
  // slice only the padded axes (static sizes are known at batch 1, so the batch axis must stay untouched)
  const padded = axes.map((a, i) => ({ a, begin: pads![i]!, end: pads![i + n]! })).filter((p) => p.begin !== 0 || p.end !== 0);
  if (padded.length === 0) return [dy0(ctx), null, null, null];
  const starts = padded.map((p) => p.begin);
  const ends = padded.map((p) => p.begin + xs[p.a]!);
  const sliceAxes = padded.map((p) => p.a);
  return [b.op('Slice', [dy0(ctx), b.ints(starts), b.ints(ends), b.ints(sliceAxes)]), null, null, null];
};

export const pad: OpGradient = { op: 'Pad', rule, differentiable: firstInputOnly };
