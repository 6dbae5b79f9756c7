/**
 * The one dispatch over model sources (issue 22): an .onnx file, a TF.js model.json (graph models here,
 * layers models through the Keras importer), a .keras/.h5 file, or a folder — a hub folder (ONNX
 * variants, config.json's id2label, preprocessor_config.json) or a TF.js folder with its model.json.
 * Browser-safe: files come through ModelFiles (Node: src/node.ts nodeModelFiles; the browser: the
 * files dropped together, memoryModelFiles).
 */
import { ModelError } from '../model.js';
import { importTfjsGraph, type TfjsModelJson } from './tfjs-graph.js';
import { dirOf, joinPath } from './tfjs-weights.js';
import { importKerasModel } from './keras/index.js';
import type { ImportedModel, ImportedPreprocess, ModelFiles } from './types.js';

export type { ImportedModel, ImportedPreprocess, ModelFiles } from './types.js';
export { TFJS_GRAPH_OPS, TFJS_FUSED_OPS } from './tfjs-graph.js';

export interface ImportOptions {
  /** A hub folder's ONNX variant: 'default' (model.onnx), 'fp16', 'quantized', … (model_<variant>.onnx). */
  variant?: string;
}

/** An imported model and the file it was read from (relative to the source's folder). */
export interface ModelSource extends ImportedModel {
  /** The file read: the .onnx (its external data lies beside it), the model.json, the .keras/.h5. */
  entry: string;
}

/** ModelFiles over files held in memory (the browser's dropped files; tests). */
export function memoryModelFiles(files: ReadonlyMap<string, Uint8Array> | Record<string, Uint8Array>): ModelFiles {
  const map = files instanceof Map ? files as ReadonlyMap<string, Uint8Array> : new Map(Object.entries(files));
  return { names: [...map.keys()], read: async (name) => map.get(name) };
}

export { isModelFileName } from './names.js';

const parseJson = (bytes: Uint8Array, name: string): unknown => {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ModelError(`${name}: not valid JSON (${(e as Error).message})`);
  }
};

/**
 * Imports the model that `entry` names inside `files`: a file ('model.json', 'x.onnx', 'x.keras', 'x.h5')
 * or '' for the folder itself (a hub or TF.js folder). Labels and preprocessing come from the files
 * beside it (config.json, preprocessor_config.json) where the model's own files do not state them.
 */
export async function importModel(files: ModelFiles, entry = '', options: ImportOptions = {}): Promise<ModelSource> {
  const chosen = entry === '' || entry === '.' ? chooseEntry(files, options.variant) : { entry, note: undefined };
  if (options.variant !== undefined && !(entry === '' || entry === '.')) throw new ModelError(`--variant chooses among the ONNX files of a hub folder; give the folder, not ${entry}`);
  const file = chosen.entry;
  const lower = file.toLowerCase();
  let model: ImportedModel;
  if (lower.endsWith('.onnx')) {
    const bytes = await files.read(file);
    if (!bytes) throw new ModelError(`model file not found: ${file}`);
    model = { onnx: bytes, format: 'onnx', notes: [] };
  } else if (lower.endsWith('.json')) {
    const bytes = await files.read(file);
    if (!bytes) throw new ModelError(`model file not found: ${file}`);
    const json = parseJson(bytes, file) as TfjsModelJson;
    const format = json && typeof json === 'object' ? json.format : undefined;
    if (format === 'graph-model' || (format === undefined && Array.isArray(json?.modelTopology?.node))) model = await importTfjsGraph(files, file, json);
    else if (format === 'layers-model' || (format === undefined && json?.modelTopology && 'model_config' in (json.modelTopology as object))) model = await importKerasModel(files, file);
    else throw new ModelError(`${file}: not a TF.js model.json (its format is ${format === undefined ? 'not stated' : `'${String(format)}'`}; valid: 'graph-model', 'layers-model')`);
  } else if (/\.(keras|h5|hdf5)$/.test(lower)) {
    model = await importKerasModel(files, file);
  } else {
    throw new ModelError(`${file}: not a model file gradcam reads (valid: .onnx, a TF.js model.json, .keras, .h5, or a folder holding one)`);
  }
  const notes = [...(chosen.note ? [chosen.note] : []), ...model.notes];
  const hub = await hubFacts(files, dirOf(file), notes);
  const labels = model.labels ?? hub.labels;
  const preprocess = model.preprocess || hub.preprocess ? { ...hub.preprocess, ...model.preprocess } : undefined;
  return { ...model, ...(labels ? { labels } : {}), ...(preprocess ? { preprocess } : {}), format: model.format === 'onnx' && (hub.labels || hub.preprocess) ? 'hub' : model.format, notes, entry: file };
}

/** The model file of a folder: model.json, a single .keras/.h5, or an ONNX variant chosen by `variant`. */
function chooseEntry(files: ModelFiles, variant: string | undefined): { entry: string; note?: string } {
  const names = files.names;
  const onnx = names.filter((n) => n.toLowerCase().endsWith('.onnx') && (!n.includes('/') || /^onnx\/[^/]+$/.test(n)));
  if (variant === undefined) {
    if (names.includes('model.json') && !onnx.length) return { entry: 'model.json' };
    const keras = names.filter((n) => /^[^/]+\.(keras|h5|hdf5)$/i.test(n));
    if (!onnx.length && keras.length === 1) return { entry: keras[0]! };
  }
  if (!onnx.length) {
    throw new ModelError(variant !== undefined
      ? `--variant ${variant}: the folder holds no ONNX files (model.onnx or onnx/model_<variant>.onnx)`
      : 'the folder holds no model: give a folder with model.onnx (or onnx/model.onnx and its variants), a TF.js model.json, or one .keras/.h5 file');
  }
  const variantOf = (n: string) => {
    const stem = n.replace(/^onnx\//, '').replace(/\.onnx$/i, '');
    return stem === 'model' ? 'default' : stem.startsWith('model_') ? stem.slice(6) : stem;
  };
  const byVariant = new Map<string, string>();
  for (const n of onnx.sort((a, b) => (a.startsWith('onnx/') ? 0 : 1) - (b.startsWith('onnx/') ? 0 : 1))) if (!byVariant.has(variantOf(n))) byVariant.set(variantOf(n), n);
  const want = variant ?? (byVariant.has('default') ? 'default' : byVariant.size === 1 ? [...byVariant.keys()][0]! : undefined);
  const list = [...byVariant.keys()].join(', ');
  if (want === undefined) throw new ModelError(`the folder holds several ONNX variants and none is model.onnx; choose one with --variant (valid: ${list})`);
  const entry = byVariant.get(want);
  if (!entry) throw new ModelError(`--variant ${want}: no such ONNX file in the folder (valid: ${list})`);
  return { entry, note: `ONNX variant '${want}': ${entry}${byVariant.size > 1 ? ` (variants: ${list})` : ''}` };
}

const PIL_RESAMPLE: Record<number, ImportedPreprocess['resample'] | undefined> = { 0: 'nearest', 2: 'bilinear', 3: 'bicubic' };

/** Labels (config.json id2label) and preprocessing (preprocessor_config.json) in the model's folder or its parent (hub: onnx/ sits below them). */
async function hubFacts(files: ModelFiles, dir: string, notes: string[]): Promise<{ labels?: string[]; preprocess?: ImportedPreprocess }> {
  const find = (name: string) => [joinPath(dir, name), ...(dir ? [joinPath(dirOf(dir), name)] : [])].find((p) => files.names.includes(p));
  const out: { labels?: string[]; preprocess?: ImportedPreprocess } = {};
  const cfgName = find('config.json');
  if (cfgName) {
    const cfg = parseJson((await files.read(cfgName))!, cfgName) as { id2label?: Record<string, string> };
    if (cfg && typeof cfg === 'object' && cfg.id2label && typeof cfg.id2label === 'object') {
      const entries = Object.entries(cfg.id2label).map(([k, v]) => [Number(k), String(v)] as const);
      const n = entries.length;
      if (entries.some(([k]) => !Number.isInteger(k) || k < 0 || k >= n) || new Set(entries.map(([k]) => k)).size !== n) {
        throw new ModelError(`${cfgName}: id2label must map the indices 0..${n - 1} to labels, got keys ${Object.keys(cfg.id2label).slice(0, 5).join(', ')}…`);
      }
      const labels = Array<string>(n);
      for (const [k, v] of entries) labels[k] = v;
      out.labels = labels;
      notes.push(`labels: ${n} from ${cfgName} (id2label)`);
    }
  }
  const ppName = find('preprocessor_config.json');
  if (ppName) {
    out.preprocess = readPreprocessorConfig(parseJson((await files.read(ppName))!, ppName) as Record<string, unknown>, ppName, notes);
  }
  return out;
}

/** A hub preprocessor_config.json as ImportedPreprocess (image processors of ViT, ConvNeXt, ResNet, CLIP, DeiT...). */
export function readPreprocessorConfig(pp: Record<string, unknown>, name: string, notes: string[]): ImportedPreprocess {
  const bad = (what: string): never => { throw new ModelError(`${name}: ${what}`); };
  const hw = (v: unknown, what: string): [number, number] | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number') return [v, v];
    if (typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.height === 'number' && typeof o.width === 'number') return [o.height, o.width];
      if (typeof o.shortest_edge === 'number') return undefined;
    }
    return bad(`${what} must be a number or {height, width}, got ${JSON.stringify(v)}`);
  };
  const p: ImportedPreprocess = {};
  const said: string[] = [];
  const doResize = pp.do_resize !== false;
  const doCrop = pp.do_center_crop === true || (pp.do_center_crop === undefined && pp.crop_size !== undefined);
  const size = pp.size;
  const shortest = typeof size === 'object' && size !== null && typeof (size as Record<string, unknown>).shortest_edge === 'number' ? (size as Record<string, number>).shortest_edge : undefined;
  const crop = hw(pp.crop_size, 'crop_size');
  if (doResize) {
    const fixed = shortest === undefined ? hw(size, 'size') : undefined;
    if (fixed && !doCrop) { p.size = fixed; said.push(`size ${fixed[0]}x${fixed[1]}`); }
    else if (shortest !== undefined || (typeof size === 'number' && doCrop)) {
      const edge = shortest ?? (size as number);
      const cropPct = typeof pp.crop_pct === 'number' ? pp.crop_pct : undefined;
      const c = crop ?? (cropPct ? [edge, edge] as [number, number] : undefined);
      if (c && (doCrop || cropPct)) {
        p.resize = cropPct ? Math.floor(edge / cropPct) : edge;
        p.crop = c;
        p.size = c;
        said.push(`resize ${p.resize}, centre crop ${c[0]}x${c[1]}`);
      } else if (shortest !== undefined) {
        p.resize = edge;
        said.push(`resize ${edge}`);
      }
    } else if (fixed) { p.size = fixed; said.push(`size ${fixed[0]}x${fixed[1]}`); }
  }
  if (pp.do_rescale !== false) {
    const f = typeof pp.rescale_factor === 'number' ? pp.rescale_factor : 1 / 255;
    if (!(f > 0)) bad(`rescale_factor must be positive, got ${String(pp.rescale_factor)}`);
    p.divisor = 1 / f;
    said.push(`rescale 1/${+(1 / f).toPrecision(6)}`);
  } else p.divisor = 1;
  if (pp.do_normalize !== false && (pp.image_mean !== undefined || pp.image_std !== undefined)) {
    const three = (v: unknown, what: string): number[] => (Array.isArray(v) && (v.length === 3 || v.length === 1) && v.every((x) => typeof x === 'number') ? v as number[] : bad(`${what} must be 3 numbers, got ${JSON.stringify(v)}`));
    p.mean = three(pp.image_mean ?? [0, 0, 0], 'image_mean');
    p.std = three(pp.image_std ?? [1, 1, 1], 'image_std');
    if (p.std.some((s) => s === 0)) bad('image_std must not hold 0');
    said.push(`mean [${p.mean.join(', ')}], std [${p.std.join(', ')}]`);
  } else { p.mean = [0, 0, 0]; p.std = [1, 1, 1]; }
  p.channelOrder = 'RGB';
  if (pp.resample !== undefined) {
    const r = PIL_RESAMPLE[Number(pp.resample)];
    if (!r) bad(`resample ${String(pp.resample)} is not one gradcam resizes with (0 nearest, 2 bilinear, 3 bicubic)`);
    p.resample = r;
    said.push(`resample ${r}`);
  }
  notes.push(`preprocessing from ${name}: ${said.join(', ')}`);
  return p;
}
