/**
 * The Explainer's layers: the tensors the score depends on, their layouts (layout/graph.ts, from one probe
 * run with every tensor exposed, kept in the CompileCache), the automatic choice, module names
 * (`layer4.2`) resolved to tensors, and clear errors for tensors that cannot be explained.
 */
import { probe } from '../runtime/engine.js';
import { cloneModel, scoreTensor } from '../autodiff/compiler.js';
import { upgradeOpset } from '../onnx/upgrade.js';
import { GraphIndex, topoOrder } from '../onnx/model.js';
import { analyzeLayouts } from '../layout/graph.js';
import { explainable, layoutFromOverride, layoutLabel, toNCHW, type LayerLayout } from '../layout/describe.js';
import { closest } from '../util/closest.js';
import { InputError } from '../util/scores.js';
import type { LayerInfo } from '../types.js';
import { ExplainerBase } from './input.js';

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

export class ExplainerLayers extends ExplainerBase {
  private readonly layerCache = new Map<string, Promise<LayerTable>>();

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

  protected layerTable(size?: readonly number[], output?: string): Promise<LayerTable> {
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
}
