/** Grad-CAM element-wise (pytorch-grad-cam's GradCAMElementWise): map = Σ_c ReLU(G_c ⊙ A_c). */
import { elementwise } from '../util.js';
import type { CamMethod, LayerTensors } from '../types.js';
import { elementwiseCam } from './common.js';

const products = (t: LayerTensors) => elementwise(t.gradients, t.activations, (g, a) => {
  const p = Math.fround(g * a);
  return p > 0 ? p : 0;
});

export const gradcamElementwise: CamMethod = {
  name: 'gradcam-elementwise',
  kind: 'cam',
  summary: 'Grad-CAM element-wise: ReLU of gradient × activation per element, summed over channels',
  citation: 'Gildenblat et al., pytorch-grad-cam GradCAMElementWise (2021)',
  ...elementwiseCam(products),
};
