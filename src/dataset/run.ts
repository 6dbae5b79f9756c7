/**
 * runDataset: the one engine of every resumable run over a dataset (`gradcam audit`, `evaluate`, and
 * `explain` / `detect` on folders, globs and manifests).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AuditItem, FileOut } from './types.js';
import type { Shard } from './shard.js';
import { shardItems } from './listing.js';
import { ResultStore, type StoredRow, type StoreKind } from './store.js';
import { guardedWrite, syncDir, writeFileAtomic } from '../util/write-node.js';
import { WorkerPool, type DatasetWorkers } from './pool.js';
import { preparedAhead } from '../util/ahead.js';

/** A file an item's processing writes (dataset/types.ts). */
export type { FileOut };

/** Where a dataset run stands (its onProgress). */
export interface DatasetProgressInfo {
  /** Items in this run's list (the shard). */
  total: number;
  /** Items with a row (finished before or now). */
  done: number;
  /** Items finished in this session. */
  processed: number;
  skipped: number;
  errors: number;
  elapsedS: number;
  file?: string;
}

/** The name audit's callers know it by. */
export type AuditProgressInfo = DatasetProgressInfo;

/**
 * One resumable run over a dataset (the engine of `gradcam audit` and of `gradcam explain` on folders,
 * globs and manifests): the items of the shard that have no row yet (or an error row, with
 * retryErrors) are prepared a batch ahead (decoding while the model runs), processed a batch at a
 * time, their files written atomically and their rows appended (fsync'ed) to the store, so that an
 * interrupted run started again with the same settings does only what is left. `finish` runs at the
 * end while the folder is still locked (the audit's reports).
 */
export interface DatasetRunOptions<P, R extends StoredRow, F> {
  out: string;
  /** The settings a restart must agree with. */
  config: object;
  kind: StoreKind;
  shard?: Shard;
  retryErrors?: boolean;
  signal?: AbortSignal;
  batchSize: number;
  /**
   * Whether an item needs no run (default: it has a row, and no error row to retry): for runs that store
   * several rows per item (evaluate: one per method).
   */
  isDone?: (item: AuditItem, done: ReadonlyMap<string, 'ok' | 'error'>) => boolean;
  /** Reads one item (never throws: a bad item becomes an error row in `process`). */
  prepare: (entry: { item: AuditItem; index: number }) => Promise<P>;
  /** Explains a batch: a row per item, in order, and the files to write. */
  process: (prepared: P[]) => Promise<{ rows: R[]; files: FileOut[] }>;
  onProgress?: (p: DatasetProgressInfo) => void;
  /**
   * With count > 1 (`--workers N`, or `auto` deciding from the items left), batches are prepared and
   * processed in N worker threads, each with its own session, built there from `module` (then `prepare`
   * and `process` above are not called; `started` lets the caller release its session); their results
   * are written in batch order, as one worker's would be.
   */
  workers?: DatasetWorkers;
  finish?: (info: DatasetProgressInfo, interrupted: boolean) => Promise<F>;
}

export async function runDataset<P, R extends StoredRow, F = unknown>(items: AuditItem[], o: DatasetRunOptions<P, R, F>): Promise<{ info: DatasetProgressInfo; interrupted: boolean; finished?: F }> {
  let store: ResultStore<R> | undefined;
  try {
    const list = shardItems(items, o.shard);
    store = await ResultStore.open<R>(o.out, o.config, o.kind);
    const st = store;
    const pending = list.filter((x) => { if (o.isDone) return !o.isDone(x.item, st.done); const s = st.done.get(x.item.key); return s === undefined || (s === 'error' && o.retryErrors); });
    const info: DatasetProgressInfo = { total: list.length, done: list.length - pending.length, processed: 0, skipped: list.length - pending.length, errors: 0, elapsedS: 0 };
    const countErrors = () => list.reduce((n, x) => n + (st.done.get(x.item.key) === 'error' ? 1 : 0), 0);
    info.errors = countErrors();
    const batches: { item: AuditItem; index: number }[][] = [];
    for (let i = 0; i < pending.length; i += o.batchSize) batches.push(pending.slice(i, i + o.batchSize));
    const prepareBatch = (b: { item: AuditItem; index: number }[]) => Promise.all(b.map((entry) => o.prepare(entry)));
    let ahead: AsyncGenerator<P[], void, undefined> | undefined;
    let interrupted = false;
    const count = typeof o.workers?.count === 'function' ? o.workers.count(pending.length) : (o.workers?.count ?? 1);
    const pool = o.workers && count > 1 && batches.length ? new WorkerPool<R>({ ...o.workers, count }) : undefined;
    let resultOf: (b: number) => Promise<{ rows: R[]; files: FileOut[] }>;
    if (pool) {
      resultOf = pool.ordered(batches, o.signal);
    } else {
      // decode ahead while this batch runs
      const a = ahead = preparedAhead(batches.length, (b) => prepareBatch(batches[b]!));
      resultOf = async () => o.process((await a.next()).value as P[]);
    }
    const tRun = performance.now();
    // a batch's files and then its rows are written while the next batch runs (one batch in flight, in
    // order: a row is stored only after its files, and batches are stored in order)
    let writing: Promise<void> | undefined;
    try {
      if (pool) await o.workers!.started?.(count);
      for (let b = 0; b < batches.length; b++) {
        if (o.signal?.aborted) { interrupted = true; break; }
        const results = await resultOf(b);
        await writing;
        const batch = batches[b]!;
        const file = batch[batch.length - 1]?.item.file;
        writing = (async () => {
          await writeItemFiles(o.out, results.files);
          await st.append(results.rows);
          info.processed += batch.length;
          info.done += batch.length;
          info.errors = countErrors();
          info.elapsedS = (performance.now() - tRun) / 1000;
          info.file = file;
          o.onProgress?.({ ...info });
        })();
        writing.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
      }
      await writing;
    } finally {
      await writing?.catch(() => {});
      await pool?.close();
    }
    await ahead?.return();
    interrupted ||= info.done < info.total;
    let finished: F | undefined;
    if (o.finish) {
      await st.close();
      finished = await o.finish(info, interrupted);
    }
    return { info, interrupted, ...(finished !== undefined ? { finished } : {}) };
  } finally {
    await store?.close();
    await store?.unlock();
  }
}

async function writeItemFiles(outDir: string, files: FileOut[]): Promise<void> {
  for (const d of new Set(files.map((f) => path.dirname(path.join(outDir, f.path))))) await guardedWrite(d, () => fs.promises.mkdir(d, { recursive: true }));
  for (const f of files) await guardedWrite(path.join(outDir, f.path), async () => writeFileAtomic(path.join(outDir, f.path), await f.bytes));
  for (const d of new Set(files.map((f) => path.dirname(path.join(outDir, f.path))))) await syncDir(d);
}
