/** Messages between the page (main.ts) and the model worker (worker.ts). */
import type { ClassScore, LayerInfo } from '../src/explainer.js';
import type { RgbImage } from '../src/image/types.js';
import type { WebRuntimeInfo } from '../src/runtime/web.js';
import type { MapSimilarity } from '../src/metrics/similarity.js';
import type { MethodKind, MethodOption, MethodOptionValue } from '../src/methods/types.js';

export type BackendChoice = 'auto' | 'wasm' | 'webgpu';

export interface MethodInfo {
  name: string;
  description: string;
  /** How it is drawn: 'cam': a map from a layer; 'gradient': a pixel-level attribution (every other kind). */
  kind: 'cam' | 'gradient';
  /** Its kind in the method registry (src/methods): the menu's groups. */
  family: MethodKind;
  /**
   * The registry descriptor's options that the page offers (its option fields, beside the menu): every
   * option of the pixel-level kinds; none for CAM methods (the page runs them with their defaults).
   */
  options: MethodOption[];
}

export interface ModelInfo {
  name: string;
  inputName: string;
  inputDims: (number | string | null)[];
  layout: 'NCHW' | 'NHWC';
  channels: number;
  /** The input size used ([H, W]): the model's own, or the one chosen for a dynamic model. */
  size: [number, number];
  dynamicSize: boolean;
  labels?: string[];
  /** The model's `description` metadata, if any. */
  description?: string;
  /** A normalisation preset named by the model's `normalization` metadata, or matching an imported model's stated preprocessing. */
  normalization?: string;
  /** Imported sources: what was read (the variant, weights dequantised, labels and preprocessing found). */
  notes?: string[];
  layers: LayerInfo[];
  methods: MethodInfo[];
  /** The half-precision types the model is stored in (float16, bfloat16): gradcam runs it promoted to float32. */
  promoted: string[];
  loadMs: number;
  warnings: string[];
}

export interface ImageInfo {
  id: string;
  name: string;
  width: number;
  height: number;
  /** The picture at display size (long side 256..768 px), for overlays on the page. */
  display: RgbImage;
}

export interface Analysis {
  imageId: string;
  numClasses: number;
  top: ClassScore[];
  predicted: ClassScore;
  runMs: number;
  compileMs: number;
  sessionMs: number;
}

export interface ExplainParams {
  imageId: string;
  /** A class index, or 'top'. */
  classIndex: number | 'top';
  /** A tensor name, or 'auto'. */
  layer: string;
  method: string;
  rectifierOps?: 'all' | 'relu';
  /**
   * Values of the method's registry options (MethodInfo.options) by key, as the page's option fields give
   * them; the worker checks them against the descriptor. Options left empty take the descriptor's default.
   */
  methodOptions?: Record<string, MethodOptionValue>;
}

export interface ExplainOutput {
  params: ExplainParams;
  method: string;
  kind: 'cam' | 'gradient';
  layer: string;
  target: ClassScore;
  predicted: ClassScore;
  /** The (Grad-)CAM map [H, W] in [0, 1] at the model's input resolution. */
  map: Float32Array;
  height: number;
  width: number;
  /** The raw map before ReLU and scaling, [rawHeight, rawWidth] (CAM methods). */
  raw?: Float32Array;
  rawHeight?: number;
  rawWidth?: number;
  /** Gradient methods: the deprocessed gradient picture (what guided backprop etc. show). */
  gradientPicture?: RgbImage;
  /** Gradient methods: the gradient [H, W, C], channels last. */
  gradient?: Float32Array;
  channels?: number;
  warnings: string[];
  timings: Record<string, number>;
  /** The JSON sidecar, written by render's writer (explanationJson / gradientJson) as gradcam explain's; the page adds its fields and file names. */
  sidecar: Record<string, unknown>;
}

export interface GridCell {
  layer: string;
  op: string;
  shape: number[];
  /** The map [H, W] in [0, 1]; absent where the method cannot explain this layer (see `error`). */
  map?: Float32Array;
  empty: boolean;
  /** Why there is no map at this layer (e.g. CAM needs the layer right before global pooling). */
  error?: string;
  warnings: string[];
}

export interface GridOutput {
  imageId: string;
  method: string;
  target: ClassScore;
  predicted: ClassScore;
  height: number;
  width: number;
  cells: GridCell[];
  /** Model runs: the gradient runs, Score-CAM's and Ablation-CAM's passes. */
  runs: number;
  runMs: number;
}

/** One cascading stage of `sanityCheck` (src/sanity): the top `stage` parameterised layers randomised. */
export interface SanityStep {
  stage: number;
  /** The lowest layer randomised so far (node name). */
  layer: string;
  /** Every layer randomised at this stage, from the top. */
  randomised: string[];
  /** The method's displayed map [H, W] in [0, 1] (src/metrics/maps.ts `display`). */
  map: Float32Array;
  /** Similarity with the trained model's map (spearman, spearman_abs, ssim, hog). */
  similarity: MapSimilarity;
}

export interface SanityOutput {
  imageId: string;
  method: string;
  kind: 'cam' | 'gradient';
  layer: string;
  classIndex: number;
  height: number;
  width: number;
  /** The trained model's displayed map. */
  original: Float32Array;
  steps: SanityStep[];
  /** The library's verdict (PASS/FAIL against the threshold) and its statistic. */
  verdict: string;
  sensitive: boolean;
  value: number;
  init: string;
  seed: number;
}

export interface BenchOutput {
  model: string;
  backend: string;
  threads: number;
  dims: number[];
  layer: string;
  firstMs: { compile: number; session: number; run: number; total: number };
  /** Whole explain() calls (model run + CAM arithmetic). */
  runsMs: number[];
  /** The onnxruntime session.run part of each. */
  sessionRunsMs: number[];
}

export type Request =
  | { type: 'init'; backend: BackendChoice; ortBase: string; numThreads?: number }
  /**
   * `entry` set: an imported source (src/onnx/import): `bytes` is the file `entry` names ('model.json', 'x.keras';
   * '' for a dropped folder: `bytes` is then empty) and `extra` every other file, by path relative to the folder.
   */
  | { type: 'loadModel'; name: string; bytes: Uint8Array; extra?: { name: string; bytes: Uint8Array }[]; labelsText?: string; size?: [number, number]; entry?: string }
  | { type: 'addImage'; id: string; name: string; bytes: Uint8Array; mime: string }
  | { type: 'removeImage'; id: string }
  | { type: 'analyze'; imageId: string; normalize: string }
  | { type: 'explain'; params: ExplainParams; normalize: string }
  | { type: 'grid'; imageId: string; classIndex: number | 'top'; method: string; layers: string[]; normalize: string }
  | { type: 'sanity'; params: ExplainParams; steps: number; normalize: string }
  | { type: 'bench'; iterations: number; seed: number }
  /** A video or camera frame (camera.ts): explained as an image, with the explain panel's choices. */
  | { type: 'frame'; rgb: RgbImage; params: Omit<ExplainParams, 'imageId'>; normalize: string };

export type Reply =
  /** `note`: what happened instead of the request (WebGPU asked for but not available); `changed`: the runtime was (re)started. */
  | { type: 'init'; info: WebRuntimeInfo; ortVersion: string; changed: boolean; note?: string }
  | { type: 'loadModel'; model: ModelInfo }
  | { type: 'addImage'; image: ImageInfo }
  | { type: 'removeImage' }
  | { type: 'analyze'; analysis: Analysis }
  | { type: 'explain'; result: ExplainOutput }
  | { type: 'grid'; grid: GridOutput }
  | { type: 'sanity'; sanity: SanityOutput }
  | { type: 'bench'; bench: BenchOutput }
  | { type: 'frame'; result: ExplainOutput };

/** Page → worker: a request with an id. */
export interface RequestEnvelope { id: number; req: Request }

/** Worker → page: the reply, an error, or progress for a long step. */
export type WorkerMessage =
  | { id: number; ok: true; reply: Reply }
  | { id: number; ok: false; error: string; name: string }
  | { id: number; progress: Progress }
  /** The runtime changed by itself (WebGPU failed, so the worker went back to wasm). */
  | { id: number; runtime: WebRuntimeInfo; ortVersion: string; note: string };

export interface Progress {
  stage: string;
  /** Steps done and total, when countable (else an indeterminate bar). */
  done?: number;
  total?: number;
}
