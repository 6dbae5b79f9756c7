/**
 * Half-precision models (float16, bfloat16) promoted to float32: every half tensor the graph stores or
 * declares becomes float32 (initializers, Constant / ConstantOfShape and other tensor attributes, Cast and
 * other dtype attributes, graph inputs, outputs and value_info, in subgraphs too), so that the forward
 * pass, and the backward graph appended to it, run in float32 on the model's own half-rounded weights.
 * Why float32 rather than the model's precision: the gradient rules' constants and seeds are float32,
 * onnxruntime's CPU provider has almost no bfloat16 kernel (a bfloat16 model does not run there at all) and
 * runs most float16 ops by casting to float32 anyway, and float16 gradients underflow (README, "Half
 * precision and quantised models", gives the distances to the model as shipped).
 */
import { DATA_TYPE, decodeTensor, encodeTensor, toFloat32Tensor, toNumber, type TensorProtoLike } from './tensor.js';
import { ATTR, type AttributeProto, type GraphProto, type ModelProto, type ValueInfo } from './model.js';

const HALF = new Set([DATA_TYPE.float16, DATA_TYPE.bfloat16]);
/** INT attributes that name an element type (Cast's target, the Random* / EyeLike / Bernoulli dtype, LayerNormalization's stash type...). */
const DTYPE_ATTRS = new Set(['to', 'dtype', 'output_dtype', 'stash_type']);

export interface Promotion {
  model: ModelProto;
  /** The half types found ('float16', 'bfloat16'); empty when the model was float32 already (then `model` is the input itself). */
  promoted: ('float16' | 'bfloat16')[];
}

/** Whether a model holds or declares any float16 / bfloat16 tensor (initializers, attributes, I/O, value_info, subgraphs). */
export function halfTypes(model: ModelProto): ('float16' | 'bfloat16')[] {
  const found = new Set<number>();
  const tensor = (t: TensorProtoLike | undefined) => { if (t && HALF.has(t.data_type ?? 0)) found.add(t.data_type!); };
  const info = (v: ValueInfo) => { const e = v.type?.tensor_type?.elem_type; if (e !== undefined && HALF.has(e)) found.add(e); };
  const graph = (g: GraphProto) => {
    g.initializer?.forEach(tensor);
    [...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])].forEach(info);
    for (const n of g.node ?? []) {
      for (const a of n.attribute ?? []) {
        tensor(a.t);
        (a.tensors as TensorProtoLike[] | undefined)?.forEach(tensor);
        if (a.i !== undefined && DTYPE_ATTRS.has(a.name) && HALF.has(toNumber(a.i))) found.add(toNumber(a.i));
        if (a.g) graph(a.g as GraphProto);
        (a.graphs as GraphProto[] | undefined)?.forEach(graph);
      }
    }
  };
  graph(model.graph);
  return [...found].sort().map((c) => (c === DATA_TYPE.float16 ? 'float16' : 'bfloat16'));
}

const promoteTensor = (t: TensorProtoLike): TensorProtoLike => {
  if (!HALF.has(t.data_type ?? 0)) return t;
  return encodeTensor(t.name ?? '', toFloat32Tensor(decodeTensor(t)));
};

const promoteInfo = (v: ValueInfo): ValueInfo => {
  const tt = v.type?.tensor_type;
  if (!tt || !HALF.has(tt.elem_type ?? 0)) return v;
  return { ...v, type: { ...v.type, tensor_type: { ...tt, elem_type: DATA_TYPE.float32 } } };
};

function promoteAttr(a: AttributeProto): AttributeProto {
  let out = a;
  if (a.t && HALF.has(a.t.data_type ?? 0)) out = { ...out, t: promoteTensor(a.t) };
  if (Array.isArray(a.tensors)) out = { ...out, tensors: (a.tensors as TensorProtoLike[]).map(promoteTensor) };
  if (a.i !== undefined && (a.type === undefined || a.type === ATTR.INT) && DTYPE_ATTRS.has(a.name) && HALF.has(toNumber(a.i))) out = { ...out, i: DATA_TYPE.float32 };
  if (a.g) out = { ...out, g: promoteGraph(a.g as GraphProto) };
  if (Array.isArray(a.graphs)) out = { ...out, graphs: (a.graphs as GraphProto[]).map(promoteGraph) };
  return out;
}

function promoteGraph(g: GraphProto): GraphProto {
  return {
    ...g,
    initializer: (g.initializer ?? []).map(promoteTensor),
    input: (g.input ?? []).map(promoteInfo),
    output: (g.output ?? []).map(promoteInfo),
    value_info: (g.value_info ?? []).map(promoteInfo),
    node: (g.node ?? []).map((n) => (n.attribute?.length ? { ...n, attribute: n.attribute.map(promoteAttr) } : n)),
  };
}

/**
 * The model with every float16 / bfloat16 tensor and type made float32 (values exact: each half value is
 * a float32). A model without any is returned as it is. External data must be inlined first.
 */
export function promoteToFloat32(model: ModelProto): Promotion {
  const promoted = halfTypes(model);
  if (!promoted.length) return { model, promoted };
  return { model: { ...model, graph: promoteGraph(model.graph) }, promoted };
}
