/**
 * Runs compiled gradient graphs: prepares the model, learns static shapes with one probe run, compiles,
 * creates a session, and caches the result per (spec, input shape).
 */
import { compile, prepare, type Compiled, type GradientSpec } from '../autodiff/compiler.js';
import { encodeModel, GraphIndex, topoOrder, type ModelProto } from '../onnx/model.js';
import { inferShapes } from '../onnx/shapes.js';
import type { ExternalDataReader, Tensor } from '../onnx/tensor.js';
import { withArenaFor, type CompileCache, type Session, type SessionFactory, type SessionOptions } from './session.js';
export type { CompileCache } from './session.js';

/** What a run needs to know of a compiled graph (its model goes to the session). */
export type CompiledInfo = Omit<Compiled, 'model' | 'origins'> & {
  /** A cached graph: the model stored is the runtime's optimised form (open it with optimisation off). */
  optimized?: boolean;
};

export interface GradientSession {
  compiled: CompiledInfo;
  session: Session;
  /** Milliseconds spent: building the graph (prepare + probe + compile), or reading it from the cache, and creating the session. */
  timings: { compileMs: number; sessionMs: number };
  /** The graph came from the CompileCache. */
  cached?: boolean;
}


/** A cached graph: [u32 LE length of the JSON][JSON CompiledInfo][the ONNX model]. */
function packGraph(info: CompiledInfo, model: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(JSON.stringify(info));
  const out = new Uint8Array(4 + head.length + model.length);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 4);
  out.set(model, 4 + head.length);
  return out;
}

function unpackGraph(bytes: Uint8Array): { info: CompiledInfo; model: Uint8Array } {
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (4 + n > bytes.length) throw new Error('truncated cache entry');
  const info = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n))) as CompiledInfo;
  if (!info || typeof info.input !== 'string' || typeof info.seed !== 'string' || !info.outputs || !Array.isArray(info.scoreShape)) throw new Error('bad cache entry');
  return { info, model: bytes.subarray(4 + n) };
}

/**
 * onnxruntime rejected the graph that gradcam compiled while the model itself loads and runs: a gradcam
 * bug, not the user's model. Named 'InternalError' (the CLI reports it as an internal error to report).
 */
export class InternalGraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InternalError';
  }
}

/** gradcam's node that a runtime message names (nodes gradcam adds are named `gradcam/...`). */
const GRADCAM_NODE = /gradcam\/[^\s'"()\],]+/;

/**
 * A runtime failure on a compiled graph as an internal error naming the op, the node and the gradient rule
 * that emitted it (`compiled.origins`), with the runtime's reason. `stage`: loading or running the graph.
 */
export function internalGraphError(e: unknown, compiled: GraphNodes, stage: 'load' | 'run'): Error {
  const reason = (e instanceof Error ? e.message : String(e)).replace(/^onnxruntime (?:cannot load|failed to run) the model:\s*/, '');
  const found = reason.match(GRADCAM_NODE)?.[0];
  const op = found ? compiled.ops.get(found) : undefined;
  const where = found && op
    ? ` at its node '${found}' (${op}), emitted by ${compiled.origins.get(found) ?? "gradcam's own nodes around the backward pass (seed, scores, in-graph maps)"}`
    : '';
  return new InternalGraphError(`onnxruntime rejects the gradient graph that gradcam compiled for this model (the model itself ${stage === 'load' ? 'loads' : 'runs'}, so the fault is gradcam's, not the model's)${where}: ${reason}`);
}

/** gradcam's nodes of a compiled graph: op type and origin by node name (what an internal error names). */
export interface GraphNodes {
  ops: Map<string, string>;
  origins: Map<string, string>;
}

export function graphNodes(compiled: Pick<Compiled, 'model' | 'origins'>): GraphNodes {
  return { ops: new Map(compiled.model.graph.node.filter((n) => n.name.startsWith('gradcam/')).map((n) => [n.name, n.op_type])), origins: compiled.origins };
}

/** The session with run failures at gradcam's own nodes reported as internal errors. */
function internalErrors(session: Session, compiled: GraphNodes): Session {
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: (feeds, fetch) => session.run(feeds, fetch).catch((e: unknown) => {
      throw e instanceof Error && GRADCAM_NODE.test(e.message) ? internalGraphError(e, compiled, 'run') : e;
    }),
    release: () => session.release(),
  };
}

export class GradientEngine {
  private readonly cache = new Map<string, Promise<GradientSession>>();

  constructor(
    readonly model: ModelProto,
    private readonly createSession: SessionFactory,
    private readonly options: SessionOptions = {},
    private readonly external?: ExternalDataReader,
    private readonly store?: CompileCache,
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
    const key = this.store ? `graph ${JSON.stringify([spec, inputDims])}` : undefined;
    if (key) {
      const hit = await this.store!.get(key).catch(() => undefined);
      if (hit) {
        try {
          const { info, model } = unpackGraph(hit);
          const t1 = performance.now();
          // an entry holds the runtime's optimised model where it could save one (info.optimized)
          const options = withArenaFor(this.options, inputDims);
          const session = await this.createSession(model, info.optimized ? { ...options, optimization: 'disabled' } : options);
          return { compiled: info, session, timings: { compileMs: t1 - t0, sessionMs: performance.now() - t1 }, cached: true };
        } catch {
          // a damaged entry: build the graph again (and replace it)
        }
      }
    }
    const prepared = prepare(this.model, spec, this.external);
    const { shapes, values } = await probe(prepared.model, prepared.input, prepared.shapeTensors, prepared.valueTensors, inputDims, this.createSession);
    const compiled = compile(prepared, shapes, values);
    const bytes = encodeModel(compiled.model);
    const t1 = performance.now();
    let optimized: Uint8Array | undefined;
    const options = withArenaFor(this.options, inputDims);
    const nodes = graphNodes(compiled);
    let session: Session;
    try {
      session = internalErrors(await this.createSession(bytes, key ? { ...options, saveOptimized: (m) => { optimized = m; } } : options), nodes);
    } catch (e) {
      // the fault is gradcam's only where the model itself loads (the probe may not have run it: shapes
      // inferred statically need no run); else the model's own error, as onnxruntime words it
      const own = await this.createSession(encodeModel(this.model), { optimization: 'basic' }).catch((err: unknown) => err as Error);
      if (own instanceof Error) throw own;
      await own.release();
      throw internalGraphError(e, nodes, 'load');
    }
    const t2 = performance.now();
    const { model: _model, origins: _origins, ...info } = compiled;
    if (key) await this.store!.set(key, optimized ? packGraph({ ...info, optimized: true }, optimized) : packGraph(info, bytes)).catch(() => {});
    return { compiled: info, session, timings: { compileMs: t1 - t0, sessionMs: t2 - t1 } };
  }

  async release(): Promise<void> {
    const all = [...this.cache.values()];
    this.cache.clear();
    for (const s of all) await (await s.catch(() => undefined))?.session.release();
  }
}

/** Bytes of intermediate tensors one probe run may expose at most (more run in several groups). */
export const PROBE_BUDGET_BYTES = 256 * 2 ** 20;

export interface ProbeResult {
  shapes: Map<string, number[]>;
  values: Map<string, Tensor>;
  /** Per probe run: how many tensors it exposed and their bytes (empty when shape inference sufficed). */
  runs: { exposed: number; bytes: number }[];
}

/**
 * Shapes of `shapeTensors` and values of `valueTensors` (parameters such as pads computed by shape
 * subgraphs) at batch 1. Shapes come from static inference (onnx/shapes.ts) where it suffices; the rest
 * from runs of the model on zeros with those tensors exposed as outputs, in groups of at most `budget`
 * bytes (estimated from the largest tensor seen), so that memory is bounded by the model's own forward
 * pass plus the budget, not by its tensor count.
 */
export async function probe(
  model: ModelProto, input: string, shapeTensors: string[], valueTensors: string[], inputDims: number[], createSession: SessionFactory,
  budget = PROBE_BUDGET_BYTES,
): Promise<ProbeResult> {
  const shapes = new Map<string, number[]>([[input, inputDims.slice()]]);
  const values = new Map<string, Tensor>();
  const index = new GraphIndex(model);
  const inferred = inferShapes(topoOrder(model.graph), new Map([[input, inputDims.slice()]]), (t) => index.constant(t));
  const valueSet = new Set(valueTensors);
  const wanted = [...new Set([...shapeTensors, ...valueTensors])].filter((t) => t !== input && (valueSet.has(t) || !inferred.has(t)));
  for (const t of shapeTensors) { const s = inferred.get(t); if (s) shapes.set(t, s); }
  const runs: ProbeResult['runs'] = [];
  if (!wanted.length) return { shapes, values, runs };
  const existing = new Set(model.graph.output.map((o) => o.name));
  const n = inputDims.reduce((a, v) => a * v, 1);
  let estimate = Math.max(4 * n, ...[...inferred.values()].map((s) => 4 * s.reduce((a, v) => a * v, 1)));
  for (let start = 0; start < wanted.length;) {
    const group: string[] = [];
    let bytes = 0;
    while (start < wanted.length && (group.length === 0 || bytes + estimate <= budget)) { group.push(wanted[start++]!); bytes += estimate; }
    const probeModel: ModelProto = {
      ...model,
      graph: { ...model.graph, output: [...model.graph.output, ...group.filter((t) => !existing.has(t)).map((name) => ({ name }))] },
    };
    const session = await createSession(encodeModel(probeModel), withArenaFor({ optimization: 'basic' }, inputDims));
    try {
      const r = await session.run({ [input]: { data: new Float32Array(n), dims: inputDims } }, group);
      let seen = 0;
      for (const t of group) {
        const v = r[t]!;
        shapes.set(t, v.dims);
        seen += v.data.byteLength;
        estimate = Math.max(estimate, v.data.byteLength);
        if (valueSet.has(t)) {
          const dtype = v.data instanceof BigInt64Array ? 'int64' : v.data instanceof Int32Array ? 'int32' : v.data instanceof Uint8Array ? (v.type === 'bool' ? 'bool' : 'uint8') : 'float32';
          values.set(t, { dtype, dims: v.dims, data: v.data });
        }
      }
      runs.push({ exposed: group.length, bytes: seen });
    } finally {
      await session.release();
    }
  }
  return { shapes, values, runs };
}

/** Shapes of the listed tensors at batch 1 (one probe run). */
export async function probeShapes(
  model: ModelProto, input: string, tensors: string[], inputDims: number[], createSession: SessionFactory,
): Promise<Map<string, number[]>> {
  return (await probe(model, input, tensors, [], inputDims, createSession)).shapes;
}
