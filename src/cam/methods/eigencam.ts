/**
 * Eigen-CAM (Muhammad & Yeasin 2020): the activations' first principal component, projected back onto
 * the positions (no gradients, no target). Sign rule: see svd.ts.
 */
import { projection2d } from '../svd.js';
import type { CamMethod } from '../types.js';
import { FORWARD_NEEDS, FORWARD_BATCHING, FORWARD_COST } from './common.js';

export const eigencam: CamMethod = {
  name: 'eigencam',
  kind: 'cam',
  summary: 'Eigen-CAM: first principal component of the activations (class-agnostic, no gradients)',
  citation: 'Muhammad & Yeasin 2020, Eigen-CAM: Class Activation Map using Principal Components (IJCNN); pytorch-grad-cam EigenCAM',
  needs: FORWARD_NEEDS,
  batching: FORWARD_BATCHING,
  cost: FORWARD_COST,
  options: [],
  volumes: true,
  compute: (t) => projection2d(t.activations, t.dims),
  projection: true,
};
