/**
 * Layouts of every tensor between the model input and the score, and the automatic layer choice.
 *
 * The automatic layer (documented in README "Transformers"):
 * 1. find the last node on the score's path that *mixes* grid positions — global pooling, a reduction
 *    over the grid, a MatMul/Gemm contracting a grid axis (attention weights × values, a classifier over
 *    flattened features), a convolution down to 1×1. Selecting the class token (a Gather/Slice of prefix
 *    tokens only) drops the grid without mixing it, so in a ViT the last mixing node is the last
 *    block's attention;
 * 2. take the tensor that dominates that node's inputs (every path from the input to them passes
 *    through it), and walk up the dominator tree past data movement (Reshape, Transpose, Split, Gather...)
 *    — and, where the node combines several inputs (attention), past the linear projections that make
 *    them (MatMul/Gemm with a constant weight and their bias Add) — to the first tensor with a known
 *    layout and a grid of more than one cell.
 * CNNs: the input of the global pooling (or of the flattening classifier) — the last conv block.
 * ViT/DeiT: the last block's first norm output (the attention's input). Swin: the final norm before
 * pooling. ConvNeXt: the last stage output. If no node mixes the grid (dense outputs: segmentation,
 * detection heads), the last feature map before the classifier: walking up from the score past
 * upsampling (Resize, ConvTranspose), data movement and element-wise maps to the first Conv (the
 * per-pixel classifier or head), the first tensor above it with a known layout and a grid (never the
 * logit map). Failing that, the last tensor with a known layout and a grid of more than one cell.
 */
import type { Node } from '../onnx/model.js';
import type { Tensor } from '../onnx/tensor.js';
import { AtomFactory, propagate, type Labels, type SpatialEffect } from './infer.js';
import { describeLayout, explainable, type LayerLayout } from './describe.js';

export interface LayoutAnalysis {
  /** Layouts of the tensors on the path from the input to the score, in graph order. */
  layouts: Map<string, LayerLayout>;
  /** The automatic layer, or undefined when no tensor qualifies. */
  auto?: string;
  /** The node whose inputs the automatic layer feeds (for messages). */
  mixing?: string;
}

export interface LayoutGraph {
  /** Nodes in topological order. */
  order: Node[];
  input: string;
  /** Channels first (NCHW, NCDHW) or last (NHWC, NDHWC). */
  inputLayout: 'NCHW' | 'NHWC';
  score: string;
  /** Probed shapes (batch `batch`) of the tensors on the path and of their inputs. */
  shape(name: string): number[] | undefined;
  /** A constant tensor (initializer, Constant node). */
  constant(name: string): Tensor | undefined;
  /** A probed value of a non-constant integer tensor (axes, starts...). */
  value(name: string): Tensor | undefined;
  batch: number;
}

const MOVEMENT = new Set(['Reshape', 'Transpose', 'Flatten', 'Squeeze', 'Unsqueeze', 'Split', 'Slice', 'Gather', 'Identity', 'Dropout', 'Cast', 'Expand']);
const PROJECTION = new Set(['MatMul', 'Gemm', 'Einsum']);
/** Quantising ops (int8 models): their output is an integer copy of a float tensor just above, which the automatic choice prefers. */
const QUANT_COPIES = new Set(['QuantizeLinear', 'DynamicQuantizeLinear']);
/** Convolutions, also in their quantised forms. */
const CONVS = new Set(['Conv', 'ConvInteger', 'QLinearConv']);
/** Ops whose outputs are shapes, indices or masks, not data: they carry no layout. */
const NON_DATA = new Set([
  'Shape', 'Size', 'ConstantOfShape', 'Constant', 'ArgMax', 'ArgMin', 'NonZero', 'Range', 'EyeLike', 'OneHot', 'TopK',
  'NonMaxSuppression', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial',
]);

/** Ops between a dense model's classifier and its output: upsampling, data movement, element-wise maps. */
const DENSE_TAIL = new Set([
  ...MOVEMENT, ...QUANT_COPIES, 'DequantizeLinear', 'Resize', 'Upsample', 'ConvTranspose', 'DepthToSpace', 'Concat', 'Sigmoid', 'Softmax', 'LogSoftmax', 'Relu',
  'Add', 'Sub', 'Mul', 'Div', 'Exp', 'Clip', 'Tanh', 'HardSigmoid', 'LeakyRelu', 'HardSwish', 'BatchNormalization', 'InstanceNormalization',
]);

/**
 * Dense outputs (segmentation logit maps, detection heads): the last feature map before the classifier.
 * From the score, walk up the dominator tree past upsampling, data movement and element-wise maps to the
 * first convolution (the per-pixel classifier or the detection head); the answer is the first tensor
 * above it with a known layout and a grid of more than one cell that is not mere data movement. Never the
 * logit map itself. Undefined when the score is not reached that way (the caller falls back).
 */
function denseFeatureMap(g: LayoutGraph, producer: Map<string, Node>, idom: Map<string, string>, layouts: Map<string, LayerLayout>): string | undefined {
  let t: string | undefined = g.score;
  let classifier = false;
  while (t !== undefined && t !== g.input) {
    const op = producer.get(t)?.op_type ?? '';
    if (classifier) {
      const l = layouts.get(t);
      if (l && explainable(l) && !MOVEMENT.has(op) && !QUANT_COPIES.has(op)) return t;
    } else if (CONVS.has(op)) classifier = true;
    else if (!DENSE_TAIL.has(op)) return undefined;
    t = idom.get(t);
  }
  return undefined;
}

export function analyzeLayouts(g: LayoutGraph): LayoutAnalysis {
  const f = new AtomFactory();
  const labels = new Map<string, Labels>();
  const inShape = g.shape(g.input)!;
  const [N, A, B, C, D] = inShape;
  if (inShape.length === 5) {
    // a volume: [N, C, D, H, W] or [N, D, H, W, C]
    labels.set(g.input, g.inputLayout === 'NCHW'
      ? [f.axis('N', N!), f.axis('C', A!), f.axis('D', B!), f.axis('H', C!), f.axis('W', D!)]
      : [f.axis('N', N!), f.axis('D', A!), f.axis('H', B!), f.axis('W', C!), f.axis('C', D!)]);
  } else {
    labels.set(g.input, g.inputLayout === 'NCHW'
      ? [f.axis('N', N!), f.axis('C', A!), f.axis('H', B!), f.axis('W', C!)]
      : [f.axis('N', N!), f.axis('H', A!), f.axis('W', B!), f.axis('C', C!)]);
  }

  // the nodes between the input and the score
  const ancestors = new Set([g.score]);
  for (let k = g.order.length - 1; k >= 0; k--) {
    const n = g.order[k]!;
    if (n.output.some((o) => ancestors.has(o))) for (const i of n.input) if (i) ancestors.add(i);
  }
  const ints = (name: string | undefined): number[] | undefined => {
    if (!name) return undefined;
    const t = g.constant(name) ?? g.value(name);
    if (!t || t.dtype === 'float32' || t.dtype === 'float64') return undefined;
    return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
  };
  const effects = new Map<Node, SpatialEffect>();
  const pathNodes: Node[] = [];
  for (const node of g.order) {
    if (!node.output.some((o) => ancestors.has(o)) || NON_DATA.has(node.op_type)) continue;
    const inputs = node.input.map((i) => (i ? labels.get(i) : undefined));
    if (inputs.every((l) => !l)) continue;
    const r = propagate({
      node, f, inputs,
      inShapes: node.input.map((i) => (i ? g.shape(i) ?? g.constant(i)?.dims : undefined)),
      outShapes: node.output.map((o) => (o ? g.shape(o) : undefined)),
      ints: (k) => ints(node.input[k]),
    });
    node.output.forEach((o, k) => { if (o) labels.set(o, r.outputs[k]); });
    effects.set(node, r.effect);
    pathNodes.push(node);
  }

  const layouts = new Map<string, LayerLayout>();
  for (const n of pathNodes) {
    for (const o of n.output) {
      if (!o || o === g.score || !ancestors.has(o)) continue;
      const s = g.shape(o);
      if (!s) continue;
      layouts.set(o, describeLayout(labels.get(o), s, g.batch));
    }
  }

  // dominators of the tensors on the data path (a DAG in topological order)
  const rank = new Map<string, number>([[g.input, 0]]);
  const idom = new Map<string, string>();
  const producer = new Map<string, Node>();
  const onPath = (t: string) => rank.has(t);
  const intersect = (a: string, b: string): string => {
    while (a !== b) {
      while (rank.get(a)! > rank.get(b)!) a = idom.get(a)!;
      while (rank.get(b)! > rank.get(a)!) b = idom.get(b)!;
    }
    return a;
  };
  const dominatorOf = (n: Node): string | undefined => {
    const ins = n.input.filter((i) => i && onPath(i));
    return ins.length ? ins.reduce(intersect) : undefined;
  };
  let next = 1;
  for (const n of pathNodes) {
    const d = dominatorOf(n);
    if (d === undefined) continue;
    for (const o of n.output) {
      if (!o) continue;
      rank.set(o, next++);
      idom.set(o, d);
      producer.set(o, n);
    }
  }

  const isConstant = (t: string) => !onPath(t);
  const projection = (t: string): boolean => {
    const p = producer.get(t);
    if (!p) return false;
    if (PROJECTION.has(p.op_type) && p.input.some((i) => i && isConstant(i))) return true;
    if ((p.op_type === 'Add' || p.op_type === 'Sub') && p.input.some((i) => i && isConstant(i))) {
      const other = p.input.find((i) => i && !isConstant(i));
      const q = other ? producer.get(other) : undefined;
      return !!q && PROJECTION.has(q.op_type) && q.input.some((i) => i && isConstant(i));
    }
    return false;
  };

  let mixing: Node | undefined;
  for (const n of pathNodes) if (effects.get(n) === 'mixes') mixing = n;
  let auto: string | undefined;
  if (mixing) {
    // projections are walked past only when the mixing node combines several inputs (attention's
    // queries, keys and values all come from one norm output through projections)
    const several = new Set(mixing.input.filter((i) => i && onPath(i))).size > 1;
    let t = dominatorOf(mixing);
    while (t !== undefined && t !== g.input) {
      const l = layouts.get(t);
      const op = producer.get(t)?.op_type ?? '';
      const skip = MOVEMENT.has(op) || QUANT_COPIES.has(op) || (several && projection(t));
      if (l && explainable(l) && !skip) { auto = t; break; }
      t = idom.get(t);
    }
  }
  if (!auto) auto = denseFeatureMap(g, producer, idom, layouts);
  if (!auto) {
    const all = [...layouts.entries()].filter(([, l]) => explainable(l));
    auto = all[all.length - 1]?.[0];
  }
  return { layouts, auto, mixing: mixing ? mixing.name || mixing.output[0] : undefined };
}
