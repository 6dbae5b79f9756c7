/** Guided Grad-CAM: guided backprop × the upsampled Grad-CAM map of the layer, per input channel. */
import type { GradientMethod } from '../types.js';
import { GRADIENT_BATCHING, GRADIENT_COST, GUIDED_OPS_OPTION } from './common.js';

export const guidedGradcam: GradientMethod = {
  name: 'guided-gradcam',
  kind: 'gradient',
  summary: 'Guided Grad-CAM: guided backprop × the upsampled Grad-CAM map, per channel',
  citation: 'Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization (ICCV)',
  needs: { layer: true, layerGradient: true, inputGradient: true, rectifier: 'guided' },
  batching: GRADIENT_BATCHING,
  cost: GRADIENT_COST,
  options: [GUIDED_OPS_OPTION],
  volumes: true,
  rectifier: 'guided',
  timesGradcam: true,
};
