/**
 * The Keras topology importer (issue 22): TF.js layers models (`model.json` + .bin shards, Teachable
 * Machine's `metadata.json` beside them), Keras 3 `.keras` zips (config.json + model.weights.h5) and
 * legacy Keras `.h5` files (model_config attribute + model_weights group), all into one ONNX graph in
 * the model's own channels-last layout, each layer's output named by the layer.
 * Browser-safe: files come through ModelFiles; HDF5 through h5wasm's in-memory file system.
 */
import { unzipSync, strFromU8 } from 'fflate';
import { encodeModel, makeValueInfo, ModelError, type ModelProto } from '../../model.js';
import { DATA_TYPE } from '../../tensor.js';
import type { ImportedModel, ImportedPreprocess, ModelFiles } from '../types.js';
import { CONVERTERS, Emitter, supportedLayers, type Dialect, type T } from './layers.js';
import { parseModel, cfg, type KLayer, type KModel, type TensorRef } from './topology.js';
import { dirOf } from '../tfjs-weights.js';
import { attrString, attrStrings, datasetWeight, NamedWeights, PositionalWeights, readManifestWeights, withH5, type Weight, type WeightStore } from './weights.js';

export { supportedLayers };

const OPSET = 17;

interface Source {
  model: KModel;
  weights: WeightStore;
  dialect: Dialect;
  format: string;
  labels?: string[];
  preprocess?: ImportedPreprocess;
  notes: string[];
}

function parseJson(bytes: Uint8Array, name: string): unknown {
  try {
    return JSON.parse(strFromU8(bytes));
  } catch (e) {
    throw new ModelError(`${name}: not valid JSON (${(e as Error).message})`);
  }
}

/** Keras 3 or later, from a version string ('3.4.1'; TF.js writes 'tfjs-layers 4.22.0'). */
function isKeras3(version: string | undefined): boolean {
  const m = /^(\d+)\./.exec(version ?? '');
  return !!m && Number(m[1]) >= 3;
}

async function readTfjsLayers(files: ModelFiles, entry: string, json: Record<string, unknown>): Promise<Source> {
  const notes: string[] = [];
  if (json.format === 'graph-model' || (json.modelTopology && typeof json.modelTopology === 'object' && 'node' in (json.modelTopology as object))) {
    throw new ModelError(`${entry}: a TF.js graph model (format graph-model), not a layers model`);
  }
  let topo = json.modelTopology as Record<string, unknown> | undefined;
  if (!topo) throw new ModelError(`${entry}: no modelTopology: not a TF.js layers model.json`);
  const version = (topo.keras_version as string | undefined) ?? (json.generatedBy as string | undefined);
  // tensorflowjs_converter writes {keras_version, backend, model_config: {class_name, config}}; tf.LayersModel.save the model itself
  if (topo.model_config) topo = topo.model_config as Record<string, unknown>;
  const model = parseModel(topo, entry);
  const dir = dirOf(entry);
  const weights = await readManifestWeights(json.weightsManifest, files, dir, notes);
  notes.unshift(`TF.js layers model ${entry} (${version ?? 'unknown version'}): ${weights.size} weight tensor(s)`);
  const src: Source = { model, weights, dialect: { keras3: isKeras3(version), tfjs: true }, format: 'tfjs-layers', notes };
  // Teachable Machine: metadata.json beside model.json (labels, imageSize); else TF.js user metadata
  const metaName = dir ? `${dir}/metadata.json` : 'metadata.json';
  const metaBytes = files.names.includes(metaName) ? await files.read(metaName) : undefined;
  const user = json.userDefinedMetadata as Record<string, unknown> | undefined;
  if (metaBytes) {
    const meta = parseJson(metaBytes, metaName) as Record<string, unknown>;
    if (Array.isArray(meta.labels)) src.labels = meta.labels.map(String);
    const tm = typeof meta.tmVersion === 'string' || String(meta.packageName ?? '').startsWith('@teachablemachine/');
    if (tm && String(meta.packageName ?? '@teachablemachine/image') === '@teachablemachine/image') {
      // @teachablemachine/image's capture(): the centre square, drawn at imageSize, then pixels / 127 − 1
      const s = Number(meta.imageSize ?? 224);
      src.preprocess = { size: [s, s], resize: s, crop: [s, s], divisor: 127, mean: [1, 1, 1], std: [1, 1, 1], channelOrder: 'RGB' };
      notes.push(`Teachable Machine image model (${metaName}): ${src.labels?.length ?? 0} label(s); input: the centre square at ${s}×${s}, pixels / 127 − 1 as @teachablemachine/image does`);
    } else if (src.labels) notes.push(`${src.labels.length} label(s) from ${metaName}`);
  } else if (user && Array.isArray(user.labels)) {
    src.labels = user.labels.map(String);
    notes.push(`${src.labels.length} label(s) from model.json's userDefinedMetadata`);
  }
  return src;
}

async function readKeras3(files: ModelFiles, entry: string): Promise<Source> {
  const bytes = await files.read(entry);
  if (!bytes) throw new ModelError(`${entry}: the file is missing`);
  let zip: Record<string, Uint8Array>;
  try {
    zip = unzipSync(bytes);
  } catch (e) {
    throw new ModelError(`${entry}: not a Keras 3 .keras file (not a zip: ${(e as Error).message})`);
  }
  if (!zip['config.json'] || !zip['model.weights.h5']) {
    throw new ModelError(`${entry}: not a Keras 3 .keras file (it needs config.json and model.weights.h5; it has ${Object.keys(zip).join(', ') || 'nothing'})`);
  }
  const meta = zip['metadata.json'] ? (parseJson(zip['metadata.json'], `${entry}/metadata.json`) as Record<string, unknown>) : {};
  const version = meta.keras_version as string | undefined;
  const model = parseModel(parseJson(zip['config.json'], `${entry}/config.json`), `${entry}/config.json`);
  const groups = await withH5(zip['model.weights.h5'], `${entry}/model.weights.h5`, (file, lib) => {
    const out = new Map<string, Weight[]>();
    const walk = (g: import('h5wasm').Group, path: string) => {
      for (const k of g.keys()) {
        const child = g.get(k);
        const p = path ? `${path}/${k}` : k;
        if (child instanceof lib.Group) {
          if (k === 'vars') {
            const ds = child.keys().filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(a) - Number(b));
            out.set(path, ds.map((n) => datasetWeight(child.get(n) as import('h5wasm').Dataset, `${entry}: ${p}/${n}`)));
          } else walk(child, p);
        }
      }
    };
    walk(file, '');
    return out;
  });
  return {
    model, weights: new PositionalWeights(groups), dialect: { keras3: version ? isKeras3(version) : true, tfjs: false }, format: 'keras',
    notes: [`Keras ${version ?? '3'} file ${entry}`],
  };
}

async function readH5(files: ModelFiles, entry: string): Promise<Source> {
  const bytes = await files.read(entry);
  if (!bytes) throw new ModelError(`${entry}: the file is missing`);
  return withH5(bytes, entry, (file, lib) => {
    const config = attrString(file, 'model_config');
    if (!config) {
      throw new ModelError(`${entry}: no model_config attribute: a weights-only .h5 (save_weights) or not a Keras model file; save the whole model (model.save('model.h5'))`);
    }
    const version = attrString(file, 'keras_version');
    const model = parseModel(parseJson(new TextEncoder().encode(config), `${entry}: model_config`), `${entry}: model_config`);
    const weights = new NamedWeights();
    const root = file.get('model_weights');
    const group = root instanceof lib.Group ? root : file;
    const layerNames = attrStrings(group, 'layer_names');
    for (const ln of layerNames.length ? layerNames : group.keys()) {
      const lg = group.get(ln);
      if (!(lg instanceof lib.Group)) continue;
      for (const wn of attrStrings(lg, 'weight_names')) {
        const d = lg.get(wn);
        if (!(d instanceof lib.Dataset)) throw new ModelError(`${entry}: layer '${ln}' lists the weight '${wn}' but the file has no such dataset`);
        weights.add(wn, datasetWeight(d, `${entry}: ${ln}/${wn}`));
      }
    }
    return {
      model, weights, dialect: { keras3: isKeras3(version), tfjs: false }, format: 'keras',
      notes: [`Keras ${version ?? '(unknown version)'} HDF5 file ${entry}: ${weights.size} weight tensor(s)`],
    } satisfies Source;
  });
}

/** Builds the ONNX graph: the top model's inputs become graph inputs, nested models are inlined. */
function build(src: Source): { onnx: ModelProto; inputLayers: KLayer[] } {
  const e = new Emitter();
  const top = src.model;
  const graphInputs: T[] = [];
  const inputLayers: KLayer[] = [];
  for (const ref of top.inputs) {
    const l = top.layers.find((x) => x.name === ref.layer);
    if (!l || l.className !== 'InputLayer') throw new ModelError(`model '${top.name}': its input '${ref.layer}' is not an InputLayer`);
    const shape = (cfg<unknown[]>(l.config, 'batch_input_shape') ?? cfg<unknown[]>(l.config, 'batch_shape'))
      ?? (cfg<unknown[]>(l.config, 'input_shape') ? [null, ...cfg<unknown[]>(l.config, 'input_shape')!] : undefined);
    if (!shape) throw new ModelError(`model '${top.name}': the input layer '${l.name}' declares no shape`);
    const dtype = String(cfg(l.config, 'dtype') ?? 'float32');
    if (typeof cfg(l.config, 'dtype') === 'string' && !dtype.startsWith('float')) throw new ModelError(`input '${l.name}': dtype ${dtype} is not supported (float inputs)`);
    graphInputs.push({ name: e.unique(l.name), shape: shape.map((d, i) => (i === 0 || d == null ? null : Number(d))) });
    inputLayers.push(l);
  }
  const outputs = run(top, [], graphInputs, e, src);
  const dims = (t: T) => t.shape.map((d, i) => (d != null ? d : i === 0 ? 'N' : `${t.name}_${i}`));
  const onnx: ModelProto = {
    ir_version: 8,
    opset_import: [{ domain: '', version: OPSET }],
    producer_name: 'gradcam keras importer',
    graph: {
      name: top.name,
      node: e.nodes,
      initializer: e.initializers,
      input: graphInputs.map((t) => makeValueInfo(t.name, DATA_TYPE.float32, dims(t))),
      output: outputs.map((t) => makeValueInfo(t.name, DATA_TYPE.float32, dims(t))),
    },
  };
  return { onnx, inputLayers };
}

/** Runs a model's layers on `inputs` (one per model input); returns its outputs. */
function run(model: KModel, path: string[], inputs: T[], e: Emitter, src: Source): T[] {
  if (inputs.length !== model.inputs.length) throw new ModelError(`model '${model.name}' takes ${model.inputs.length} input(s), called with ${inputs.length}`);
  const produced = new Map<string, T[][]>();
  const key = (r: TensorRef) => produced.get(r.layer)?.[r.node]?.[r.tensor];
  model.inputs.forEach((r, i) => produced.set(r.layer, [[inputs[i]!]]));
  const pending: { layer: KLayer; call: number }[] = [];
  for (const l of model.layers) {
    if (l.className === 'InputLayer') {
      if (!produced.has(l.name)) throw new ModelError(`model '${model.name}': the input layer '${l.name}' is not among its inputs`);
      continue;
    }
    l.calls.forEach((_, i) => pending.push({ layer: l, call: i }));
  }
  while (pending.length) {
    const k = pending.findIndex(({ layer, call }) => layer.calls[call]!.every((r) => key(r)) && (produced.get(layer.name)?.length ?? 0) === call);
    if (k < 0) {
      const { layer, call } = pending[0]!;
      const missing = layer.calls[call]!.filter((r) => !key(r)).map((r) => r.layer);
      throw new ModelError(`model '${model.name}': layer '${layer.name}' reads layer(s) ${missing.map((m) => `'${m}'`).join(', ')} that the model does not compute`);
    }
    const { layer, call } = pending.splice(k, 1)[0]!;
    const ins = layer.calls[call]!.map((r) => key(r)!);
    const out = call === 0 ? layer.name : `${layer.name}_call${call}`;
    let outs: T[];
    if (layer.model) outs = run(layer.model, [...path, layer.name], ins, e, src);
    else {
      const conv = CONVERTERS[layer.className];
      if (!conv) {
        throw new ModelError(`layer '${layer.name}': the layer type '${layer.className}' is not supported (supported: ${supportedLayers().join(', ')})`);
      }
      outs = conv({ layer, path, inputs: ins, out, e, dialect: src.dialect, weights: (kinds) => src.weights.layer(path, layer.name, kinds) });
    }
    const list = produced.get(layer.name) ?? [];
    list.push(outs);
    produced.set(layer.name, list);
  }
  return model.outputs.map((r) => {
    const t = key(r);
    if (!t) throw new ModelError(`model '${model.name}': its output '${r.layer}' is not computed`);
    return t;
  });
}

/**
 * Imports a Keras-topology model: `entry` is the file the user named — a TF.js layers `model.json`,
 * a Keras 3 `.keras` or a legacy Keras `.h5` — read through `files` with its weights (and metadata.json).
 */
export async function importKerasModel(files: ModelFiles, entry: string): Promise<ImportedModel> {
  const lower = entry.toLowerCase();
  let src: Source;
  if (lower.endsWith('.keras')) src = await readKeras3(files, entry);
  else if (lower.endsWith('.h5') || lower.endsWith('.hdf5')) src = await readH5(files, entry);
  else if (lower.endsWith('.json')) {
    const bytes = await files.read(entry);
    if (!bytes) throw new ModelError(`${entry}: the file is missing`);
    src = await readTfjsLayers(files, entry, parseJson(bytes, entry) as Record<string, unknown>);
  } else throw new ModelError(`${entry}: not a Keras-topology model file (a TF.js layers model.json, a Keras .keras or a Keras .h5)`);
  const { onnx, inputLayers } = build(src);
  const notes = src.notes;
  const input = onnx.graph.input[0]!;
  const hw = (input.type?.tensor_type?.shape?.dim ?? []).slice(1, 3).map((d) => Number(d.dim_value ?? 0));
  const preprocess: ImportedPreprocess = { ...(src.preprocess ?? {}) };
  if (!preprocess.size && hw.length === 2 && hw.every((d) => d > 0)) preprocess.size = [hw[0]!, hw[1]!];
  // the model's own Rescaling / Normalization on its input: it takes raw 0..255 pixels
  const own = inputLayers.length === 1 ? rescalesInput(src.model, inputLayers[0]!.name) : undefined;
  if (own && !src.preprocess) {
    preprocess.divisor = 1;
    const c = Number((input.type?.tensor_type?.shape?.dim ?? [])[3]?.dim_value ?? 3) || 3;
    preprocess.mean = new Array(c).fill(0);
    preprocess.std = new Array(c).fill(1);
    notes.push(`the model rescales its input itself (${own}): it takes raw pixels 0..255`);
  }
  return { onnx: encodeModel(onnx), format: src.format, ...(src.labels ? { labels: src.labels } : {}), preprocess, notes };
}

/** The class of the Rescaling / Normalization layer that the top model applies first to its input, if any. */
function rescalesInput(model: KModel, input: string): string | undefined {
  for (const l of model.layers) {
    if (!l.calls.some((call) => call.some((r) => r.layer === input))) continue;
    if (l.className === 'Rescaling' || l.className === 'Normalization') return l.className;
    if (l.model) return rescalesInput(l.model, l.model.inputs[0]?.layer ?? '');
  }
  return undefined;
}
