/** Pad (constant mode): the gradient is the slice of dy at the input's place. */
import { attrInts, attrString } from '../../onnx/model.js';
import { tensorValues } from '../../onnx/tensor.js';
import { dy0, GradError, nodeLabel, type GradRule } from '../rule.js';
import { normAxis } from './util.js';

export const pad: GradRule = (ctx) => {
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
  const begin = axes.map((_, i) => pads![i]!);
  const starts = begin.map((p) => Math.max(p, 0));
  const ends = axes.map((a, i) => starts[i]! + xs[a]! + Math.min(begin[i]!, 0) + Math.min(pads![i + n]!, 0));
  if (begin.some((p) => p < 0) || pads!.slice(n).some((p) => p < 0)) {
    throw new GradError(`${nodeLabel(node)}: negative pads (cropping) are not supported`);
  }
  return [b.op('Slice', [dy0(ctx), b.ints(starts), b.ints(ends), b.ints(axes)]), null, null, null];
};
