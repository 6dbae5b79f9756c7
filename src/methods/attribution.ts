/**
 * Runs the path, noise and perturbation methods (AttributionMethod): resolves the targets with one forward
 * pass, gives the method an AttributionContext (input gradients of batches of its own inputs, forward
 * scores of batches, any other method), and turns its signed attributions into pixel explanations: the
 * attribution as [H, W, C] and in the model's layout, and |attribution| (max over channels) scaled to [0, 1]
 * as the map beside.
 */
import type { ExplainerCore as Explainer } from '../explainer/core.js';
import type { ClassChoice, ExplainOptions, PixelExplanation, RunResult } from '../types.js';
import type { AttributionContext, AttributionMethod, MethodOptionValues } from './types.js';
import { readsGradients, resolveMethodOptions } from './index.js';
import { scoreTensor } from '../autodiff/compiler.js';
import { forwardModel } from '../cam/graph.js';
import { camBatchFromBudget } from '../cam/budget.js';
import { denseClassError, isDenseOutput } from '../cam/targets.js';
import { gradientMagnitudeMap } from '../image/gradient.js';
import { runInChunks } from '../runtime/session.js';
import { biasLayers } from './path/fullgrad-map.js';
import { InputError, argmax } from '../util/scores.js';

/** ExplainOptions an attribution method does not take. */
const CAM_ONLY = ['target', 'topK', 'contrast', 'counterfactual', 'augSmooth', 'eigenSmooth', 'seeds'] as const;

export interface AttributionResult {
  explanations: PixelExplanation[];
  timings: { compileMs: number; sessionMs: number; runMs: number; camMs: number };
}

/** One attribution method on a batch `input` [N, ...] (model layout). */
export async function explainAttribution(ex: Explainer, m: AttributionMethod, input: Float32Array, dims: number[], opts: ExplainOptions, explain: AttributionContext['explain']): Promise<AttributionResult> {
  const unsupported = CAM_ONLY.filter((k) => opts[k] !== undefined && opts[k] !== false);
  if (unsupported.length) throw new InputError(`${m.name} explains a class of each image and takes none of: ${unsupported.join(', ')}`);
  if (ex.volume && !m.volumes) throw new InputError(`method '${m.name}' does not explain 3-D models yet`);
  const options = resolveMethodOptions(m, opts.methodOptions);
  const timings = { compileMs: 0, sessionMs: 0, runMs: 0, camMs: 0 };
  ex.checkGrid(input, dims);
  const n = dims[0]!;
  const output = opts.output ?? ex.model.graph.output[0]!.name;
  if (!ex.model.graph.output.some((o) => o.name === output)) throw new InputError(`unknown output '${output}'; the model's outputs are: ${ex.model.graph.output.map((o) => o.name).join(', ')}`);
  const score = scoreTensor(ex.model, output);
  const forward = async (data: Float32Array, count: number): Promise<{ data: Float32Array; dims: number[] }> => {
    const s = await ex.session(`forward|${JSON.stringify([score])}`, () => forwardModel(ex.model, [score]), [count, ...dims.slice(1)]);
    timings.sessionMs += s.createdMs;
    const feeds = { [ex.inputName]: { data, dims: [count, ...dims.slice(1)] } };
    const fixed = ex.inputDims[0];
    const t = performance.now();
    const r = typeof fixed === 'number' && fixed !== count ? await runInChunks(s.session, feeds, [score], count, fixed) : await s.session.run(feeds, [score]);
    timings.runMs += performance.now() - t;
    return { data: r[score]!.data as Float32Array, dims: r[score]!.dims };
  };
  const base = await forward(input, n);
  if (isDenseOutput(base.dims)) throw denseClassError(output, base.dims);
  const K = base.dims.slice(1).reduce((a, v) => a * v, 1);
  const choices: ClassChoice[] = Array.isArray(opts.classes) ? opts.classes : Array<ClassChoice>(n).fill(opts.classes ?? 'top');
  if (choices.length !== n) throw new InputError(`${choices.length} class choices given for ${n} images`);
  const targets = choices.map((c, i) => (c === 'top' ? argmax(base.data.subarray(i * K, (i + 1) * K)) : ex.classIndex(c, K)));
  const per = dims.slice(1).reduce((a, v) => a * v, 1);
  const batchSize = opts.batchSize ?? camBatchFromBudget(dims, dims);
  const total = m.passes(n, options, { dims, layout: ex.layout });
  let done = 0;
  const ctx: AttributionContext = {
    input, dims, layout: ex.layout, targets, scores: base.data, numClasses: K, batchSize, seed: opts.randomSeed ?? 0,
    inputGradients: async (inputs, images, o) => {
      const count = images.length;
      if (inputs.length !== count * per) throw new Error(`inputGradients: ${inputs.length} values for ${count} inputs of ${per}`);
      const r = await ex.run(inputs, [count, ...dims.slice(1)], { layers: [], output: opts.output, inputGradient: true, rectifier: o?.rectifier ?? 'plain', rectifierOps: opts.rectifierOps ?? 'all', classes: images.map((i) => targets[i]!) });
      timings.compileMs += r.timings.compileMs;
      timings.sessionMs += r.timings.sessionMs;
      timings.runMs += r.timings.runMs;
      const scores = Float32Array.from(images, (img, row) => r.logits.data[row * K + targets[img]!]!);
      return { gradients: r.inputGradient!.data, scores };
    },
    forward: async (inputs, count) => (await forward(inputs, count)).data,
    biasGradients: async () => {
      const layers = await fullGradLayers(ex, dims, opts.output);
      const r = await ex.run(input, dims, { layers: layers.map((l) => l.tensor), layout: 'nchw', output: opts.output, inputGradient: true, classes: targets });
      timings.compileMs += r.timings.compileMs;
      timings.sessionMs += r.timings.sessionMs;
      timings.runMs += r.timings.runMs;
      return { inputGradient: r.inputGradient!.data, layers: layers.map((l, j) => ({ ...l, gradient: r.gradients[j]!.data, dims: r.gradients[j]!.dims })) };
    },
    layer: opts.layer, layoutOverride: opts.layout, baselineImage: opts.baselineImage,
    explain,
    progress: (passes) => {
      done += passes;
      opts.onProgress?.(Math.min(done, total), total, m.name);
    },
  };
  const r = await m.attribute(ctx, options);
  if (r.attributions.length !== n * per) throw new Error(`${m.name}: attribute() gave ${r.attributions.length} values, expected ${n}×${per}`);
  const t1 = performance.now();
  const explanations = toPixelExplanations(ex, m.name, r.attributions, dims, { numClasses: K, logits: { data: base.data, dims: [n, K] }, targets }, r.extras, r.warnings, readsGradients(m) ? ex.gradientNote : undefined, m.scores);
  timings.camMs = performance.now() - t1;
  return { explanations, timings };
}

/** FullGrad's bias layers that the score depends on, whose grid has more than one cell (a one-cell map scales to 0). */
async function fullGradLayers(ex: Explainer, dims: readonly number[], output?: string): Promise<{ tensor: string; bias: Float32Array }[]> {
  const grid = ex.layout === 'NCHW' ? dims.slice(2) : dims.slice(1, -1);
  const shapes = new Map((await ex.allTensors(grid, output)).map((t) => [t.name, t.shape]));
  return biasLayers(ex.model).filter((l) => {
    const s = shapes.get(l.tensor);
    return !!s && s.length === 4 && s[1] === l.bias.length && s[2]! * s[3]! > 1;
  });
}

/** Attributions [N, ...] (model layout) as pixel explanations ([H, W, C] and the map of |attribution|). */
export function toPixelExplanations(
  ex: Explainer, method: string, a: Float32Array, dims: number[], r: Pick<RunResult, 'numClasses' | 'logits' | 'targets'>,
  extras?: Record<string, unknown>[], warnings?: string[][], note?: string, scoreKind?: 'logit' | 'probability',
): PixelExplanation[] {
  const n = dims[0]!;
  const nchw = ex.layout === 'NCHW';
  const C = nchw ? dims[1]! : dims[dims.length - 1]!;
  const grid = nchw ? dims.slice(2) : dims.slice(1, -1);
  const [H, W] = [grid[grid.length - 2]!, grid[grid.length - 1]!];
  const depth = grid.length === 3 ? grid[0]! : undefined;
  const P = H * W * (depth ?? 1);
  const per = C * P;
  const out: PixelExplanation[] = [];
  for (let i = 0; i < n; i++) {
    const src = a.subarray(i * per, (i + 1) * per);
    const inLayout = src.slice();
    let hwc = inLayout;
    if (nchw) {
      hwc = new Float32Array(per);
      for (let c = 0; c < C; c++) for (let p = 0; p < P; p++) hwc[p * C + c] = src[c * P + p]!;
    }
    const { map, max } = gradientMagnitudeMap(hwc, W, H * (depth ?? 1));
    const { target, predicted } = ex.scores(r, i);
    const w = [...(warnings?.[i] ?? [])];
    if (!(max > 0)) w.push(`the attribution is all zero: nothing in the picture moves the score of class ${target.index}`);
    out.push({
      method, layer: '', target, predicted, height: H, width: W, ...(depth !== undefined ? { depth } : {}), channels: C,
      gradient: hwc, gradientInputLayout: inLayout, cam: map, warnings: w,
      ...(extras?.[i] ? { extras: extras[i] } : {}), ...(note ? { gradientNote: note } : {}), ...(scoreKind ? { scoreKind } : {}),
    });
  }
  return out;
}

export type { MethodOptionValues };
