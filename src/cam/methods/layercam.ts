/** LayerCAM (Jiang et al. 2021): map = Σ_c ReLU(G_c) ⊙ A_c. */
import { elementwise } from '../util.js';
import type { CamMethod, LayerTensors } from '../types.js';
import { elementwiseCam } from './common.js';

const products = (t: LayerTensors) => elementwise(t.gradients, t.activations, (g, a) => (g > 0 ? g : 0) * a);

export const layercam: CamMethod = {
  name: 'layercam',
  kind: 'cam',
  summary: 'LayerCAM: activations weighted element-wise by their positive gradients (good at early layers)',
  citation: 'Jiang et al. 2021, LayerCAM: Exploring Hierarchical Class Activation Maps for Localization (IEEE TIP); pytorch-grad-cam LayerCAM',
  ...elementwiseCam(products),
};
