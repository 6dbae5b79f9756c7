/** LayerCAM (Jiang et al. 2021): map = Σ_c ReLU(G_c) ⊙ A_c. */
import { elementwise, sumChannels } from '../util.js';
import type { CamMethod, LayerTensors } from '../types.js';

const products = (t: LayerTensors) => elementwise(t.gradients, t.activations, (g, a) => (g > 0 ? g : 0) * a);

export const layercam: CamMethod = {
  name: 'layercam',
  description: 'LayerCAM: activations weighted element-wise by their positive gradients (good at early layers)',
  compute: (t) => sumChannels(products(t), t.dims),
  elementwise: products,
};
