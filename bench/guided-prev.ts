/**
 * The bench's before/after for issue 27 (a script helper, not library code): a compiled gradient graph
 * rewritten to the input-gradient form that src/autodiff/rules/conv.ts used before it for strided
 * depthwise Convs — one grouped ConvTranspose — in place of today's zero insertion (a 1×1 ConvTranspose
 * of ones) + stride-1 depthwise Conv with the flipped kernel. Both are exact; only their speed differs.
 */
import { attrInt, attrInts, decodeModel, encodeModel, makeAttr, type Node } from '../src/onnx/model.js';
import { decodeTensor, encodeTensor, numel } from '../src/onnx/tensor.js';

/** The graph with the previous form, or undefined when it has no strided depthwise Conv gradient. */
export function previousDepthwiseForm(bytes: Uint8Array): Uint8Array | undefined {
  const m = decodeModel(bytes);
  const inits = new Map(m.graph.initializer.map((t) => [t.name, t]));
  const consumer = new Map<string, Node>();
  for (const n of m.graph.node) if (n.op_type === 'Conv') consumer.set(n.input[0]!, n);
  const drop = new Set<Node>();
  for (const zeros of m.graph.node) {
    if (zeros.op_type !== 'ConvTranspose' || !zeros.name.startsWith('gradcam/') || !(attrInts(zeros, 'kernel_shape') ?? []).every((k) => k === 1)) continue;
    const conv = consumer.get(zeros.output[0]!);
    const wf = conv && inits.get(conv.input[1]!);
    if (!conv || !wf) continue;
    // the weight flipped back; pads: begin (k−1)·d − pb; end and output_padding from the Conv's end pads
    const t = decodeTensor(wf);
    const k = t.dims.slice(2);
    const ks = numel(k);
    const src = t.data as Float32Array;
    const w = new Float32Array(src.length);
    for (let c = 0; c < t.dims[0]!; c++) for (let s = 0; s < ks; s++) w[c * ks + s] = src[c * ks + ks - 1 - s]!;
    const strides = attrInts(zeros, 'strides')!;
    const dil = attrInts(conv, 'dilations') ?? k.map(() => 1);
    const pads = attrInts(conv, 'pads')!;
    const begin = k.map((kk, i) => (kk - 1) * dil[i]! - pads[i]!);
    // natural output − wanted output = (k−1)·d + 1 − s − (the Conv's end pad)
    const diff = k.map((kk, i) => (kk - 1) * dil[i]! + 1 - strides[i]! - pads[i + k.length]!);
    const name = `${conv.input[1]!}_prev`;
    m.graph.initializer.push(encodeTensor(name, { dtype: 'float32', dims: t.dims, data: w }));
    conv.op_type = 'ConvTranspose';
    conv.input = [zeros.input[0]!, name];
    conv.attribute = [
      makeAttr('group', attrInt(conv, 'group', 1)), makeAttr('strides', strides), makeAttr('dilations', dil), makeAttr('kernel_shape', k),
      makeAttr('pads', [...begin, ...diff.map((d) => Math.max(d, 0))]), makeAttr('output_padding', diff.map((d) => Math.max(-d, 0))),
    ];
    drop.add(zeros);
  }
  if (!drop.size) return undefined;
  m.graph.node = m.graph.node.filter((n) => !drop.has(n));
  const used = new Set(m.graph.node.flatMap((n) => n.input));
  m.graph.initializer = m.graph.initializer.filter((t) => !t.name?.startsWith('gradcam/conv_grad_') || used.has(t.name));
  return encodeModel(m);
}
