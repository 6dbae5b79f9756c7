/** HiResCAM (Draelos & Carin 2020): map = Σ_c G_c ⊙ A_c (no spatial averaging of the gradients). */
import { elementwise } from '../util.js';
import type { CamMethod, LayerTensors } from '../types.js';
import { elementwiseCam } from './common.js';

const products = (t: LayerTensors) => elementwise(t.gradients, t.activations, (g, a) => g * a);

export const hirescam: CamMethod = {
  name: 'hirescam',
  kind: 'cam',
  summary: 'HiResCAM: element-wise gradient × activation summed over channels (faithful to the score for linear heads)',
  citation: 'Draelos & Carin 2020, Use HiResCAM instead of Grad-CAM for faithful explanations of convolutional neural networks (arXiv:2011.08891); pytorch-grad-cam HiResCAM',
  ...elementwiseCam(products),
};
