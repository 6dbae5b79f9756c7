/**
 * The shared vocabulary: what the Explainer, the methods, the renderers, metrics, detection, the CLI and
 * the web app say to each other (classes, scores, explanations, run options and results, targets, boxes).
 * Types only; it sits at the Explainer's layer (it may name types of the layers below: onnx, autodiff,
 * runtime, layout, image) and every layer above imports it.
 */
import type { ImportedPreprocess } from './onnx/import/types.js';
import type { CompileCache } from './runtime/session.js';
import type { ExternalDataReader } from './onnx/tensor.js';
import type { Rectifier } from './autodiff/rule.js';
import type { SessionFactory, SessionOptions } from './runtime/session.js';
import type { LayerLayout } from './layout/describe.js';
import type { VolumeResize } from './image/resize3d.js';

/** A method option's value (src/methods/types.ts MethodOption). */
export type MethodOptionValue = number | string | boolean;

export type Layout = 'NCHW' | 'NHWC';

export interface ExplainerOptions {
  createSession: SessionFactory;
  sessionOptions?: SessionOptions;
  /** Reads external-data files beside the model. */
  external?: ExternalDataReader;
  /** Class labels; default: the model's `labels` metadata (JSON array or one per line), if any. */
  labels?: string[];
  /** Names the model in error messages (e.g. its file path). */
  source?: string;
  /**
   * Keeps compiled gradient graphs and layer tables between Explainers (e.g. on disk: node.ts diskCache),
   * so that a second process skips the probe runs and the compile. It must key by this model's content.
   */
  cache?: CompileCache;
  /** A model imported from another format or a hub folder (src/onnx/import): what its files state. */
  imported?: ImportedFacts;
}

/** What an imported model's files state beyond the graph: its format, preprocessing and the notes for the user. */
export interface ImportedFacts {
  format: string;
  preprocess?: ImportedPreprocess;
  notes: string[];
}

export interface LayerInfo {
  name: string;
  op: string;
  /** Shape at batch 1. */
  shape: number[];
  auto: boolean;
  /** What the tensor's axes mean: batch, channels, the grid (nchw, nhwc, tokens with prefix tokens...). */
  layout: LayerLayout;
}

/** Which class to explain for an image: the predicted one, an index, or a label. */
export type ClassChoice = 'top' | number | string;

export interface ExplainOptions extends FamilyOptions {
  /** Any method of `gradcam methods` (the registry, src/methods/index.ts); default gradcam. */
  method?: string;
  /**
   * The method's own options by key (its descriptor's `options`; defaults filled in, unknown keys and
   * bad values refused with the valid choices), e.g. `{ steps: 50 }`.
   */
  methodOptions?: Readonly<Record<string, MethodOptionValue>>;
  /** Gradient methods: which rectifiers guided-backprop/deconvnet guide ('all', default, or 'relu'). */
  rectifierOps?: 'relu' | 'all';
  /**
   * integrated-gradients with `methodOptions.baseline: 'image'`: the baseline in the model's input space
   * (one image's values, or one per image; model layout).
   */
  baselineImage?: Float32Array;
  /** 'auto' (default), one tensor name, or several (their maps are averaged). */
  layer?: string | string[];
  /** The layers' layout where it cannot be inferred: 'nchw', 'nhwc' or 'tokens:HxW[+P]'. */
  layout?: string;
  /** One choice for all images, or one per image. Default 'top'. */
  classes?: ClassChoice | ClassChoice[];
  /** The model output to explain (default: the first). */
  output?: string;
  /**
   * Gradient methods: seed rows [N, ...score shape] = d(target)/d(score) per image, instead of `classes`
   * (targets that the caller evaluated at a forward pass, e.g. a detection's box target).
   */
  seeds?: Float32Array;
  /** 3-D models: how the maps are upsampled to the volume (trilinear with half-pixel centres, default; spline: scipy.ndimage.zoom, pytorch-grad-cam's). */
  volumeResize?: VolumeResize;
}

export interface ClassScore {
  index: number;
  label?: string;
  /** The differentiated score: the logit (the Softmax input when the model ends in Softmax). */
  logit: number;
  /** softmax of the logits. */
  probability: number;
}

export interface Explanation {
  method: string;
  layers: string[];
  /** The explained class. */
  target: ClassScore;
  /** The model's top class, shown beside every map so that nobody explains the wrong class by accident. */
  predicted: ClassScore;
  /** Final map [H, W] at input resolution, in [0, 1]; [D, H, W] for 3-D models (`depth` set). */
  map: Float32Array;
  height: number;
  width: number;
  /** 3-D models: the volume's depth D (maps, raw maps and gradients are then volumes). */
  depth?: number;
  /** Each layer's layout (how its tensor was read: nchw, nhwc, tokens with prefix tokens...). */
  layouts?: LayerLayout[];
  /** The first layer's raw map (weighted sum before ReLU and scaling), [h, w], comparable across images. */
  raw: Float32Array;
  rawHeight: number;
  rawWidth: number;
  /** 3-D models: the layer's depth (raw is [d, h, w]). */
  rawDepth?: number;
  warnings: string[];
  /** With targets beyond the class logit, top-k, contrast...: the image this map belongs to (top-k gives k per image). */
  image?: number;
  /** 1-based rank of the explained class among the image's top-k. */
  rank?: number;
  /** What was explained, e.g. `logit 3`, `softmax 3 - softmax 5`, `-(logit 3)`, `cosine similarity to the reference`. */
  targetName?: string;
  targetKind?: string;
  /** The target's value for the image. */
  targetValue?: number;
  /** Gradient methods: the method's result [H, W, C] (channels last; [D, H, W, C] for volumes), and C. */
  gradient?: Float32Array;
  channels?: number;
  /** How the gradients were computed when not exactly: `straight-through estimate (int8)` through quantised ops. */
  gradientNote?: string;
  /** Pixel-level methods beyond one gradient: facts for the JSON sidecar (e.g. Integrated Gradients' completeness check). */
  extras?: Record<string, unknown>;
}

/**
 * A pixel-level explanation (methods of every kind but `cam`): the attribution per input pixel and
 * channel, and a map shown beside it (Grad-CAM's for gradient methods).
 */
export interface PixelExplanation {
  method: string;
  /** The layer of the map beside (gradient methods); '' where there is none. */
  layer: string;
  target: ClassScore;
  predicted: ClassScore;
  height: number;
  width: number;
  /** 3-D models: the depth D; gradient, gradientInputLayout and cam are then volumes ([D, H, W, C], [D, H, W]). */
  depth?: number;
  channels: number;
  /** The method's result, [H, W, C] (channels last, whatever the model's layout). */
  gradient: Float32Array;
  /** Through quantised (int8) ops: `straight-through estimate (int8)` (Explainer.gradientNote). */
  gradientNote?: string;
  /** The same, in the model's input layout without batch ([C,H,W] for NCHW models). */
  gradientInputLayout: Float32Array;
  /** The map shown beside, [H, W] in [0, 1]: the Grad-CAM map at `layer` (gradient methods), else |attribution| scaled. */
  cam: Float32Array;
  /** Facts for the JSON sidecar (e.g. Integrated Gradients' completeness check). */
  extras?: Record<string, unknown>;
  warnings?: string[];
}

export interface ExplainResult {
  explanations: Explanation[];
  timings: { compileMs: number; sessionMs: number; runMs: number; camMs: number };
}

export interface RunOptions {
  /** Tensor names or 'auto'; may be empty when only the input gradient is wanted. */
  layers: string[];
  /** The layers' layout where it cannot be inferred ('nchw', 'nhwc', 'tokens:HxW[+P]'). */
  layout?: string;
  classes?: ClassChoice | ClassChoice[];
  output?: string;
  inputGradient?: boolean;
  rectifier?: Rectifier;
  rectifierOps?: 'relu' | 'all';
  /** Seed rows [N, ...score shape] = d(target)/d(score) per image, instead of one-hot `classes`. */
  seeds?: Float32Array;
  /**
   * Grad-CAM's maps computed inside the graph (RunResult.maps) instead of returning the layer's activation
   * and gradient, where the single layer allows: nchw or nhwc, 2-D, its grid not larger than the input and
   * at most 32×32 or dividing it (GradientSpec.maps); elsewhere `maps` stays undefined.
   */
  maps?: boolean;
}

export interface RunResult {
  layers: string[];
  /** Each layer's layout; activations and gradients below are converted from it to [N, C, h, w]. */
  layouts: LayerLayout[];
  numClasses: number;
  /** Input spatial size [H, W] (of a volume: its last two axes). */
  size: [number, number];
  /** The input's whole grid: [H, W], or [D, H, W] for 3-D models. */
  grid: number[];
  /** The class each image's seed selected. */
  targets: number[];
  logits: { data: Float32Array; dims: number[] };
  /** Per layer, [N, C, h, w] ([N, C, d, h, w] for 3-D layers) whatever the tensor's own layout. */
  activations: { data: Float32Array; dims: number[] }[];
  gradients: { data: Float32Array; dims: number[] }[];
  inputGradient?: { data: Float32Array; dims: number[] };
  /**
   * With RunOptions.maps where the layer allows: Grad-CAM's raw maps [N, h, w], final maps [N, H, W],
   * each final map's range before scaling (0: all zero) and max_cell Σ_c |A_c·G_c| (cancellation check);
   * `activations` and `gradients` are then empty.
   */
  maps?: { raw: Float32Array; h: number; w: number; map: Float32Array; range: Float32Array; scale: Float32Array };
  timings: { compileMs: number; sessionMs: number; runMs: number };
}

export interface FamilyOptions {
  /** What to explain: one target for all images or one per image. Default: the class logit (`classes`). */
  target?: TargetSpec | TargetSpec[];
  /** Explain the k best classes of every image (logit and softmax targets): k explanations per image. */
  topK?: number;
  /** Contrastive map: why the class rather than this one (score_c − score_D). 'top' = the predicted class. */
  contrast?: ClassChoice;
  /** Counterfactual map: what speaks against the target (negated gradients / negated target). */
  counterfactual?: boolean;
  /** Test-time augmentation as pytorch-grad-cam: horizontal flip × input multiplied by 0.9/1/1.1, de-augmented, averaged. */
  augSmooth?: boolean;
  /** Replace the channel sum by the first principal component of the weighted activations. */
  eigenSmooth?: boolean;
  /** Forward passes per run for Score-CAM / Ablation-CAM (default 32). */
  batchSize?: number;
  /** Score-CAM: only score the N channels with the largest activation variance. */
  scoreCamTopN?: number;
  /** Score-CAM / Ablation-CAM: score or ablate only these channels (others weigh 0); for timing on a subset. */
  channels?: number[];
  /** Ablation-CAM graph: 'auto' (default: suffix where possible), 'suffix' or 'full' (the whole model with the mask). */
  ablationMode?: 'auto' | 'suffix' | 'full';
  /** Seed of the random baseline (default 0: `np.random.seed(0)`). */
  randomSeed?: number;
  /**
   * Progress of the methods that run many passes (Score-CAM's masked inputs, Ablation-CAM's ablated
   * channels): called after each batch of them with the passes done and the total of this call (all
   * images, methods, layers and, with aug-smooth, augmentations), and the method's name. `done` grows to
   * `total`. Not called for methods that need one run.
   */
  onProgress?: (done: number, total: number, stage: string) => void;
}

export type ClassChoiceLike = 'top' | number | string;

export type TargetSpec =
  | { kind: 'logit'; class?: ClassChoiceLike }
  | { kind: 'softmax'; class?: ClassChoiceLike }
  | { kind: 'binary'; negative?: boolean; index?: number }
  | { kind: 'regression'; index?: number }
  /**
   * `mask`: [h, w] of the score's class planes, or `pixel` [y, x]: that one pixel; default: the pixels whose
   * arg-max class is `class`, and on a one-plane output ([N, 1, h, w] or [N, h, w]) the pixels whose output
   * is above `threshold` (default 0.5 after a final Sigmoid, whose input is then the score; 0 without one).
   */
  | { kind: 'segmentation'; class?: ClassChoiceLike; mask?: Float32Array; pixel?: [number, number]; threshold?: number }
  /** `reference`: the reference embedding (a score row), or `referenceInput`: one input [1, ...] to embed. */
  | { kind: 'similarity'; reference?: Float32Array; referenceInput?: { data: Float32Array; dims: number[] } }
  | { kind: 'element'; index: number | number[] }
  /** One detection: `box` (x1, y1, x2, y2 in input pixels) of class `class`, on a detection tensor read by `head`. */
  | ({ kind: 'box'; head: BoxHead; box: Box; class: number } & BoxTargetOptions);

export type TargetKind = TargetSpec['kind'];

/** x1, y1, x2, y2 in input pixels. */
export type Box = [number, number, number, number];
export type BoxCoords = 'xyxy' | 'cxcywh';

/** How to read one anchor row. */
export interface BoxHead {
  anchors: number;
  classes: number;
  /** Row width: 4 + (objectness ? 1 : 0) + classes. */
  width: number;
  coords: BoxCoords;
  objectness: boolean;
}

export interface BoxTargetOptions {
  /** Anchors whose box overlaps the target box at least this much are matched (default 0.5). */
  iouThreshold?: number;
  /**
   * 'sum' (default): the class score summed over every matched anchor (IoU ≥ threshold);
   * 'best': pytorch-grad-cam's FasterRCNNBoxScoreTarget — the best-overlapping anchor only, if its IoU
   * exceeds the threshold and its arg-max class is the class.
   */
  match?: 'sum' | 'best';
  /** Add the matched anchors' IoU with the target box (as FasterRCNNBoxScoreTarget; always with 'best'). */
  iouTerm?: boolean;
}
