/**
 * Input × Gradient (Shrikumar et al. 2016) as Captum's InputXGradient: x · ∂y/∂x per value. Listed with
 * the path methods: it is Integrated Gradients' integrand at the input, from the zero baseline.
 */
import type { AttributionMethod } from '../types.js';

export const inputXGradient: AttributionMethod = {
  name: 'input-x-gradient',
  kind: 'path',
  summary: 'Input × Gradient: each input value times its gradient (signed)',
  citation: 'Shrikumar, Greenside, Shcherbina & Kundaje 2016, Not Just a Black Box: Learning Important Features Through Propagating Activation Differences (arXiv:1605.01713); Captum InputXGradient',
  needs: { layer: false, layerGradient: false, inputGradient: true },
  batching: 'the images of a batch in one run',
  cost: '1 forward + 1 backward per image (+ 1 forward for the class)',
  options: [],
  volumes: false,
  passes: (images) => images,
  async attribute(ctx) {
    const n = ctx.dims[0]!;
    const size = ctx.input.length / n;
    const out = new Float32Array(ctx.input.length);
    // one run for the whole batch, each row its own image's target
    for (let s = 0; s < n; s += ctx.batchSize) {
      const k = Math.min(ctx.batchSize, n - s);
      const rows = Array.from({ length: k }, (_, j) => s + j);
      const r = await ctx.inputGradients(ctx.input.subarray(s * size, (s + k) * size), rows);
      for (let i = 0; i < k * size; i++) out[s * size + i] = ctx.input[s * size + i]! * r.gradients[i]!;
      ctx.progress(k);
    }
    return { attributions: out };
  },
};
