/** Shared types of the CAM methods: pure functions from activations and gradients to raw maps. */
import type { MethodInfo } from '../types.js';

/** A layer's activations A and gradients G, both [N, C, h, w] row-major. */
export interface LayerTensors {
  activations: Float32Array;
  gradients: Float32Array;
  dims: [number, number, number, number];
}

/**
 * A CAM method's registry descriptor (kind `cam`) and its maths. Whether it reads the gradients is
 * `needs.layerGradient` (false: one forward pass gives what it needs).
 */
export interface CamMethod extends MethodInfo {
  kind: 'cam';
  /** Raw class-activation map per image, [N, h, w], before ReLU and scaling. */
  compute(t: LayerTensors): Float32Array;
  /** Channel weights [N, C] for methods of the form Σ_c w_c·A_c (eigen-smooth projects w_c·A_c instead of summing). */
  weights?(t: LayerTensors): Float32Array;
  /** Per-element weighted activations [N, C, h, w] for methods of the form Σ_c W_c ⊙ A_c (eigen-smooth projects them). */
  elementwise?(t: LayerTensors): Float32Array;
  /** Eigen-CAM and EigenGrad-CAM are projections already: eigen-smooth does not change them. */
  projection?: boolean;
  /**
   * Methods that need more than A and G (extra forward passes, the classifier's weights, a seed): channel
   * weights [N, C] computed with the help of the runner. `compute` throws for such methods.
   */
  weightsAsync?(t: LayerTensors, ctx: CamContext): Promise<Float32Array>;
  /**
   * Methods that run extra passes (Score-CAM, Ablation-CAM): how many `weightsAsync(t, ctx)` will run
   * (masked inputs or ablated channels, over all images), reported as they finish through `ctx.progress`.
   */
  passes?(t: LayerTensors, ctx: CamContext): number;
}

/** One explained row: an image and the target explained for it (top-k gives k rows per image). */
export interface CamRow {
  /** Index of the image in the input batch. */
  image: number;
  /** The target's value from one row of the score tensor (flattened, one image). */
  value(score: Float32Array): number;
  /** d(value)/d(score) at the given score row. */
  seed(score: Float32Array): Float32Array;
}

/** What the runner gives the methods that need more than A and G. */
export interface CamContext {
  /** The explained layer (tensor name). */
  layer: string;
  rows: CamRow[];
  /** Score-tensor rows of the unmodified images, [images, scoreSize]. */
  scores: Float32Array;
  scoreSize: number;
  /** The input batch [images, ...] in the model's layout, its dims, and where H and W are. */
  input: Float32Array;
  inputDims: number[];
  layout: 'NCHW' | 'NHWC';
  /** Forward passes per model run for the methods that run many (Score-CAM, Ablation-CAM). */
  batchSize: number;
  /** Score-CAM: only score the N channels with the largest spatial activation variance (others weigh 0). */
  scoreCamTopN?: number;
  /** Score-CAM / Ablation-CAM: score or ablate only these channels (others weigh 0); for timing on a subset. */
  channels?: number[];
  /** Runs the plain model on a batch of inputs [count, ...] (model layout); returns score rows [count, scoreSize]. */
  forward(inputs: Float32Array, count: number): Promise<Float32Array>;
  /**
   * Runs image `image` with the layer's channels multiplied by `masks` ([count, C], 1 keeps a channel, 0
   * ablates it) right after the layer; returns score rows [count, scoreSize].
   */
  forwardMasked(image: number, masks: Float32Array, count: number): Promise<Float32Array>;
  /** The linear classifier after global average pooling of the layer: W [K, C] such that score_k = Σ_c W[k,c]·mean(A_c) + b_k. */
  classifier(): Promise<{ weights: Float32Array; classes: number; channels: number }>;
  /** Seed for the random baseline. */
  randomSeed: number;
  /** Called by methods with extra passes after each batch of them, with the number that finished. */
  progress?(passes: number): void;
}
