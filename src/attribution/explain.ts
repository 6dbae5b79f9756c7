/**
 * The attribution methods through an Explainer: Integrated Gradients, Input × Gradient, FullGrad, and the
 * NoiseTunnel (smoothgrad, smoothgrad_sq, vargrad) over saliency, guided backprop, deconvnet,
 * Input × Gradient, Integrated Gradients and Grad-CAM. The computations are in core.ts / fullgrad.ts; this
 * file only turns Explainer.run into their GradientSource and their results into Explanations.
 */
import type { ClassChoice, Explainer, ExplainOptions, ExplainResult, Explanation, RunResult } from '../explainer.js';
import type { Rectifier } from '../autodiff/rule.js';
import { InputError } from '../util/scores.js';
import { gradcam } from '../cam/gradcam.js';
import { postprocess } from '../cam/pipeline.js';
import { gradientMagnitudeMap } from '../image/gradient.js';
import { gaussianBlur } from '../metrics/faithfulness.js';
import { INTEGRATION_RULES } from './approximation.js';
import { BASELINES, NOISE_DEFAULTS, NOISE_TYPES, gradientsInRuns, inputTimesGradient, integratedGradients, noiseTunnel, uniformBaseline, type AttributionFacts, type GradientSource } from './core.js';
import { biasLayers, fullGradMap } from './fullgrad.js';

export const ATTRIBUTION_METHODS = {
  'integrated-gradients': 'Integrated Gradients (Sundararajan et al. 2017): gradients along the path from a baseline to the input, × (input − baseline); Captum\'s rules and defaults',
  'input-x-gradient': 'Input × Gradient (Shrikumar et al. 2016): the input times its gradient, per value',
  fullgrad: 'FullGrad (Srinivas & Fleuret 2019): |input × gradient| plus every Conv/BatchNorm bias × its gradient, as pytorch-grad-cam',
} as const;
export type AttributionMethod = keyof typeof ATTRIBUTION_METHODS;

export function isAttributionMethod(name: string): name is AttributionMethod {
  return Object.hasOwn(ATTRIBUTION_METHODS, name);
}

/** The methods a NoiseTunnel can wrap. */
export const NOISE_METHODS = ['saliency', 'guided-backprop', 'deconvnet', 'input-x-gradient', 'integrated-gradients', 'gradcam'] as const;

/** True when explain() hands the call to explainAttribution. */
export function usesAttribution(opts: ExplainOptions): boolean {
  const m = (opts.method ?? 'gradcam').toLowerCase();
  return isAttributionMethod(m) || opts.noise !== undefined;
}

/** Gradient passes per run for an input of `dims` [N, ...] (512 MiB, ~40 input sizes per pass for the backward's stored activations), at most 64. */
export function gradientBatch(dims: readonly number[], budget = 512 * 2 ** 20): number {
  const bytes = dims.slice(1).reduce((a, v) => a * v, 1) * 4;
  return Math.max(1, Math.min(64, Math.floor(budget / (40 * bytes))));
}

const RECTIFIER: Record<string, Rectifier> = { 'guided-backprop': 'guided', deconvnet: 'deconvnet' };

function check(opts: ExplainOptions, method: string): void {
  const fail = (what: string, valid: readonly (string | number)[] | string) => {
    throw new InputError(`${what}; ${typeof valid === 'string' ? valid : `choose one of: ${valid.join(', ')}`}`);
  };
  const unsupported = (['target', 'topK', 'contrast', 'counterfactual', 'augSmooth', 'eigenSmooth'] as const).filter((k) => opts[k] !== undefined && opts[k] !== false);
  if (unsupported.length) throw new InputError(`${method} explains the class score (--class) and takes none of: ${unsupported.join(', ')}`);
  if (opts.noise !== undefined && !(NOISE_TYPES as readonly string[]).includes(opts.noise)) fail(`unknown noise tunnel '${String(opts.noise)}'`, NOISE_TYPES);
  if (opts.noise !== undefined && !(NOISE_METHODS as readonly string[]).includes(method)) fail(`the noise tunnel does not wrap '${method}'`, NOISE_METHODS);
  if (opts.integration !== undefined && !(INTEGRATION_RULES as readonly string[]).includes(opts.integration)) fail(`unknown integration rule '${String(opts.integration)}'`, INTEGRATION_RULES);
  if (typeof opts.baseline === 'string' && !(BASELINES as readonly string[]).includes(opts.baseline)) fail(`unknown baseline '${opts.baseline}'`, BASELINES.filter((b) => b !== 'image'));
  if (opts.baseline === 'image') fail("baseline 'image' takes the image itself", 'pass its values as a Float32Array (the CLI: --baseline FILE)');
  const steps = opts.steps;
  if (steps !== undefined && (!Number.isInteger(steps) || steps < 1)) fail(`steps must be a positive integer, got ${steps}`, 'e.g. 50 (Captum\'s default)');
  if (steps !== undefined && steps < 2 && (opts.integration ?? 'gausslegendre') !== 'gausslegendre') fail(`${opts.integration} needs at least 2 steps`, 'give --steps 2 or more');
  const s = opts.noiseSamples;
  if (s !== undefined && (!Number.isInteger(s) || s < 1)) fail(`noise samples must be a positive integer, got ${s}`, 'e.g. 5 (Captum\'s default)');
  const sg = opts.noiseSigma;
  if (sg !== undefined && !(Number.isFinite(sg) && sg >= 0)) fail(`noise sigma must be a fraction ≥ 0 of the input range, got ${sg}`, 'e.g. 0.15');
}

/**
 * Integrated Gradients, Input × Gradient, FullGrad, or a NoiseTunnel over a gradient method or Grad-CAM,
 * for a batch `input` [N, ...] in the model's layout. `gradient` holds the signed attribution [H, W, C];
 * `map` its magnitude (max over channels of |a|, scaled to [0, 1]), or the FullGrad / Grad-CAM map.
 */
export async function explainAttribution(explainer: Explainer, input: Float32Array, dims: number[], opts: ExplainOptions): Promise<ExplainResult> {
  const method = (opts.method ?? 'gradcam').toLowerCase();
  check(opts, method);
  if (explainer.volume) throw new InputError(`${method}${opts.noise ? ` with a noise tunnel` : ''} explains 2-D images only, not volumes`);
  const [H, W] = explainer.checkInput(input, dims);
  const n = dims[0]!;
  const size = input.length / n;
  const C = size / (H * W);
  const nchw = explainer.layout === 'NCHW';
  const t0 = performance.now();
  let runMs = 0;
  const batch = opts.batchSize ?? gradientBatch(dims);
  const rectifier = RECTIFIER[method] ?? 'plain';
  const common = { output: opts.output, rectifier, rectifierOps: opts.rectifierOps ?? 'all' } as const;
  const timed = async (p: Promise<RunResult>) => { const t = performance.now(); const r = await p; runMs += performance.now() - t; return r; };
  const fullgrad = method === 'fullgrad';
  const layers = fullgrad ? await fullGradLayers(explainer, [H, W], opts.output)
    : method === 'gradcam' ? [{ tensor: Array.isArray(opts.layer) ? opts.layer[0] ?? 'auto' : opts.layer ?? 'auto', bias: new Float32Array(0) }] : [];
  if (method === 'gradcam' && Array.isArray(opts.layer) && opts.layer.length > 1) throw new InputError('a noise tunnel over Grad-CAM takes one layer');
  const r0 = await timed(explainer.run(input, dims, {
    ...common, layers: layers.map((l) => l.tensor), layout: fullgrad ? 'nchw' : opts.layout, classes: opts.classes as ClassChoice | ClassChoice[], seeds: opts.seeds,
    inputGradient: method !== 'gradcam',
  }));
  const K = r0.numClasses;
  const total = n * passesPerImage(method, opts);
  let done = n;
  const explanations: Explanation[] = [];
  for (let i = 0; i < n; i++) {
    const x = input.subarray(i * size, (i + 1) * size);
    const seedRow = opts.seeds?.subarray(i * K, (i + 1) * K);
    const k = r0.targets[i]!;
    const value = (logits: Float32Array, j: number) => {
      if (!seedRow) return logits[j * K + k]!;
      let v = 0;
      for (let c = 0; c < K; c++) v += seedRow[c]! * logits[j * K + c]!;
      return v;
    };
    const runFor = (inputs: Float32Array, count: number, layer: string[] = []) => timed(explainer.run(inputs, [count, ...dims.slice(1)], {
      ...common, layers: layer, layout: opts.layout, inputGradient: layer.length === 0,
      ...(seedRow ? { seeds: repeatRow(seedRow, count) } : { classes: Array<ClassChoice>(count).fill(k) }),
    }));
    const source: GradientSource = {
      batch,
      gradients: async (inputs, count) => {
        const r = await runFor(inputs, count);
        return { gradients: r.inputGradient!.data, values: Float32Array.from({ length: count }, (_, j) => value(r.logits.data, j)) };
      },
      onPasses: () => opts.onProgress?.(++done, total, method),
    };
    const facts: AttributionFacts = {};
    const warnings: string[] = [];
    const g0 = r0.inputGradient?.data.subarray(i * size, (i + 1) * size);
    let attribution: Float32Array | undefined;
    let map: Float32Array | undefined;
    let raw: { data: Float32Array; h: number; w: number } | undefined;
    const baselineOf = (xi: Float32Array) => baselineFor(explainer, xi, i, dims, opts, facts);
    const ig = async (xi: Float32Array, b: Float32Array, at: number) => integratedGradients(source, xi, b, at, { steps: opts.steps ?? 50, rule: opts.integration ?? 'gausslegendre' });
    if (opts.noise) {
      const seed = opts.randomSeed ?? NOISE_DEFAULTS.seed;
      const samples = opts.noiseSamples ?? NOISE_DEFAULTS.samples;
      const sigma = opts.noiseSigma ?? NOISE_DEFAULTS.sigma;
      let lo = Infinity, hi = -Infinity;
      for (const v of x) { if (v < lo) lo = v; if (v > hi) hi = v; }
      facts.noise = { type: opts.noise, samples, sigma, stdev: sigma * (hi - lo), seed };
      const b = method === 'integrated-gradients' ? baselineOf(x) : undefined;
      if (method === 'integrated-gradients') { facts.steps = opts.steps ?? 50; facts.integration = opts.integration ?? 'gausslegendre'; }
      let rawDims: [number, number] | undefined;
      const smoothed = await noiseTunnel(x, async (noisy, count) => {
        if (method === 'gradcam') {
          const r = await runFor(noisy, count, [layers[0]!.tensor]);
          const a = r.activations[0]!;
          rawDims = [a.dims[2]!, a.dims[3]!];
          source.onPasses?.(0);
          return gradcam.compute({ activations: a.data, gradients: r.gradients[0]!.data, dims: a.dims as [number, number, number, number] });
        }
        if (method === 'integrated-gradients') {
          const out = new Float32Array(count * size);
          for (let s = 0; s < count; s++) {
            const xs = noisy.subarray(s * size, (s + 1) * size);
            out.set((await ig(xs, b!, NaN)).attribution, s * size);
          }
          return out;
        }
        const r = await gradientsInRuns(source, noisy, count);
        source.onPasses?.(0);
        return method === 'input-x-gradient' ? inputTimesGradient(noisy, r.gradients) : r.gradients;
      }, { type: opts.noise, samples, sigma, seed });
      if (method === 'gradcam') raw = { data: smoothed, h: rawDims![0], w: rawDims![1] };
      else attribution = smoothed;
    } else if (method === 'integrated-gradients') {
      const b = baselineOf(x);
      const r = await ig(x, b, value(r0.logits.data, i));
      facts.steps = opts.steps ?? 50;
      facts.integration = opts.integration ?? 'gausslegendre';
      facts.completeness = r.completeness;
      attribution = r.attribution;
      const c = r.completeness;
      if (Math.abs(c.delta) > 0.05 * Math.max(Math.abs(c.expected), 1e-6)) {
        warnings.push(`Integrated Gradients is not converged: the attributions add up to ${c.sum.toPrecision(4)}, F(x) − F(baseline) is ${c.expected.toPrecision(4)}; give more --steps`);
      }
    } else if (method === 'input-x-gradient') {
      attribution = inputTimesGradient(x, g0!);
    } else if (fullgrad) {
      facts.biasLayers = layers.length;
      const planar = (v: ArrayLike<number>) => (nchw ? Float32Array.from(v) : hwcToChw(v, C, H * W));
      const terms = layers.map((l, j) => {
        const g = r0.gradients[j]!;
        const [, c, h, w] = g.dims as [number, number, number, number];
        return { gradient: g.data.subarray(i * c * h * w, (i + 1) * c * h * w), bias: l.bias, h, w };
      });
      map = fullGradMap(planar(x), planar(g0!), C, H, W, terms);
    } else {
      attribution = Float32Array.from(g0!);
    }
    const { target, predicted } = explainer.scores(r0, i);
    let e: Explanation;
    if (raw) {
      const post = postprocess([{ raw: raw.data, h: raw.h, w: raw.w }], 1, H, W);
      if (post.empty[0]) warnings.push(`the smoothed map is all zero: nothing at layer ${r0.layers[0]} speaks for class ${target.index}`);
      e = { method, layers: r0.layers, layouts: r0.layouts, target, predicted, map: post.maps, height: H, width: W, raw: raw.data, rawHeight: raw.h, rawWidth: raw.w, warnings, image: i };
    } else if (map) {
      e = { method, layers: [], target, predicted, map, height: H, width: W, raw: map, rawHeight: H, rawWidth: W, warnings, image: i };
    } else {
      const hwc = nchw ? chwToHwc(attribution!, C, H * W) : attribution!;
      const m = gradientMagnitudeMap(hwc, W, H);
      if (!(m.max > 0)) warnings.push(`the attribution is all zero: nothing in the picture moves the score of class ${target.index}`);
      e = { method, layers: [], target, predicted, map: m.map, height: H, width: W, raw: m.map, rawHeight: H, rawWidth: W, warnings, image: i, gradient: hwc, channels: C };
    }
    if (Object.keys(facts).length) e.attribution = facts;
    if (explainer.gradientNote) e.gradientNote = explainer.gradientNote;
    explanations.push(e);
  }
  return { explanations, timings: { compileMs: r0.timings.compileMs, sessionMs: r0.timings.sessionMs, runMs, camMs: performance.now() - t0 - runMs } };
}

function passesPerImage(method: string, opts: ExplainOptions): number {
  const ig = method === 'integrated-gradients' ? (opts.steps ?? 50) + 1 : 1;
  return opts.noise ? (opts.noiseSamples ?? NOISE_DEFAULTS.samples) * ig : method === 'integrated-gradients' ? ig : 0;
}

function repeatRow(row: Float32Array, count: number): Float32Array {
  const out = new Float32Array(row.length * count);
  for (let j = 0; j < count; j++) out.set(row, j * row.length);
  return out;
}

function chwToHwc(v: ArrayLike<number>, C: number, P: number): Float32Array {
  const out = new Float32Array(C * P);
  for (let c = 0; c < C; c++) for (let p = 0; p < P; p++) out[p * C + c] = v[c * P + p]!;
  return out;
}

function hwcToChw(v: ArrayLike<number>, C: number, P: number): Float32Array {
  const out = new Float32Array(C * P);
  for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) out[c * P + p] = v[p * C + c]!;
  return out;
}

/** IG's baseline for image i (model layout). */
function baselineFor(explainer: Explainer, x: Float32Array, i: number, dims: number[], opts: ExplainOptions, facts: AttributionFacts): Float32Array {
  const b = opts.baseline ?? 'black';
  if (b instanceof Float32Array) {
    // one baseline for every image, or one per image
    const n = dims[0]!;
    if (b.length !== x.length && b.length !== n * x.length) throw new InputError(`the baseline has ${b.length} values; it must be one image of ${x.length} ([${dims.slice(1).join(', ')}], the model's layout) or one per image (${n * x.length})`);
    facts.baseline = 'image';
    return b.length === x.length ? b : b.subarray(i * x.length, (i + 1) * x.length);
  }
  facts.baseline = b;
  if (b === 'black') return new Float32Array(x.length);
  if (b === 'uniform') return uniformBaseline(x, opts.randomSeed ?? 0);
  return gaussianBlur({ data: x, dims: [1, ...dims.slice(1)], layout: explainer.layout });
}

/** FullGrad's bias layers whose gradient the score has and whose grid has more than one cell, at input size [H, W]. */
async function fullGradLayers(explainer: Explainer, size: [number, number], output?: string): Promise<{ tensor: string; bias: Float32Array }[]> {
  const all = await explainer.allTensors(size, output);
  const shapes = new Map(all.map((t) => [t.name, t.shape]));
  const out = biasLayers(explainer.model).filter((l) => {
    const s = shapes.get(l.tensor);
    return s && s.length === 4 && s[1] === l.bias.length && s[2]! * s[3]! > 1;
  });
  return out;
}
