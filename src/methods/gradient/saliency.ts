/** Vanilla saliency: the true input gradient of the target. */
import type { GradientMethod } from '../types.js';
import { GRADIENT_BATCHING, GRADIENT_COST } from './common.js';

export const saliency: GradientMethod = {
  name: 'saliency',
  kind: 'gradient',
  summary: 'Vanilla saliency: the gradient of the class score with respect to the input pixels',
  citation: 'Simonyan, Vedaldi & Zisserman 2014, Deep Inside Convolutional Networks: Visualising Image Classification Models and Saliency Maps (ICLR workshop)',
  needs: { layer: true, layerGradient: true, inputGradient: true, rectifier: 'plain' },
  batching: GRADIENT_BATCHING,
  cost: GRADIENT_COST,
  options: [],
  volumes: true,
  rectifier: 'plain',
  timesGradcam: false,
};
