/**
 * TF.js weights manifests (model.json's `weightsManifest` + .bin shards), read once for both TF.js
 * formats: graph models (tfjs-graph.ts) and layers models (keras/). Weights stored quantised (uint8/uint16
 * with scale and min: q · scale + min, or float16) are dequantised on load. Paths inside a model source
 * are POSIX and relative to its folder. Browser-safe.
 */
import { ModelError } from '../model.js';
import { float16ToFloat32, numel, type Tensor } from '../tensor.js';
import type { ModelFiles } from './types.js';

export interface TfjsWeightEntry { name: string; shape: number[]; dtype?: string; quantization?: { dtype: string; scale?: number; min?: number; original_dtype?: string } }
export interface TfjsManifestGroup { paths?: string[]; weights?: TfjsWeightEntry[] }

/** `p` (relative to the folder `dir` of a model source) as a path of that source: '.' and '..' resolved. */
export function joinPath(dir: string, p: string): string {
  const parts = (dir ? `${dir}/${p}` : p).split('/');
  const out: string[] = [];
  for (const s of parts) {
    if (s === '' || s === '.') continue;
    if (s === '..') out.pop();
    else out.push(s);
  }
  return out.join('/');
}

/** The folder of a path inside a model source ('' at its top). */
export function dirOf(entry: string): string {
  const k = entry.lastIndexOf('/');
  return k < 0 ? '' : entry.slice(0, k);
}

/** A manifest path as a file name: TF.js writes them URL-encoded where needed. */
function shardName(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

/** The values of `n` weights stored as `stored` (little-endian), dequantised (q · scale + min) where quantised. */
function decodeStored(stored: string, bytes: Uint8Array, n: number, scale: number, min: number): Float32Array | Int32Array {
  // a view where the shard's bytes are aligned (readers only read it: transposed filters are new arrays,
  // initializers are copied when encoded), else an aligned copy
  const size = stored === 'float32' || stored === 'int32' ? 4 : stored === 'uint16' || stored === 'float16' ? 2 : 1;
  const a = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  switch (stored) {
    case 'float32': return new Float32Array(a.buffer, a.byteOffset, n);
    case 'int32': return new Int32Array(a.buffer, a.byteOffset, n);
    case 'bool': return Int32Array.from(a.subarray(0, n));
    case 'uint8': { const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = a[i]! * scale + min; return o; }
    case 'uint16': { const q = new Uint16Array(a.buffer, a.byteOffset, n); const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = q[i]! * scale + min; return o; }
    default: return float16ToFloat32(new Uint16Array(a.buffer, a.byteOffset, n)); // float16
  }
}

/**
 * Reads the weights of every manifest group (its shards concatenated in order) as tensors of their
 * declared dtype (float32, int32 as int64, bool), dequantising as stated; one note for what was read and
 * one per quantised storage type. `dir`: the model.json's folder; `source` names the model in errors.
 */
export async function readTfjsWeights(files: ModelFiles, dir: string, manifest: unknown, notes: string[], source: string): Promise<Map<string, Tensor>> {
  if (!Array.isArray(manifest)) throw new ModelError(`${source}: weightsManifest is missing or not a list`);
  const out = new Map<string, Tensor>();
  const quantised = new Map<string, number>();
  let shards = 0;
  for (const group of manifest as TfjsManifestGroup[]) {
    const parts: Uint8Array[] = [];
    for (const p of group.paths ?? []) {
      const bytes = await files.read(joinPath(dir, shardName(p)));
      if (!bytes) throw new ModelError(`${source}: the weights shard '${p}' named in the manifest is missing (give it with model.json)`);
      parts.push(bytes);
      shards++;
    }
    const total = parts.reduce((a, p) => a + p.byteLength, 0);
    let buf = parts[0] ?? new Uint8Array(0);
    if (parts.length > 1) {
      buf = new Uint8Array(total);
      let o = 0;
      for (const p of parts) { buf.set(p, o); o += p.byteLength; }
    }
    let off = 0;
    for (const w of group.weights ?? []) {
      const dims = (w.shape ?? []).map(Number);
      const n = numel(dims);
      const q = w.quantization;
      const stored = q?.dtype ?? w.dtype ?? 'float32';
      const size = stored === 'uint8' || stored === 'bool' ? 1 : stored === 'uint16' || stored === 'float16' ? 2 : stored === 'float32' || stored === 'int32' ? 4 : 0;
      if (!size) throw new ModelError(`${source}: weight '${w.name}' is stored as ${stored}, which is not read (float32, int32, bool, or quantised uint8/uint16/float16)`);
      if (off + n * size > total) throw new ModelError(`${source}: the weights shards end before weight '${w.name}' (${total} bytes; it needs bytes ${off} to ${off + n * size}): a truncated shard?`);
      const bytes = buf.subarray(off, off + n * size);
      off += n * size;
      const target = q?.original_dtype ?? w.dtype ?? 'float32';
      if (q) quantised.set(stored, (quantised.get(stored) ?? 0) + 1);
      const f = decodeStored(stored, bytes, n, q?.scale ?? 1, q?.min ?? 0);
      if (target === 'float32') out.set(w.name, { dtype: 'float32', dims, data: f instanceof Float32Array ? f : Float32Array.from(f) });
      else if (target === 'int32') out.set(w.name, { dtype: 'int64', dims, data: BigInt64Array.from(Array.from(f, (v) => BigInt(Math.round(v)))) });
      else if (target === 'bool') out.set(w.name, { dtype: 'bool', dims, data: Uint8Array.from(f, (v) => (v ? 1 : 0)) });
      else throw new ModelError(`${source}: weight '${w.name}' has dtype ${target}, which is not read (float32, int32, bool)`);
    }
  }
  notes.push(`read ${out.size} weights from ${shards} shard(s)`);
  for (const [d, k] of quantised) notes.push(`dequantised ${k} weight(s) stored as ${d}`);
  return out;
}
