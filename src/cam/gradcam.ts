/** Grad-CAM (Selvaraju et al. 2017): channel weights = spatial mean of the gradients; map = Σ_c w_c·A_c. */
import type { CamMethod, LayerTensors } from './types.js';

/** Spatial mean of the gradients: [N, C]. */
export function gradcamWeights(t: LayerTensors): Float32Array {
  const [n, c, h, w] = t.dims;
  const hw = h * w;
  const out = new Float32Array(n * c);
  for (let k = 0; k < n * c; k++) {
    let s = 0;
    const base = k * hw;
    for (let i = 0; i < hw; i++) s += t.gradients[base + i]!;
    out[k] = s / hw;
  }
  return out;
}

/** Σ_c weights[n, c] · A[n, c] → [N, h, w]. */
export function weightedSum(activations: Float32Array, weights: Float32Array, dims: readonly number[]): Float32Array {
  const [n, c, h, w] = dims as [number, number, number, number];
  const hw = h * w;
  const out = new Float32Array(n * hw);
  for (let b = 0; b < n; b++) {
    const o = b * hw;
    for (let k = 0; k < c; k++) {
      const wk = weights[b * c + k]!;
      if (wk === 0) continue;
      const a = (b * c + k) * hw;
      for (let i = 0; i < hw; i++) out[o + i] += wk * activations[a + i]!;
    }
  }
  return out;
}

export const gradcam: CamMethod = {
  name: 'gradcam',
  description: 'Grad-CAM: activations weighted by the spatial mean of their gradients',
  compute: (t) => weightedSum(t.activations, gradcamWeights(t), t.dims),
  weights: gradcamWeights,
};
