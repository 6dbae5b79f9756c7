/**
 * The one safe-write API of gradcam's Node side. Every file gradcam writes goes through it:
 *   writeAtomic(file, bytes | chunks)   one file, atomically: a temporary `FILE.tmp-PID-HEX` beside it,
 *                                        written (chunks streamed, never all held at once), fsync'ed, renamed
 *   writeFileAtomic / writeChunksAtomic / linkOrCopy   its forms for bytes, text chunks, a link
 *                                        (image/node.ts writePng: a PNG; runtime/node.ts: the compile cache)
 *   writeAllOrNothing(dir, inputs, fn)  a group: every file staged as it is made, all moved into place
 *                                        only when `fn` succeeds (StagedOutputs); else none, and the folder
 *                                        is as it was (Ctrl-C included)
 *   writeFiles(dir, files, inputs)      writeAllOrNothing for files in hand
 *   guardedWrite(file, fn)              a dataset folder's write: a failure becomes one line naming the
 *                                        file, the reason and the way on (resume)
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { onInterrupt } from './interrupt-node.js';
import { testHooks } from './test-hooks.js';

/**
 * An output folder or file that cannot be used or written (a folder that is a file, an output replacing an
 * input, a store with other settings, a full disk): the user's problem, one line, never a bug; named
 * InputError, as the CLI reports inputs (this layer is below the Explainer's InputError).
 */
export class OutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

const WRITE_REASONS: Record<string, string> = {
  ENOSPC: 'no space left on device', EDQUOT: 'disk quota exceeded', EFBIG: 'file too large', EROFS: 'read-only file system',
  EACCES: 'permission denied', EPERM: 'operation not permitted', EIO: 'input/output error',
};

let faultCount = 0;

/** A test's write fault (src/util/test-hooks.ts writeFault): a full disk for files whose name contains its name. */
function injectedFault(file: string): void {
  const fault = testHooks().writeFault;
  if (!fault) return;
  const { code, name, skip } = fault;
  if (!code || !name || !path.basename(file).includes(name)) return;
  if (faultCount++ < (skip ?? 0)) return;
  const e = new Error(`${code}: injected for a test, write`) as NodeJS.ErrnoException;
  e.code = code;
  throw e;
}

/**
 * Runs one write of the audit (or merge) folder; a failure becomes one line naming the file, the
 * reason and the way on: a full disk is `cannot write DIR/results.jsonl: no space left on device
 * (ENOSPC); free some space, then run the same command again: it resumes where this one stopped`.
 * Rows are appended only after their files are written, so the rows written so far stay valid.
 */
export async function guardedWrite<T>(file: string, fn: () => Promise<T>): Promise<T> {
  try {
    injectedFault(file);
    return await fn();
  } catch (e) {
    if (e instanceof OutputError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code && WRITE_REASONS[code] ? `${WRITE_REASONS[code]} (${code})` : oneLineMessage(e);
    const free = code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG' ? 'free some space, then ' : '';
    throw new OutputError(`cannot write ${file}: ${reason}; ${free}run the same command again: it resumes where this one stopped (finished images are kept)`);
  }
}

const oneLineMessage = (e: unknown) => String((e as Error)?.message ?? e).split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(' | ');

/** A temporary file of an atomic write (writeAtomic, linkOrCopy, the lock's record): `NAME.tmp-PID-HEX`. */
export const TEMPORARY = /\.tmp-\d+-[0-9a-f]+$/;

const temporary = (file: string) => `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;

/**
 * Writes `data` to `file` atomically: to a temporary file beside it first, fsync'ed, then renamed over
 * `file`, so that readers never see a partial file; on failure the temporary is removed. Chunks are
 * written as they come (a large report is never held whole).
 */
export async function writeAtomic(file: string, data: Uint8Array | Iterable<string | Uint8Array>): Promise<void> {
  const tmp = temporary(file);
  const fh = await fs.promises.open(tmp, 'w');
  try {
    if (data instanceof Uint8Array) await fh.writeFile(data);
    else for (const c of data) if (c.length) await (typeof c === 'string' ? fh.write(c) : fh.write(c));
    await fh.sync();
    await fh.close();
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fh.close().catch(() => {});
    await fs.promises.unlink(tmp).catch(() => {});
    throw e;
  }
}

/** writeAtomic of bytes. */
export const writeFileAtomic = (file: string, bytes: Uint8Array): Promise<void> => writeAtomic(file, bytes);

/** writeAtomic of text chunks, without holding them all at once. */
export const writeChunksAtomic = (file: string, chunks: Iterable<string>): Promise<void> => writeAtomic(file, chunks);

/** `dst` as a hard link to `src` (a copy where links fail), put in place atomically; a missing `src` writes nothing. */
export async function linkOrCopy(src: string, dst: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(dst), { recursive: true });
  const tmp = temporary(dst);
  try {
    await fs.promises.link(src, tmp);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // a file the row names is gone: the report shows a gap
    await writeAtomic(dst, await fs.promises.readFile(src));
    return;
  }
  await fs.promises.rename(tmp, dst);
}

/** fsyncs a folder (its entries: the renames into it), where the file system allows. */
export async function syncDir(dir: string): Promise<void> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(dir, 'r');
    await fh.sync();
  } catch {
    /* not every file system lets a folder be fsync'ed */
  } finally {
    await fh?.close().catch(() => {});
  }
}

/** Whether a process with this id runs on this computer. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The absolute path with its folder's symbolic links resolved (the file itself may not exist yet). */
export function realish(file: string): string {
  const abs = path.resolve(file);
  try {
    return fs.realpathSync(abs);
  } catch {
    try {
      return path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
    } catch {
      return abs;
    }
  }
}

// ------------------------------------------------------------------------------------------ groups

/**
 * Writes files into `dir`, all or nothing (see writeAllOrNothing); returns their paths. `inputs`: the
 * run's input files, which no output may replace.
 */
export async function writeFiles(dir: string, files: { name: string; bytes: Uint8Array | string }[], inputs: readonly string[] = []): Promise<string[]> {
  return writeAllOrNothing(dir, inputs, async (add) => {
    const written: string[] = [];
    for (const f of files) {
      await add(f.name, typeof f.bytes === 'string' ? new TextEncoder().encode(f.bytes) : f.bytes);
      written.push(path.join(dir, f.name));
    }
    return written;
  });
}

/**
 * A run over files: `fn` adds each output (a path relative to `dir`) as soon as it is made; every one
 * is staged (StagedOutputs) and moved into place only when `fn` has made them all. A failure or Ctrl-C
 * leaves `dir` as it was.
 */
export async function writeAllOrNothing<T>(dir: string, inputs: readonly string[], fn: (add: (name: string, bytes: Uint8Array | Promise<Uint8Array>) => Promise<void>) => Promise<T>): Promise<T> {
  const staged = new StagedOutputs(dir, inputs);
  try {
    const r = await fn((name, bytes) => staged.add(path.join(dir, name), bytes));
    await staged.commit();
    return r;
  } catch (e) {
    await staged.abort();
    throw e;
  }
}

/**
 * All-or-nothing output: every file is written to a hidden temporary file beside its final name as soon
 * as it is made (so that memory does not grow with the number of inputs), and the temporaries are
 * renamed into place only when the whole run has succeeded. A run that fails, or is interrupted with
 * Ctrl-C, removes its temporaries (and the output folder, when it made it and it is empty): no partial
 * output, and every file that was there before is as it was. An output that would replace one of the
 * run's own inputs is refused before anything is replaced.
 */
const writeAsync = promisify((fd: number, b: Uint8Array, off: number, len: number, cb: (e: NodeJS.ErrnoException | null, r: { bytesWritten: number }) => void) => fs.write(fd, b, off, len, null, (e, n) => cb(e, { bytesWritten: n })));
const fsyncAsync = promisify(fs.fsync);
const closeAsync = promisify(fs.close);

let counter = 0;
/** Files written at once (their bytes are held until written). */
const MAX_PENDING = 8;

export class StagedOutputs {
  private readonly staged: { tmp: string; final: string }[] = [];
  /** Writes in flight: add() returns once a file's checks pass and its write has started (at most MAX_PENDING at a time), so that writing and fsync overlap the next image's work; commit() waits for them and reports the first failure. */
  private readonly pending = new Set<Promise<void>>();
  private failure: unknown;
  private readonly finals = new Set<string>();
  private readonly inputs = new Map<string, string>();
  private madeDir = false;
  private ready: Promise<void> | undefined;
  private readonly detach: () => void;

  /** `inputs`: the run's input files, which no output may replace. */
  constructor(readonly dir: string, inputs: readonly string[] = []) {
    for (const f of inputs) this.inputs.set(realish(f), f);
    this.detach = onInterrupt((sig) => {
      this.abortSync();
      process.stderr.write(`\ngradcam: ${sig}: stopped; nothing was written\n`);
      process.exit(130);
    });
  }

  private async makeDir(): Promise<void> {
    let existed = true;
    try {
      const st = await fs.promises.stat(this.dir);
      if (!st.isDirectory()) throw new OutputError(`the output folder ${this.dir} is a file; choose another --out folder`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        if (e instanceof OutputError) throw e;
        throw new OutputError(`cannot use output folder ${this.dir}: ${(e as Error).message}`);
      }
      existed = false;
    }
    if (!existed) {
      try {
        await fs.promises.mkdir(this.dir, { recursive: true });
      } catch (e) {
        throw new OutputError(`cannot create output folder ${this.dir}: ${(e as Error).message}`);
      }
      this.madeDir = true;
    }
  }

  /** Stages `bytes` as `file` (a path inside the output folder). */
  async add(file: string, bytes: Uint8Array | Promise<Uint8Array>): Promise<void> {
    const key = realish(file);
    const input = this.inputs.get(key);
    if (input !== undefined) throw new OutputError(`the output ${file} would replace the input ${input}; choose another --out folder`);
    if (this.finals.has(key)) throw new OutputError(`two outputs of this run are both named ${file}`);
    this.ready ??= this.makeDir();
    await this.ready;
    // on this thread, as the checks above and the open below: a thread-pool round trip cost more than the call
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(file, { throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    if (st && !st.isFile()) throw new OutputError(`cannot write ${file}: something that is not a file is there; move it away or choose another --out folder`);
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${counter++}`);
    this.staged.push({ tmp, final: file });
    this.finals.add(key);
    this.throwFailure();
    // the temporary is created here, synchronously, so that a Ctrl-C from now on finds it and removes it
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'wx');
    } catch (e) {
      throw new OutputError(`cannot write ${file}: ${(e as Error).message}`);
    }
    const write = (async () => {
      try {
        const data = await bytes;
        let off = 0;
        while (off < data.length) off += (await writeAsync(fd, data, off, data.length - off)).bytesWritten;
        await fsyncAsync(fd);
      } catch (e) {
        this.failure ??= new OutputError(`cannot write ${file}: ${(e as Error).message}`);
      } finally {
        await closeAsync(fd).catch(() => {});
      }
    })();
    this.pending.add(write);
    void write.then(() => this.pending.delete(write));
    while (this.pending.size >= MAX_PENDING) await Promise.race(this.pending);
    this.throwFailure();
  }

  private throwFailure(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits for the writes in flight; throws the first write failure. */
  private async settle(): Promise<void> {
    await Promise.all(this.pending);
    this.throwFailure();
  }

  /** Moves every staged file into place. */
  async commit(): Promise<void> {
    try {
      await this.settle();
      for (const s of this.staged) await fs.promises.rename(s.tmp, s.final);
      await removeDeadTemporaries(this.staged.map((s) => s.final));
      this.staged.length = 0;
    } finally {
      this.detach();
    }
  }

  /** Removes the staged files (and the output folder when this run made it and it is empty). */
  async abort(): Promise<void> {
    await Promise.all(this.pending);
    this.abortSync();
    this.detach();
  }

  private abortSync(): void {
    for (const s of this.staged) {
      try {
        fs.unlinkSync(s.tmp);
      } catch {
        /* not written yet */
      }
    }
    this.staged.length = 0;
    if (this.madeDir) {
      try {
        fs.rmdirSync(this.dir);
      } catch {
        /* not empty: something else is there now */
      }
    }
  }

}

/**
 * Removes the hidden temporaries `.NAME.tmp-PID-N` that a killed run (SIGKILL: no handler ran) left
 * beside the files just written: only for these names, and only of processes that no longer run here
 * (a run writing the same folder at this moment keeps its own).
 */
async function removeDeadTemporaries(finals: string[]): Promise<void> {
  const byDir = new Map<string, Set<string>>();
  for (const f of finals) {
    const d = path.dirname(f);
    if (!byDir.has(d)) byDir.set(d, new Set());
    byDir.get(d)!.add(path.basename(f));
  }
  for (const [dir, names] of byDir) {
    const entries = await fs.promises.readdir(dir).catch(() => [] as string[]);
    for (const e of entries) {
      const m = /^\.(.+)\.tmp-(\d+)-\d+$/.exec(e);
      if (!m || !names.has(m[1]!)) continue;
      const pid = Number(m[2]);
      if (pid === process.pid || pidAlive(pid)) continue;
      await fs.promises.unlink(path.join(dir, e)).catch(() => {});
    }
  }
}
