/**
 * FullGrad with pytorch-grad-cam's semantics (pytorch_grad_cam/fullgrad_cam.py): |x · ∂y/∂x| per input
 * channel plus, for every Conv / BatchNormalization bias, Σ_c |b_c · ∂y/∂z_c|, each map min-max scaled and
 * resized, summed and scaled (fullgrad-map.ts, which also says what counts as a bias in an ONNX graph).
 * The map [H, W] in [0, 1] is the attribution of every input channel (it has no sign or channel).
 */
import type { AttributionMethod } from '../types.js';
import { fullGradMap } from './fullgrad-map.js';

export const fullgrad: AttributionMethod = {
  name: 'fullgrad',
  kind: 'path',
  summary: 'FullGrad: |input × gradient| plus |bias × gradient| of every Conv/BatchNorm bias, each scaled, summed (a map, no sign)',
  citation: 'Srinivas & Fleuret 2019, Full-Gradient Representation for Neural Network Visualization (NeurIPS); pytorch-grad-cam FullGrad',
  needs: { layer: false, layerGradient: false, inputGradient: true, biasGradients: true },
  batching: 'the images of a batch in one run (the input gradient and every bias layer\'s gradient)',
  cost: '1 forward + 1 backward per image (+ 1 forward for the class)',
  options: [],
  volumes: false,
  passes: (images) => images,
  async attribute(ctx) {
    const n = ctx.dims[0]!;
    const nchw = ctx.layout === 'NCHW';
    const [H, W] = nchw ? [ctx.dims[2]!, ctx.dims[3]!] : [ctx.dims[1]!, ctx.dims[2]!];
    const C = nchw ? ctx.dims[1]! : ctx.dims[3]!;
    const P = H * W;
    const size = C * P;
    const r = await ctx.biasGradients();
    ctx.progress(n);
    const planar = (v: Float32Array) => {
      if (nchw) return v;
      const out = new Float32Array(size);
      for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) out[c * P + p] = v[p * C + c]!;
      return out;
    };
    const out = new Float32Array(n * size);
    for (let i = 0; i < n; i++) {
      const terms = r.layers.map((l) => {
        const [, c, h, w] = l.dims as [number, number, number, number];
        return { gradient: l.gradient.subarray(i * c * h * w, (i + 1) * c * h * w), bias: l.bias, h, w };
      });
      const map = fullGradMap(planar(ctx.input.subarray(i * size, (i + 1) * size)), planar(r.inputGradient.subarray(i * size, (i + 1) * size)), C, H, W, terms);
      for (let c = 0; c < C; c++) for (let p = 0; p < P; p++) out[i * size + (nchw ? c * P + p : p * C + c)] = map[p]!;
    }
    return { attributions: out, extras: Array.from({ length: n }, () => ({ bias_layers: r.layers.length })) };
  },
};
