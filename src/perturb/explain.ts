/**
 * Occlusion and RISE through `Explainer.explain` (method 'occlusion' / 'rise'): the plain model's forward
 * passes on perturbed copies of each image, in batches. The explanation's `attribution` is the method's
 * per-pixel attribution [H, W] (signed for Occlusion); its `map` is that attribution as every other map is
 * scaled (ReLU, then (a − min) / (max − min), pytorch-grad-cam's scale_cam_image), and `raw` is the
 * attribution itself.
 */
import type { ClassChoice, ExplainOptions, ExplainResult, Explainer, Explanation } from '../explainer.js';
import { forwardModel } from '../cam/graph.js';
import { scoreTensor } from '../autodiff/compiler.js';
import { runInChunks } from '../runtime/session.js';
import { argmax, InputError, softmax } from '../util/scores.js';
import { occlusion, occlusionPasses, type OcclusionOptions } from './occlusion.js';
import { rise, RISE_DEFAULTS, type RiseOptions } from './rise.js';
import { perturbBatchFromBudget, type ImageGeometry } from './types.js';

export const PERTURBATION_METHODS = {
  occlusion: 'Occlusion (Zeiler & Fergus 2014; Captum): mean drop of the target logit when a sliding window covering the pixel is filled with a baseline (one forward pass per window)',
  rise: 'RISE (Petsiuk et al. 2018): Σ softmax score of the input under N random smooth masks × the mask / (N·p) (N forward passes)',
} as const;
export type PerturbationMethod = keyof typeof PERTURBATION_METHODS;

export function isPerturbationMethod(name: string): name is PerturbationMethod {
  return Object.hasOwn(PERTURBATION_METHODS, name);
}

/** Options of the perturbation methods (ExplainOptions.perturbation). */
export interface PerturbationOptions {
  /** Occlusion: window [h, w] (default 16 × 16; Captum has no default), strides (default: half the window), baseline (default 0). */
  occlusion?: Partial<OcclusionOptions>;
  rise?: RiseOptions;
}

/** The occlusion options with gradcam's defaults filled in: window 16 × 16 clipped to the input, stride half the window. */
export function occlusionDefaults(o: Partial<OcclusionOptions> | undefined, height: number, width: number): OcclusionOptions {
  const window = o?.window ?? [Math.min(16, height), Math.min(16, width)];
  return { window, strides: o?.strides ?? [Math.max(1, Math.floor(window[0] / 2)), Math.max(1, Math.floor(window[1] / 2))], baseline: o?.baseline ?? 0 };
}

/** Forward passes of one image (besides the unperturbed one). */
export function perturbationPasses(method: PerturbationMethod, height: number, width: number, opts: PerturbationOptions = {}): number {
  return method === 'occlusion' ? occlusionPasses(height, width, occlusionDefaults(opts.occlusion, height, width)) : opts.rise?.masks ?? RISE_DEFAULTS.masks;
}

/** ReLU, then (a − min) / (max − min) (all zero when max = min), as every map of gradcam is scaled. */
function scaled(a: Float32Array): { map: Float32Array; empty: boolean } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a) { const r = Math.max(v, 0); if (r < lo) lo = r; if (r > hi) hi = r; }
  const map = new Float32Array(a.length);
  if (!(hi > lo)) return { map, empty: true };
  for (let i = 0; i < a.length; i++) map[i] = (Math.max(a[i]!, 0) - lo) / (hi - lo);
  return { map, empty: false };
}

export async function explainPerturbation(ex: Explainer, input: Float32Array, dims: number[], opts: ExplainOptions): Promise<ExplainResult> {
  const method = opts.method!.toLowerCase() as PerturbationMethod;
  const unsupported = (['target', 'topK', 'contrast', 'counterfactual', 'augSmooth', 'eigenSmooth', 'seeds'] as const).filter((k) => opts[k] !== undefined && opts[k] !== false);
  if (unsupported.length) throw new InputError(`${method} explains a class of the model's output (--class) and takes none of: ${unsupported.join(', ')}`);
  const layers = opts.layer === undefined ? [] : Array.isArray(opts.layer) ? opts.layer : [opts.layer];
  if (layers.some((l) => l !== 'auto')) throw new InputError(`${method} perturbs the input and reads no layer; leave the layer out`);
  if (ex.volume) throw new InputError(`${method} does not explain 3-D models yet; for volumes choose a CAM or gradient method`);
  const [H, W] = ex.checkInput(input, dims);
  const n = dims[0]!;
  const C = ex.layout === 'NCHW' ? dims[1]! : dims[3]!;
  const geometry: ImageGeometry = { layout: ex.layout, channels: C, height: H, width: W };
  const per = C * H * W;
  const timings = { compileMs: 0, sessionMs: 0, runMs: 0, camMs: 0 };
  const t0 = performance.now();
  const output = opts.output ?? ex.model.graph.output[0]!.name;
  const score = scoreTensor(ex.model, output);
  const fixed = typeof ex.inputDims[0] === 'number' ? ex.inputDims[0] : undefined;
  const { session, createdMs } = await ex.session(`forward|${JSON.stringify([score])}`, () => forwardModel(ex.model, [score]), dims);
  timings.sessionMs += createdMs;
  let S = 0;
  const rows = async (data: Float32Array, count: number): Promise<Float32Array> => {
    const t = performance.now();
    const feeds = { [ex.inputName]: { data, dims: [count, ...dims.slice(1)] } };
    const r = fixed !== undefined && fixed !== count ? await runInChunks(session, feeds, [score], count, fixed) : await session.run(feeds, [score]);
    timings.runMs += performance.now() - t;
    const v = r[score]!;
    S = v.dims.slice(1).reduce((a, x) => a * x, 1);
    return v.data as Float32Array;
  };
  const base = await rows(input, n);
  const popts: PerturbationOptions = opts.perturbation ?? {};
  const occ = occlusionDefaults(popts.occlusion, H, W);
  const passes = perturbationPasses(method, H, W, popts);
  const batchSize = Math.max(1, opts.batchSize ?? perturbBatchFromBudget(per));
  const one = opts.classes;
  const choices: ClassChoice[] = Array.isArray(one) ? one : Array.from({ length: n }, () => one ?? 'top');
  if (choices.length !== n) throw new InputError(`${choices.length} classes given for ${n} images; give one class, or one per image`);
  let done = 0;
  const explanations: Explanation[] = [];
  for (let i = 0; i < n; i++) {
    const row = base.subarray(i * S, (i + 1) * S);
    const probs = softmax(row);
    const choice = choices[i]!;
    const k = choice === 'top' ? argmax(row) : ex.classIndex(choice, S);
    const cls = (j: number) => ({ index: j, label: ex.labels?.[j], logit: row[j]!, probability: probs[j]! });
    const value = method === 'rise' ? (r: Float32Array) => softmax(r)[k]! : (r: Float32Array) => r[k]!;
    const scoreFn = async (data: Float32Array, count: number) => {
      const out = await rows(data, count);
      return Float32Array.from({ length: count }, (_, q) => value(out.subarray(q * S, (q + 1) * S)));
    };
    const run = {
      image: input.subarray(i * per, (i + 1) * per), geometry, score: scoreFn, batchSize,
      progress: (p: number) => { done += p; opts.onProgress?.(done, n * passes, method); },
    };
    const attribution = method === 'rise' ? await rise(run, popts.rise) : await occlusion(run, occ, value(row));
    const { map, empty } = scaled(attribution);
    const warnings = empty ? [`the ${method} attribution has no positive value: no region of the picture raises the score of class ${k}`] : [];
    explanations.push({
      method, layers: [], target: cls(k), predicted: cls(argmax(row)), map, height: H, width: W,
      raw: attribution, rawHeight: H, rawWidth: W, attribution, image: i, warnings,
      targetKind: method === 'rise' ? 'softmax' : 'logit', targetName: `${method === 'rise' ? 'softmax' : 'logit'} ${k}`, targetValue: method === 'rise' ? probs[k]! : row[k]!,
    });
  }
  timings.camMs = performance.now() - t0 - timings.runMs - timings.sessionMs;
  return { explanations, timings };
}
