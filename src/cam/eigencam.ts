/**
 * Eigen-CAM (Muhammad & Yeasin 2020): the activations' first principal component, projected back onto
 * the positions (no gradients, no target). Sign rule: see svd.ts.
 */
import { projection2d } from './svd.js';
import type { CamMethod } from './types.js';

export const eigencam: CamMethod = {
  name: 'eigencam',
  description: 'Eigen-CAM: first principal component of the activations (class-agnostic, no gradients)',
  compute: (t) => projection2d(t.activations, t.dims),
  usesGradients: false,
  usesTarget: false,
  projection: true,
};
