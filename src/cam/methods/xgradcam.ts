/** XGrad-CAM (Fu et al. 2020): w_c = Σ_ij G·A / (Σ_ij A + 1e-7); map = Σ_c w_c·A_c. */
import { weightedSum } from './gradcam.js';
import { channelSums } from '../util.js';
import type { CamMethod, LayerTensors } from '../types.js';
import { GRADIENT_NEEDS, GRADIENT_BATCHING, GRADIENT_COST } from './common.js';

export function xgradcamWeights(t: LayerTensors): Float32Array {
  const [n, c, h, w] = t.dims;
  const hw = h * w;
  const sums = channelSums(t.activations, n * c, hw);
  const out = new Float32Array(n * c);
  for (let k = 0; k < n * c; k++) {
    const d = Math.fround(sums[k]! + 1e-7);
    const base = k * hw;
    let acc = 0;
    for (let i = 0; i < hw; i++) acc += Math.fround(Math.fround(t.gradients[base + i]! * t.activations[base + i]!) / d);
    out[k] = acc;
  }
  return out;
}

export const xgradcam: CamMethod = {
  name: 'xgradcam',
  kind: 'cam',
  summary: 'XGrad-CAM: gradients weighted by the normalised activations (axiom-based Grad-CAM)',
  citation: 'Fu et al. 2020, Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of CNNs (BMVC); pytorch-grad-cam XGradCAM',
  needs: GRADIENT_NEEDS,
  batching: GRADIENT_BATCHING,
  cost: GRADIENT_COST,
  options: [],
  volumes: true,
  compute: (t) => weightedSum(t.activations, xgradcamWeights(t), t.dims),
  weights: xgradcamWeights,
};
