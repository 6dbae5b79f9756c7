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
  /** Let idle worker threads spin between runs (default false: see runtime/node.ts). */
  spinning?: boolean;
  /** Graph optimisation level (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

export type SessionFactory = (model: Uint8Array, options?: SessionOptions) => Promise<Session>;
