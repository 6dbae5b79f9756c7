/**
 * Ablation-CAM (Desai & Ramaswamy 2020), as pytorch-grad-cam defines the weights: w_c = (t − t_c) / t,
 * t the target's score, t_c the score with channel c of the layer ablated. Channels are ablated by a
 * per-channel mask multiplied into the graph right after the layer, `batchSize` ablations per run.
 *
 * Ablation value: the mask zeroes the channel (the paper's definition). pytorch-grad-cam zeroes it too
 * when the layer's minimum is 0 (the usual post-ReLU case), but otherwise writes min − 1e7; for layers
 * with negative values the two differ.
 */
import type { CamContext, CamMethod, LayerTensors } from '../types.js';
import { FORWARD_NEEDS, CAM_BATCH_OPTION } from './common.js';

const f = Math.fround;

export async function ablationCamWeights(t: LayerTensors, ctx: CamContext): Promise<Float32Array> {
  const [rows, c] = t.dims;
  const S = ctx.scoreSize;
  const weights = new Float32Array(rows * c);
  const channels = ctx.channels ?? Array.from({ length: c }, (_, k) => k);
  const done = new Map<number, Float32Array>();
  for (let r = 0; r < rows; r++) {
    const row = ctx.rows[r]!;
    let scores = done.get(row.image);
    if (!scores) {
      scores = new Float32Array(c * S).fill(NaN);
      const bs = Math.max(1, ctx.batchSize);
      for (let start = 0; start < channels.length; start += bs) {
        const chunk = channels.slice(start, start + bs);
        const masks = new Float32Array(chunk.length * c).fill(1);
        chunk.forEach((k, j) => (masks[j * c + k] = 0));
        const s = await ctx.forwardMasked(row.image, masks, chunk.length);
        chunk.forEach((k, j) => scores!.set(s.subarray(j * S, (j + 1) * S), k * S));
        ctx.progress?.(chunk.length);
      }
      done.set(row.image, scores);
    }
    const o = f(row.value(ctx.scores.subarray(row.image * S, (row.image + 1) * S)));
    for (let k = 0; k < c; k++) {
      const s = scores.subarray(k * S, (k + 1) * S);
      const v = Number.isNaN(s[0]!) ? o : f(row.value(s));
      weights[r * c + k] = f(f(o - v) / o);
    }
  }
  return weights;
}

/** The ablated passes ablationCamWeights runs: per image (once, whatever its rows), its channels. */
export function ablationCamPasses(t: LayerTensors, ctx: CamContext): number {
  const images = new Set(ctx.rows.slice(0, t.dims[0]).map((r) => r.image));
  return images.size * (ctx.channels ?? Array.from({ length: t.dims[1] })).length;
}

export const ablationcam: CamMethod = {
  name: 'ablationcam',
  kind: 'cam',
  summary: 'Ablation-CAM: channel weights = relative drop of the target score when the channel is zeroed (no gradients; C forward passes of the layers after it)',
  citation: 'Desai & Ramaswamy 2020, Ablation-CAM: Visual Explanation for Deep Convolutional Network via Gradient-free Localization (WACV); pytorch-grad-cam AblationCAM',
  needs: FORWARD_NEEDS,
  batching: 'C ablation masks per image, --cam-batch per run, through the layers after the layer (the whole model where the graph cannot be cut)',
  cost: '1 forward + C forwards of the suffix per image (C: the layer\'s channels)',
  options: [CAM_BATCH_OPTION],
  volumes: false,
  compute: () => {
    throw new Error('ablationcam runs extra forward passes: use Explainer.explain');
  },
  weightsAsync: ablationCamWeights,
  passes: ablationCamPasses,
};
