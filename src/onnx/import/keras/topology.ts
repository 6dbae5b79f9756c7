/**
 * The Keras topology in one form, whichever file wrote it: TF.js layers `model.json` (Keras 2 style,
 * snake_case keys), legacy Keras `.h5` `model_config` (Keras 2) and Keras 3 `.keras` `config.json`
 * (`inbound_nodes` as `{args, kwargs}` with `__keras_tensor__` histories). Sequential models become
 * functional ones (each layer called on the previous one's output); nested models stay nested.
 */

import { ModelError } from '../../model.js';

/** One output of one call of a layer: Keras's keras_history [layer, node, tensor]. */
export interface TensorRef {
  layer: string;
  node: number;
  tensor: number;
}

export interface KLayer {
  className: string;
  name: string;
  config: Record<string, unknown>;
  /** Each call of the layer (one per inbound node), with the tensors it was called on. */
  calls: TensorRef[][];
  /** Set for a nested model (Functional, Model, Sequential). */
  model?: KModel;
}

export interface KModel {
  name: string;
  layers: KLayer[];
  inputs: TensorRef[];
  outputs: TensorRef[];
}

const MODEL_CLASSES = new Set(['Functional', 'Model', 'Sequential']);

/** A config key in snake_case or camelCase. */
export function cfg<T = unknown>(config: Record<string, unknown>, key: string): T | undefined {
  if (key in config) return config[key] as T;
  const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return config[camel] as T | undefined;
}

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ModelError(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** Reads a model config ({class_name, config}) into a KModel. */
export function parseModel(entry: unknown, where: string): KModel {
  const e = asObject(entry, where);
  const className = String(e.class_name ?? '');
  if (!MODEL_CLASSES.has(className)) {
    throw new ModelError(`${where}: the top-level object is a '${className || '?'}', not a Keras model (Sequential, Functional or Model)`);
  }
  return className === 'Sequential' ? parseSequential(e, where) : parseFunctional(e, where);
}

function layerName(l: Record<string, unknown>): string {
  const c = (l.config ?? {}) as Record<string, unknown>;
  const name = (l.name ?? c.name) as string | undefined;
  if (!name) throw new ModelError(`a layer of class '${String(l.class_name)}' has no name`);
  return name;
}

function parseLayer(l: Record<string, unknown>, calls: TensorRef[][], where: string): KLayer {
  const className = String(l.class_name ?? '');
  const config = (l.config && typeof l.config === 'object' ? l.config : {}) as Record<string, unknown>;
  const name = layerName(l);
  const layer: KLayer = { className, name, config, calls };
  if (MODEL_CLASSES.has(className)) layer.model = parseModel({ class_name: className, config: { ...config, name } }, `${where} > ${name}`);
  return layer;
}

function parseSequential(e: Record<string, unknown>, where: string): KModel {
  const config = e.config;
  // Keras 2.2 wrote a Sequential's config as the plain list of its layers
  const c = (Array.isArray(config) ? { layers: config } : asObject(config, `${where}: config`)) as Record<string, unknown>;
  const name = String(c.name ?? 'sequential');
  const raw = (c.layers ?? []) as Record<string, unknown>[];
  if (!Array.isArray(raw) || raw.length === 0) throw new ModelError(`${where}: the Sequential model '${name}' has no layers`);
  const layers: KLayer[] = [];
  let prev: TensorRef | undefined;
  const first = raw[0]!;
  if (String(first.class_name) !== 'InputLayer') {
    // the input is declared on the first layer (batch_input_shape) or by the config (build_input_shape),
    // or comes from the caller when the Sequential is nested
    const fc = (first.config ?? {}) as Record<string, unknown>;
    const shape = declaredInputShape(first) ?? cfg<unknown[]>(c, 'build_input_shape');
    const inputName = `${name}_input`;
    layers.push({ className: 'InputLayer', name: inputName, config: { batch_input_shape: shape ?? null, name: inputName, dtype: fc.dtype }, calls: [] });
    prev = { layer: inputName, node: 0, tensor: 0 };
  }
  for (const l of raw) {
    const layer = parseLayer(asObject(l, `${where}: a layer`), prev ? [[prev]] : [], where);
    layers.push(layer);
    prev = { layer: layer.name, node: 0, tensor: 0 };
  }
  const input = layers[0]!;
  return { name, layers, inputs: [{ layer: input.name, node: 0, tensor: 0 }], outputs: [prev!] };
}

/** The input shape a layer entry declares: batch_input_shape on it, or a nested model's input layer's. */
function declaredInputShape(l: Record<string, unknown>): unknown[] | undefined {
  const c = (l.config ?? {}) as Record<string, unknown>;
  const own = cfg<unknown[]>(c, 'batch_input_shape') ?? cfg<unknown[]>(c, 'batch_shape');
  if (own) return own;
  if (MODEL_CLASSES.has(String(l.class_name)) && Array.isArray(c.layers)) {
    const layers = c.layers as Record<string, unknown>[];
    const inputName = parseRefList(c.input_layers, '')[0]?.layer;
    const input = layers.find((x) => layerName(x) === inputName) ?? layers[0];
    return input ? declaredInputShape(input) : undefined;
  }
  return undefined;
}

function parseRefList(v: unknown, where: string): TensorRef[] {
  if (!Array.isArray(v)) return [];
  // [name, node, tensor] or a list of them
  if (v.length >= 1 && typeof v[0] === 'string') return [{ layer: v[0], node: Number(v[1] ?? 0), tensor: Number(v[2] ?? 0) }];
  return v.flatMap((x) => parseRefList(x, where));
}

/** The keras tensors in a Keras 3 call's args, in order. */
function kerasTensors(v: unknown, out: TensorRef[]): void {
  if (Array.isArray(v)) {
    for (const x of v) kerasTensors(x, out);
    return;
  }
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (o.class_name === '__keras_tensor__') {
      const h = (o.config as Record<string, unknown> | undefined)?.keras_history as unknown[] | undefined;
      if (h) out.push({ layer: String(h[0]), node: Number(h[1] ?? 0), tensor: Number(h[2] ?? 0) });
    }
  }
}

function parseCalls(inbound: unknown, where: string): TensorRef[][] {
  if (!Array.isArray(inbound)) return [];
  return inbound.map((node) => {
    if (Array.isArray(node)) {
      // Keras 2 / TF.js: [[name, node, tensor, kwargs], ...]
      return node.map((r) => {
        const a = r as unknown[];
        return { layer: String(a[0]), node: Number(a[1] ?? 0), tensor: Number(a[2] ?? 0) };
      });
    }
    // Keras 3: {args: [...], kwargs: {...}}
    const refs: TensorRef[] = [];
    const o = asObject(node, `${where}: an inbound node`);
    kerasTensors(o.args, refs);
    return refs;
  });
}

function parseFunctional(e: Record<string, unknown>, where: string): KModel {
  const c = asObject(e.config, `${where}: config`);
  const name = String(c.name ?? 'model');
  const raw = c.layers;
  if (!Array.isArray(raw) || raw.length === 0) throw new ModelError(`${where}: the model '${name}' has no layers`);
  const layers = raw.map((l) => {
    const o = asObject(l, `${where}: a layer`);
    return parseLayer(o, parseCalls(o.inbound_nodes, where), where);
  });
  const inputs = parseRefList(c.input_layers, where);
  const outputs = parseRefList(c.output_layers, where);
  if (inputs.length === 0 || outputs.length === 0) throw new ModelError(`${where}: the model '${name}' lists no input_layers or output_layers`);
  return { name, layers, inputs, outputs };
}
