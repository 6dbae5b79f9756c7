/**
 * The Explainer: loads a model once, finds its input layout, labels and candidate layers, caches
 * compiled gradient graphs per (layers, output, input size), and explains batches of input tensors.
 * Browser-safe: the runtime is injected as a SessionFactory.
 */
import type { ImportedPreprocess } from './onnx/import/types.js';
import { GradientEngine, probe, type CompileCache } from './runtime/engine.js';
import { cloneModel, realInputs, refuseEarly, scoreTensor, STE_NOTE, type GradientSpec } from './autodiff/compiler.js';
import { QUANTIZED_OPS } from './autodiff/rules/quantize.js';
import { upgradeOpset } from './onnx/upgrade.js';
import { promoteToFloat32 } from './onnx/precision.js';
import { batchImageInput } from './onnx/batch.js';
import { GraphIndex } from './onnx/model.js';
import { analyzeLayouts } from './layout/graph.js';
import { explainable, layoutFromOverride, layoutLabel, toChannelsFirst, toNCHW, type LayerLayout } from './layout/describe.js';
import { camMethod } from './cam/index.js';
import { findMethod, getMethod, METHODS, readsGradients, resolveMethodOptions } from './methods/index.js';
import { explainPixels } from './methods/pixels.js';
import { gradcam } from './cam/methods/gradcam.js';
import { explainFamily, needsFamily, type FamilyOptions } from './cam/runner.js';
import { denseClassError, isDenseOutput } from './cam/targets.js';
import { gradientMagnitudeMap } from './image/gradient.js';
import { postprocess, postprocessVolume } from './cam/pipeline.js';
import type { VolumeResize } from './image/resize3d.js';
import { declaredDims, decodeModel, encodeModel, inlineExternalData, metadata, topoOrder, ModelError, type ModelProto } from './onnx/model.js';
import type { ExternalDataReader } from './onnx/tensor.js';
import type { Rectifier } from './autodiff/rule.js';
import { runInChunks, withArenaFor, type Session, type SessionFactory, type SessionOptions } from './runtime/session.js';
import { closest } from './util/closest.js';
import { InputError, argmax, softmax } from './util/scores.js';

export { InputError, argmax, softmax };
export type { ClassChoice, ClassScore, ExplainerOptions, ExplainOptions, ExplainResult, Explanation, ImportedFacts, LayerInfo, Layout, RunOptions, RunResult } from './types.js';
import type { PixelExplanation } from './types.js';
import type { ClassChoice, ClassScore, ExplainerOptions, ExplainOptions, ExplainResult, Explanation, ImportedFacts, LayerInfo, Layout, RunOptions, RunResult } from './types.js';
import { cancellationWarning, cancelled, cancelledFromScale, degenerateWarnings } from './cam/degenerate.js';


/** Candidate layers and the layouts of every tensor on the score's path, for one input size and output. */
interface LayerTable {
  list: LayerInfo[];
  /** Every tensor between the input and the score, with its shape and layout (known or not). */
  all: Map<string, { op: string; shape: number[]; layout: LayerLayout }>;
}



const SHAPE_OPS = new Set(['Shape', 'Constant', 'ConstantOfShape', 'Range', 'Size', 'NonZero']);
/** Ops whose integer inputs (axes, starts, indices, repeats, pads) the layout inference reads. */
const PARAM_INPUTS: Record<string, number[]> = {
  Slice: [1, 2, 3, 4], Gather: [1], Tile: [1], Pad: [1, 3], ReduceMean: [1], ReduceSum: [1], ReduceMax: [1], ReduceMin: [1],
  ReduceL1: [1], ReduceL2: [1], ReduceProd: [1], ReduceSumSquare: [1], ReduceLogSum: [1], ReduceLogSumExp: [1],
};

export class Explainer {
  readonly inputName: string;
  readonly inputDims: (number | string | null)[];
  /** Channels first (NCHW, and NCDHW for volumes) or last (NHWC, NDHWC). */
  readonly layout: Layout;
  /** A 3-D model: its input is [N, C, D, H, W] (or channels last) and its maps are volumes [D, H, W]. */
  readonly volume: boolean;
  readonly labels?: string[];
  readonly source: string;
  /** Set for models imported from TF.js, Keras or a hub folder (ExplainerOptions.imported). */
  readonly imported?: ImportedFacts;
  private readonly engine: GradientEngine;
  private readonly layerCache = new Map<string, Promise<LayerTable>>();
  /**
   * The model as gradcam runs it: a float16 / bfloat16 model promoted to float32 (`promoteToFloat32`:
   * forward and backward in float32 on the model's own half-rounded weights), with a batched [1, C, H, W]
   * input where it takes one [C, H, W] image (onnx/batch.ts); otherwise the model itself.
   */
  readonly model: ModelProto;
  /** The half-precision types the model was stored in (empty for a float32 model); it runs in float32. */
  readonly promoted: ('float16' | 'bfloat16')[];

  constructor(original: ModelProto, private readonly options: ExplainerOptions) {
    this.source = options.source ?? 'model';
    if (options.imported) this.imported = options.imported;
    inlineExternalData(original, options.external, this.source);
    const { model, promoted } = promoteToFloat32(batchImageInput(original));
    this.model = model;
    this.promoted = promoted;
    const inputs = realInputs(model);
    if (inputs.length !== 1) {
      throw new ModelError(`${this.source}: models with ${inputs.length} inputs are not supported (${inputs.join(', ')}); gradcam explains single-input image models`);
    }
    this.inputName = inputs[0]!;
    const vi = model.graph.input.find((i) => i.name === this.inputName)!;
    const dims = declaredDims(vi);
    if (!dims || (dims.length !== 4 && dims.length !== 5)) {
      throw new ModelError(`${this.source}: input '${this.inputName}' has shape [${(dims ?? []).join(', ')}]; an image model needs a 4-D input (NCHW or NHWC; or one [C, H, W] image, as torchvision exports detectors), a volume model a 5-D one (NCDHW or NDHWC)`);
    }
    this.inputDims = dims;
    this.volume = dims.length === 5;
    const last = dims[dims.length - 1];
    this.layout = last === 3 || last === 1 ? (dims[1] === 3 || dims[1] === 1 ? 'NCHW' : 'NHWC') : 'NCHW';
    this.labels = options.labels ?? parseLabels(metadata(model)['labels']);
    this.engine = new GradientEngine(model, options.createSession, options.sessionOptions, options.external, options.cache);
  }

  static fromBytes(bytes: Uint8Array, options: ExplainerOptions): Explainer {
    return new Explainer(decodeModel(bytes, options.source ?? 'model'), options);
  }

  get channels(): number {
    const c = this.layout === 'NCHW' ? this.inputDims[1] : this.inputDims[this.inputDims.length - 1];
    return typeof c === 'number' ? c : 3;
  }

  /** The model's fixed input size [H, W] (of a volume model: its last two axes), or null where it is dynamic. */
  get inputSize(): [number | null, number | null] {
    const g = this.inputGrid;
    return [g[g.length - 2]!, g[g.length - 1]!];
  }

  /** The model's fixed grid: [H, W], or [D, H, W] for a volume model; null where dynamic. */
  get inputGrid(): (number | null)[] {
    const d = this.inputDims;
    const g = this.layout === 'NCHW' ? d.slice(2) : d.slice(1, -1);
    return g.map((v) => (typeof v === 'number' ? v : null));
  }

  /** Input dims for one image (or volume) at the given size (required where the model's size is dynamic). */
  imageDims(size?: readonly number[]): number[] {
    const fixed = this.inputGrid;
    if (size && size.length !== fixed.length && fixed.some((v) => v === null)) {
      throw new InputError(`${this.source}: a size of ${size.length} values given for a model whose input grid has ${fixed.length} axes (${fixed.length === 3 ? 'D×H×W' : 'H×W'})`);
    }
    const g = fixed.map((v, k) => v ?? size?.[k]);
    if (g.some((v) => v == null)) {
      throw new InputError(`${this.source}: input '${this.inputName}' has a dynamic ${this.volume ? 'depth/height/width' : 'height/width'} [${this.inputDims.join(', ')}]; give the size to use (--size ${this.volume ? 'DxHxW' : 'H[xW]'})`);
    }
    return this.layout === 'NCHW' ? [1, this.channels, ...(g as number[])] : [1, ...(g as number[]), this.channels];
  }

  /**
   * Candidate layers: the tensors the score depends on whose layout is known (NCHW, NHWC, tokens with
   * a grid) and whose grid has more than one cell, in graph order, with the automatic choice marked.
   */
  async layers(size?: readonly number[], output?: string): Promise<LayerInfo[]> {
    return (await this.layerTable(size, output)).list;
  }

  /** Every tensor the score depends on, with its layout (known or not): `gradcam layers --all`. */
  async allTensors(size?: readonly number[], output?: string): Promise<LayerInfo[]> {
    const t = await this.layerTable(size, output);
    const auto = t.list.find((l) => l.auto)?.name;
    return [...t.all.entries()].map(([name, v]) => ({ name, op: v.op, shape: v.shape, layout: v.layout, auto: name === auto }));
  }

  private layerTable(size?: readonly number[], output?: string): Promise<LayerTable> {
    const key = JSON.stringify([size ?? null, output ?? null]);
    let p = this.layerCache.get(key);
    if (!p) {
      p = this.cachedLayers(key, size, output);
      this.layerCache.set(key, p);
      p.catch(() => this.layerCache.delete(key));
    }
    return p;
  }

  /** findLayers through the CompileCache: its probe run with every tensor exposed is the slow part of a cold start. */
  private async cachedLayers(key: string, size?: readonly number[], output?: string): Promise<LayerTable> {
    const store = this.options.cache;
    if (!store) return this.findLayers(size, output);
    const k = `layers ${JSON.stringify([key, this.imageDims(size)])}`;
    const hit = await store.get(k).catch(() => undefined);
    if (hit) {
      try {
        const v = JSON.parse(new TextDecoder().decode(hit)) as { all: [string, { op: string; shape: number[]; layout: LayerLayout }][]; auto: string[] };
        const all = new Map(v.all);
        const auto = new Set(v.auto);
        const list: LayerInfo[] = [...all.entries()].filter(([, t]) => explainable(t.layout)).map(([name, t]) => ({ name, op: t.op, shape: t.shape, layout: t.layout, auto: auto.has(name) }));
        return { list, all };
      } catch {
        // a damaged entry: probe again
      }
    }
    const t = await this.findLayers(size, output);
    const value = { all: [...t.all.entries()], auto: t.list.filter((l) => l.auto).map((l) => l.name) };
    await store.set(k, new TextEncoder().encode(JSON.stringify(value))).catch(() => {});
    return t;
  }

  private async findLayers(size?: readonly number[], output?: string): Promise<LayerTable> {
    const out = output ?? this.model.graph.output[0]!.name;
    if (!this.model.graph.output.some((o) => o.name === out)) {
      throw new InputError(`unknown output '${out}'; the model's outputs are: ${this.model.graph.output.map((o) => o.name).join(', ')}`);
    }
    const score = scoreTensor(this.model, out);
    // the opset-17 forms of the ops (Slice, Squeeze... take their parameters as inputs)
    const model = cloneModel(this.model);
    upgradeOpset(model);
    const index = new GraphIndex(model);
    const order = topoOrder(model.graph);
    const ancestors = new Set([score]);
    for (let k = order.length - 1; k >= 0; k--) {
      const n = order[k]!;
      if (n.output.some((o) => ancestors.has(o))) for (const i of n.input) ancestors.add(i);
    }
    const producers = new Map<string, string>();
    const names: string[] = [];
    const params = new Set<string>();
    for (const n of order) {
      if (SHAPE_OPS.has(n.op_type) || !n.output.some((o) => ancestors.has(o))) continue;
      for (const o of n.output) if (o && ancestors.has(o)) { producers.set(o, n.op_type); names.push(o); }
      const slots = n.op_type.startsWith('Reduce') && !PARAM_INPUTS[n.op_type] ? [1] : PARAM_INPUTS[n.op_type] ?? [];
      for (const k of slots) {
        const t = n.input[k];
        if (t && !index.constant(t)) params.add(t);
      }
    }
    const dims = this.imageDims(size);
    const probed = await probe(model, this.inputName, names, [...params], dims, this.options.createSession);
    const analysis = analyzeLayouts({
      order, input: this.inputName, inputLayout: this.layout, score, batch: 1,
      shape: (t) => probed.shapes.get(t),
      constant: (t) => index.constant(t),
      value: (t) => probed.values.get(t),
    });
    const all = new Map<string, { op: string; shape: number[]; layout: LayerLayout }>();
    for (const name of names) {
      const shape = probed.shapes.get(name);
      const layout = analysis.layouts.get(name);
      if (shape && layout && name !== score) all.set(name, { op: producers.get(name)!, shape, layout });
    }
    const list: LayerInfo[] = [...all.entries()]
      .filter(([, v]) => explainable(v.layout))
      .map(([name, v]) => ({ name, op: v.op, shape: v.shape, layout: v.layout, auto: name === analysis.auto }));
    return { list, all };
  }

  async autoLayer(size?: readonly number[], output?: string): Promise<string> {
    const auto = (await this.layers(size, output)).find((l) => l.auto);
    if (!auto) throw new InputError(`${this.source}: found no layer with a known layout and a grid larger than 1×1 to explain; name one with --layer (and its layout with --layout nchw|nhwc|tokens:HxW[+P])`);
    return auto.name;
  }

  async resolveLayers(layer: string | string[] | undefined, size: readonly number[], output?: string, layout?: string): Promise<string[]> {
    const requested = layer === undefined ? ['auto'] : Array.isArray(layer) ? layer : [layer];
    const out: string[] = [];
    for (const l of requested) {
      out.push(l === 'auto' ? await this.autoLayer(size, output) : await this.byModule(l, size, output));
      await this.layerLayout(out[out.length - 1]!, size, output, layout);
    }
    return out;
  }

  /**
   * A tensor name, or a module name as in the training code (`layer4`, `layer4.2`, `features.18`,
   * `encoder.layers.encoder_layer_11.ln_1`, or with '/' separators): the last candidate layer in that
   * module's name scope. Exporters name tensors `/layer4/layer4.2/relu_2/Relu_output_0`.
   */
  private async byModule(name: string, size: readonly number[], output?: string): Promise<string> {
    const table = await this.layerTable(size, output);
    if (table.all.has(name)) return name;
    const want = name.includes('/') ? name.split('/').filter(Boolean).map((p) => p.split('.').pop()!) : name.split('.').filter(Boolean);
    if (!want.length) return name;
    const matches = table.list.filter((l) => {
      // scope levels without the final op output; 'layer4.2' levels are reduced to their last part
      const levels = l.name.split('/').filter(Boolean).slice(0, -1).map((p) => p.split('.').pop()!);
      return want.every((w, k) => levels[k] === w);
    });
    return matches.length ? matches[matches.length - 1]!.name : name;
  }

  /**
   * The layout of a layer at an input size: inferred, or from `override` ('nchw', 'nhwc',
   * 'tokens:HxW[+P]'). Throws a clear error for tensors that are not layers of the score, whose layout is
   * unknown, or whose grid is 1×1.
   */
  async layerLayout(layer: string, size: readonly number[], output?: string, override?: string): Promise<LayerLayout> {
    const table = await this.layerTable(size, output);
    const t = table.all.get(layer);
    if (!t) {
      const known = this.model.graph.node.some((n) => n.output.includes(layer));
      const why = known ? 'is not a tensor that the score depends on' : 'does not exist in the model';
      throw new InputError(`layer '${layer}' ${why}. Closest candidate layers: ${closest(layer, table.list.map((x) => x.name)).join(', ')} (list them all with \`gradcam layers\`)`);
    }
    if (override !== undefined) {
      let l: LayerLayout;
      try {
        l = layoutFromOverride(override, t.shape);
      } catch (e) {
        throw new InputError(`layer '${layer}': ${(e as Error).message}`);
      }
      if (!explainable(l)) throw new InputError(`layer '${layer}' read as ${layoutLabel(l)} has a 1×1 grid: nothing to localise; choose an earlier layer`);
      return l;
    }
    const l = t.layout;
    const hint = 'give its layout with --layout nchw|nhwc|tokens:HxW[+P] if you know it';
    if (l.kind === 'unknown') throw new InputError(`layer '${layer}' [${t.shape.join(', ')}] has no layout gradcam can be sure of (${l.reason}); ${hint}`);
    const rank = this.inputGrid.length;
    if (l.grid.length !== rank) throw new InputError(`layer '${layer}' [${t.shape.join(', ')}] is a ${l.grid.length}-D layer (${layoutLabel(l)}) of a model with ${rank}-D inputs; choose a ${rank}-D layer (\`gradcam layers\` lists them)`);
    if (!explainable(l)) throw new InputError(`layer '${layer}' [${t.shape.join(', ')}] has a 1×1 grid (${layoutLabel(l)}): nothing to localise; choose an earlier layer (\`gradcam layers\` lists them)`);
    return l;
  }

  /** A layer's tensor (in its own layout) as [N, C, h, w]. */
  async canonical(layer: string, t: { data: Float32Array; dims: number[] }, size: readonly number[], output?: string, override?: string): Promise<{ data: Float32Array; dims: [number, number, number, number] }> {
    return toNCHW(t.data, t.dims, await this.layerLayout(layer, size, output, override));
  }

  /** Checks a batch's dims against a 2-D model's input; returns the spatial size [H, W]. */
  checkInput(input: Float32Array, dims: number[]): [number, number] {
    if (this.volume) throw new InputError(`${this.source} takes volumes [N, C, D, H, W]; this step explains 2-D images only`);
    return this.checkGrid(input, dims) as [number, number];
  }

  /** Checks a batch's dims against the model input; returns its grid ([H, W], or [D, H, W] for volumes). */
  checkGrid(input: Float32Array, dims: number[]): number[] {
    const layout = this.volume ? (this.layout === 'NCHW' ? 'NCDHW' : 'NDHWC') : this.layout;
    const bad = () => new InputError(`input shape [${dims.join(', ')}] does not match the model's input '${this.inputName}' [${this.inputDims.map((d) => d ?? '?').join(', ')}] (${layout})`);
    if (dims.length !== this.inputDims.length) throw bad();
    const grid = this.layout === 'NCHW' ? dims.slice(2) : dims.slice(1, -1);
    const expected = this.imageDims(grid);
    if (dims.slice(1).some((d, i) => d !== expected[i + 1])) throw bad();
    if (input.length !== dims.reduce((a, v) => a * v, 1)) throw new InputError(`input has ${input.length} values, expected ${dims.join('×')}`);
    return grid;
  }

  /**
   * One forward + backward run: logits, and for each layer its activation and d(seed·score)/d(layer),
   * plus the input gradient on request. The low-level entry that every method builds on.
   */
  async run(input: Float32Array, dims: number[], opts: RunOptions): Promise<RunResult> {
    this.assertLive();
    const grid = this.checkGrid(input, dims);
    const size = grid.slice(-2) as [number, number];
    const n = dims[0]!;
    this.refuseEarly(opts.layers, opts.output, !!opts.inputGradient);
    const layers = opts.layers.length ? await this.resolveLayers(opts.layers, grid, opts.output, opts.layout) : [];
    const layouts = await Promise.all(layers.map((l) => this.layerLayout(l, grid, opts.output, opts.layout)));
    const spec: GradientSpec = { layers, output: opts.output, inputGradient: opts.inputGradient, rectifier: opts.rectifier, rectifierOps: opts.rectifierOps };
    const l0 = layouts[0];
    if (opts.maps && layers.length === 1 && l0 && (l0.kind === 'nchw' || l0.kind === 'nhwc') && l0.rank === 4 && l0.batchAxis === 0 && grid.length === 2) {
      const [ha, wa] = l0.gridAxes as [number, number];
      // a grid larger than the input (cv2.resize downscales with other rules), or one above 32 cells that
      // does not divide it (GradientSpec.maps), keeps the JavaScript path
      const [h, w] = l0.grid as [number, number];
      const fits = h <= grid[0]! && w <= grid[1]! && ((h <= 32 && w <= 32) || (grid[0]! % h === 0 && grid[1]! % w === 0));
      if (ha < wa && fits) spec.maps = { channelAxis: l0.channelAxis, gridAxes: [ha, wa], size: [grid[0]!, grid[1]!] };
    }
    const gs = await this.engine.get(spec, this.imageDims(grid));
    const c = gs.compiled;
    const K = c.scoreShape.slice(1).reduce((a, v) => a * v, 1);
    // a class of a map (segmentation, detection head) is not one of its values: one error on every path
    if (!opts.seeds && isDenseOutput(c.scoreShape)) throw denseClassError(opts.output ?? this.model.graph.output[0]!.name, [n, ...c.scoreShape.slice(1)]);
    const choices = opts.seeds ? Array<ClassChoice>(n).fill(0) : Array.isArray(opts.classes) ? opts.classes : Array(n).fill(opts.classes ?? 'top');
    if (choices.length !== n) throw new InputError(`${choices.length} class choices given for ${n} images`);
    const explicit = choices.map((ch) => (ch === 'top' ? -1 : this.classIndex(ch, K)));
    if (!c.useTop && explicit.some((k) => k < 0)) throw new InputError(`the score tensor has shape [${c.scoreShape.join(', ')}]; give the class explicitly`);
    let seed: Float32Array = new Float32Array(n * K);
    const useTop = new Float32Array(n);
    explicit.forEach((k, i) => (k < 0 ? (useTop[i] = 1) : (seed[i * K + k] = 1)));
    if (opts.seeds) {
      if (opts.seeds.length !== n * K) throw new InputError(`seeds have ${opts.seeds.length} values, expected ${n}×${K}`);
      seed = opts.seeds;
    }
    const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
      [c.input]: { data: input, dims },
      [c.seed]: { data: seed, dims: [n, ...c.scoreShape.slice(1)] },
    };
    if (c.useTop) feeds[c.useTop] = { data: useTop, dims: [n, 1] };
    const m = c.outputs.maps;
    const fetch = m ? [c.outputs.score, m.raw, m.map, m.range, m.scale] : [c.outputs.score, ...layers.map((l) => c.outputs.activations[l]!), ...layers.map((l) => c.outputs.gradients[l]!)];
    if (c.outputs.inputGradient) fetch.push(c.outputs.inputGradient);
    // each fetched tensor's batch axis: 0, but a sequence-first layer's is 1
    const batchAxis: Record<string, number> = {};
    layers.forEach((l, j) => { batchAxis[c.outputs.activations[l]!] = layouts[j]!.batchAxis; batchAxis[c.outputs.gradients[l]!] = layouts[j]!.batchAxis; });
    const t0 = performance.now();
    const fixed = this.inputDims[0];
    const r = typeof fixed === 'number' && fixed !== n
      ? await runInChunks(gs.session, feeds, fetch, n, fixed, batchAxis)
      : await gs.session.run(feeds, fetch);
    const runMs = performance.now() - t0;
    const logits = r[c.outputs.score]!.data as Float32Array;
    for (let i = 0; i < logits.length; i++) {
      if (!Number.isFinite(logits[i]!)) {
        throw new InputError(`the model produced a non-finite score (${logits[i]}) for image ${Math.floor(i / K)}, class ${i % K}; check the input's preprocessing`);
      }
    }
    const targets = explicit.map((k, i) => (k >= 0 ? k : argmax(logits.subarray(i * K, (i + 1) * K))));
    const tensor = (name: string) => ({ data: r[name]!.data as Float32Array, dims: r[name]!.dims });
    const nchw = (name: string, j: number) => toChannelsFirst(r[name]!.data as Float32Array, r[name]!.dims, layouts[j]!);
    const f32 = (name: string) => r[name]!.data as Float32Array;
    return {
      layers, layouts, numClasses: K, size, grid, targets,
      logits: { data: logits, dims: [n, K] },
      activations: m ? [] : layers.map((l, j) => nchw(c.outputs.activations[l]!, j)),
      gradients: m ? [] : layers.map((l, j) => nchw(c.outputs.gradients[l]!, j)),
      inputGradient: c.outputs.inputGradient ? tensor(c.outputs.inputGradient) : undefined,
      maps: m ? { raw: f32(m.raw), h: r[m.raw]!.dims[1]!, w: r[m.raw]!.dims[2]!, map: f32(m.map), range: f32(m.range), scale: f32(m.scale) } : undefined,
      timings: { ...gs.timings, runMs },
    };
  }

  /**
   * Explains a batch: `input` is [N, ...] in the model's layout. On a quantised (int8) model, every
   * explanation whose method reads gradients carries `gradientNote` (the straight-through estimate).
   */
  async explain(input: Float32Array, dims: number[], options?: ExplainOptions | null): Promise<ExplainResult> {
    // everything the call needs is read here, synchronously: a caller that changes its array right
    // after calling gets the explanation of what it passed. null options are no options.
    this.assertLive();
    if (!(input instanceof Float32Array)) throw new InputError(`the input must be a Float32Array, got ${input === null ? 'null' : typeof input === 'object' ? (input as object).constructor?.name ?? 'an object' : typeof input}`);
    if (!Array.isArray(dims)) throw new InputError('dims must be an array of numbers (the input\'s shape)');
    input = input.slice();
    dims = [...dims];
    const opts: ExplainOptions = options ?? {};
    if (dims[0] === 0) {
      // a batch of no images: nothing to run (onnxruntime would print a warning about an empty tensor)
      this.checkGrid(input, dims);
      return { explanations: [], timings: { compileMs: 0, sessionMs: 0, runMs: 0, camMs: 0 } };
    }
    const r = await this.explainAny(input, dims, opts);
    const note = this.gradientNote;
    if (note) {
      const m = findMethod(opts.method ?? 'gradcam');
      if (!m || readsGradients(m)) for (const e of r.explanations) e.gradientNote = note;
    }
    return r;
  }

  private readonly refusalsChecked = new Set<string>();

  /**
   * Throws the refusals of a gradient run that need no model run (compiler.ts refuseEarly), once per
   * (layers, output, input gradient): before the layer search and any forward pass.
   */
  refuseEarly(layers: readonly string[], output: string | undefined, inputGradient: boolean): void {
    const key = JSON.stringify([layers, output ?? null, inputGradient]);
    if (this.refusalsChecked.has(key)) return;
    refuseEarly(this.model, layers, output, inputGradient);
    this.refusalsChecked.add(key);
  }

  /** How this model's gradients are computed when not exactly: through quantised (int8) ops, the straight-through estimate. */
  get gradientNote(): string | undefined {
    // the model's nodes are scanned once, not at every explain()
    this.steNote ??= this.model.graph.node.some((n) => QUANTIZED_OPS.has(n.op_type)) ? STE_NOTE : '';
    return this.steNote || undefined;
  }

  private steNote?: string;

  private async explainAny(input: Float32Array, dims: number[], opts: ExplainOptions): Promise<ExplainResult> {
    const m = getMethod(opts.method ?? 'gradcam');
    if (m.kind !== 'cam') {
      // pixel-level methods: the map is the attribution's magnitude (pixelExplanation)
      const a = await explainPixels(this, input, dims, { ...opts, method: m.name });
      return { explanations: a.explanations.map((e, i) => pixelExplanation(e, i)), timings: a.timings };
    }
    if (opts.methodOptions && Object.keys(opts.methodOptions).length) resolveMethodOptions(m, opts.methodOptions);
    if (opts.seeds) throw new InputError('seed rows are taken by the gradient methods (saliency, guided-backprop, deconvnet, guided-gradcam); CAM methods take a target');
    if (this.volume) return this.explainVolume(input, dims, opts);
    if (needsFamily(opts)) return explainFamily(this, input, dims, opts);
    const method = camMethod(opts.method ?? 'gradcam');
    // Grad-CAM's maps come from the graph where the layer allows (one ORT run, no JavaScript per pixel)
    const r = await this.run(input, dims, { layers: opts.layer === undefined ? ['auto'] : Array.isArray(opts.layer) ? opts.layer : [opts.layer], layout: opts.layout, classes: opts.classes, output: opts.output, maps: method === gradcam });
    const t1 = performance.now();
    const n = dims[0]!;
    const [H, W] = r.size;
    const g = r.maps;
    const raws = g
      ? [{ raw: g.raw, h: g.h, w: g.w, noise: cancelledFromScale(g.raw, g.h * g.w, g.scale) }]
      : r.activations.map((a, j) => {
        const d = a.dims as [number, number, number, number];
        const raw = method.compute({ activations: a.data, gradients: r.gradients[j]!.data, dims: d });
        return { raw, h: d[2], w: d[3], noise: cancelled(a.data, r.gradients[j]!.data, d, raw) };
      });
    const post = g ? { maps: g.map, empty: Array.from(g.range, (v) => v === 0) } : postprocess(raws, n, H, W);
    const explanations: Explanation[] = [];
    for (let i = 0; i < n; i++) {
      const { target, predicted } = this.scores(r, i);
      const warnings: string[] = [];
      if (post.empty[i]) warnings.push(`the map is all zero: nothing at layer ${r.layers.join(', ')} speaks for class ${target.index}${target.label ? ` (${target.label})` : ''}`);
      const r0 = raws[0]!;
      if (raws.some((x) => x.noise[i])) warnings.push(cancellationWarning(r.layers.join(', ')));
      else if (!post.empty[i]) warnings.push(...degenerateWarnings(r0.raw.subarray(i * r0.h * r0.w, (i + 1) * r0.h * r0.w), r0.h, r0.w, r.layers[0]!));
      explanations.push({
        method: method.name, layers: r.layers, layouts: r.layouts, target, predicted,
        map: n === 1 ? post.maps : post.maps.slice(i * H * W, (i + 1) * H * W), height: H, width: W,
        raw: r0.raw.slice(i * r0.h * r0.w, (i + 1) * r0.h * r0.w), rawHeight: r0.h, rawWidth: r0.w,
        warnings,
      });
    }
    const { compileMs, sessionMs, runMs } = r.timings;
    return { explanations, timings: { compileMs, sessionMs, runMs, camMs: performance.now() - t1 } };
  }

  /**
   * A 3-D model's CAM maps: the methods that need only A and G (Grad-CAM, Grad-CAM++, XGrad-CAM,
   * HiResCAM, LayerCAM, element-wise Grad-CAM, Eigen-CAM, EigenGrad-CAM) over [N, C, d, h, w] layers, with
   * weights pooled over all three grid axes (the methods see the grid flattened, which is all they need),
   * then `postprocessVolume`. Maps are [D, H, W].
   */
  private async explainVolume(input: Float32Array, dims: number[], opts: ExplainOptions): Promise<ExplainResult> {
    const name = (opts.method ?? 'gradcam').toLowerCase();
    const method = camMethod(name);
    if (!method.volumes) throw new InputError(`method '${method.name}' does not explain 3-D models yet; for volumes choose one of: ${METHODS.filter((m) => m.volumes).map((m) => m.name).join(', ')}`);
    const unsupported = (['target', 'topK', 'contrast', 'counterfactual', 'augSmooth', 'eigenSmooth'] as const).filter((k) => opts[k] !== undefined && opts[k] !== false);
    if (unsupported.length) throw new InputError(`3-D models are explained for a class (--class) only; not supported for volumes yet: ${unsupported.join(', ')}`);
    const r = await this.run(input, dims, { layers: opts.layer === undefined ? ['auto'] : Array.isArray(opts.layer) ? opts.layer : [opts.layer], layout: opts.layout, classes: opts.classes, output: opts.output });
    const t1 = performance.now();
    const n = dims[0]!;
    const [D, H, W] = r.grid as [number, number, number];
    const raws = r.activations.map((a, j) => {
      const [N, C, d, h, w] = a.dims as [number, number, number, number, number];
      const flat: [number, number, number, number] = [N, C, d * h, w];
      const raw = method.compute({ activations: a.data, gradients: r.gradients[j]!.data, dims: flat });
      return { raw, grid: [d, h, w] as [number, number, number], noise: cancelled(a.data, r.gradients[j]!.data, flat, raw) };
    });
    const post = postprocessVolume(raws, n, [D, H, W], opts.volumeResize ?? 'trilinear');
    const size = D * H * W;
    const explanations: Explanation[] = [];
    for (let i = 0; i < n; i++) {
      const { target, predicted } = this.scores(r, i);
      const warnings: string[] = [];
      if (post.empty[i]) warnings.push(`the map is all zero: nothing at layer ${r.layers.join(', ')} speaks for class ${target.index}${target.label ? ` (${target.label})` : ''}`);
      if (raws.some((x) => x.noise[i])) warnings.push(cancellationWarning(r.layers.join(', ')));
      const r0 = raws[0]!;
      const cells = r0.grid[0] * r0.grid[1] * r0.grid[2];
      explanations.push({
        method: method.name, layers: r.layers, layouts: r.layouts, target, predicted,
        map: post.maps.slice(i * size, (i + 1) * size), height: H, width: W, depth: D,
        raw: r0.raw.slice(i * cells, (i + 1) * cells), rawDepth: r0.grid[0], rawHeight: r0.grid[1], rawWidth: r0.grid[2],
        warnings,
      });
    }
    const { compileMs, sessionMs, runMs } = r.timings;
    return { explanations, timings: { compileMs, sessionMs, runMs, camMs: performance.now() - t1 } };
  }

  /** The explained and the predicted class of image i, with logits and probabilities. */
  scores(r: Pick<RunResult, 'numClasses' | 'logits' | 'targets'>, i: number): { target: ClassScore; predicted: ClassScore } {
    const K = r.numClasses;
    const row = r.logits.data.subarray(i * K, (i + 1) * K);
    const probs = softmax(row);
    const score = (k: number): ClassScore => ({ index: k, label: this.labels?.[k], logit: row[k]!, probability: probs[k]! });
    return { target: score(r.targets[i]!), predicted: score(argmax(row)) };
  }

  /** A class index from an index or a label, with a clear error naming the valid choices. */
  classIndex(choice: ClassChoice, numClasses: number): number {
    if (typeof choice === 'number' || /^-?\d+$/.test(String(choice))) {
      const k = Number(choice);
      if (!Number.isInteger(k) || k < 0 || k >= numClasses) throw new InputError(`class index ${choice} is out of range: the model has ${numClasses} classes (0 to ${numClasses - 1})`);
      return k;
    }
    const labels = this.labels;
    if (!labels) throw new InputError(`class '${choice}' is not a number and the model has no labels (give --labels FILE)`);
    const k = labels.findIndex((l) => l === choice);
    if (k >= 0) return k;
    const ci = labels.findIndex((l) => l.toLowerCase() === String(choice).toLowerCase());
    if (ci >= 0) return ci;
    throw new InputError(`unknown class label '${choice}'. Closest labels: ${closest(String(choice), labels).map((l) => `'${l}'`).join(', ')}`);
  }

  private readonly sessions = new Map<string, Promise<Session>>();
  /** Set by release(): the explainer cannot run afterwards. */
  private released = false;

  private assertLive(): void {
    if (this.released) throw new InputError('this explainer was released (release() was called); make a new one to explain again');
  }

  /**
   * A session for another graph of this model (the methods' plain forward passes, Ablation-CAM's
   * masked graphs), made once per `key` with the explainer's session factory and options, and
   * released with the explainer. `createdMs`: the time spent making it in this call (0 when cached).
   * `inputDims`: the runs' input shape, where known (large inputs run without the memory arena).
   */
  async session(key: string, build: () => ModelProto, inputDims?: readonly number[]): Promise<{ session: Session; createdMs: number }> {
    this.assertLive();
    let s = this.sessions.get(key);
    if (s) return { session: await s, createdMs: 0 };
    const t0 = performance.now();
    s = this.options.createSession(encodeModel(build()), inputDims ? withArenaFor(this.options.sessionOptions, inputDims) : this.options.sessionOptions);
    this.sessions.set(key, s);
    s.catch(() => this.sessions.delete(key));
    const session = await s;
    return { session, createdMs: performance.now() - t0 };
  }


  get external(): ExternalDataReader | undefined {
    return this.options.external;
  }

  /** Releases every session (the gradient graphs' and the methods' forward passes); the explainer cannot run afterwards. */
  async release(): Promise<void> {
    this.released = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.catch(() => undefined))?.release();
    return this.engine.release();
  }
}

/**
 * A pixel-level explanation as explain() gives it: the map is the attribution's magnitude per pixel (max
 * over channels of |a|, scaled to [0, 1]), the attribution itself is in `gradient` ([H, W, C]); `raw` is the
 * map shown beside (gradient methods: the Grad-CAM map of the layer).
 */
function pixelExplanation(e: PixelExplanation, i: number): Explanation {
  const { map, max: hi } = gradientMagnitudeMap(e.gradient, e.width, e.height * (e.depth ?? 1));
  const warnings = e.warnings ?? (hi > 0 ? [] : [`the input gradient is all zero: nothing in the picture moves the score of class ${e.target.index}`]);
  return {
    method: e.method, layers: e.layer ? [e.layer] : [], target: e.target, predicted: e.predicted, map, height: e.height, width: e.width,
    raw: e.cam, rawHeight: e.height, rawWidth: e.width, image: i, gradient: e.gradient, channels: e.channels,
    ...(e.depth !== undefined ? { depth: e.depth, rawDepth: e.depth } : {}), ...(e.extras ? { extras: e.extras } : {}),
    warnings,
  };
}

/** Labels from metadata or a file: a JSON array (or {index: label} object), or one label per line. */
export function parseLabels(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (!t) return undefined;
  if (t.startsWith('[') || t.startsWith('{')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v)) return v.map(String);
      if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o).filter((k) => /^\d+$/.test(k)).map(Number).sort((a, b) => a - b);
        return keys.map((k) => String(o[k]));
      }
    } catch {
      /* fall through to lines */
    }
  }
  return t.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
}

