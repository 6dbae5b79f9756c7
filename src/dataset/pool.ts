/**
 * `--workers N` (Node only): a dataset run's batches spread over N worker threads, each with its own
 * session (N × the model's memory), each preparing and processing whole batches; the engine (run.ts)
 * writes their results in batch order, so rows, files and resumability are those of one worker.
 *
 * A worker rebuilds the run's `prepare` and `process` from serialisable settings: `module` (a URL) exports
 * `name`, an async function (init) → { prepare, process, release } (audit/run.ts openAuditWorker).
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { InputError } from '../util/scores.js';
import type { AuditItem, FileOut } from './types.js';

/** Where a run's batches are processed when `count` > 1. */
export interface DatasetWorkers {
  count: number;
  /** URL of the module that builds a worker's prepare and process. */
  module: string;
  /** Its export: (init) => Promise<DatasetWorkerSide>. */
  name: string;
  /** Serialisable settings (structured clone). */
  init: unknown;
}

/** What a worker module's function gives (run in the worker thread). */
export interface DatasetWorkerSide<P, R> {
  prepare: (entry: { item: AuditItem; index: number }) => Promise<P>;
  process: (prepared: P[]) => Promise<{ rows: R[]; files: FileOut[] }>;
  release: () => Promise<void>;
}

/** The cores this process may use. */
export const machineCores = (): number => (typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);

/** N > cores is refused: the sessions would only take turns on the cores, each holding the model's memory. */
export function checkWorkers(n: number): void {
  const cores = machineCores();
  if (!Number.isInteger(n) || n < 1) throw new InputError(`--workers ${n}: give a whole number from 1 to ${cores} (this machine's cores)`);
  if (n > cores) throw new InputError(`--workers ${n}: this machine has ${cores} cores; give at most ${cores} (each worker holds its own session: N × the model's memory)`);
}

/** intra-op threads of each of n sessions: the cores shared out (at least 1), unless given. */
export const threadsPerWorker = (n: number, given?: number): number => given ?? Math.max(1, Math.floor(machineCores() / n));

type Result<R> = { rows: R[]; files: FileOut[] };

/** N worker threads; `run` sends a batch to the least busy one (at most two batches queued each: one prepares while one runs). */
export class WorkerPool<R> {
  private workers: { w: Worker; busy: number; pending: Map<number, { resolve: (r: Result<R>) => void; reject: (e: Error) => void }> }[] = [];
  private seq = 0;

  constructor(spec: DatasetWorkers) {
    checkWorkers(spec.count);
    const entry = new URL(`./worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;
    // under tsx (the sources), a worker thread gets no loader hooks from its parent: it registers tsx first
    const code = entry.endsWith('.ts')
      ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`
      : `import(${JSON.stringify(entry)})`;
    for (let i = 0; i < spec.count; i++) {
      const w = new Worker(code, { eval: true, workerData: { module: spec.module, name: spec.name, init: spec.init } });
      const slot = { w, busy: 0, pending: new Map<number, { resolve: (r: Result<R>) => void; reject: (e: Error) => void }>() };
      w.on('message', (m: { id: number; result?: Result<R>; error?: { message: string; input: boolean } }) => {
        const p = slot.pending.get(m.id);
        if (!p) return;
        slot.pending.delete(m.id);
        slot.busy--;
        if (m.result) p.resolve(m.result);
        else p.reject(m.error!.input ? new InputError(m.error!.message) : new Error(m.error!.message));
      });
      const fail = (e: Error) => {
        for (const p of slot.pending.values()) p.reject(e);
        slot.pending.clear();
      };
      w.on('error', fail);
      w.on('exit', (code) => fail(new Error(`dataset worker ${i + 1} stopped (exit code ${code})`)));
      this.workers.push(slot);
    }
  }

  /** A worker with room for another batch, if any. */
  get free(): boolean {
    return this.workers.some((s) => s.busy < 2);
  }

  run(batch: { item: AuditItem; index: number }[]): Promise<Result<R>> {
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.seq++;
    slot.busy++;
    const p = new Promise<Result<R>>((resolve, reject) => slot.pending.set(id, { resolve, reject }));
    slot.w.postMessage({ id, batch });
    return p;
  }

  /** Releases every worker's session and ends the threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map(async ({ w }) => {
      const done = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      w.postMessage({ close: true });
      const t = setTimeout(() => void w.terminate(), 10_000);
      await done;
      clearTimeout(t);
    }));
  }
}
