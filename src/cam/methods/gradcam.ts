/** Grad-CAM (Selvaraju et al. 2017): channel weights = spatial mean of the gradients; map = Σ_c w_c·A_c. */
import type { CamMethod, LayerTensors } from '../types.js';
import { GRADIENT_NEEDS, GRADIENT_BATCHING, GRADIENT_COST } from './common.js';

/** Spatial mean of the gradients: [N, C]. */
export function gradcamWeights(t: LayerTensors): Float32Array {
  const [n, c, h, w] = t.dims;
  const hw = h * w;
  const g = t.gradients;
  const out = new Float32Array(n * c);
  for (let k = 0; k < n * c; k++) out[k] = blockSum(g, k * hw, hw) / hw;
  return out;
}

/** Σ x[from .. from + len) in float64, four running sums (a short row's loop overhead otherwise dominates). */
export function blockSum(x: Float32Array, from: number, len: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = from;
  const end = from + len;
  for (; i + 3 < end; i += 4) {
    s0 += x[i]!;
    s1 += x[i + 1]!;
    s2 += x[i + 2]!;
    s3 += x[i + 3]!;
  }
  for (; i < end; i++) s0 += x[i]!;
  return (s0 + s1) + (s2 + s3);
}

/**
 * Σ_c weights[n, c] · A[n, c] → [N, h, w], four channels per pass over the map (float64 within the four,
 * float32 between them: the rounding of a float32 accumulation, a quarter as often).
 */
export function weightedSum(activations: Float32Array, weights: Float32Array, dims: readonly number[]): Float32Array {
  const [n, c, h, w] = dims as [number, number, number, number];
  const hw = h * w;
  const a = activations;
  const out = new Float32Array(n * hw);
  for (let b = 0; b < n; b++) {
    const o = b * hw;
    let k = 0;
    for (; k + 3 < c; k += 4) {
      const w0 = weights[b * c + k]!, w1 = weights[b * c + k + 1]!, w2 = weights[b * c + k + 2]!, w3 = weights[b * c + k + 3]!;
      if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0) continue;
      const a0 = (b * c + k) * hw;
      const a1 = a0 + hw, a2 = a1 + hw, a3 = a2 + hw;
      for (let i = 0; i < hw; i++) out[o + i] += (w0 * a[a0 + i]! + w1 * a[a1 + i]!) + (w2 * a[a2 + i]! + w3 * a[a3 + i]!);
    }
    for (; k < c; k++) {
      const wk = weights[b * c + k]!;
      if (wk === 0) continue;
      const ak = (b * c + k) * hw;
      for (let i = 0; i < hw; i++) out[o + i] += wk * a[ak + i]!;
    }
  }
  return out;
}

export const gradcam: CamMethod = {
  name: 'gradcam',
  kind: 'cam',
  summary: 'Grad-CAM: activations weighted by the spatial mean of their gradients',
  citation: 'Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization (ICCV); pytorch-grad-cam GradCAM',
  needs: GRADIENT_NEEDS,
  batching: GRADIENT_BATCHING,
  cost: GRADIENT_COST,
  options: [],
  volumes: true,
  compute: (t) => weightedSum(t.activations, gradcamWeights(t), t.dims),
  weights: gradcamWeights,
};
