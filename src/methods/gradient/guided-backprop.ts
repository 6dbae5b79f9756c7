/** Guided backpropagation: rectifiers pass a gradient only where their input and the incoming gradient are > 0. */
import type { GradientMethod } from '../types.js';
import { GRADIENT_BATCHING, GRADIENT_COST, GUIDED_OPS_OPTION } from './common.js';

export const guidedBackprop: GradientMethod = {
  name: 'guided-backprop',
  kind: 'gradient',
  summary: 'Guided Backpropagation: rectifiers pass gradients only where input > 0 and gradient > 0',
  citation: 'Springenberg et al. 2015, Striving for Simplicity: The All Convolutional Net (ICLR workshop); pytorch-grad-cam GuidedBackpropReLUModel',
  needs: { layer: true, layerGradient: true, inputGradient: true, rectifier: 'guided' },
  batching: GRADIENT_BATCHING,
  cost: GRADIENT_COST,
  options: [GUIDED_OPS_OPTION],
  volumes: true,
  rectifier: 'guided',
  timesGradcam: false,
};
