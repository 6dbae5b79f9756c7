/** What the gradient methods' descriptors share. */
import type { MethodOption } from '../types.js';

export const GRADIENT_BATCHING = 'every image of the batch in one forward + backward run, which also gives the Grad-CAM map of the layer shown beside';
export const GRADIENT_COST = '1 forward + 1 backward';

/** --guided-ops: which rectifiers a guided rule applies to. */
export const GUIDED_OPS_OPTION: MethodOption = {
  key: 'rectifierOps', flag: 'guided-ops', type: 'string', default: 'all', choices: ['all', 'relu'], value: 'SET', shared: true,
  help: "rectifiers guided: 'all' (Relu, Clip/ReLU6, LeakyRelu, PRelu; default) or 'relu' (only Relu, as pytorch-grad-cam)",
};
