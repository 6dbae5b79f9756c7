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
import type { LayerPost } from './autodiff/compiler.js';
import type { SessionFactory, SessionOptions } from './runtime/session.js';
import type { LayerLayout } from './layout/describe.js';
import type { VolumeResize } from './image/resize3d.js';
import type { Box, BoxHead, BoxTargetOptions } from './util/boxes.js';
export type { Box, BoxCoords, BoxHead, BoxTargetOptions } from './util/boxes.js';

// ---- the method registry's descriptors (src/methods/index.ts): what every method declares --------------

/** A method's kind: `cam` (a layer's activations × gradients), `gradient` (one input gradient), `path` / `noise` (many input-gradient passes), `perturbation` (forward passes only). */
export type MethodKind = 'cam' | 'gradient' | 'path' | 'noise' | 'perturbation';

/** A method option's value. */
export type MethodOptionValue = number | string | boolean;
/** Option values as they reach a method (defaults filled in, checked against the declaration). */
export type MethodOptionValues = Readonly<Record<string, MethodOptionValue>>;

/** One option of a method: where its value goes, its CLI flag, its type, default and help. */
export interface MethodOption {
  /** Key in ExplainOptions.methodOptions and in the JSON sidecar's options (camelCase), e.g. `steps`. */
  key: string;
  /** The CLI flag without dashes, e.g. `steps` (`--steps`). Methods that share a flag share its meaning. */
  flag: string;
  type: 'integer' | 'number' | 'string' | 'boolean';
  default?: MethodOptionValue;
  /** Strings: the allowed values. */
  choices?: readonly string[];
  /** Numbers: inclusive bounds. */
  min?: number;
  max?: number;
  /** The value's placeholder in the help, e.g. `N`. */
  value?: string;
  help: string;
  /**
   * Declared by the commands' own option groups (the CAM family's `--score-top`, `--seed`...) and passed
   * as the ExplainOptions field `key`, not in methodOptions: listed here for docs and `gradcam methods`.
   */
  shared?: boolean;
}

/** What a method needs from the compiled graph. */
export interface MethodNeeds {
  /** A layer's activations (and a layer to explain: --layer). */
  layer: boolean;
  /** d(target)/d(layer). */
  layerGradient: boolean;
  /** d(target)/d(input). */
  inputGradient: boolean;
  /** The rectifiers' backward rule for the input gradient (default 'plain'). */
  rectifier?: Rectifier;
  /** Gradients with respect to the biases' outputs (FullGrad). */
  biasGradients?: boolean;
  /** Whether the map depends on the explained target (default true); false: Eigen-CAM, Random-CAM, which also explain outputs that have no class (a detection head, a map). */
  target?: boolean;
}

/** Fields every descriptor has. */
export interface MethodInfo {
  /** Lower-case CLI name, e.g. `gradcam`. */
  name: string;
  kind: MethodKind;
  /** One line for menus and `gradcam methods`. */
  summary: string;
  /** The paper (authors year, title) and the reference implementation followed. */
  citation: string;
  needs: MethodNeeds;
  /** How the method's passes are batched into model runs. */
  batching: string;
  /** Its cost in passes, in words (`1 forward + 1 backward`, `C forwards (C: the layer's channels)`). */
  cost: string;
  options: readonly MethodOption[];
  /** Whether it explains 3-D (volume) models. */
  volumes: boolean;
}


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
  /** What the attribution is of: the target's logit (default) or its softmax probability (RISE). */
  scoreKind?: 'logit' | 'probability';
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
   * A method's in-graph post-processing of the single layer (the compiler's LayerPost hook, e.g. Grad-CAM's
   * maps: cam/methods/gradcam-graph.ts): given the layer's layout and the input grid, the hook, or undefined
   * where the layer does not allow it. With the hook, RunResult.post holds its outputs and `activations` and
   * `gradients` are empty.
   */
  post?: (layout: LayerLayout, grid: readonly number[]) => LayerPost | undefined;
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
  /** With RunOptions.post where the layer allows: the hook's outputs by name (Grad-CAM's: graphMaps). */
  post?: Record<string, { data: Float32Array; dims: number[] }>;
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
