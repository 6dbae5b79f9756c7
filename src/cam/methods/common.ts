/** What the CAM methods' descriptors share: their needs, batching and cost, in the registry's words. */
import type { MethodNeeds, MethodOption } from '../../types.js';
import { sumChannels } from '../util.js';
import type { CamMethod, LayerTensors } from '../types.js';

/** Activations and gradients of the layer: one forward + backward run. */
export const GRADIENT_NEEDS: MethodNeeds = { layer: true, layerGradient: true, inputGradient: false };
/** Activations only: one forward run (plus the method's own passes). */
export const FORWARD_NEEDS: MethodNeeds = { layer: true, layerGradient: false, inputGradient: false };

export const GRADIENT_BATCHING = 'every image × target of the batch in one forward + backward run (top-k targets are rows of the batch; the seed is a graph input)';
export const GRADIENT_COST = '1 forward + 1 backward';
export const FORWARD_BATCHING = 'one forward run of the batch with the layer as an extra output';
export const FORWARD_COST = '1 forward';

/** --cam-batch: the passes per run of the methods that run many (Score-CAM, Ablation-CAM). */
export const CAM_BATCH_OPTION: MethodOption = {
  key: 'batchSize', flag: 'cam-batch', type: 'integer', min: 1, value: 'N', shared: true,
  help: 'forward passes per run (default: as many as fit in 512 MB by the input and layer sizes, at most 32)',
};

/**
 * The descriptor fields of the methods whose map is Σ_c of an element-wise gradient × activation
 * product (HiResCAM, LayerCAM, Grad-CAM element-wise): one forward + backward run, the product kept
 * per element for the runner (`elementwise`) and summed over channels for the map (`compute`).
 */
export function elementwiseCam(products: (t: LayerTensors) => Float32Array): Pick<CamMethod, 'needs' | 'batching' | 'cost' | 'options' | 'volumes' | 'compute' | 'elementwise'> {
  return {
    needs: GRADIENT_NEEDS,
    batching: GRADIENT_BATCHING,
    cost: GRADIENT_COST,
    options: [],
    volumes: true,
    compute: (t) => sumChannels(products(t), t.dims),
    elementwise: products,
  };
}
