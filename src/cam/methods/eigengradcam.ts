/** EigenGrad-CAM (pytorch-grad-cam): the first principal component of G ⊙ A. Sign rule: see svd.ts. */
import { projection2d } from '../svd.js';
import { elementwise } from '../util.js';
import type { CamMethod } from '../types.js';

export const eigengradcam: CamMethod = {
  name: 'eigengradcam',
  description: 'EigenGrad-CAM: first principal component of gradient × activation (class-discriminative Eigen-CAM)',
  compute: (t) => projection2d(elementwise(t.gradients, t.activations, (g, a) => g * a), t.dims),
  projection: true,
};
