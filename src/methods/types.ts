/**
 * The method registry's vocabulary: one descriptor per method, whatever its kind. Every list of methods
 * (the CLI's choices and help, `gradcam methods`, the web app's menu, the docs' table, the test over all
 * methods) is derived from `METHODS` (src/methods/index.ts).
 *
 * Kinds:
 * - `cam`: a layer's activations × gradients (or forward passes over the layer's channels): a CamMethod
 *   (src/cam/types.ts), run by the CAM runner;
 * - `gradient`: one input gradient, rectified or not (saliency, guided backprop, deconvnet, Guided Grad-CAM);
 * - `path` / `noise`: many input-gradient passes (along a path from a baseline; over noisy copies);
 * - `perturbation`: forward passes only (occluded or masked inputs).
 * Kinds `path`, `noise` and `perturbation` implement `attribute(ctx, options)` on an AttributionContext.
 */
import type { Rectifier } from '../autodiff/rule.js';
import type { ExplainOptions, ExplainResult, MethodInfo, MethodKind, MethodOptionValues } from '../types.js';
export type { MethodInfo, MethodKind, MethodNeeds, MethodOption, MethodOptionValue, MethodOptionValues } from '../types.js';

export const METHOD_KINDS: readonly MethodKind[] = ['cam', 'gradient', 'path', 'noise', 'perturbation'];

/**
 * What a path / noise / perturbation method is given: the batch, the explained class of each image, and
 * two ways to run the model on batches of inputs of its own making.
 */
export interface AttributionContext {
  /** The input batch [N, ...] in the model's layout, and its dims. */
  input: Float32Array;
  dims: readonly number[];
  layout: 'NCHW' | 'NHWC';
  /** The explained class of each image (resolved from `classes`, 'top' = the predicted one). */
  targets: readonly number[];
  /** The score rows (logits) of the unmodified images, [N, K]. */
  scores: Float32Array;
  numClasses: number;
  /** Inputs per model run that fit the memory budget (or the caller's --cam-batch). */
  batchSize: number;
  /** Seed for methods that draw random numbers (--seed; default 0). */
  seed: number;
  /**
   * d(score of image `images[r]`'s target)/d(input) at each row r of `inputs` ([images.length, ...dims[1:]],
   * model layout), in one model run (split by the caller into runs of `batchSize`). Returns the gradients
   * [rows, ...] and each row's target score.
   */
  inputGradients(inputs: Float32Array, images: readonly number[], opts?: { rectifier?: Rectifier }): Promise<{ gradients: Float32Array; scores: Float32Array }>;
  /** Score rows [count, K] of the plain model on `inputs` ([count, ...dims[1:]]), in one model run. */
  forward(inputs: Float32Array, count: number): Promise<Float32Array>;
  /**
   * FullGrad: d(target)/d(input) and d(target)/d(z) at every bias-carrying output z (a Conv's or a
   * BatchNormalization's, src/methods/path/fullgrad-map.ts biasLayers) of the unmodified batch, in one run;
   * each layer's gradient [N, C, h, w] with its bias [C].
   */
  biasGradients(): Promise<{ inputGradient: Float32Array; layers: { tensor: string; bias: Float32Array; gradient: Float32Array; dims: number[] }[] }>;
  /** The caller's layer and layout options (a method that runs another one, e.g. noise over Grad-CAM, passes them on). */
  layer?: string | string[];
  layoutOverride?: string;
  /** ExplainOptions.baselineImage (integrated-gradients' baseline 'image'). */
  baselineImage?: Float32Array;
  /** Any registered method on a batch of inputs (e.g. noise over Grad-CAM): explain() itself. */
  explain(input: Float32Array, dims: number[], options: ExplainOptions): Promise<ExplainResult>;
  /** To be called after each batch of passes with the number that finished (drives the progress display). */
  progress(passes: number): void;
}

/** A pixel-level method's result. */
export interface Attribution {
  /** Signed attributions [N, ...dims[1:]] in the model's input layout. */
  attributions: Float32Array;
  /** Per image, facts for the JSON sidecar (e.g. Integrated Gradients' completeness check). */
  extras?: Record<string, unknown>[];
  /** Per image, warnings shown with the explanation. */
  warnings?: string[][];
}

/** Kinds `path`, `noise`, `perturbation`: an attribution from passes of the method's own making. */
export interface AttributionMethod extends MethodInfo {
  kind: 'path' | 'noise' | 'perturbation';
  /** The score its attributions are of: the target's logit (default) or its softmax probability (RISE); the sidecar's `target` says which. */
  scores?: 'logit' | 'probability';
  /** How many passes attribute() will report through ctx.progress for `images` images (progress totals). */
  passes(images: number, options: MethodOptionValues, input?: { dims: readonly number[]; layout: 'NCHW' | 'NHWC' }): number;
  attribute(ctx: AttributionContext, options: MethodOptionValues): Promise<Attribution>;
}

/** Kind `gradient`: one input gradient with the method's rectifier rule (and Guided Grad-CAM's product). */
export interface GradientMethod extends MethodInfo {
  kind: 'gradient';
  rectifier: Rectifier;
  /** Guided Grad-CAM: the gradient multiplied by the upsampled Grad-CAM map of the layer. */
  timesGradcam: boolean;
}
