/**
 * Layer weights of a Keras-topology model, from the three places they are stored:
 * - a TF.js weights manifest (model.json's `weightsManifest` + .bin shards; uint8/uint16/float16
 *   quantised weights dequantised: q · scale + min),
 * - a legacy Keras `.h5` (`model_weights/<layer>` groups, `weight_names` attributes),
 * - a Keras 3 `model.weights.h5` (`layers/<layer>/vars/<i>`, nested models under `layers/<model>/layers/`).
 * HDF5 is read with h5wasm from bytes (its in-memory file system): no file system needed.
 */
import { ModelError } from '../../model.js';
import type { ModelFiles } from '../types.js';
import { readTfjsWeights } from '../tfjs-weights.js';

export interface Weight {
  data: Float32Array;
  shape: number[];
}

/** A layer's weights by kind ('kernel', 'bias', 'gamma'...), or by position for Keras 3 files. */
export interface WeightStore {
  /**
   * The weights of the layer `name` inside the nested models `path` (outermost first), in the order of
   * `kinds`; a missing optional kind (undefined in `kinds`) gives undefined.
   */
  layer(path: string[], name: string, kinds: (string | undefined)[]): (Weight | undefined)[];
}

/** Kinds that files name differently (Keras 3 calls a depthwise kernel `kernel`). */
const ALIASES: Record<string, string[]> = { depthwise_kernel: ['kernel'], moving_mean: ['mean'], moving_variance: ['variance'] };

interface NamedEntry {
  segments: string[];
  kind: string;
  weight: Weight;
  used: boolean;
}

/** Weights known by their full names ('model1/conv1/kernel', 'conv1/kernel:0'): TF.js manifests and legacy .h5. */
export class NamedWeights implements WeightStore {
  private readonly byOwner = new Map<string, NamedEntry[]>();

  add(fullName: string, weight: Weight): void {
    const segments = fullName.replace(/:\d+$/, '').split('/');
    const kind = segments.pop()!;
    const owner = segments[segments.length - 1] ?? '';
    let list = this.byOwner.get(owner);
    if (!list) this.byOwner.set(owner, (list = []));
    list.push({ segments, kind, weight, used: false });
  }

  get size(): number {
    let n = 0;
    for (const l of this.byOwner.values()) n += l.length;
    return n;
  }

  layer(path: string[], name: string, kinds: (string | undefined)[]): (Weight | undefined)[] {
    const list = this.byOwner.get(name) ?? [];
    return kinds.map((kind) => {
      if (!kind) return undefined;
      const names = [kind, ...(ALIASES[kind] ?? [])];
      const cands = list.filter((e) => names.includes(e.kind));
      // a layer name used in two nested models: the one under this model's path, else the first not taken
      const inPath = cands.filter((e) => path.length > 0 && e.segments.includes(path[path.length - 1]!));
      const pick = (inPath.find((e) => !e.used) ?? cands.find((e) => !e.used) ?? inPath[0] ?? cands[0]);
      if (!pick) throw new ModelError(`layer '${name}': its weight '${kind}' is not in the weights file(s)`);
      pick.used = true;
      return pick.weight;
    });
  }
}

/** Weights by position under each layer's group (Keras 3 `.keras`: layers/<name>/vars/0, 1...). */
export class PositionalWeights implements WeightStore {
  constructor(private readonly groups: Map<string, Weight[]>) {}

  layer(path: string[], name: string, kinds: (string | undefined)[]): (Weight | undefined)[] {
    const key = ['layers', ...[...path, name].flatMap((n, i) => (i === 0 ? [n] : ['layers', n]))].join('/');
    let vars = this.groups.get(key);
    if (!vars) {
      const ends = [...this.groups.keys()].filter((k) => k === `layers/${name}` || k.endsWith(`/layers/${name}`));
      if (ends.length === 1) vars = this.groups.get(ends[0]!);
    }
    if (!vars) throw new ModelError(`layer '${name}': no weights for it in model.weights.h5 (looked for ${key}/vars)`);
    let k = 0;
    return kinds.map((kind) => {
      if (!kind) return undefined;
      const w = vars![k++];
      if (!w) throw new ModelError(`layer '${name}': model.weights.h5 has ${vars!.length} variable(s) for it, fewer than its config needs`);
      return w;
    });
  }
}

// ---------------------------------------------------------------- TF.js manifests

/** Reads model.json's weightsManifest through `files` (shard paths are relative to `dir`, the model.json's folder). */
export async function readManifestWeights(manifest: unknown, files: ModelFiles, dir: string, notes: string[]): Promise<NamedWeights> {
  const store = new NamedWeights();
  for (const [name, t] of await readTfjsWeights(files, dir, manifest, notes, 'model.json')) {
    store.add(name, { data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number | bigint>, Number), shape: t.dims.slice() });
  }
  return store;
}

// ---------------------------------------------------------------- HDF5

type H5 = typeof import('h5wasm');
let h5: Promise<H5> | undefined;
let counter = 0;

/** HDF5's signature, at 0 or after a user block (512, 1024, 2048... bytes). */
function hdf5Signature(b: Uint8Array): boolean {
  const sig = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
  for (let o = 0; o + 8 <= b.byteLength; o = o === 0 ? 512 : o * 2) if (sig.every((v, i) => b[o + i] === v)) return true;
  return false;
}

/** Opens HDF5 bytes with h5wasm (in its in-memory file system), runs `use`, then closes and removes the file. */
export async function withH5<T>(bytes: Uint8Array, source: string, use: (file: import('h5wasm').File, lib: H5) => T): Promise<T> {
  h5 ??= import('h5wasm').then(async (m) => {
    const lib = ((m as unknown as { default?: H5 }).default ?? m) as H5;
    await lib.ready;
    return lib;
  });
  if (!hdf5Signature(bytes)) throw new ModelError(`${source}: not a readable HDF5 file (no HDF5 signature)`);
  const lib = await h5;
  const mod = await lib.ready;
  const name = `/gradcam-keras-${counter++}.h5`;
  mod.FS!.writeFile(name, bytes);
  let file: import('h5wasm').File | undefined;
  try {
    try {
      file = new lib.File(name, 'r');
    } catch (e) {
      throw new ModelError(`${source}: not a readable HDF5 file (${(e as Error).message})`);
    }
    return use(file, lib);
  } finally {
    file?.close();
    mod.FS!.unlink(name);
  }
}

/** A dataset's values as float32 (Keras stores float32; float64/float16 converted). */
export function datasetWeight(d: import('h5wasm').Dataset, where: string): Weight {
  const v = d.value as unknown;
  const shape = (d.shape ?? []).slice();
  if (v instanceof Float32Array) return { data: new Float32Array(v), shape };
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return { data: Float32Array.from(v as unknown as ArrayLike<number>, Number), shape };
  if (typeof v === 'number' || typeof v === 'bigint') return { data: Float32Array.of(Number(v)), shape };
  throw new ModelError(`${where}: the weight is not numeric (HDF5 type ${JSON.stringify(d.dtype)})`);
}

/** A string attribute (Keras writes them as fixed or variable-length strings, sometimes bytes). */
export function attrString(obj: { attrs: Record<string, { value: unknown }> }, name: string): string | undefined {
  const a = obj.attrs[name];
  if (!a) return undefined;
  const v = a.value;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

export function attrStrings(obj: { attrs: Record<string, { value: unknown }> }, name: string): string[] {
  const a = obj.attrs[name];
  if (!a) return [];
  const v = a.value;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.map((x) => (x instanceof Uint8Array ? new TextDecoder().decode(x) : String(x)));
  return [];
}
