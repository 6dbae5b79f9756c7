/**
 * Runs compiled gradient graphs: prepares the model, learns static shapes with one probe run, compiles,
 * creates a session, and caches the result per (spec, input shape).
 */
import { compile, prepare, type Compiled, type GradientSpec } from './compiler.js';
import { encodeModel, type ModelProto } from '../onnx/model.js';
import type { ExternalDataReader, Tensor } from '../onnx/tensor.js';
import type { Session, SessionFactory, SessionOptions } from '../runtime/session.js';

export interface GradientSession {
  compiled: Compiled;
  session: Session;
  /** Milliseconds spent: building the graph (prepare + probe + compile) and creating the session. */
  timings: { compileMs: number; sessionMs: number };
}

export class GradientEngine {
  private readonly cache = new Map<string, Promise<GradientSession>>();

  constructor(
    readonly model: ModelProto,
    private readonly createSession: SessionFactory,
    private readonly options: SessionOptions = {},
    private readonly external?: ExternalDataReader,
  ) {}

  /** `inputDims` is the model input shape for one image (batch dimension 1). */
  get(spec: GradientSpec, inputDims: number[]): Promise<GradientSession> {
    const key = JSON.stringify([spec, inputDims.slice(1)]);
    let s = this.cache.get(key);
    if (!s) {
      s = this.build(spec, inputDims);
      this.cache.set(key, s);
      s.catch(() => this.cache.delete(key));
    }
    return s;
  }

  private async build(spec: GradientSpec, inputDims: number[]): Promise<GradientSession> {
    const t0 = performance.now();
    const prepared = prepare(this.model, spec, this.external);
    const { shapes, values } = await probe(prepared.model, prepared.input, prepared.shapeTensors, prepared.valueTensors, inputDims, this.createSession);
    const compiled = compile(prepared, shapes, values);
    const bytes = encodeModel(compiled.model);
    const t1 = performance.now();
    const session = await this.createSession(bytes, this.options);
    const t2 = performance.now();
    return { compiled, session, timings: { compileMs: t1 - t0, sessionMs: t2 - t1 } };
  }

  async release(): Promise<void> {
    const all = [...this.cache.values()];
    this.cache.clear();
    for (const s of all) await (await s.catch(() => undefined))?.session.release();
  }
}

/**
 * One run of the model at batch 1 with the listed tensors exposed as outputs: their shapes, and the
 * values of `valueTensors` (parameters such as pads computed by shape subgraphs).
 */
export async function probe(
  model: ModelProto, input: string, shapeTensors: string[], valueTensors: string[], inputDims: number[], createSession: SessionFactory,
): Promise<{ shapes: Map<string, number[]>; values: Map<string, Tensor> }> {
  const shapes = new Map<string, number[]>([[input, inputDims.slice()]]);
  const values = new Map<string, Tensor>();
  const wanted = [...new Set([...shapeTensors, ...valueTensors])].filter((t) => t !== input);
  const existing = new Set(model.graph.output.map((o) => o.name));
  const probeModel: ModelProto = {
    ...model,
    graph: { ...model.graph, output: [...model.graph.output, ...wanted.filter((t) => !existing.has(t)).map((name) => ({ name }))] },
  };
  const session = await createSession(encodeModel(probeModel), { optimization: 'basic' });
  try {
    const n = inputDims.reduce((a, v) => a * v, 1);
    const r = await session.run({ [input]: { data: new Float32Array(n), dims: inputDims } }, wanted);
    for (const t of wanted) shapes.set(t, r[t]!.dims);
    for (const t of valueTensors) {
      const v = r[t];
      if (!v) continue;
      const dtype = v.data instanceof BigInt64Array ? 'int64' : v.data instanceof Int32Array ? 'int32' : v.data instanceof Uint8Array ? 'uint8' : 'float32';
      values.set(t, { dtype, dims: v.dims, data: v.data });
    }
  } finally {
    await session.release();
  }
  return { shapes, values };
}

/** Shapes of the listed tensors at batch 1 (one probe run). */
export async function probeShapes(
  model: ModelProto, input: string, tensors: string[], inputDims: number[], createSession: SessionFactory,
): Promise<Map<string, number[]>> {
  return (await probe(model, input, tensors, [], inputDims, createSession)).shapes;
}
