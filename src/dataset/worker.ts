/**
 * A dataset worker thread (pool.ts): builds the run's prepare and process from its module, then prepares
 * each batch as soon as it arrives (decoding while the previous one runs) and processes them in order,
 * posting rows and file bytes back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { workerError, type DatasetWorkerSide } from './pool.js';
import type { AuditItem } from './types.js';

const { module, name, count } = workerData as { module: string; name: string; count: number };
const port = parentPort!;
// the settings come in the first message (pool.settle), possibly after the module is imported; none if
// the pool closes first
let settle!: (v: { init: unknown } | undefined) => void;
const settings = new Promise<{ init: unknown } | undefined>((resolve) => (settle = resolve));
const side = (async () => {
  const mod = (await import(module)) as Record<string, (init: unknown, count: number) => Promise<DatasetWorkerSide<unknown, unknown>>>;
  const got = await settings;
  if (!got) throw new Error('closed before its settings came');
  return mod[name]!(got.init, count);
})();
side.catch(() => {}); // reported with each batch below
let chain: Promise<void> = Promise.resolve();

port.on('message', (m: { id: number; batch: { item: AuditItem; index: number }[] } | { close: true } | { init: unknown }) => {
  if ('init' in m) {
    settle({ init: m.init });
    return;
  }
  if ('close' in m) {
    settle(undefined);
    chain = chain.then(async () => {
      await (await side.catch(() => undefined))?.release();
      port.close();
    });
    return;
  }
  // every item prepared; a failure is the first in the batch's order (as one session reading them in turn)
  const prepared = side.then(async (s) => {
    const all = await Promise.allSettled(m.batch.map((entry) => s.prepare(entry)));
    const bad = all.find((r) => r.status === 'rejected');
    if (bad) throw bad.reason;
    return all.map((r) => (r as PromiseFulfilledResult<unknown>).value);
  });
  prepared.catch(() => {});
  chain = chain.then(async () => {
    try {
      const s = await side;
      const r = await s.process(await prepared);
      const files = await Promise.all(r.files.map(async (f) => ({ path: f.path, bytes: await f.bytes })));
      // whole buffers are moved; views into a larger (pooled) one are copied
      const move = files.map((f) => f.bytes).filter((b) => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.byteLength > 0).map((b) => b.buffer as ArrayBuffer);
      port.postMessage({ id: m.id, result: { rows: r.rows, files } }, [...new Set(move)]);
    } catch (e) {
      port.postMessage({ id: m.id, error: workerError(e) });
    }
  });
});
