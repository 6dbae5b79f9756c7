/**
 * One explanation map per method, in the forms the metrics compare (browser-safe):
 * - `signed`: the map with its sign — for gradient methods the input gradient summed over channels,
 *   for CAM methods the layer's weighted sum before ReLU and scaling, upsampled to input size;
 * - `magnitude`: what the method displays — Σ_c |gradient_c| for gradient methods (Adebayo et al.'s
 *   convention), the final map (ReLU, scaled, upsampled) for CAM methods;
 * - `display`: the magnitude in [0, 1]: the CAM's final map, or Σ|g| divided by its 99th percentile
 *   and clipped at 1 (Adebayo et al.'s visualisation of gradient maps).
 * Faithfulness metrics rank pixels by `magnitude` and mask with `display`; localisation uses `display`.
 */
import type { Explainer } from '../explainer.js';
import type { ClassChoice, ClassScore, MethodOptionValue } from '../types.js';
import { getMethod, isPixelMethod, methodNames as registryNames } from '../methods/index.js';
import { resizeBilinear } from '../image/resize.js';

export interface MethodMap {
  method: string;
  height: number;
  width: number;
  signed: Float32Array;
  magnitude: Float32Array;
  display: Float32Array;
  target: ClassScore;
  predicted: ClassScore;
  /** The CAM layer (for gradient methods: the layer of the Grad-CAM used by guided-gradcam). */
  layer: string;
}

export interface MapOptions {
  classes?: ClassChoice | ClassChoice[];
  layer?: string;
  output?: string;
  rectifierOps?: 'relu' | 'all';
  /** The methods' own options by method name (ExplainOptions.methodOptions of each). */
  methodOptions?: Readonly<Record<string, Readonly<Record<string, MethodOptionValue>>>>;
  /** Progress of Score-CAM / Ablation-CAM's passes (see FamilyOptions.onProgress). */
  onProgress?: (done: number, total: number, stage: string) => void;
}

/** All method names the metrics accept: every registered method (src/methods/index.ts). */
export function methodNames(): string[] {
  return registryNames();
}

/** Unknown names: an InputError listing every method. */
export function checkMethod(name: string): void {
  getMethod(name);
}

/** The 99th percentile (linear interpolation, as numpy's default). */
export function percentile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values as ArrayLike<number>).sort();
  if (s.length === 0) return 0;
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** Σ|g| scaled by its 99th percentile (or its max where that is 0), clipped to [0, 1]. */
export function displayGradient(magnitude: Float32Array): Float32Array {
  let scale = percentile(magnitude, 99);
  if (!(scale > 0)) scale = magnitude.reduce((m, v) => Math.max(m, v), 0);
  const out = new Float32Array(magnitude.length);
  if (scale > 0) for (let i = 0; i < out.length; i++) out[i] = Math.min(1, magnitude[i]! / scale);
  return out;
}

/**
 * Maps of `method` for a batch [N, ...] of inputs: one MethodMap per image (models with a fixed batch
 * size are run in chunks by the Explainer).
 */
export async function methodMaps(explainer: Explainer, input: Float32Array, dims: number[], method: string, opts: MapOptions = {}): Promise<MethodMap[]> {
  checkMethod(method);
  if (isPixelMethod(method)) {
    const { explanations } = await explainer.explain(input, dims, { method, layer: opts.layer, classes: opts.classes, output: opts.output, rectifierOps: opts.rectifierOps, onProgress: opts.onProgress, methodOptions: opts.methodOptions?.[method] });
    return explanations.map((e) => {
      const hw = e.height * e.width;
      const signed = new Float32Array(hw);
      const magnitude = new Float32Array(hw);
      for (let p = 0; p < hw; p++) {
        for (let c = 0; c < e.channels!; c++) {
          const g = e.gradient![p * e.channels! + c]!;
          signed[p] += g;
          magnitude[p] += Math.abs(g);
        }
      }
      return { method, height: e.height, width: e.width, signed, magnitude, display: displayGradient(magnitude), target: e.target, predicted: e.predicted, layer: e.layers[0] ?? '' };
    });
  }
  const r = await explainer.explain(input, dims, { method, layer: opts.layer, classes: opts.classes, output: opts.output, onProgress: opts.onProgress });
  return r.explanations.map((e) => ({
    method, height: e.height, width: e.width,
    signed: resizeBilinear(e.raw, e.rawHeight, e.rawWidth, e.height, e.width),
    magnitude: e.map, display: e.map, target: e.target, predicted: e.predicted, layer: e.layers[0]!,
  }));
}
