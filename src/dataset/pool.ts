/**
 * `--workers N` (Node only): a dataset run's batches spread over N worker threads, each with its own
 * session (N × the model's memory), each preparing and processing whole batches; the engine (run.ts)
 * writes their results in batch order, so rows, files and resumability are those of one worker.
 *
 * A worker rebuilds the run's `prepare` and `process` from serialisable settings: `module` (a URL) exports
 * `name`, an async function (init, count) → { prepare, process, release } (audit/run.ts openAuditWorker;
 * count: the pool's size, for its share of the cores).
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { InputError } from '../util/scores.js';
import type { AuditItem, FileOut } from './types.js';

/** Where a run's batches are processed when `count` > 1. */
export interface DatasetWorkers {
  /** Sessions: a number, or decided from the items left to do (resolveWorkers). */
  count: number | ((pending: number) => number);
  /** Called when worker sessions start (count > 1): the caller releases its own session, says so. */
  started?: (count: number) => Promise<void> | void;
  /** URL of the module that builds a worker's prepare and process. */
  module: string;
  /** Its export: (init, count) => Promise<DatasetWorkerSide>. */
  name: string;
  /**
   * Serialisable settings (structured clone). Absent: given later by `pool.settle(init)`, so that the
   * threads import the module (the library: about 0.25 s each) while the command still reads its model.
   */
  init?: unknown;
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

/** `--workers`: a count, or 'auto' (the default of explain and audit: autoWorkers). */
export type WorkersChoice = number | 'auto';

/**
 * Images a run needs for `--workers auto` to start worker sessions: the workers' start must be repaid by
 * the images they take. Measured on the shared 2-core machine (compiled dist/, mobilenet_v2, 1 image):
 * two workers add 0.5–1.1 s of wall time and 0.5–0.7 s of CPU (a thread importing the library, about
 * 0.25 s, and its session from the compile cache, 0.06–0.12 s); under tsx (the sources) 1.6–3 s. Two
 * 1-thread sessions save at most ~10 ms per image on mobilenet_v2 and ~20 ms on resnet50 against one
 * 2-thread session (less on a loaded machine, where no core is idle): break-even at 35–100 images.
 */
export const AUTO_MIN_IMAGES = { compiled: 96, sources: 512 } as const;

/**
 * `--workers auto`'s decision (pure): one session (this thread's) unless the machine has at least 2
 * cores and the run at least `AUTO_MIN_IMAGES` images (more from the sources); then as many 1-thread
 * sessions as cores (`threads` per session when given: cores / threads of them), at most 1 + images /
 * `min` and at most 8 (each holds the model's memory).
 */
export function autoWorkers(p: { cores: number; images: number; threads?: number; compiled: boolean }): number {
  const min = p.compiled ? AUTO_MIN_IMAGES.compiled : AUTO_MIN_IMAGES.sources;
  const byCores = Math.floor(p.cores / Math.max(1, p.threads ?? 1));
  const n = Math.min(byCores, Math.floor(p.images / min) + 1, 8);
  return p.cores >= 2 && p.images >= min && n >= 2 ? n : 1;
}

/** Whether this process runs the compiled JavaScript (dist/, as installed) rather than the sources under tsx. */
export const runsCompiled = (): boolean => !import.meta.url.endsWith('.ts');

/** The sessions a run of `images` images uses: `choice` checked (N ≤ cores), or decided by autoWorkers. */
export function resolveWorkers(choice: WorkersChoice | undefined, images: number, threads?: number): number {
  if (choice === undefined || choice === 'auto') return autoWorkers({ cores: machineCores(), images, threads, compiled: runsCompiled() });
  checkWorkers(choice);
  return choice;
}

type Result<R> = { rows: R[]; files: FileOut[] };

/** N worker threads; `run` sends a batch to the least busy one (at most two batches queued each: one prepares while one runs). */
export class WorkerPool<R> {
  private workers: { w: Worker; busy: number; pending: Map<number, { resolve: (r: Result<R>) => void; reject: (e: Error) => void }> }[] = [];
  private seq = 0;

  constructor(spec: Omit<DatasetWorkers, 'count'> & { count: number }) {
    checkWorkers(spec.count);
    const entry = new URL(`./worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;
    // under tsx (the sources), a worker thread gets no loader hooks from its parent: it registers tsx first
    const code = entry.endsWith('.ts')
      ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`
      : `import(${JSON.stringify(entry)})`;
    for (let i = 0; i < spec.count; i++) {
      const w = new Worker(code, { eval: true, workerData: { module: spec.module, name: spec.name, count: spec.count } });
      const slot = { w, busy: 0, pending: new Map<number, { resolve: (r: Result<R>) => void; reject: (e: Error) => void }>() };
      w.on('message', (m: { id: number; result?: Result<R>; error?: WorkerError }) => {
        const p = slot.pending.get(m.id);
        if (!p) return;
        slot.pending.delete(m.id);
        slot.busy--;
        if (m.result) p.resolve(m.result);
        else p.reject(rebuildError(m.error!));
      });
      const fail = (e: Error) => {
        for (const p of slot.pending.values()) p.reject(e);
        slot.pending.clear();
      };
      w.on('error', fail);
      w.on('exit', (code) => fail(new Error(`dataset worker ${i + 1} stopped (exit code ${code})`)));
      this.workers.push(slot);
    }
    if ('init' in spec) this.settle(spec.init);
  }

  /** The settings each worker builds its side from (once; before or after batches are sent). */
  settle(init: unknown): void {
    for (const { w } of this.workers) w.postMessage({ init });
  }

  /** The number of workers. */
  get size(): number {
    return this.workers.length;
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

  /**
   * Results of `batches` in order: `resultOf(b)` (called with b = 0, 1, ...) keeps every worker busy
   * (two batches each: one prepares while one runs) and at most 4 batches per worker ahead of b (a slow
   * disk holds no more in memory), sending none once `signal` is aborted.
   */
  ordered(batches: { item: AuditItem; index: number }[][], signal?: AbortSignal): (b: number) => Promise<Result<R>> {
    const sent: Promise<Result<R>>[] = [];
    let current = 0;
    const send = () => {
      const r = this.run(batches[sent.length]!);
      r.then(dispatch, () => {});
      sent.push(r);
    };
    const dispatch = () => {
      while (sent.length < batches.length && sent.length < current + 4 * this.workers.length && this.free && !signal?.aborted) send();
    };
    return (b) => {
      current = b;
      while (sent.length <= b) send();
      dispatch();
      return sent[b]!;
    };
  }

  private closing: Promise<void> | undefined;

  /** Releases every worker's session and ends the threads (once; a worker without settings just ends). */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    await Promise.all(this.workers.map(async ({ w }) => {
      const done = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      w.postMessage({ close: true });
      const t = setTimeout(() => void w.terminate(), 10_000);
      await done;
      clearTimeout(t);
    }));
  }
}

/** An error as a worker posts it: its message, and what printError reads (name, system code). */
export interface WorkerError { message: string; input: boolean; name?: string; code?: string }

export function workerError(e: unknown): WorkerError {
  const err = e as NodeJS.ErrnoException;
  return { message: String(err?.message ?? e), input: e instanceof InputError, name: err?.name, ...(typeof err?.code === 'string' ? { code: err.code } : {}) };
}

function rebuildError(w: WorkerError): Error {
  const e = w.input ? new InputError(w.message) : new Error(w.message);
  if (!w.input && w.name) e.name = w.name;
  if (w.code) (e as NodeJS.ErrnoException).code = w.code;
  return e;
}
