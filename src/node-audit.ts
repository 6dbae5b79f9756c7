/**
 * Dataset audits, the Node side: input listing (directories, globs, manifests), the resumable results
 * store, the batched runner, report files and shard merging.
 *
 * Output folder:
 *   audit.json     what the run was asked to do (model hash, method, layer, class, ...); a restart must agree
 *   results.jsonl  one JSON row per finished item: appended (and fsync'ed) batch by batch while running,
 *                  rewritten (atomically, de-duplicated, in input order) when a run ends
 *   thumbs/        <stem>.png (the image) and <stem>.cam.png (the overlay), written atomically before
 *                  the item's row, so that every row's files exist
 *   maps/          <stem>.npy, the map [H, W] float32 at input resolution (with --maps)
 *   results.csv, classes.csv, summary.json, report.html: rewritten at the end of every run and by merge
 *
 * A restart reads results.jsonl, drops a torn last line (a kill during an append), and skips every item
 * with a row; items whose row is an error are retried only with `retryErrors`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Explainer, Explanation, ClassChoice } from './explainer.js';
import { InputError } from './explainer.js';
import { loadExplainer, nodeModelFiles, prepareInputs, stackByShape, tensorPicture, batchForInputs, inputPixels, DEFAULT_PICTURE_SIDE, type PreparedInput } from './node.js';
import { fileInside, readImageFile, readRegularFile, writeFileAtomic, type FileReadError } from './image/node.js';
import { fileSha256 } from './runtime/node.js';
import { resizeBilinear } from './image/resize.js';
import { boxInView, maskInView } from './image/view.js';
import { heatmapImage } from './image/overlay.js';
import { encodePng } from './image/png.js';
import { writeNpy } from './image/npy.js';
import { type NormalizeOptions } from './image/normalize.js';
import type { RgbImage } from './image/types.js';
import { camMethod } from './cam/index.js';
import { hasGlobMagic, splitGlob, globToRegExp } from './audit/glob.js';
import { printable } from './util/text.js';
import { isManifestName, parseManifest, decodeRle } from './audit/manifest.js';
import { boxesRegion, maskRegion, mapMetrics, scaleRegion, round6, isFlagged, flagRuleText, type Region } from './audit/metrics.js';
import { thumbnails, type FileBytes } from './render/index.js';
import { itemStem, shardOf, type Shard } from './audit/shard.js';
import { byIndex, classesCsv, reportOrder, rowCsv, ROW_COLUMNS, csvLine, summarize } from './audit/summary.js';
import { reportHtml } from './audit/report.js';
import { configDiff, configKey, mergeKey, type AuditConfig, type AuditItem, type AuditRow, type ClassRef, type ScoredClass } from './audit/types.js';
import { testHooks } from './util/test-hooks.js';

export * from './audit/index.js';

/** Extensions picked up when walking a directory. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.npy'];

const posix = (p: string) => p.split(path.sep).join('/');

// ------------------------------------------------------------------------------------------ listing

export interface ListOptions {
  /** Folders never to enter (the output folder). */
  exclude?: string[];
}

/**
 * The items named by `args`: image files, directories (walked recursively, sorted, hidden entries
 * skipped), quoted glob patterns, and manifests (.csv, .jsonl, .ndjson, .json). A missing file, a glob
 * matching nothing or a bad manifest stops the listing with an InputError; files that a manifest names
 * but that are missing become error rows when they run.
 */
export async function listInputs(args: string[], opts: ListOptions = {}): Promise<AuditItem[]> {
  // compared by real path: an --out inside the input folder named through a symbolic link (or the
  // input named through one) is still left out
  const exclude = new Set((opts.exclude ?? []).map((p) => realish(p)));
  const items: AuditItem[] = [];
  const seen = new Map<string, number>();
  const add = (it: Omit<AuditItem, 'key'> & { key: string }) => {
    const n = (seen.get(it.key) ?? 0) + 1;
    seen.set(it.key, n);
    items.push({ ...it, key: n === 1 ? it.key : `${it.key}#${n}` });
  };
  for (const arg of args) {
    let st: fs.Stats | undefined;
    try {
      st = await fs.promises.stat(arg);
    } catch {
      st = undefined;
    }
    if (st?.isDirectory()) {
      const files = await walk(arg, exclude, null);
      for (const f of files) add({ key: posix(path.relative(arg, f)), file: f });
      continue;
    }
    if (st?.isFile()) {
      if (isManifestName(arg)) {
        for (const it of await readManifest(arg)) add(it);
      } else {
        add({ key: path.basename(arg), file: arg });
      }
      continue;
    }
    if (!st && hasGlobMagic(arg)) {
      const { base, rest } = splitGlob(posix(arg));
      const re = globToRegExp(rest);
      const baseDir = base === '' ? '.' : base;
      const deep = rest.includes('**');
      const depth = rest.split('/').length;
      const dotted = /(^|\/)\./.test(rest);
      const files = await walk(baseDir, exclude, (rel) => re.test(rel), deep ? Infinity : depth, dotted);
      if (files.length === 0) throw new InputError(`no files match '${arg}'`);
      for (const f of files) add({ key: posix(path.relative(baseDir, f)), file: f });
      continue;
    }
    if (st) throw new InputError(`${arg} is neither a file nor a folder`);
    throw new InputError(`input not found: ${arg}`);
  }
  return items;
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

/** Files under `root`, sorted; `match` null: image files only (by extension); else the relative paths it accepts. */
async function walk(root: string, exclude: Set<string>, match: ((rel: string) => boolean) | null, maxDepth = Infinity, dotted = false): Promise<string[]> {
  const out: string[] = [];
  const visited = new Set<string>();
  const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const visit = async (dir: string, depth: number) => {
    const real = await fs.promises.realpath(dir).catch(() => undefined);
    if (!real || visited.has(real) || exclude.has(real)) return;
    visited.add(real);
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (e) {
      throw new InputError(`cannot read folder ${dir}: ${(e as Error).message}`);
    }
    entries.sort((a, b) => byCodePoint(a.name, b.name));
    for (const e of entries) {
      if (e.name.startsWith('.') && !dotted) continue;
      const p = path.join(dir, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const st = await fs.promises.stat(p).catch(() => undefined);
        isDir = !!st?.isDirectory();
        isFile = !!st?.isFile();
      }
      if (isDir) {
        if (depth + 1 < maxDepth) await visit(p, depth + 1);
      } else if (isFile) {
        // in a walked folder, <name>_mask.<ext> files are masks beside their images, not images to explain
        const ok = match ? match(posix(path.relative(root, p))) : IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase()) && !/_mask\.[a-z]+$/i.test(e.name);
        if (ok) out.push(p);
      }
    }
  };
  await visit(root, 0);
  return out;
}

/** Reads a manifest; paths inside it are relative to its folder. */
export async function readManifest(file: string): Promise<AuditItem[]> {
  let text: string;
  try {
    text = (await readRegularFile(file)).toString('utf8');
  } catch (e) {
    throw new InputError(`cannot read manifest ${file}: ${(e as Error).message}`);
  }
  const dir = path.dirname(file);
  // a relative path is read from the manifest's folder through fileInside: a manifest made elsewhere
  // cannot reach out of its folder with '..' or a symbolic link; an absolute path is the writer's explicit choice
  const at = (p: string) => {
    if (path.isAbsolute(p)) return p;
    try {
      fileInside(dir, p);
    } catch (e) {
      if ((e as FileReadError).code === 'EOUTSIDE') throw new InputError(`manifest ${file}: ${printable((e as Error).message)}; a manifest's relative paths must stay inside its folder (absolute paths are taken as written)`);
    }
    return path.join(dir, p);
  };
  return parseManifest(text, file).map((e) => {
    const norm = path.posix.normalize(e.path.replace(/\\/g, '/'));
    const it: AuditItem = { key: norm.replace(/^(\.\/)+/, ''), file: at(e.path) };
    if (e.label !== undefined) it.label = e.label;
    if (e.boxes) it.boxes = e.boxes;
    if (e.mask) it.mask = at(e.mask);
    if (e.maskRle) it.maskRle = e.maskRle;
    return it;
  });
}

/** The items of shard i of N (see shardOf); `index` keeps each item's position in the full list. */
export function shardItems(items: AuditItem[], shard?: Shard): { item: AuditItem; index: number }[] {
  const all = items.map((item, index) => ({ item, index }));
  return shard ? all.filter((x) => shardOf(x.item.key, shard.count) === shard.index) : all;
}

// ------------------------------------------------------------------------------------------ store

export class AuditStoreError extends Error {
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
async function guardedWrite<T>(file: string, fn: () => Promise<T>): Promise<T> {
  try {
    injectedFault(file);
    return await fn();
  } catch (e) {
    if (e instanceof AuditStoreError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code && WRITE_REASONS[code] ? `${WRITE_REASONS[code]} (${code})` : oneLineMessage(e);
    const free = code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG' ? 'free some space, then ' : '';
    throw new AuditStoreError(`cannot write ${file}: ${reason}; ${free}run the same command again: it resumes where this one stopped (finished images are kept)`);
  }
}

const oneLineMessage = (e: unknown) => String((e as Error)?.message ?? e).split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(' | ');

const RESULTS = 'results.jsonl';
const CONFIG = 'audit.json';
const LOCK = '.lock';

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

/** The audit's folder (with maps/ when `maps`). */
export function auditStoreKind(maps = false): StoreKind {
  return { config: CONFIG, results: RESULTS, what: 'audit', folders: maps ? ['thumbs', 'maps'] : ['thumbs'] };
}

/** Reads results.jsonl (or `file`): the rows (the last row per key wins), and the byte length of its complete lines. */
export async function readRows<R extends StoredRow = AuditRow>(dir: string, file_ = RESULTS): Promise<{ rows: Map<string, R>; validBytes: number; size: number; bad: number }> {
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

export async function readConfig<C = AuditConfig>(dir: string, file = CONFIG): Promise<C | undefined> {
  try {
    return JSON.parse(await fs.promises.readFile(path.join(dir, file), 'utf8')) as C;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AuditStoreError(`${path.join(dir, file)} is not readable: ${(e as Error).message}`);
  }
}

/** The append side of results.jsonl (or the kind's rows file), with a lock file against two runs writing one folder. */
export class ResultStore<R extends StoredRow = AuditRow> {
  private constructor(readonly dir: string, private fh: fs.promises.FileHandle, readonly done: Map<string, 'ok' | 'error'>, private readonly lockPath: string) {}

  /**
   * Opens (or creates) an output folder for `config`. A folder written with another config is refused
   * with the differences listed. A torn last line is cut off. `kind`: the audit's folder by default.
   */
  static async open<R extends StoredRow = AuditRow>(dir: string, config: object, kind: StoreKind = auditStoreKind((config as Partial<AuditConfig>).maps)): Promise<ResultStore<R>> {
    const CONFIG = kind.config;
    const RESULTS = kind.results;
    try {
      await fs.promises.mkdir(dir, { recursive: true });
    } catch (e) {
      throw new AuditStoreError(`cannot create output folder ${dir}: ${(e as Error).message}`);
    }
    const lockPath = await acquireLock(dir);
    try {
      const prev = await readConfig<object>(dir, CONFIG);
      if (prev) assertSameSettings(dir, prev, config, kind.what);
      const { rows, validBytes: valid, size } = await readRows<R>(dir, RESULTS);
      if (rows.size && !prev) throw new AuditStoreError(`${dir} has ${RESULTS} but no ${CONFIG}; use another --out folder`);
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
      return new ResultStore<R>(dir, fh, done, lockPath);
    } catch (e) {
      await fs.promises.unlink(lockPath).catch(() => {});
      throw e;
    }
  }

  /** Appends rows as one write, then fsyncs: a row is in the store once this returns. */
  async append(rows: R[]): Promise<void> {
    if (!rows.length) return;
    const text = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
    await guardedWrite(path.join(this.dir, RESULTS), async () => {
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
async function assertEmptyFolder(dir: string, what: string, allowed: string[] = []): Promise<void> {
  const names = (await fs.promises.readdir(dir).catch(() => [] as string[])).filter((n) => !allowed.includes(n) && !TEMPORARY.test(n));
  if (names.length) {
    const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? ', …' : '');
    throw new AuditStoreError(`--out ${dir} already holds files (${shown}) and is not a gradcam ${what} folder; choose a new or empty folder`);
  }
}

/**
 * Refuses an output folder whose audit (or merge) was made with other settings than `config` (another
 * model, method, layer, class, normalisation, ...: every field but `total`): its rows and the new ones
 * describe different explanations and must not be mixed or replaced. Used by audit and merge alike.
 */
function assertSameSettings(dir: string, prev: object, config: object, what = 'audit'): void {
  if (configKey(prev) !== configKey(config)) {
    throw new AuditStoreError(`${dir} holds ${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what} with other settings (${configDiff(prev, config).join('; ')}); use another --out folder, or delete ${dir} to start over`);
  }
}

const STALE_LOCK_MS = 10 * 60 * 1000;

/**
 * Takes the folder's lock, `.lock` (JSON: pid, host, start time), with atomic primitives only: the
 * record is written to a uniquely named file and hard-linked to `.lock` (link fails if `.lock` exists),
 * so a lock file is never seen half-written and two runs can never both create it. A dead run's lock
 * (its pid gone on this host, or untouched for 10 minutes on another host) is taken over under a second,
 * short-lived lock (breakStaleLock): the lock file is removed only by that lock's holder and only while it
 * is still the file judged dead (same inode), so however many runs find it dead, one takes it and the
 * others are refused; a live run's lock is never removed.
 */
export async function acquireLock(dir: string): Promise<string> {
  const lockPath = path.join(dir, LOCK);
  const me = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
  const unique = () => path.join(dir, `${LOCK}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  const mine = unique();
  try {
    await fs.promises.writeFile(mine, JSON.stringify(me), { flag: 'wx' });
  } catch (e) {
    throw new AuditStoreError(`cannot create ${lockPath}: ${(e as Error).message}`);
  }
  try {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        await fs.promises.link(mine, lockPath);
        return lockPath;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new AuditStoreError(`cannot create ${lockPath}: ${(e as Error).message}`);
      }
      let other: { pid?: number; host?: string } = {};
      let st: fs.Stats | undefined;
      try {
        st = await fs.promises.stat(lockPath);
        other = JSON.parse(await fs.promises.readFile(lockPath, 'utf8'));
      } catch {
        /* gone meanwhile (try again), or unreadable: an older version's lock torn by a kill; stale */
      }
      if (!st) continue;
      const stale = !other.pid || (other.host === me.host ? other.pid === process.pid || !pidAlive(other.pid) : Date.now() - st.mtimeMs > STALE_LOCK_MS);
      if (!stale) throw new AuditStoreError(`another gradcam run (pid ${other.pid} on ${other.host}) is writing to ${dir}; if none is, delete ${lockPath}`);
      await testPause(testHooks().lockPauseMs);
      if (await breakStaleLock(lockPath, st, mine, unique)) return lockPath;
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 40));
    }
    const other = await fs.promises.readFile(lockPath, 'utf8').then((t) => JSON.parse(t) as { pid?: number; host?: string }, () => ({} as { pid?: number; host?: string }));
    throw new AuditStoreError(`another gradcam run (pid ${other.pid ?? '?'} on ${other.host ?? '?'}) is writing to ${dir}; if none is, delete ${lockPath}`);
  } finally {
    await fs.promises.unlink(mine).catch(() => {});
  }
}

/**
 * Replaces a dead run's lock (`stale`: the file judged dead) by this run's (`mine`), holding a second,
 * short-lived lock (`.lock.break`) while it does: only its holder may remove the lock file, and only while
 * that is still the dead run's file, so a live run's lock is never removed, whichever runs race. A breaker
 * left by a run killed in those few milliseconds is removed once its process is gone. True: the lock is
 * this run's; false: try again (another run is breaking it, or took it).
 */
async function breakStaleLock(lockPath: string, stale: fs.Stats, mine: string, unique: () => string): Promise<boolean> {
  const breaker = `${lockPath}.break`;
  try {
    await fs.promises.link(mine, breaker);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new AuditStoreError(`cannot create ${breaker}: ${(e as Error).message}`);
    const b = await fs.promises.stat(breaker).catch(() => undefined);
    const owner = await fs.promises.readFile(breaker, 'utf8').then((t) => JSON.parse(t) as { pid?: number; host?: string }, () => ({} as { pid?: number; host?: string }));
    const dead = b && (owner.host === os.hostname() ? !owner.pid || !pidAlive(owner.pid) : Date.now() - b.mtimeMs > STALE_LOCK_MS);
    if (b && dead) {
      // a breaker whose run died: move it aside, and remove it only if it is still that file
      const moved = unique();
      if (await fs.promises.rename(breaker, moved).then(() => true, () => false)) {
        const got = await fs.promises.stat(moved).catch(() => undefined);
        if (got && (got.ino !== b.ino || got.dev !== b.dev)) await fs.promises.link(moved, breaker).catch(() => {});
        await fs.promises.unlink(moved).catch(() => {});
      }
    }
    return false;
  }
  try {
    const now = await fs.promises.stat(lockPath).catch(() => undefined);
    if (now && now.ino === stale.ino && now.dev === stale.dev) await fs.promises.unlink(lockPath).catch(() => {});
    return await fs.promises.link(mine, lockPath).then(() => true, () => false);
  } finally {
    await fs.promises.unlink(breaker).catch(() => {});
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

/** A test's pause (src/util/test-hooks.ts): a window made wide enough for a race to happen. */
async function testPause(ms = 0): Promise<void> {
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}

/** A temporary file of an atomic write (writeFileAtomic, writeChunksAtomic, linkOrCopy, the lock's record): `NAME.tmp-PID-N`. */
const TEMPORARY = /\.tmp-\d+-[0-9a-f]+$/;

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

async function syncDir(dir: string): Promise<void> {
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

const json = (v: unknown) => new TextEncoder().encode(`${JSON.stringify(v, null, 2)}\n`);

/** Writes chunks to `file` atomically (temporary file, fsync, rename), without holding them all at once. */
export async function writeChunksAtomic(file: string, chunks: Iterable<string>): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    for (const c of chunks) if (c) await fh.write(c);
    await fh.sync();
    await fh.close();
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fh.close().catch(() => {});
    await fs.promises.unlink(tmp).catch(() => {});
    throw e;
  }
}

// ------------------------------------------------------------------------------------------ runner

export interface AuditOptions {
  model: string;
  out: string;
  method?: string;
  layer?: string;
  /** 'top' (default), 'true' (the manifest's label; the predicted class where there is none), an index or a label. */
  classChoice?: string;
  output?: string;
  normalize?: NormalizeOptions;
  size?: [number, number];
  /** torchvision's Resize(resize) + CenterCrop(crop) instead of the plain resize (see PrepareOptions). */
  resize?: number;
  crop?: [number, number];
  labelsFile?: string;
  /** A hub folder's ONNX variant (LoadModelOptions.variant). */
  variant?: string;
  /**
   * Defaults from what an imported model's files state (the CLI's importedDefaults), applied once the
   * model is read: normalisation, size, resize and crop.
   */
  importedDefaults?: (explainer: Explainer) => Pick<AuditOptions, 'normalize' | 'size' | 'resize' | 'crop'>;
  thumb?: number;
  colormap?: string;
  alpha?: number;
  /** Flag images whose lift (energy on the object / object area) is below this (default 1; null: off). */
  flagLift?: number | null;
  /** Flag images with less than this fraction of map energy on the object (default null: off). */
  flagBelow?: number | null;
  /** Also write each map as maps/<stem>.npy. */
  maps?: boolean;
  /** Refuse images with more pixels than this (default DEFAULT_MAX_PIXELS, sharp's limit); 0: none. */
  maxPixels?: number;
  /** Refuse model inputs above this many pixels (default DEFAULT_MAX_INPUT_PIXELS); 0: none. Also bounds a batch's pixels. */
  maxInputPixels?: number;
  batchSize?: number;
  /** onnxruntime intra-op threads (default: its own choice). */
  threads?: number;
  shard?: Shard;
  retryErrors?: boolean;
  /** Stop after the current batch when aborted (Ctrl-C). */
  signal?: AbortSignal;
  /**
   * Also rewrite results.jsonl and write the reports (as writeReports) before the folder's lock is
   * released, so that no other run can append rows between the last append and the rewrite; an
   * interrupted run's report says it is unfinished. Default false (call writeReports later).
   */
  report?: boolean;
  /** Testing aid: awaited inside the lock, after the rows are read for the final rewrite and before it. */
  beforeRewrite?: () => Promise<void> | void;
  onProgress?: (p: AuditProgressInfo) => void;
  /** Progress of Score-CAM / Ablation-CAM's passes within a batch (see FamilyOptions.onProgress). */
  onPasses?: (done: number, total: number, stage: string) => void;
}

export interface AuditProgressInfo {
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

export interface AuditRunResult extends AuditProgressInfo {
  interrupted: boolean;
  config: AuditConfig;
  /** The reports written (with `report`). */
  report?: ReportResult;
}

interface Prepared {
  entry: { item: AuditItem; index: number };
  input?: PreparedInput;
  /** The picture (long side at most DEFAULT_PICTURE_SIDE): thumbnails, and the map metrics at its size. */
  base?: RgbImage;
  /** The image's own size [w, h] (boxes and masks are in its pixels). */
  size?: [number, number];
  region?: Region;
  truth: ClassRef | null;
  error?: string;
}

/** Runs (or resumes) an audit of `items` into opts.out. Report files are written by writeReports. */
export async function runAudit(items: AuditItem[], options: AuditOptions): Promise<AuditRunResult> {
  const t0 = performance.now();
  let opts = options;
  const method = camMethod(opts.method ?? 'gradcam');
  const explainer = await loadExplainer(opts.model, {
    labelsFile: opts.labelsFile, sessionOptions: opts.threads ? { intraOpThreads: opts.threads } : undefined, size: opts.size, maxInputPixels: opts.maxInputPixels, variant: opts.variant,
  });
  try {
    if (opts.importedDefaults) opts = { ...opts, ...opts.importedDefaults(explainer) };
    const batchSize = datasetBatchSize(explainer, opts);
    const layer = !opts.layer || opts.layer === 'auto' ? await explainer.autoLayer(opts.size ?? (opts.resize !== undefined ? opts.crop : undefined), opts.output) : opts.layer;
    const config = await auditConfig(opts, explainer, method.name, layer, shardItems(items, opts.shard).length);
    const ctx: RunContext = { explainer, opts, layer, method: method.name, config };
    const r = await runDataset<Prepared, AuditRow, ReportResult>(items, {
      out: opts.out, config, kind: auditStoreKind(config.maps), shard: opts.shard, retryErrors: opts.retryErrors, signal: opts.signal, batchSize,
      prepare: (entry) => prepareItem(ctx, entry),
      process: (prepared) => explainBatch(ctx, prepared),
      onProgress: opts.onProgress,
      // still holding the lock: a run started now is refused instead of appending rows that this
      // rewrite of results.jsonl would drop
      finish: opts.report ? (info, interrupted) => writeReportsLocked(opts.out, {
        notes: interrupted ? [`unfinished: ${info.done} of ${info.total} images; run the same command again to resume`] : [],
        beforeRewrite: opts.beforeRewrite,
      }) : undefined,
    });
    r.info.elapsedS = (performance.now() - t0) / 1000;
    return { ...r.info, interrupted: r.interrupted, config, ...(r.finished ? { report: r.finished } : {}) };
  } finally {
    await explainer.release();
  }
}

/** Images per model run for a dataset: --batch-size, bounded by --max-input's pixels per run. */
export function datasetBatchSize(explainer: Explainer, opts: { size?: [number, number]; resize?: number; crop?: [number, number]; batchSize?: number; maxInputPixels?: number }): number {
  let modelPixels = 1;
  try {
    modelPixels = inputPixels(explainer.imageDims(opts.size ?? (opts.resize !== undefined ? opts.crop : undefined)), explainer.layout);
  } catch {
    /* a dynamic size without --size: .npy inputs give it */
  }
  return batchForInputs(opts.batchSize ?? 8, modelPixels, opts.maxInputPixels);
}

/** A file an item's processing writes, relative to the output folder. */
export interface FileOut {
  path: string;
  bytes: FileBytes;
}

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
  /** Reads one item (never throws: a bad item becomes an error row in `process`). */
  prepare: (entry: { item: AuditItem; index: number }) => Promise<P>;
  /** Explains a batch: a row per item, in order, and the files to write. */
  process: (prepared: P[]) => Promise<{ rows: R[]; files: FileOut[] }>;
  onProgress?: (p: AuditProgressInfo) => void;
  finish?: (info: AuditProgressInfo, interrupted: boolean) => Promise<F>;
}

export async function runDataset<P, R extends StoredRow, F = unknown>(items: AuditItem[], o: DatasetRunOptions<P, R, F>): Promise<{ info: AuditProgressInfo; interrupted: boolean; finished?: F }> {
  let store: ResultStore<R> | undefined;
  try {
    const list = shardItems(items, o.shard);
    store = await ResultStore.open<R>(o.out, o.config, o.kind);
    const st = store;
    const pending = list.filter((x) => { const s = st.done.get(x.item.key); return s === undefined || (s === 'error' && o.retryErrors); });
    const info: AuditProgressInfo = { total: list.length, done: list.length - pending.length, processed: 0, skipped: list.length - pending.length, errors: 0, elapsedS: 0 };
    const countErrors = () => list.reduce((n, x) => n + (st.done.get(x.item.key) === 'error' ? 1 : 0), 0);
    info.errors = countErrors();
    const batches: { item: AuditItem; index: number }[][] = [];
    for (let i = 0; i < pending.length; i += o.batchSize) batches.push(pending.slice(i, i + o.batchSize));
    const prepareBatch = (b: { item: AuditItem; index: number }[]) => Promise.all(b.map((entry) => o.prepare(entry)));
    let next = batches.length ? prepareBatch(batches[0]!) : undefined;
    let interrupted = false;
    const tRun = performance.now();
    // a batch's files and then its rows are written while the next batch runs (one batch in flight, in
    // order: a row is stored only after its files, and batches are stored in order)
    let writing: Promise<void> | undefined;
    try {
      for (let b = 0; b < batches.length; b++) {
        if (o.signal?.aborted) { interrupted = true; break; }
        const prepared = await next!;
        next = b + 1 < batches.length ? prepareBatch(batches[b + 1]!) : undefined; // decode ahead while this batch runs
        const results = await o.process(prepared);
        await writing;
        const file = batches[b]![batches[b]!.length - 1]?.item.file;
        writing = (async () => {
          await writeItemFiles(o.out, results.files);
          await st.append(results.rows);
          info.processed += results.rows.length;
          info.done += results.rows.length;
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
    }
    if (next) await next.catch(() => {});
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

interface RunContext {
  explainer: Explainer;
  opts: AuditOptions;
  layer: string;
  method: string;
  config: AuditConfig;
}

/** A file's identity in a run's settings: its name, SHA-256 and size (a restart must find the same file). */
export function fileIdentity(file: string, bytes: Uint8Array | string): { file: string; sha256: string; bytes: number } {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  return { file: path.basename(file), sha256: crypto.createHash('sha256').update(b).digest('hex'), bytes: b.length };
}

/**
 * fileIdentity of a model file, its hash remembered across runs (fileSha256: a large model is not hashed
 * again). A model folder, a TF.js model.json or a .keras/.h5 file (src/onnx/import) is identified by all
 * the files of its folder: their names and bytes in one SHA-256, their sizes summed.
 */
export async function modelIdentity(file: string): Promise<{ file: string; sha256: string; bytes: number }> {
  const st = await fs.promises.stat(file);
  if (st.isDirectory() || /\.(json|keras|h5|hdf5)$/i.test(file)) {
    const files = nodeModelFiles(st.isDirectory() ? file : path.dirname(file));
    const h = crypto.createHash('sha256');
    let total = 0;
    for (const name of [...files.names].sort()) {
      const b = (await files.read(name))!;
      h.update(`${name}\0${b.length}\0`).update(b);
      total += b.length;
    }
    return { file: path.basename(file), sha256: h.digest('hex'), bytes: total };
  }
  const sha256 = await fileSha256(file);
  return { file: path.basename(file), sha256, bytes: (await fs.promises.stat(file)).size };
}

/**
 * The one model input of a dataset item (an image, or a single-image .npy); an .npy holding several is
 * an error of that item (`what` names the item in the message).
 */
export async function prepareItemInput(explainer: Explainer, file: string, opts: Parameters<typeof prepareInputs>[2], what = 'a dataset item'): Promise<PreparedInput> {
  const inputs = await prepareInputs(explainer, file, opts);
  if (inputs.length !== 1) throw new InputError(`${file} holds ${inputs.length} images; ${what} must be one image`);
  return inputs[0]!;
}

async function auditConfig(opts: AuditOptions, explainer: Explainer, method: string, layer: string, total: number): Promise<AuditConfig> {
  const n = opts.normalize ?? {};
  return {
    format: 'gradcam-audit/1',
    model: await modelIdentity(opts.model),
    method, layer, class: String(opts.classChoice ?? 'top'), output: opts.output ?? null,
    normalize: { preset: n.preset ?? null, mean: n.mean ? [...n.mean] : null, std: n.std ? [...n.std] : null, ...(n.divisor !== undefined ? { divisor: n.divisor } : {}) },
    size: opts.size ?? null, ...(opts.resize !== undefined ? { resize: opts.resize, crop: opts.crop ?? null } : {}), labels: explainer.labels ?? null,
    thumb: opts.thumb ?? 128, colormap: opts.colormap ?? 'jet', alpha: opts.alpha ?? 0.5, flag_lift: opts.flagLift === undefined ? 1 : opts.flagLift, flag_below: opts.flagBelow ?? null,
    maps: !!opts.maps, shard: opts.shard ?? null, total,
  };
}

function prepareBatch(ctx: RunContext, batch: { item: AuditItem; index: number }[]): Promise<Prepared[]> {
  return Promise.all(batch.map((entry) => prepareItem(ctx, entry)));
}

async function prepareItem(ctx: RunContext, entry: { item: AuditItem; index: number }): Promise<Prepared> {
  const { item } = entry;
  let truth: ClassRef | null = null;
  try {
    truth = resolveTruth(ctx.explainer, item.label);
    const input = await prepareItemInput(ctx.explainer, item.file, { ...ctx.opts.normalize, size: ctx.opts.size, maxPixels: ctx.opts.maxPixels, maxInputPixels: ctx.opts.maxInputPixels, resize: ctx.opts.resize, crop: ctx.opts.crop }, 'an audit item');
    const base = input.image ?? tensorPicture(input, ctx.explainer.layout, ctx.opts.normalize ?? {});
    // metrics at the picture's size (bounded: big images are shrunk), boxes scaled from image pixels
    const [w, h] = base ? [base.width, base.height] : sizeOf(input, ctx.explainer.layout);
    const size: [number, number] = input.sourceSize ?? [w, h];
    const [sx, sy] = [w / size[0], h / size[1]];
    // with --resize/--crop the picture is the cropped part (input.region): boxes and masks follow it
    const view = input.region;
    const masked = (m: { data: Uint8Array; width: number; height: number }): Region => (view ? { data: maskInView(m, size, view, w, h), width: w, height: h, kind: 'mask' } : maskRegion(m, w, h));
    let region: Region | undefined;
    if (item.maskRle) region = masked(decodeRle(item.maskRle));
    else if (item.mask) region = masked(await readMask(item.mask, ctx.opts.maxPixels));
    else if (item.boxes?.length) region = boxesRegion(view ? item.boxes.map((b) => boxInView(b, view, w, h)) : sx === 1 && sy === 1 ? item.boxes : item.boxes.map(([x0, y0, x1, y1]) => [x0 * sx, y0 * sy, x1 * sx, y1 * sy] as typeof item.boxes[number]), w, h);
    input.image = undefined; // the picture lives on as `base`
    return { entry, input, base, size, region, truth };
  } catch (e) {
    return { entry, truth, error: (e as Error).message };
  }
}

async function readMask(file: string, maxPixels?: number): Promise<{ data: Uint8Array; width: number; height: number }> {
  let img: RgbImage;
  try {
    // the mask is sampled at the picture's size (at most DEFAULT_PICTURE_SIDE long): decode it no larger
    img = await readImageFile(file, { maxPixels, maxSide: 2 * DEFAULT_PICTURE_SIDE });
  } catch (e) {
    throw new InputError(`mask: ${(e as Error).message}`);
  }
  const n = img.width * img.height;
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.max(img.data[i * 3]!, img.data[i * 3 + 1]!, img.data[i * 3 + 2]!) >= 128 ? 1 : 0;
  return { data, width: img.width, height: img.height };
}

export function resolveTruth(explainer: Explainer, label: number | string | undefined): ClassRef | null {
  if (label === undefined) return null;
  const labels = explainer.labels;
  if (typeof label === 'number') {
    if (labels && label >= labels.length) throw new InputError(`true class index ${label} is out of range: the model has ${labels.length} labels`);
    return { index: label, label: labels?.[label] ?? null };
  }
  if (!labels) return { index: null, label };
  const k = explainer.classIndex(label, labels.length);
  return { index: k, label: labels[k]! };
}

function sizeOf(inp: PreparedInput, layout: 'NCHW' | 'NHWC'): [number, number] {
  return layout === 'NCHW' ? [inp.dims[3]!, inp.dims[2]!] : [inp.dims[2]!, inp.dims[1]!];
}

async function explainBatch(ctx: RunContext, prepared: Prepared[]): Promise<{ rows: AuditRow[]; files: FileOut[] }> {
  const rows: AuditRow[] = [];
  const files: FileOut[] = [];
  const errorRow = (p: Prepared, error: string): AuditRow => ({
    key: p.entry.item.key, index: p.entry.index, file: p.entry.item.file, status: 'error', error,
    truth: p.truth, correct: null, flagged: false, warnings: [], files: {},
  });
  const byPos = new Map<Prepared, AuditRow>();
  const ok = prepared.filter((p) => !p.error);
  for (const p of prepared) if (p.error) byPos.set(p, errorRow(p, p.error));
  const run = async (group: Prepared[], data: Float32Array, dims: number[]) => {
    const classes = group.map((p) => classFor(ctx, p));
    const r = await ctx.explainer.explain(data, dims, { method: ctx.method, layer: ctx.layer, classes, output: ctx.opts.output, onProgress: ctx.opts.onPasses });
    return r.explanations;
  };
  for (const stacked of stackByShape(ok.map((p) => p.input!))) {
    const group = stacked.index.map((i) => ok[i]!);
    let exps: (Explanation | Error)[];
    try {
      exps = await run(group, stacked.data, stacked.dims);
    } catch (e) {
      if (group.length === 1) exps = [e as Error];
      else {
        // one bad image (e.g. non-finite scores) must not fail its neighbours: run them one by one
        exps = [];
        for (const p of group) exps.push(await run([p], p.input!.tensor, p.input!.dims).then((x) => x[0]!, (err: Error) => err));
      }
    }
    group.forEach((p, j) => {
      const e = exps[j]!;
      if (e instanceof Error) { byPos.set(p, errorRow(p, e.message)); return; }
      try {
        const { row, out } = finishItem(ctx, p, e);
        byPos.set(p, row);
        files.push(...out);
      } catch (err) {
        byPos.set(p, errorRow(p, (err as Error).message));
      }
    });
  }
  for (const p of prepared) rows.push(byPos.get(p)!);
  return { rows, files };
}

function classFor(ctx: RunContext, p: Prepared): ClassChoice {
  const c = ctx.opts.classChoice ?? 'top';
  if (c === 'top') return 'top';
  if (c === 'true' || c === 'gt') return p.truth?.index ?? 'top';
  return /^\d+$/.test(c) ? Number(c) : c;
}

function scored(c: { index: number; label?: string; logit: number; probability: number }): ScoredClass {
  return { index: c.index, label: c.label ?? null, logit: round6(c.logit), probability: round6(c.probability) };
}

function finishItem(ctx: RunContext, p: Prepared, e: Explanation): { row: AuditRow; out: FileOut[] } {
  const { item, index } = p.entry;
  const cfg = ctx.config;
  const warnings = [...e.warnings];
  if ((ctx.opts.classChoice === 'true' || ctx.opts.classChoice === 'gt') && !p.truth) warnings.push('no true label: explained the predicted class');
  const base = p.base;
  const [w, h] = base ? [base.width, base.height] : [e.width, e.height];
  const map = w === e.width && h === e.height ? e.map : resizeBilinear(e.map, e.height, e.width, h, w);
  const metrics = mapMetrics(map, w, h, p.region);
  if (p.region && metrics.energy_in_object === null) warnings.push('the map is all zero: no energy to place on the object');
  const predicted = scored(e.predicted);
  const explained = scored(e.target);
  const truth = p.truth;
  const correct = truth ? (truth.index !== null ? truth.index === predicted.index : predicted.label !== null ? truth.label === predicted.label : null) : null;
  const stem = itemStem(item.key);
  const files: AuditRow['files'] = { thumb: `thumbs/${stem}.png`, overlay: `thumbs/${stem}.cam.png` };
  const pic = base ?? heatmapImage(e.map, e.width, e.height, 'viridis');
  const th = thumbnails(pic, e.map, e.width, e.height, cfg.thumb, { colormap: cfg.colormap, alpha: cfg.alpha, region: p.region ? (w, h) => scaleRegion(p.region!, w, h).data : undefined });
  const out: FileOut[] = [
    { path: files.thumb!, bytes: encodePng(th.image) },
    { path: files.overlay!, bytes: encodePng(th.overlay) },
  ];
  if (cfg.maps) {
    files.map = `maps/${stem}.npy`;
    out.push({ path: files.map, bytes: writeNpy(e.map, [e.height, e.width]) });
  }
  const row: AuditRow = {
    key: item.key, index, file: item.file, status: 'ok', truth, predicted,
    ...(explained.index !== predicted.index ? { explained } : {}),
    correct, size: p.size ?? [w, h], metrics,
    flagged: isFlagged(metrics, cfg),
    warnings, files,
  };
  return { row, out };
}

async function writeItemFiles(outDir: string, files: FileOut[]): Promise<void> {
  for (const d of new Set(files.map((f) => path.dirname(path.join(outDir, f.path))))) await guardedWrite(d, () => fs.promises.mkdir(d, { recursive: true }));
  for (const f of files) await guardedWrite(path.join(outDir, f.path), async () => writeFileAtomic(path.join(outDir, f.path), await f.bytes));
  for (const d of new Set(files.map((f) => path.dirname(path.join(outDir, f.path))))) await syncDir(d);
}

// ------------------------------------------------------------------------------------------ reports

export interface ReportResult {
  rows: number;
  errors: number;
  flagged: number;
  files: string[];
}

/**
 * Rewrites results.jsonl (de-duplicated, in input order) and writes results.csv, classes.csv,
 * summary.json and report.html from it. Takes the folder's lock: a run writing to it makes this an error.
 */
export async function writeReports(dir: string, opts: { notes?: string[]; title?: string } = {}): Promise<ReportResult> {
  const lockPath = await acquireLock(dir);
  try {
    return await writeReportsLocked(dir, opts);
  } finally {
    await fs.promises.unlink(lockPath).catch(() => {});
  }
}

/** writeReports for a caller that holds the folder's lock. */
async function writeReportsLocked(dir: string, opts: { notes?: string[]; title?: string; beforeRewrite?: () => Promise<void> | void } = {}): Promise<ReportResult> {
  const config = await readConfig(dir);
  if (!config) throw new AuditStoreError(`${dir} is not an audit folder (no ${CONFIG})`);
  const { rows: map } = await readRows(dir);
  await opts.beforeRewrite?.();
  const rows = [...map.values()].sort(byIndex);
  const at = (f: string) => path.join(dir, f);
  await guardedWrite(at(RESULTS), () => writeChunksAtomic(at(RESULTS), chunked(rows, (r) => `${JSON.stringify(r)}\n`)));
  await guardedWrite(at('results.csv'), () => writeChunksAtomic(at('results.csv'), [csvLine([...ROW_COLUMNS]), ...chunked(rows, rowCsv)]));
  const summary = summarize(rows, flagRuleText(config));
  await guardedWrite(at('summary.json'), () => writeFileAtomic(at('summary.json'), json({ config, notes: opts.notes ?? [], ...summary })));
  await guardedWrite(at('classes.csv'), () => writeFileAtomic(at('classes.csv'), new TextEncoder().encode(classesCsv(summary))));
  await guardedWrite(at('report.html'), () => writeChunksAtomic(at('report.html'), reportHtml(config, summary, reportOrder(rows), { notes: opts.notes, title: opts.title })));
  await syncDir(dir);
  return { rows: rows.length, errors: summary.errors, flagged: summary.flagged, files: ['report.html', RESULTS, 'results.csv', 'classes.csv', 'summary.json'].map((f) => path.join(dir, f)) };
}

function* chunked<T>(items: T[], f: (x: T) => string): Generator<string> {
  let s = '';
  for (const x of items) {
    s += f(x);
    if (s.length > 1 << 16) { yield s; s = ''; }
  }
  yield s;
}

// ------------------------------------------------------------------------------------------ merge

export interface MergeResult extends ReportResult {
  notes: string[];
  /** Shards missing or unfinished, or items in two inputs with different results. */
  incomplete: boolean;
}

/**
 * Combines audit folders (normally the N shards of one audit) into `out`: checks that they were run with
 * the same settings, links (or copies) their thumbnails and maps, and writes the combined results and
 * reports. Missing shards and unfinished shards are reported in `notes` (and in the report).
 */
export async function mergeAudits(dirs: string[], out: string): Promise<MergeResult> {
  if (!dirs.length) throw new InputError('merge: give the audit folders to combine');
  const outAbs = path.resolve(out);
  const inputs: { dir: string; config: AuditConfig }[] = [];
  for (const dir of dirs) {
    if (path.resolve(dir) === outAbs) throw new InputError(`merge: the output folder ${out} is also an input`);
    for (const f of [CONFIG, RESULTS]) {
      try {
        fileInside(dir, f);
      } catch (e) {
        if ((e as FileReadError).code === 'EOUTSIDE') throw new InputError(`merge: refused ${dir}: ${(e as Error).message}`);
      }
    }
    const config = await readConfig(dir);
    if (!config) throw new InputError(`merge: ${dir} is not an audit folder (no ${CONFIG})`);
    inputs.push({ dir, config });
  }
  const first = inputs[0]!.config;
  for (const x of inputs.slice(1)) {
    if (mergeKey(x.config) !== mergeKey(first)) {
      throw new InputError(`merge: ${x.dir} was run with other settings than ${inputs[0]!.dir} (${configDiff(first, x.config, ['total', 'shard']).join('; ')})`);
    }
  }
  const notes: string[] = [];
  const count = first.shard?.count ?? 1;
  const seenShards = new Map<number, string>();
  for (const x of inputs) {
    const i = x.config.shard?.index ?? 0;
    if (seenShards.has(i)) throw new InputError(`merge: ${seenShards.get(i)} and ${x.dir} are both shard ${i}/${count}`);
    seenShards.set(i, x.dir);
  }
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seenShards.has(i));
  if (missing.length) notes.push(`missing shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${count}`).join(', ')}: their images are not in this report`);
  for (const x of inputs) {
    const rel = path.relative(path.resolve(x.dir), outAbs);
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) throw new InputError(`merge: the output folder ${out} lies inside the input ${x.dir}; choose a folder outside the inputs`);
  }
  // every shard is checked before anything is linked or copied: a shard folder may come from another
  // machine, and a row may name only its own folder's thumbs/ and maps/ files (fileInside: no '..',
  // no symbolic link leading out of the folder)
  const rows = new Map<string, AuditRow>();
  const copies: { src: string; dst: string }[] = [];
  let total = 0;
  let conflicts = 0;
  for (const x of inputs) {
    const { rows: r } = await readRows(x.dir);
    total += x.config.total ?? r.size;
    if (x.config.total !== undefined && r.size < x.config.total) notes.push(`${x.dir}: ${r.size} of ${x.config.total} items finished (rerun that shard to complete it)`);
    for (const row of r.values()) {
      if (rows.has(row.key)) { conflicts++; continue; }
      const refuse = (why: string) => new InputError(`merge: refused ${x.dir}: item '${printable(row.key)}' ${why}; a shard's rows may name only files inside its own thumbs/ and maps/ folders (nothing was merged)`);
      for (const f of Object.values(row.files ?? {})) {
        if (f === undefined || f === null || f === '') continue;
        if (typeof f !== 'string' || !isItemFile(f)) throw refuse(`names '${printable(String(f))}', not a file in its thumbs/ or maps/ folder`);
        let src: string;
        try {
          src = fileInside(x.dir, f);
        } catch (e) {
          if ((e as FileReadError).code === 'ENOENT') continue; // a file the row names is gone: the report shows a gap
          throw refuse(`names '${printable(f)}': ${printable((e as Error).message)}`);
        }
        if (!fs.statSync(src).isFile()) throw refuse(`names '${printable(f)}', which is not a regular file`);
        copies.push({ src, dst: path.join(out, f) });
      }
      rows.set(row.key, row);
    }
  }
  try {
    const st = await fs.promises.stat(out).catch(() => undefined);
    if (st && !st.isDirectory()) throw new InputError(`merge: the output ${out} is a file; choose a folder`);
    await fs.promises.mkdir(out, { recursive: true });
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`merge: cannot create the output folder ${out}: ${(e as Error).message}`);
  }
  const lockPath = await acquireLock(out);
  try {
    // a new or empty folder, or the output of an earlier merge (which this one replaces)
    const earlier = await fs.promises.stat(path.join(out, MERGE_MARK)).then(() => true, () => false);
    // an audit or an earlier merge made with another model or other settings is never replaced
    const prev = await readConfig(out).catch(() => undefined);
    if (prev) assertSameSettings(out, prev, { ...first, shard: null, total: 0 });
    if (!earlier) await assertEmptyFolder(out, 'merge', [LOCK]);
    await guardedWrite(path.join(out, MERGE_MARK), () => writeFileAtomic(path.join(out, MERGE_MARK), json({ format: 'gradcam-merge/1', inputs: dirs.map((d) => path.resolve(d)) })));
    for (const c of copies) await guardedWrite(c.dst, () => linkOrCopy(c.src, c.dst));
    if (conflicts) notes.push(`${conflicts} item${conflicts > 1 ? 's' : ''} appeared in more than one input; the first was kept`);
    const config: AuditConfig = { ...first, shard: null, total };
    await guardedWrite(path.join(out, CONFIG), () => writeFileAtomic(path.join(out, CONFIG), json(config)));
    await guardedWrite(path.join(out, RESULTS), () => writeChunksAtomic(path.join(out, RESULTS), chunked([...rows.values()].sort(byIndex), (r) => `${JSON.stringify(r)}\n`)));
    const rep = await writeReportsLocked(out, { notes });
    return { ...rep, notes, incomplete: notes.length > 0 };
  } finally {
    await fs.promises.unlink(lockPath).catch(() => {});
  }
}

const MERGE_MARK = 'merge.json';

/** A row's file: a plain relative path under thumbs/ or maps/ (never absolute, never '..'). */
function isItemFile(f: string): boolean {
  if (f.includes('\\') || f.includes('\0') || path.posix.isAbsolute(f)) return false;
  const n = path.posix.normalize(f);
  return n === f && /^(thumbs|maps)\/[^/]+$/.test(n) && !n.split('/').includes('..');
}

async function linkOrCopy(src: string, dst: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(dst), { recursive: true });
  const tmp = `${dst}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  try {
    await fs.promises.link(src, tmp);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // a file the row names is gone: the report shows a gap
    const bytes = await fs.promises.readFile(src);
    await writeFileAtomic(dst, bytes);
    return;
  }
  await fs.promises.rename(tmp, dst);
}
