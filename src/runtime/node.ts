/** onnxruntime-node backend (native CPU). Node only. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { decodeOutput, encodeFeed, inputTypes, type Session, type SessionFactory, type SessionOptions, type TensorValue } from './session.js';
import type { CompileCache } from './session.js';
import { writeAtomic } from '../util/write-node.js';

/**
 * An onnxruntime failure as one readable line: what gradcam was doing, then onnxruntime's own reason
 * without the C++ source location and function signature that native errors start with. Named
 * 'ModelError': it is about the model (or its input), not a bug of the caller.
 */
export class OrtError extends Error {
  constructor(what: string, cause: unknown) {
    super(`${what}: ${cleanOrtMessage(cause instanceof Error ? cause.message : String(cause))}`);
    this.name = 'ModelError';
  }
}

/** Strips `/onnxruntime_src/...cc:123 <signature>` prefixes and '[ONNXRuntimeError] : 1 : FAIL :' codes; one line. */
export function cleanOrtMessage(message: string): string {
  let m = message.replace(/\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*[A-Z_]+\s*:\s*/g, '');
  // "/path/file.cc:46 void ns::Func(args...) const Message" -> "Message"
  m = m.replace(/(?:\/[^\s:]*\/)?\b[\w-]+\.(?:cc|cpp|h):\d+\s+(?:[^()]*::[^()]*\((?:[^()]|\([^()]*\))*\)\s*(?:const\s*)?)?/g, '');
  m = m.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(' | ');
  return m.length > 600 ? `${m.slice(0, 599)}…` : m;
}

export const createNodeSession: SessionFactory = async (model: Uint8Array, options: SessionOptions = {}): Promise<Session> => {
  const spin = options.spinning === false ? '0' : '1';
  const so: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: options.optimization ?? 'all',
    executionProviders: ['cpu'],
    // ORT's worker threads spin between a run's operators (no wake-up per operator: mobilenet_v2 15 %,
    // resnet50 6 % faster here) but stop when the run returns (force_spinning_stop): gradcam alternates
    // sessions (the gradient graph, a plain forward graph, probes), and a pool left spinning after its
    // run halved the next session's speed on a small machine (resnet50: 85 ms instead of 44 ms per run).
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin }, force_spinning_stop: '1' } },
  };
  if (options.intraOpThreads) so.intraOpNumThreads = options.intraOpThreads;
  if (options.memoryArena === false) { so.enableCpuMemArena = false; so.enableMemPattern = false; }
  const saved = options.saveOptimized ? path.join(os.tmpdir(), `gradcam-opt-${process.pid}-${Math.random().toString(36).slice(2)}.onnx`) : undefined;
  if (saved) {
    so.optimizedModelFilePath = saved;
    // not the warning that the saved model may hold this CPU's own kernels: the compile cache keys by the CPU
    so.logSeverityLevel = 3;
  }
  let s: ort.InferenceSession;
  try {
    s = await ort.InferenceSession.create(model, so);
    if (saved) {
      const bytes = await fsp.readFile(saved).catch(() => undefined);
      if (bytes) options.saveOptimized!(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    }
  } catch (e) {
    throw new OrtError('onnxruntime cannot load the model', e);
  } finally {
    if (saved) await fsp.unlink(saved).catch(() => {});
  }
  const types = inputTypes(s.inputMetadata);
  return {
    inputNames: s.inputNames,
    outputNames: s.outputNames,
    async run(feeds, fetch) {
      const f: Record<string, ort.Tensor> = {};
      for (const [k, v] of Object.entries(feeds)) {
        const e = encodeFeed(k, types.get(k), v.data);
        f[k] = new ort.Tensor(e.type as 'float32', e.data as Float32Array, v.dims);
      }
      let r: ort.InferenceSession.ReturnType;
      try {
        r = fetch ? await s.run(f, fetch) : await s.run(f);
      } catch (e) {
        throw new OrtError('onnxruntime failed to run the model', e);
      }
      const out: Record<string, TensorValue> = {};
      for (const [k, v] of Object.entries(r)) out[k] = decodeOutput(k, v.type, v.data, v.dims);
      return out;
    },
    release: () => s.release(),
  };
};

/** The folder of the on-disk compile cache: $GRADCAM_CACHE, else $XDG_CACHE_HOME/gradcam, else ~/.cache/gradcam; undefined when GRADCAM_CACHE is 'off' or '0'. */
export function compileCacheDir(): string | undefined {
  const env = process.env.GRADCAM_CACHE;
  if (env === 'off' || env === '0') return undefined;
  if (env) return path.resolve(env);
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'gradcam');
}

/** Default bound on the cache folder's size: the least recently used entries go beyond it. */
const CACHE_MAX_BYTES = 4 * 1024 ** 3;

/** The CPU and onnxruntime's version: optimised graphs in the cache may hold this CPU's own kernels. */
const machine = () => `${os.arch()} ${os.cpus()[0]?.model ?? ''} onnxruntime ${ort.env.versions?.node ?? ''}`;

let codeStamp: string | undefined;
/**
 * gradcam's own code, as a stamp: every file beside this one's folder (src/ or dist/src/) with its size and
 * modification time. A rebuilt or edited compiler gets new cache keys, never an old graph.
 */
function gradcamCodeStamp(): string {
  if (codeStamp) return codeStamp;
  const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (/\.(ts|js)$/.test(e.name)) {
        const st = fs.statSync(f);
        h.update(`${path.relative(root, f)}\0${st.size}\0${st.mtimeMs}\n`);
      }
    }
  };
  walk(root);
  codeStamp = h.digest('hex');
  return codeStamp;
}

/** What identifies a file's content without reading it: any write changes its change time (ctime). */
export type FileStamp = fs.BigIntStats;

const sameStamp = (a: FileStamp, b: FileStamp) => a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;

/**
 * A file's SHA-256 (hex), remembered in the cache folder under the file's identity (real path, device,
 * inode, size, modification and change times in ns), so that a model of hundreds of MB is hashed once
 * rather than at every start (resnet50: about 70 ms). `bytes` are the file's content as read after `before`
 * was taken: the remembered hash is used, or stored, only while the file's stamp is still `before`, so a
 * file changed meanwhile is hashed from those bytes. `dir`: the cache folder (default compileCacheDir());
 * without one (null, or GRADCAM_CACHE=off) it is computed every time.
 */
export async function fileSha256(file: string, known?: { bytes: Uint8Array; before: FileStamp }, cacheDir?: string | null): Promise<string> {
  const dir = cacheDir === undefined ? compileCacheDir() : cacheDir ?? undefined;
  const before = known?.before ?? (await fsp.stat(file, { bigint: true }));
  const memo = dir
    ? path.join(dir, 'digests', createHash('sha256').update(`${await fsp.realpath(file)}\0${before.dev}\0${before.ino}\0${before.size}\0${before.mtimeNs}\0${before.ctimeNs}`).digest('hex'))
    : undefined;
  const unchanged = async () => sameStamp(before, await fsp.stat(file, { bigint: true }));
  if (memo) {
    const h = (await fsp.readFile(memo, 'utf8').catch(() => '')).trim();
    if (/^[0-9a-f]{64}$/.test(h) && (await unchanged())) return h;
  }
  const bytes = known?.bytes ?? (await fsp.readFile(file));
  const h = createHash('sha256').update(bytes).digest('hex');
  if (memo && (await unchanged())) {
    await fsp.mkdir(path.dirname(memo), { recursive: true })
      .then(() => writeAtomic(memo, new TextEncoder().encode(h)))
      .catch(() => {});
  }
  return h;
}

/**
 * The CompileCache on disk for a model given by its bytes: one file per entry, named by the SHA-256 of
 * (the model's SHA-256, gradcam's code stamp, the key), written atomically (a temporary file renamed into
 * place), so that concurrent runs and Ctrl-C never leave a torn entry. `enabled()` is asked at each use
 * (loadExplainer turns it off for models with external data, whose files the model's hash does not cover).
 * Beyond `maxBytes` in all, the entries read or written least recently are removed. With `source` (the
 * file the bytes were read from, and its stamp taken before) the model's hash comes from fileSha256.
 */
export function diskCompileCache(model: Uint8Array, opts: { dir?: string; maxBytes?: number; enabled?: () => boolean; source?: { file: string; before: FileStamp } } = {}): CompileCache | undefined {
  const dir = opts.dir ?? compileCacheDir();
  if (!dir) return undefined;
  let modelHash: Promise<string> | undefined;
  const file = async (key: string) => {
    modelHash ??= opts.source
      ? fileSha256(opts.source.file, { bytes: model, before: opts.source.before }, dir).catch(() => createHash('sha256').update(model).digest('hex'))
      : Promise.resolve(createHash('sha256').update(model).digest('hex'));
    return path.join(dir, `${createHash('sha256').update(`${await modelHash}\0${gradcamCodeStamp()}\0${machine()}\0${key}`).digest('hex')}.bin`);
  };
  const on = opts.enabled ?? (() => true);
  return {
    async get(key) {
      if (!on()) return undefined;
      const f = await file(key);
      try {
        const bytes = await fsp.readFile(f);
        const now = new Date();
        await fsp.utimes(f, now, now).catch(() => {});
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      } catch {
        return undefined;
      }
    },
    async set(key, value) {
      if (!on()) return;
      const f = await file(key);
      await fsp.mkdir(dir, { recursive: true });
      await writeAtomic(f, value);
      await pruneCache(dir, opts.maxBytes ?? CACHE_MAX_BYTES).catch(() => {});
    },
  };
}

async function pruneCache(dir: string, maxBytes: number): Promise<void> {
  const entries: { f: string; size: number; t: number }[] = [];
  for (const name of await fsp.readdir(dir)) {
    if (!name.endsWith('.bin')) continue;
    const f = path.join(dir, name);
    const st = await fsp.stat(f).catch(() => undefined);
    if (st) entries.push({ f, size: st.size, t: st.mtimeMs });
  }
  let total = entries.reduce((a, e) => a + e.size, 0);
  entries.sort((a, b) => a.t - b.t);
  for (const e of entries) {
    if (total <= maxBytes) break;
    await fsp.unlink(e.f).catch(() => {});
    total -= e.size;
  }
}
