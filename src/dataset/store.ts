/**
 * The resumable results store of a dataset folder: a settings file a restart must agree with, and a
 * JSONL file of rows appended (and fsync'ed) batch by batch. One store (ResultStore), one lock
 * (lock.ts), one resume rule: a restart reads the rows, drops a torn last line (a kill during an
 * append), and skips every item with a row.
 */
import fs from 'node:fs';
import path from 'node:path';
import { configDiff, configKey } from './types.js';
import { acquireLock, LOCK } from './lock.js';
import { OutputError, guardedWrite, pidAlive, syncDir, writeFileAtomic, TEMPORARY } from '../util/write-node.js';

/** The part of a row the store reads: its identity and whether it is finished or an error. */
export interface StoredRow {
  key: string;
  status: 'ok' | 'error';
}

/**
 * What a resumable output folder holds: audit's audit.json + results.jsonl + thumbs/, `gradcam
 * evaluate`'s evaluate.json + evaluate.jsonl. One store (ResultStore), one lock, one resume rule.
 */
export interface StoreKind {
  /** The settings file: a restart must agree with it. */
  config: string;
  /** The rows file (JSONL, appended and fsync'ed). */
  results: string;
  /** 'audit', 'evaluation': for messages ("holds an audit with other settings"). */
  what: string;
  /** Folders made inside. */
  folders: string[];
  /** Names a folder without the settings file may hold (an older version's outputs): they are replaced. */
  replaceable?: string[];
}

/** Reads the rows file `file_` of `dir`: the rows (the last row per key wins), and the byte length of its complete lines. */
export async function readRows<R extends StoredRow>(dir: string, file_: string): Promise<{ rows: Map<string, R>; validBytes: number; size: number; bad: number }> {
  const file = path.join(dir, file_);
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { rows: new Map(), validBytes: 0, size: 0, bad: 0 };
    throw e;
  }
  const rows = new Map<string, R>();
  let start = 0;
  let bad = 0;
  let validBytes = 0;
  while (start < buf.length) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) break; // a torn last line (no newline): not complete
    const line = buf.toString('utf8', start, nl);
    start = nl + 1;
    if (line.trim()) {
      try {
        const row = JSON.parse(line) as R;
        if (typeof row.key !== 'string' || (row.status !== 'ok' && row.status !== 'error')) throw new Error('not a result row');
        rows.set(row.key, row);
      } catch {
        bad++;
      }
    }
    validBytes = start;
  }
  return { rows, validBytes, size: buf.length, bad };
}

/** The settings file `file` of `dir`; undefined when there is none. */
export async function readConfig<C = object>(dir: string, file: string): Promise<C | undefined> {
  try {
    return JSON.parse(await fs.promises.readFile(path.join(dir, file), 'utf8')) as C;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OutputError(`${path.join(dir, file)} is not readable: ${(e as Error).message}`);
  }
}

/** The append side of results.jsonl (or the kind's rows file), with a lock file against two runs writing one folder. */
export class ResultStore<R extends StoredRow> {
  private constructor(readonly dir: string, private fh: fs.promises.FileHandle, readonly done: Map<string, 'ok' | 'error'>, private readonly lockPath: string, private readonly rowsFile: string) {}

  /**
   * Opens (or creates) an output folder for `config`. A folder written with another config is refused
   * with the differences listed. A torn last line is cut off. `kind`: which files and folders it holds.
   */
  static async open<R extends StoredRow>(dir: string, config: object, kind: StoreKind): Promise<ResultStore<R>> {
    const CONFIG = kind.config;
    const RESULTS = kind.results;
    try {
      await fs.promises.mkdir(dir, { recursive: true });
    } catch (e) {
      throw new OutputError(`cannot create output folder ${dir}: ${(e as Error).message}`);
    }
    const lockPath = await acquireLock(dir);
    try {
      const prev = await readConfig<object>(dir, CONFIG);
      if (prev) assertSameSettings(dir, prev, config, kind.what);
      const { rows, validBytes: valid, size } = await readRows<R>(dir, RESULTS);
      if (rows.size && !prev) throw new OutputError(`${dir} has ${RESULTS} but no ${CONFIG}; use another --out folder`);
      if (!prev) await assertEmptyFolder(dir, kind.what, [LOCK, ...(kind.replaceable ?? [])]);
      // a new folder starts with no rows (a replaceable rows file of an older version holds none we can use)
      const validBytes = prev ? valid : 0;
      await guardedWrite(path.join(dir, CONFIG), () => writeFileAtomic(path.join(dir, CONFIG), json(config)));
      const file = path.join(dir, RESULTS);
      const fh = await guardedWrite(file, () => fs.promises.open(file, 'a+'));
      if (validBytes < size) {
        await guardedWrite(file, async () => {
          await fh.truncate(validBytes);
          await fh.sync();
        });
      }
      const done = new Map<string, 'ok' | 'error'>();
      for (const [k, r] of rows) done.set(k, r.status);
      for (const f of kind.folders) await guardedWrite(path.join(dir, f), () => fs.promises.mkdir(path.join(dir, f), { recursive: true }));
      await removeTemporaries(dir);
      await syncDir(dir);
      return new ResultStore<R>(dir, fh, done, lockPath, RESULTS);
    } catch (e) {
      await fs.promises.unlink(lockPath).catch(() => {});
      throw e;
    }
  }

  /** Appends rows as one write, then fsyncs: a row is in the store once this returns. */
  async append(rows: R[]): Promise<void> {
    if (!rows.length) return;
    const text = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
    await guardedWrite(path.join(this.dir, this.rowsFile), async () => {
      await this.fh.write(text);
      await this.fh.sync();
    });
    for (const r of rows) this.done.set(r.key, r.status);
    const now = new Date();
    await fs.promises.utimes(this.lockPath, now, now).catch(() => {});
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => {});
  }

  async unlock(): Promise<void> {
    await fs.promises.unlink(this.lockPath).catch(() => {});
  }
}

/**
 * A folder that gradcam may fill: it must hold nothing but `allowed` names (and temporaries of our
 * atomic writes), so that an audit or a merge never overwrites files a user made (a report.html, a
 * thumbs/ folder) in a folder that is not one of ours.
 */
export async function assertEmptyFolder(dir: string, what: string, allowed: string[] = []): Promise<void> {
  const names = (await fs.promises.readdir(dir).catch(() => [] as string[])).filter((n) => !allowed.includes(n) && !TEMPORARY.test(n));
  if (names.length) {
    const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? ', …' : '');
    throw new OutputError(`--out ${dir} already holds files (${shown}) and is not a gradcam ${what} folder; choose a new or empty folder`);
  }
}

/**
 * Refuses an output folder whose audit (or merge) was made with other settings than `config` (another
 * model, method, layer, class, normalisation, ...: every field but `total`): its rows and the new ones
 * describe different explanations and must not be mixed or replaced. Used by audit and merge alike.
 */
export function assertSameSettings(dir: string, prev: object, config: object, what = 'audit'): void {
  if (configKey(prev) !== configKey(config)) {
    throw new OutputError(`${dir} holds ${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what} with other settings (${configDiff(prev, config).join('; ')}); use another --out folder, or delete ${dir} to start over`);
  }
}

/**
 * Removes the temporary files of atomic writes that a killed run left behind, anywhere under `dir`
 * (thumbs/, maps/ and the subfolders that mirror the inputs' folders). Called with the folder's lock
 * held, so no other run is writing there. Symbolic links are not followed.
 */
async function removeTemporaries(dir: string): Promise<void> {
  const visit = async (d: string) => {
    const entries = await fs.promises.readdir(d, { withFileTypes: true }).catch(() => [] as fs.Dirent[]);
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await visit(p);
      // another run's lock record lives for a moment while it tries the lock: only a dead run's is removed
      else if (TEMPORARY.test(e.name) && !(e.name.startsWith(`${LOCK}.tmp-`) && pidAlive(Number(e.name.split('-').at(-2))))) await fs.promises.unlink(p).catch(() => {});
    }
  };
  await visit(dir);
}

const json = (v: unknown) => new TextEncoder().encode(`${JSON.stringify(v, null, 2)}\n`);
