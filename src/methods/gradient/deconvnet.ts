/** DeconvNet: rectifiers pass only positive incoming gradients. */
import type { GradientMethod } from '../types.js';
import { GRADIENT_BATCHING, GRADIENT_COST, GUIDED_OPS_OPTION } from './common.js';

export const deconvnet: GradientMethod = {
  name: 'deconvnet',
  kind: 'gradient',
  summary: 'DeconvNet: rectifiers pass only positive gradients',
  citation: 'Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks (ECCV)',
  needs: { layer: true, layerGradient: true, inputGradient: true, rectifier: 'deconvnet' },
  batching: GRADIENT_BATCHING,
  cost: GRADIENT_COST,
  options: [GUIDED_OPS_OPTION],
  volumes: true,
  rectifier: 'deconvnet',
  timesGradcam: false,
};
