/** The runtime interface shared by onnxruntime-node and onnxruntime-web backends. */
import { bfloat16ToFloat32, float16ToFloat32, float32ToFloat16 } from '../onnx/tensor.js';

/**
 * A tensor out of a session, decoded (decodeOutput): floating-point tensors of any precision are
 * Float32Array values, integer tensors Int32Array (8-, 16- and 32-bit) or BigInt64Array (64-bit), bool and
 * uint8 Uint8Array.
 */
export interface TensorValue {
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
  dims: number[];
  /** The element type the model gave it, as onnxruntime names it ('float16', 'int8'...), before decoding. */
  type?: string;
}

/** A tensor of a type that gradcam cannot read or feed (strings, 8-bit and 4-bit floats, 4-bit integers...). */
export class TensorTypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

const READABLE = 'float32, float16, bfloat16, float64, integers and bool';

/**
 * The one decoding point of tensors leaving a session (onnxruntime-node and -web alike): float16 and
 * bfloat16 bit patterns and float64 values become float32 values, narrow integers Int32Array; a type
 * gradcam cannot read is an error naming the tensor and its type, never its bits read as numbers.
 */
export function decodeOutput(name: string, type: string, data: unknown, dims: readonly number[]): TensorValue {
  const d = [...dims];
  const bad = () => new TensorTypeError(`tensor '${name}' is of type ${type}, which gradcam cannot read (it reads ${READABLE})`);
  switch (type) {
    case 'float32':
      return { data: data as Float32Array, dims: d, type };
    case 'float16':
      // onnxruntime gives float16 as bits (Uint16Array), or as a Float16Array where the JavaScript engine has one
      return { data: data instanceof Uint16Array ? float16ToFloat32(data) : Float32Array.from(data as ArrayLike<number>), dims: d, type };
    case 'bfloat16':
      return { data: bfloat16ToFloat32(data as Uint16Array), dims: d, type };
    case 'float64':
      return { data: Float32Array.from(data as Float64Array), dims: d, type };
    case 'int64':
      return { data: data as BigInt64Array, dims: d, type };
    case 'uint64': {
      const u = data as BigUint64Array;
      if (u.some((v) => v > 0x7fffffffffffffffn)) throw bad();
      return { data: BigInt64Array.from(u, (v) => v), dims: d, type };
    }
    case 'int32':
      return { data: data as Int32Array, dims: d, type };
    case 'int8': case 'int16': case 'uint16':
      return { data: Int32Array.from(data as ArrayLike<number>), dims: d, type };
    case 'uint32': {
      const u = data as Uint32Array;
      if (u.some((v) => v > 0x7fffffff)) throw bad();
      return { data: Int32Array.from(u), dims: d, type };
    }
    case 'uint8': case 'bool':
      return { data: data as Uint8Array, dims: d, type };
    default:
      throw bad();
  }
}

/**
 * A float32 feed encoded as the input's declared type, so that a model whose input is float16 (or
 * float64) is fed as it declares: `{ type, data }` for the runtime's Tensor constructor. Other input
 * types (bfloat16, which onnxruntime's JavaScript API lacks, integers...) are an error naming the input
 * and its type.
 */
export function encodeFeed(name: string, type: string | undefined, data: Float32Array): { type: 'float32' | 'float16' | 'float64'; data: Float32Array | Uint16Array | Float64Array } {
  switch (type ?? 'float32') {
    case 'float32': return { type: 'float32', data };
    case 'float16': return { type: 'float16', data: float32ToFloat16(data) };
    // onnxruntime's JavaScript API (1.30) has no bfloat16 tensor: say so, rather than its 'Unsupported tensor type'
    case 'bfloat16': throw new TensorTypeError(`input '${name}' is bfloat16, which onnxruntime's JavaScript API cannot feed; an Explainer runs bfloat16 models promoted to float32 (onnx/precision.ts)`);
    case 'float64': return { type: 'float64', data: Float64Array.from(data) };
    default: throw new TensorTypeError(`input '${name}' is of type ${type}; gradcam feeds floating-point inputs only (float32, float16, bfloat16, float64)`);
  }
}

/** An input's element type from the runtime's input metadata (where the runtime gives it). */
export function inputTypes(metadata: readonly unknown[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of metadata ?? []) {
    const v = m as { name?: string; isTensor?: boolean; type?: string };
    if (v.name && v.isTensor !== false && v.type) out.set(v.name, v.type);
  }
  return out;
}

export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs with float32 feeds; returns the requested outputs (all when `fetch` is omitted). */
  run(feeds: Record<string, { data: Float32Array; dims: number[] }>, fetch?: string[]): Promise<Record<string, TensorValue>>;
  release(): Promise<void>;
}

export interface SessionOptions {
  /** Threads for one operator (default: the runtime's choice). */
  intraOpThreads?: number;
  /** Let worker threads spin between a run's operators (default true; never after a run: see runtime/node.ts). */
  spinning?: boolean;
  /** Graph optimisation level (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Receives the model as the runtime optimised it (where the runtime can save it: onnxruntime-node), to be
   * loaded later with `optimization: 'disabled'` — much faster to open (resnet50's gradient graph: about
   * 60 ms instead of 200–400 ms). The saved model may hold this CPU's own kernels: keep it on this machine.
   */
  saveOptimized?: (model: Uint8Array) => void;
  /**
   * Keep the runtime's memory arena (default true): fast for repeated runs, but each session then holds
   * its peak until released. Off for large inputs (`withArenaFor`), so that the sessions gradcam keeps
   * (a forward graph, the gradient graph) do not add their peaks up.
   */
  memoryArena?: boolean;
}

/** Inputs of at least this many cells per image (a 724×724 image) run without the memory arena. */
export const LARGE_INPUT_CELLS = 2 ** 19;

/** Session options for runs at `inputDims` (batch first): the memory arena off for large inputs. */
export function withArenaFor(options: SessionOptions | undefined, inputDims: readonly number[]): SessionOptions {
  // cells of one image: the product of its axes but the smallest (the channels, for images)
  const cells = inputDims.slice(1).reduce((a, v) => a * v, 1) / Math.min(...inputDims.slice(1));
  return cells >= LARGE_INPUT_CELLS ? { ...options, memoryArena: false } : { ...options };
}

export type SessionFactory = (model: Uint8Array, options?: SessionOptions) => Promise<Session>;

/**
 * A run of a model exported with a fixed batch size `b` (most often 1) on `n` rows: the feeds are cut
 * into chunks of b rows (the last one zero-padded) and each fetched tensor is concatenated along its
 * batch axis (`batchAxis[name]`, default 0; a sequence-first layer's is 1), padding rows dropped.
 */
export async function runInChunks(session: Session, feeds: Record<string, { data: Float32Array; dims: number[] }>, fetch: string[], n: number, b: number, batchAxis: Record<string, number> = {}): Promise<Record<string, TensorValue>> {
  const parts: Record<string, TensorValue>[] = [];
  for (let start = 0; start < n; start += b) {
    const chunk: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const [name, t] of Object.entries(feeds)) {
      const per = t.dims.slice(1).reduce((a, v) => a * v, 1);
      const data = new Float32Array(b * per);
      data.set(t.data.subarray(start * per, Math.min(n, start + b) * per));
      chunk[name] = { data, dims: [b, ...t.dims.slice(1)] };
    }
    parts.push(await session.run(chunk, fetch));
  }
  const out: Record<string, TensorValue> = {};
  for (const name of fetch) {
    const axis = batchAxis[name] ?? 0;
    const d = parts[0]![name]!.dims;
    const outer = d.slice(0, axis).reduce((a, v) => a * v, 1);
    const inner = d.slice(axis + 1).reduce((a, v) => a * v, 1);
    const dims = d.slice();
    dims[axis] = n;
    const all = new Float32Array(outer * n * inner);
    parts.forEach((p, k) => {
      const src = p[name]!.data as Float32Array;
      const rows = Math.min(b, n - k * b);
      for (let o = 0; o < outer; o++) all.set(src.subarray(o * b * inner, (o * b + rows) * inner), (o * n + k * b) * inner);
    });
    out[name] = { data: all, dims };
  }
  return out;
}

/**
 * A store of compiled artefacts (gradient graphs, layer tables) that outlives the Explainer, e.g. a folder
 * on disk (runtime/node.ts diskCompileCache, implemented beside the Node session factory). Keys are opaque strings; the store must tell models apart itself (the
 * Node one keys by the model's SHA-256 and gradcam's own code). Failures are ignored (a miss, a rebuild).
 */
export interface CompileCache {
  get(key: string): Promise<Uint8Array | undefined>;
  set(key: string, value: Uint8Array): Promise<void>;
}
