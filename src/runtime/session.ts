/** The runtime interface shared by onnxruntime-node and onnxruntime-web backends. */

export interface TensorValue {
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
  dims: number[];
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
