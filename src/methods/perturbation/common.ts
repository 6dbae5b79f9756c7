/**
 * The narrow interface of the perturbation methods (Occlusion, RISE): they need nothing from the model but
 * the explained target's value for a batch of perturbed copies of one image. Browser-safe.
 */
import type { AttributionContext } from '../types.js';
import { InputError, softmax } from '../../util/scores.js';

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
  /** Perturbed inputs per model run (the registry's memory budget, or --cam-batch). */
  batchSize: number;
  /** Called after each model run with the number of passes that finished. */
  progress?(passes: number): void;
}

/** The index of value (y, x, channel c) in one image of the model's layout. */
export function pixelIndex(g: ImageGeometry, y: number, x: number, c: number): number {
  return g.layout === 'NCHW' ? (c * g.height + y) * g.width + x : (y * g.width + x) * g.channels + c;
}

/**
 * Runs a per-image perturbation method over a batch: each image's target scored from ctx.forward's score
 * rows (`value`: the target's logit, or its softmax probability), `one` computes the image's attribution
 * [H, W], which is returned repeated over the channels in the model's layout ([N, ...dims[1:]], as Captum's
 * attributions are shaped).
 */
export async function perImage(ctx: AttributionContext, value: 'logit' | 'softmax', one: (run: PerturbationRun, image: number, base: number) => Promise<Float32Array>): Promise<Float32Array> {
  const { dims, layout } = ctx;
  if (dims.length !== 4) throw new InputError('the perturbation methods explain 2-D images ([N, C, H, W] or [N, H, W, C] inputs)');
  const n = dims[0]!;
  const [C, H, W] = layout === 'NCHW' ? [dims[1]!, dims[2]!, dims[3]!] : [dims[3]!, dims[1]!, dims[2]!];
  const geometry: ImageGeometry = { layout, channels: C, height: H, width: W };
  const per = C * H * W;
  const K = ctx.numClasses;
  const read = (row: Float32Array, k: number) => (value === 'logit' ? row[k]! : softmax(row)[k]!);
  const out = new Float32Array(n * per);
  for (let i = 0; i < n; i++) {
    const k = ctx.targets[i]!;
    const score = async (inputs: Float32Array, count: number) => {
      const rows = await ctx.forward(inputs, count);
      return Float32Array.from({ length: count }, (_, q) => read(rows.subarray(q * K, (q + 1) * K), k));
    };
    const run: PerturbationRun = { image: ctx.input.subarray(i * per, (i + 1) * per), geometry, score, batchSize: Math.max(1, ctx.batchSize), progress: (p) => ctx.progress(p) };
    const a = await one(run, i, read(ctx.scores.subarray(i * K, (i + 1) * K), k));
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) out[i * per + pixelIndex(geometry, y, x, c)] = a[y * W + x]!;
  }
  return out;
}
