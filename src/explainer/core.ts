/**
 * The Explainer's core: one forward + backward run of the compiled gradient graph (`run`, the entry every
 * method builds on), the classes and scores of a run, the extra sessions methods make, and release().
 * It knows no method: the method registry and explain() sit above it (src/explainer.ts, src/methods/).
 */
import { refuseEarly, STE_NOTE, type GradientSpec } from '../autodiff/compiler.js';
import { QUANTIZED_OPS } from '../autodiff/rules/quantize.js';
import { encodeModel, type ModelProto } from '../onnx/model.js';
import { toChannelsFirst } from '../layout/describe.js';
import { runInChunks, withArenaFor, type Session } from '../runtime/session.js';
import { InputError, argmax, softmax } from '../util/scores.js';
import { closest } from '../util/closest.js';
import type { ClassChoice, ClassScore, RunOptions, RunResult } from '../types.js';
import { ExplainerLayers } from './layers.js';
import { denseClassError, isDenseOutput } from './classes.js';

export class ExplainerCore extends ExplainerLayers {
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
    if (opts.post && layers.length === 1 && layouts[0]) {
      const post = opts.post(layouts[0], grid);
      if (post) spec.post = post;
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
    const m = c.outputs.post;
    const fetch = m ? [c.outputs.score, ...Object.values(m)] : [c.outputs.score, ...layers.map((l) => c.outputs.activations[l]!), ...layers.map((l) => c.outputs.gradients[l]!)];
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
    return {
      layers, layouts, numClasses: K, size, grid, targets,
      logits: { data: logits, dims: [n, K] },
      activations: m ? [] : layers.map((l, j) => nchw(c.outputs.activations[l]!, j)),
      gradients: m ? [] : layers.map((l, j) => nchw(c.outputs.gradients[l]!, j)),
      inputGradient: c.outputs.inputGradient ? tensor(c.outputs.inputGradient) : undefined,
      post: m ? Object.fromEntries(Object.entries(m).map(([k, name]) => [k, tensor(name)])) : undefined,
      timings: { ...gs.timings, runMs },
    };
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

  protected assertLive(): void {
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



  /** Releases every session (the gradient graphs' and the methods' forward passes); the explainer cannot run afterwards. */
  async release(): Promise<void> {
    this.released = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.catch(() => undefined))?.release();
    return this.engine.release();
  }
}
