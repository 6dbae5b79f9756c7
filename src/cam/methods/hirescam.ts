/** HiResCAM (Draelos & Carin 2020): map = Σ_c G_c ⊙ A_c (no spatial averaging of the gradients). */
import { elementwise, sumChannels } from '../util.js';
import type { CamMethod, LayerTensors } from '../types.js';

const products = (t: LayerTensors) => elementwise(t.gradients, t.activations, (g, a) => g * a);

export const hirescam: CamMethod = {
  name: 'hirescam',
  description: 'HiResCAM: element-wise gradient × activation summed over channels (faithful to the score for linear heads)',
  compute: (t) => sumChannels(products(t), t.dims),
  elementwise: products,
};
