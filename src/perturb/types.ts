/**
 * The narrow interface of the perturbation methods (Occlusion, RISE): they need nothing from the model but
 * the explained target's value for a batch of perturbed copies of one image. Browser-safe.
 */

/** One image in the model's layout, and where its axes are. */
export interface ImageGeometry {
  layout: 'NCHW' | 'NHWC';
  channels: number;
  height: number;
  width: number;
}

/**
 * The target's value for each of `count` inputs ([count, ...] in the model's layout, one image's perturbed
 * copies): what the method attributes (Occlusion: the target's logit, as Captum with `target=k` on logits;
 * RISE: its softmax probability, as the reference implementation's `nn.Sequential(model, Softmax)`).
 */
export type TargetScores = (inputs: Float32Array, count: number) => Promise<Float32Array>;

export interface PerturbationRun {
  /** The image [C, H, W] or [H, W, C] (model layout). */
  image: Float32Array;
  geometry: ImageGeometry;
  score: TargetScores;
  /** Perturbed inputs per model run. */
  batchSize: number;
  /** Called after each model run with the number of passes that finished. */
  progress?(passes: number): void;
}

/** Memory for one model run of perturbed inputs, bytes: the inputs, and the model's activations (≈ 8 × the input) while they run. */
export const PERTURB_BATCH_MEMORY = 512 * 2 ** 20;
/** The most perturbed inputs per run. */
export const PERTURB_BATCH_MAX = 128;

/** Perturbed inputs per model run for an image of `elements` values (as Score-CAM's camBatchFromBudget, without a layer). */
export function perturbBatchFromBudget(elements: number, budget = PERTURB_BATCH_MEMORY): number {
  const per = 10 * Math.max(1, elements) * 4;
  return Math.max(1, Math.min(PERTURB_BATCH_MAX, Math.floor(budget / per)));
}

/** The index of value (y, x, channel c) in one image of the model's layout. */
export function pixelIndex(g: ImageGeometry, y: number, x: number, c: number): number {
  return g.layout === 'NCHW' ? (c * g.height + y) * g.width + x : (y * g.width + x) * g.channels + c;
}
