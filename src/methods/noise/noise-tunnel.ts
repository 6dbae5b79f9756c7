/**
 * The noise tunnel (SmoothGrad, SmoothGrad², VarGrad) around a gradient method, Input × Gradient,
 * Integrated Gradients or Grad-CAM: noise.ts on the AttributionContext. Around Grad-CAM the tunnel smooths
 * the raw maps at the layer (Σ_c mean(G_c)·A_c, Captum's LayerGradCam without ReLU), then the usual
 * post-processing (ReLU, scaling, upsampling) makes the map, given as the attribution of every channel.
 */
import { CAM_BATCH_OPTION, SEED_OPTION } from '../../cam/methods/common.js';
import type { AttributionContext, AttributionMethod } from '../types.js';
import type { Rectifier } from '../../autodiff/rule.js';
import type { Explanation } from '../../types.js';
import { postprocess } from '../../cam/pipeline.js';
import { IG_OPTIONS, baselineFor, igSettings } from '../path/integrated-gradients.js';
import { gradientsInRuns, imageSource, integratedGradients } from '../path/integrated.js';
import { NOISE_TYPES, noisyCopies, smooth, valueRange, type NoiseType } from './noise.js';

export const NOISE_OVER = ['saliency', 'guided-backprop', 'deconvnet', 'input-x-gradient', 'integrated-gradients', 'gradcam'] as const;
type Over = (typeof NOISE_OVER)[number];
const RECTIFIER: Partial<Record<Over, Rectifier>> = { 'guided-backprop': 'guided', deconvnet: 'deconvnet' };

export const noiseTunnel: AttributionMethod = {
  name: 'noise-tunnel',
  kind: 'noise',
  summary: 'Noise tunnel (SmoothGrad, SmoothGrad², VarGrad): a method\'s attributions averaged over noisy copies of the input (--over, --noise)',
  citation: 'Smilkov, Thorat, Kim, Viégas & Wattenberg 2017, SmoothGrad: removing noise by adding noise (arXiv:1706.03825); Adebayo et al. 2018 (VarGrad); Captum NoiseTunnel',
  needs: { layer: false, layerGradient: false, inputGradient: true },
  batching: 'the noisy copies of an image in runs of --cam-batch inputs (Integrated Gradients: each copy\'s steps)',
  cost: 'noise-samples × the wrapped method\'s passes per image',
  options: [
    { key: 'noise', flag: 'noise', type: 'string', default: 'smoothgrad', choices: NOISE_TYPES, value: 'TYPE', help: "Captum's nt_type: smoothgrad (mean), smoothgrad_sq (mean of squares), vargrad (variance)" },
    { key: 'over', flag: 'over', type: 'string', default: 'saliency', choices: NOISE_OVER, value: 'METHOD', help: 'the method inside the tunnel (its own options apply: --ig-steps, --layer...)' },
    { key: 'noiseSamples', flag: 'noise-samples', type: 'integer', default: 5, min: 1, value: 'N', help: "noisy copies per image (Captum's nt_samples); seeded by --seed" },
    { key: 'noiseSigma', flag: 'noise-sigma', type: 'number', default: 0.15, min: 0, value: 'F', help: "noise σ as a fraction of each image's input range (max − min of its model-input tensor)" },
    ...IG_OPTIONS,
    CAM_BATCH_OPTION,
    SEED_OPTION,
  ],
  volumes: false,
  passes: (images, o) => images * (o.noiseSamples as number) * (o.over === 'integrated-gradients' ? (o.steps as number) + 1 : 1),
  async attribute(ctx, o) {
    const type = o.noise as NoiseType;
    const over = o.over as Over;
    const samples = o.noiseSamples as number;
    const sigma = o.noiseSigma as number;
    const ig = over === 'integrated-gradients' ? igSettings(o) : undefined;
    const n = ctx.dims[0]!;
    const size = ctx.input.length / n;
    const out = new Float32Array(ctx.input.length);
    const extras: Record<string, unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const x = ctx.input.subarray(i * size, (i + 1) * size);
      const stdev = sigma * valueRange(x);
      const noisy = noisyCopies(x, samples, stdev, ctx.seed);
      const facts: Record<string, unknown> = { noise: { type, over, samples, sigma, stdev, seed: ctx.seed } };
      if (over === 'gradcam') {
        const { map, layer, h, w } = await gradcamTunnel(ctx, i, noisy, samples, type);
        for (let c = 0; c < size / map.length; c++) for (let p = 0; p < map.length; p++) out[i * size + (ctx.layout === 'NCHW' ? c * map.length + p : p * (size / map.length) + c)] = map[p]!;
        Object.assign(facts, { layer, raw_grid: [h, w] });
      } else {
        const source = imageSource(ctx, i, RECTIFIER[over]);
        let a: Float32Array;
        if (ig) {
          const b = baselineFor(ctx, x, i, ig.baseline);
          a = new Float32Array(samples * size);
          for (let s = 0; s < samples; s++) a.set((await integratedGradients(source, noisy.subarray(s * size, (s + 1) * size), b, NaN, ig.steps, ig.rule)).attribution, s * size);
          Object.assign(facts, { baseline: ig.baseline, steps: ig.steps, integration: ig.rule });
        } else {
          a = (await gradientsInRuns(source, noisy, samples)).gradients;
          if (over === 'input-x-gradient') for (let k = 0; k < a.length; k++) a[k] = a[k]! * noisy[k]!;
        }
        out.set(smooth(a, samples, type), i * size);
      }
      extras.push(facts);
    }
    return { attributions: out, extras };
  },
};

/** The tunnel around Grad-CAM: the smoothed raw maps of image i's noisy copies, post-processed. */
async function gradcamTunnel(ctx: AttributionContext, i: number, noisy: Float32Array, samples: number, type: NoiseType): Promise<{ map: Float32Array; layer: string; h: number; w: number }> {
  const dims = [samples, ...ctx.dims.slice(1)];
  const layer = Array.isArray(ctx.layer) ? ctx.layer[0] : ctx.layer;
  const raws: Float32Array[] = [];
  let first: Explanation | undefined;
  for (let s = 0; s < samples; s += ctx.batchSize) {
    const k = Math.min(ctx.batchSize, samples - s);
    const r = await ctx.explain(noisy.subarray(s * (noisy.length / samples), (s + k) * (noisy.length / samples)), [k, ...dims.slice(1)], {
      method: 'gradcam', layer, layout: ctx.layoutOverride, classes: Array<number>(k).fill(ctx.targets[i]!),
    });
    for (const e of r.explanations) { raws.push(e.raw); first ??= e; }
    ctx.progress(k);
  }
  const e = first!;
  const h = e.rawHeight;
  const w = e.rawWidth;
  const all = new Float32Array(samples * h * w);
  raws.forEach((r, s) => all.set(r, s * h * w));
  const raw = smooth(all, samples, type);
  const grid = ctx.layout === 'NCHW' ? ctx.dims.slice(2) : ctx.dims.slice(1, -1);
  return { map: postprocess([{ raw, h, w }], 1, grid[0]!, grid[1]!).maps, layer: e.layers[0]!, h, w };
}
