/**
 * How many forward passes Score-CAM and Ablation-CAM put in one model run when the caller does not say
 * (`--cam-batch`): as many as fit in a memory budget, at most CAM_BATCH_MAX. A fixed 32 took gigabytes
 * for large inputs (32 masked copies of the input, their masks and the model's activations for all 32).
 */

/** Memory for one batch of extra forward passes, bytes (default 512 MiB). */
export const CAM_BATCH_MEMORY = 512 * 2 ** 20;
/** The most passes per run (pytorch-grad-cam's Score-CAM batch size is 16; more buys little). */
export const CAM_BATCH_MAX = 32;

/**
 * Passes per run for a model input `inputDims` [N, ...] and an explained layer `layerDims` [N, C, ...]:
 * per pass, the masked input and its mask (2 × the input), the model's activations while it runs
 * (estimated at 8 × the input, the live tensors of a few layers of a convolutional net) and the masked
 * layer activations of Ablation-CAM (2 × the layer).
 */
export function camBatchFromBudget(inputDims: readonly number[], layerDims: readonly number[], budget = CAM_BATCH_MEMORY): number {
  const size = (d: readonly number[]) => d.slice(1).reduce((a, v) => a * Math.max(1, v), 1) * 4;
  const per = 10 * size(inputDims) + 2 * size(layerDims);
  return Math.max(1, Math.min(CAM_BATCH_MAX, Math.floor(budget / Math.max(per, 1))));
}
