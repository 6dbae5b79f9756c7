/**
 * Grad-CAM++ (Chattopadhyay et al. 2018, eq. 19), as pytorch-grad-cam computes it:
 * α = G² / (2G² + ΣA·G³ + 1e-6) where G ≠ 0 (else 0); w_c = Σ_ij ReLU(G)·α; map = Σ_c w_c·A_c.
 * float32 arithmetic step by step, like numpy on float32 arrays.
 */
import { weightedSum } from './gradcam.js';
import { channelSums } from '../util.js';
import type { CamMethod, LayerTensors } from '../types.js';
import { GRADIENT_NEEDS, GRADIENT_BATCHING, GRADIENT_COST } from './common.js';

const f = Math.fround;

export function gradcamPlusPlusWeights(t: LayerTensors): Float32Array {
  const [n, c, h, w] = t.dims;
  const hw = h * w;
  const sums = channelSums(t.activations, n * c, hw);
  const out = new Float32Array(n * c);
  for (let k = 0; k < n * c; k++) {
    const s = sums[k]!;
    const base = k * hw;
    let acc = 0;
    for (let i = 0; i < hw; i++) {
      const g = t.gradients[base + i]!;
      if (g === 0) continue;
      const g2 = f(g * g);
      const g3 = f(g2 * g);
      const a = f(g2 / f(f(f(2 * g2) + f(s * g3)) + 1e-6));
      if (g > 0) acc += f(g * a);
    }
    out[k] = acc;
  }
  return out;
}

export const gradcamPlusPlus: CamMethod = {
  name: 'gradcam++',
  kind: 'cam',
  summary: 'Grad-CAM++: channel weights from positive gradients with second/third-order α coefficients',
  citation: 'Chattopadhyay et al. 2018, Grad-CAM++: Improved Visual Explanations for Deep Convolutional Networks (WACV); pytorch-grad-cam GradCAMPlusPlus',
  needs: GRADIENT_NEEDS,
  batching: GRADIENT_BATCHING,
  cost: GRADIENT_COST,
  options: [],
  volumes: true,
  compute: (t) => weightedSum(t.activations, gradcamPlusPlusWeights(t), t.dims),
  weights: gradcamPlusPlusWeights,
};
