/** EigenGrad-CAM (pytorch-grad-cam): the first principal component of G ⊙ A. Sign rule: see svd.ts. */
import { projection2d } from '../svd.js';
import { elementwise } from '../util.js';
import type { CamMethod } from '../types.js';
import { GRADIENT_NEEDS, GRADIENT_BATCHING, GRADIENT_COST } from './common.js';

export const eigengradcam: CamMethod = {
  name: 'eigengradcam',
  kind: 'cam',
  summary: 'EigenGrad-CAM: first principal component of gradient × activation (class-discriminative Eigen-CAM)',
  citation: 'Gildenblat et al., pytorch-grad-cam EigenGradCAM (2021)',
  needs: GRADIENT_NEEDS,
  batching: GRADIENT_BATCHING,
  cost: GRADIENT_COST,
  options: [],
  volumes: true,
  compute: (t) => projection2d(elementwise(t.gradients, t.activations, (g, a) => g * a), t.dims),
  projection: true,
};
