/**
 * All-or-nothing output for `gradcam explain`: every file is written to a hidden temporary file beside
 * its final name as soon as it is made (so that memory does not grow with the number of inputs), and
 * the temporaries are renamed into place only when the whole run has succeeded. A run that fails, or is
 * interrupted with Ctrl-C, removes its temporaries (and the output folder, when it made it and it is
 * empty): no partial output, and every file that was there before is as it was. An output that would
 * replace one of the run's own inputs is refused before anything is replaced.
 */
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { InputError } from '../explainer.js';
import { pidAlive, realish } from '../node-audit.js';

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
  private readonly onSignal = (sig: NodeJS.Signals) => {
    this.abortSync();
    process.stderr.write(`\ngradcam: ${sig}: stopped; nothing was written\n`);
    process.exit(130);
  };

  /** `inputs`: the run's input files, which no output may replace. */
  constructor(readonly dir: string, inputs: readonly string[] = []) {
    for (const f of inputs) this.inputs.set(realish(f), f);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  private async makeDir(): Promise<void> {
    let existed = true;
    try {
      const st = await fs.promises.stat(this.dir);
      if (!st.isDirectory()) throw new InputError(`the output folder ${this.dir} is a file; choose another --out folder`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        if (e instanceof InputError) throw e;
        throw new InputError(`cannot use output folder ${this.dir}: ${(e as Error).message}`);
      }
      existed = false;
    }
    if (!existed) {
      try {
        await fs.promises.mkdir(this.dir, { recursive: true });
      } catch (e) {
        throw new InputError(`cannot create output folder ${this.dir}: ${(e as Error).message}`);
      }
      this.madeDir = true;
    }
  }

  /** Stages `bytes` as `file` (a path inside the output folder). */
  async add(file: string, bytes: Uint8Array | Promise<Uint8Array>): Promise<void> {
    const key = realish(file);
    const input = this.inputs.get(key);
    if (input !== undefined) throw new InputError(`the output ${file} would replace the input ${input}; choose another --out folder`);
    if (this.finals.has(key)) throw new InputError(`two outputs of this run are both named ${file}`);
    this.ready ??= this.makeDir();
    await this.ready;
    const st = await fs.promises.lstat(file).catch(() => undefined);
    if (st && !st.isFile()) throw new InputError(`cannot write ${file}: something that is not a file is there; move it away or choose another --out folder`);
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${counter++}`);
    this.staged.push({ tmp, final: file });
    this.finals.add(key);
    this.throwFailure();
    // the temporary is created here, synchronously, so that a Ctrl-C from now on finds it and removes it
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'wx');
    } catch (e) {
      throw new InputError(`cannot write ${file}: ${(e as Error).message}`);
    }
    const write = (async () => {
      try {
        const data = await bytes;
        let off = 0;
        while (off < data.length) off += (await writeAsync(fd, data, off, data.length - off)).bytesWritten;
        await fsyncAsync(fd);
      } catch (e) {
        this.failure ??= new InputError(`cannot write ${file}: ${(e as Error).message}`);
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

  private detach(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
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
