/**
 * Score-CAM (Wang et al. 2020), as pytorch-grad-cam computes it: every channel of the layer is upsampled
 * to the input size (bilinear, align_corners=True), min-max normalised to [0, 1] (÷ (max − min + 1e-8)),
 * multiplied into the input, and the masked inputs are scored by the plain model in batches; the channel
 * weights are the softmax over channels of the target's scores. No gradients.
 *
 * Extras: channels whose mask is all zero (dead channels) share one forward pass (exact); with
 * `scoreCamTopN` only the N channels of largest spatial activation variance are scored and the softmax is
 * over those (the others weigh 0) — an approximation that trades fidelity for speed.
 */
import { softmax32 } from '../util.js';
import { upsampleAlignCorners } from '../upsample.js';
import type { CamContext, CamMethod, LayerTensors } from '../types.js';
import { FORWARD_NEEDS, CAM_BATCH_OPTION } from './common.js';

const f = Math.fround;

/** Channel indices by descending spatial variance of the activation (image b). */
export function channelsByVariance(a: Float32Array, b: number, c: number, hw: number): number[] {
  const v = new Float64Array(c);
  for (let k = 0; k < c; k++) {
    const base = (b * c + k) * hw;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < hw; i++) { s += a[base + i]!; s2 += a[base + i]! * a[base + i]!; }
    const m = s / hw;
    v[k] = s2 / hw - m * m;
  }
  return Array.from({ length: c }, (_, k) => k).sort((x, y) => v[y]! - v[x]! || x - y);
}

/** The normalised masks [C, H, W] of image b's channels (pytorch-grad-cam numerics). */
export function scoreCamMasks(a: Float32Array, b: number, dims: readonly number[], H: number, W: number, channels?: number[]): Float32Array {
  const [, c, h, w] = dims as [number, number, number, number];
  const list = channels ?? Array.from({ length: c }, (_, k) => k);
  const src = new Float32Array(list.length * h * w);
  list.forEach((k, j) => src.set(a.subarray((b * c + k) * h * w, (b * c + k + 1) * h * w), j * h * w));
  const up = upsampleAlignCorners(src, list.length, h, w, H, W);
  const size = H * W;
  for (let j = 0; j < list.length; j++) {
    const m = up.subarray(j * size, (j + 1) * size);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of m) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const d = f(f(hi - lo) + 1e-8);
    for (let i = 0; i < size; i++) m[i] = f(f(m[i]! - lo) / d);
  }
  return up;
}

/** The channels scored for row r (undefined: all): the --score-top N of largest variance, within ctx.channels. */
function selectedChannels(t: LayerTensors, r: number, ctx: CamContext): number[] | undefined {
  const [, c, h, w] = t.dims;
  let selected = ctx.scoreCamTopN && ctx.scoreCamTopN < c ? channelsByVariance(t.activations, r, c, h * w).slice(0, ctx.scoreCamTopN) : undefined;
  if (ctx.channels) selected = (selected ?? ctx.channels).filter((k) => ctx.channels!.includes(k));
  return selected;
}

/** The masked inputs scoreCamWeights scores: per image (once, whatever its rows), its selected channels. */
export function scoreCamPasses(t: LayerTensors, ctx: CamContext): number {
  const seen = new Set<number>();
  let n = 0;
  for (let r = 0; r < t.dims[0]; r++) {
    const image = ctx.rows[r]!.image;
    if (seen.has(image)) continue;
    seen.add(image);
    n += selectedChannels(t, r, ctx)?.length ?? t.dims[1];
  }
  return n;
}

export async function scoreCamWeights(t: LayerTensors, ctx: CamContext): Promise<Float32Array> {
  const [rows, c] = t.dims;
  const { inputDims, layout } = ctx;
  const [H, W] = layout === 'NCHW' ? [inputDims[2]!, inputDims[3]!] : [inputDims[1]!, inputDims[2]!];
  const ch = layout === 'NCHW' ? inputDims[1]! : inputDims[3]!;
  const per = ch * H * W;
  const S = ctx.scoreSize;
  const weights = new Float32Array(rows * c);
  const done = new Map<number, Float32Array>(); // image → score rows [C, S] (NaN rows for unscored channels)
  for (let r = 0; r < rows; r++) {
    const image = ctx.rows[r]!.image;
    let scores = done.get(image);
    if (!scores) {
      // the activations of row r are image `image`'s
      scores = await scoreImage(t, r, ctx, image, selectedChannels(t, r, ctx), { H, W, ch, per, S });
      done.set(image, scores);
    }
    const row = ctx.rows[r]!;
    const idx: number[] = [];
    const vals: number[] = [];
    for (let k = 0; k < c; k++) {
      const s = scores.subarray(k * S, (k + 1) * S);
      if (Number.isNaN(s[0]!)) continue;
      idx.push(k);
      vals.push(f(row.value(s)));
    }
    const p = softmax32(Float32Array.from(vals));
    idx.forEach((k, j) => (weights[r * c + k] = p[j]!));
  }
  return weights;
}

async function scoreImage(t: LayerTensors, r: number, ctx: CamContext, image: number, selected: number[] | undefined, g: { H: number; W: number; ch: number; per: number; S: number }): Promise<Float32Array> {
  const [, c] = t.dims;
  const { H, W, ch, per, S } = g;
  const size = H * W;
  const list = selected ?? Array.from({ length: c }, (_, k) => k);
  const out = new Float32Array(c * S).fill(NaN);
  const img = ctx.input.subarray(image * per, (image + 1) * per);
  const bs = Math.max(1, ctx.batchSize);
  let zeroScores: Float32Array | undefined;
  for (let start = 0; start < list.length; start += bs) {
    const chunk = list.slice(start, start + bs);
    const masks = scoreCamMasks(t.activations, r, t.dims, H, W, chunk);
    const live: number[] = [];
    const zero: number[] = [];
    chunk.forEach((k, j) => {
      const m = masks.subarray(j * size, (j + 1) * size);
      (m.some((v) => v !== 0) ? live : zero).push(j);
    });
    if (zero.length && !zeroScores) zeroScores = await ctx.forward(new Float32Array(per), 1);
    for (const j of zero) out.set(zeroScores!, chunk[j]! * S);
    if (!live.length) {
      ctx.progress?.(chunk.length);
      continue;
    }
    const batch = new Float32Array(live.length * per);
    live.forEach((j, q) => {
      const m = masks.subarray(j * size, (j + 1) * size);
      const o = q * per;
      if (ctx.layout === 'NCHW') {
        for (let cc = 0; cc < ch; cc++) for (let i = 0; i < size; i++) batch[o + cc * size + i] = img[cc * size + i]! * m[i]!;
      } else {
        for (let i = 0; i < size; i++) for (let cc = 0; cc < ch; cc++) batch[o + i * ch + cc] = img[i * ch + cc]! * m[i]!;
      }
    });
    const scores = await ctx.forward(batch, live.length);
    live.forEach((j, q) => out.set(scores.subarray(q * S, (q + 1) * S), chunk[j]! * S));
    ctx.progress?.(chunk.length);
  }
  return out;
}

export const scorecam: CamMethod = {
  name: 'scorecam',
  kind: 'cam',
  summary: 'Score-CAM: channel weights = softmax of the target score of the input masked by each upsampled channel (no gradients; C forward passes)',
  citation: 'Wang et al. 2020, Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks (CVPR workshops); pytorch-grad-cam ScoreCAM',
  needs: FORWARD_NEEDS,
  batching: 'the masked inputs of an image, --cam-batch per run (default: as many as fit in 512 MB); dead channels share one pass',
  cost: '1 forward + C forwards per image (C: the layer\'s channels, or --score-top)',
  options: [CAM_BATCH_OPTION, { key: 'scoreCamTopN', flag: 'score-top', type: 'integer', min: 1, value: 'N', shared: true, help: 'score only the N channels with the largest activation variance (others weigh 0)' }],
  volumes: false,
  compute: () => {
    throw new Error('scorecam runs extra forward passes: use Explainer.explain');
  },
  weightsAsync: scoreCamWeights,
  passes: scoreCamPasses,
};
