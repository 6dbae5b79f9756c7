/**
 * A dataset worker thread (pool.ts): builds the run's prepare and process from its module, then prepares
 * each batch as soon as it arrives (decoding while the previous one runs) and processes them in order,
 * posting rows and file bytes back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InputError } from '../util/scores.js';
import type { DatasetWorkerSide } from './pool.js';
import type { AuditItem } from './types.js';

const { module, name, init } = workerData as { module: string; name: string; init: unknown };
const port = parentPort!;
const side = (async () => {
  const mod = (await import(module)) as Record<string, (init: unknown) => Promise<DatasetWorkerSide<unknown, unknown>>>;
  return mod[name]!(init);
})();
side.catch(() => {}); // reported with each batch below
let chain: Promise<void> = Promise.resolve();

port.on('message', (m: { id: number; batch: { item: AuditItem; index: number }[] } | { close: true }) => {
  if ('close' in m) {
    chain = chain.then(async () => {
      await (await side.catch(() => undefined))?.release();
      port.close();
    });
    return;
  }
  const prepared = side.then((s) => Promise.all(m.batch.map((entry) => s.prepare(entry))));
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
      port.postMessage({ id: m.id, error: { message: (e as Error).message, input: e instanceof InputError } });
    }
  });
});
