/**
 * Occlusion (Zeiler & Fergus 2014) with Captum's semantics (captum/attr/_core/occlusion.py over
 * feature_ablation.py): a window of `window` pixels, spanning all channels, slides over the image by
 * `strides`; each position is filled with `baseline`, and every value under the window is credited with the
 * target's drop F(x) − F(x with the window occluded). A value's attribution is the mean of the drops of the
 * windows covering it (Captum's `use_weights`: total / count).
 *
 * Captum's window positions: per axis ⌈(size − window) / stride⌉ + 1 of them, at 0, stride, 2·stride, ...;
 * the last may reach past the image's edge, where it is cut off (Captum's negative padding), so every
 * value is covered. Like Captum, a stride larger than the window (where the window is not the whole axis)
 * and a window larger than the image are refused. Captum's defaults: strides 1, baseline 0.
 *
 * Differences from Captum: the window always spans every channel (Captum lets the window cover some
 * channels only), so the attribution is one value per pixel, repeated over the channels as Captum's is;
 * `window` has a default (16 × 16, clipped to the input; Captum requires it) and the stride defaults to
 * half the window (Captum: 1). Windows are batched into as few model runs as the memory budget allows
 * (Captum's `perturbations_per_eval`, default 1, runs one window per forward). The extras of the sidecar
 * give the window, strides, baseline and the number of windows.
 */
import { InputError } from '../../util/scores.js';
import { perImage, pixelIndex, type PerturbationRun } from './common.js';
import type { AttributionMethod, MethodOptionValues } from '../types.js';
import { CAM_BATCH_OPTION } from '../../cam/methods/common.js';

export interface OcclusionOptions {
  /** [height, width] of the sliding window, pixels. */
  window: [number, number];
  /** [vertical, horizontal] step; Captum's default 1. */
  strides?: [number, number];
  /** The value that fills the window (in the model's input units, after normalisation); Captum's default 0. */
  baseline?: number;
}

export interface OcclusionGrid {
  /** Window starts along H and W (Captum's shift counts × strides). */
  rows: number[];
  cols: number[];
  window: [number, number];
}

/** Captum's window positions for an H × W image; refuses what Captum asserts against, naming the sizes. */
export function occlusionGrid(height: number, width: number, opts: OcclusionOptions): OcclusionGrid {
  const [wh, ww] = opts.window;
  const [sh, sw] = opts.strides ?? [1, 1];
  for (const v of [wh, ww, sh, sw]) if (!Number.isInteger(v) || v < 1) throw new InputError(`occlusion window and stride must be positive whole numbers of pixels, got window ${wh}x${ww}, stride ${sh}x${sw}`);
  if (wh > height || ww > width) throw new InputError(`the occlusion window ${wh}x${ww} is larger than the model input ${height}x${width}; choose a window of at most ${height}x${width}`);
  if ((wh < height && sh > wh) || (ww < width && sw > ww)) throw new InputError(`the occlusion stride ${sh}x${sw} is larger than the window ${wh}x${ww}: pixels between windows would get no attribution; choose a stride of at most the window`);
  const starts = (size: number, w: number, s: number) => Array.from({ length: Math.ceil((size - w) / s) + 1 }, (_, j) => j * s);
  return { rows: starts(height, wh, sh), cols: starts(width, ww, sw), window: [wh, ww] };
}

/** The number of windows (forward passes besides the unoccluded one) of an occlusion of an H × W image. */
export function occlusionPasses(height: number, width: number, opts: OcclusionOptions): number {
  const g = occlusionGrid(height, width, opts);
  return g.rows.length * g.cols.length;
}

/**
 * Occlusion attribution [H, W] (float64 accumulation, float32 result) of one image. `base`: the target's
 * value at the unoccluded image (Captum's initial_eval); computed with one more pass when not given.
 */
export async function occlusion(run: PerturbationRun, opts: OcclusionOptions, base?: number): Promise<Float32Array> {
  const { image, geometry: g, score } = run;
  const { height: H, width: W, channels: C } = g;
  const grid = occlusionGrid(H, W, opts);
  const fill = opts.baseline ?? 0;
  const per = C * H * W;
  const f0 = base ?? (await score(image, 1))[0]!;
  const total = new Float64Array(H * W);
  const count = new Float64Array(H * W);
  const windows: [number, number][] = [];
  // Captum's feature order: the first axis (rows) varies fastest
  for (const x0 of grid.cols) for (const y0 of grid.rows) windows.push([y0, x0]);
  const bs = Math.max(1, run.batchSize);
  const [wh, ww] = grid.window;
  for (let start = 0; start < windows.length; start += bs) {
    const chunk = windows.slice(start, start + bs);
    const batch = new Float32Array(chunk.length * per);
    chunk.forEach(([y0, x0], q) => {
      const o = q * per;
      batch.set(image, o);
      for (let y = y0; y < Math.min(y0 + wh, H); y++) for (let x = x0; x < Math.min(x0 + ww, W); x++) for (let c = 0; c < C; c++) batch[o + pixelIndex(g, y, x, c)] = fill;
    });
    const s = await score(batch, chunk.length);
    chunk.forEach(([y0, x0], q) => {
      const drop = f0 - s[q]!;
      for (let y = y0; y < Math.min(y0 + wh, H); y++) {
        for (let x = x0; x < Math.min(x0 + ww, W); x++) {
          total[y * W + x] += drop;
          count[y * W + x] += 1;
        }
      }
    });
    run.progress?.(chunk.length);
  }
  const out = new Float32Array(H * W);
  for (let i = 0; i < out.length; i++) out[i] = total[i]! / count[i]!;
  return out;
}

/** "H" or "H,W" (pixels) → [H, W]; undefined for none. */
export function parsePair(flag: string, v: unknown): [number, number] | undefined {
  if (v === undefined || v === '') return undefined;
  const p = String(v).split(/[,x]/).map((t) => Number(t.trim()));
  if ((p.length !== 1 && p.length !== 2) || p.some((x) => !Number.isInteger(x) || x < 1)) throw new InputError(`occlusion: --${flag} must be one or two positive whole numbers of pixels (H or H,W), got '${String(v)}'`);
  return [p[0]!, p[p.length - 1]!];
}

/** The options with gradcam's defaults: window 16 × 16 clipped to the input, stride half the window, baseline 0. */
export function occlusionOptions(o: MethodOptionValues, height: number, width: number): OcclusionOptions {
  const window = parsePair('occlusion-window', o['window']) ?? [Math.min(16, height), Math.min(16, width)];
  const strides = parsePair('occlusion-stride', o['stride']) ?? [Math.max(1, Math.floor(window[0] / 2)), Math.max(1, Math.floor(window[1] / 2))];
  return { window, strides, baseline: (o['baseline'] as number | undefined) ?? 0 };
}

export const occlusionMethod: AttributionMethod = {
  name: 'occlusion',
  kind: 'perturbation',
  summary: 'Occlusion: the mean drop of the class logit when a sliding window over the pixel is filled with a baseline',
  citation: 'Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks (ECCV); Captum\'s Occlusion (captum/attr/_core/occlusion.py)',
  needs: { layer: false, layerGradient: false, inputGradient: false },
  batching: 'the occluded copies of an image in runs of as many as fit in 512 MB (--cam-batch), one image after another',
  cost: '1 forward per window position: (⌈(H − h)/s⌉ + 1) × (⌈(W − w)/s⌉ + 1) per image',
  options: [
    CAM_BATCH_OPTION,
    { key: 'window', flag: 'occlusion-window', type: 'string', value: 'H[,W]', help: 'the sliding window in pixels of the model input, over every channel (default 16, clipped to the input; Captum has no default)' },
    { key: 'stride', flag: 'occlusion-stride', type: 'string', value: 'H[,W]', help: 'the window\'s step (default half the window; Captum\'s default is 1, one pass per pixel)' },
    { key: 'baseline', flag: 'occlusion-baseline', type: 'number', value: 'V', default: 0, help: 'the value that fills the window, in the model\'s input units after normalisation (0 is also Captum\'s default)' },
  ],
  volumes: false,
  passes: (images, o, input) => {
    if (!input || input.dims.length !== 4) return images;
    const [H, W] = input.layout === 'NCHW' ? [input.dims[2]!, input.dims[3]!] : [input.dims[1]!, input.dims[2]!];
    return images * occlusionPasses(H, W, occlusionOptions(o, H, W));
  },
  attribute: async (ctx, o) => {
    const [H, W] = ctx.layout === 'NCHW' ? [ctx.dims[2]!, ctx.dims[3]!] : [ctx.dims[1]!, ctx.dims[2]!];
    const opts = occlusionOptions(o, H, W);
    const windows = occlusionPasses(H, W, opts);
    const attributions = await perImage(ctx, 'logit', (run, _i, base) => occlusion(run, opts, base));
    const extras = Array.from({ length: ctx.dims[0]! }, () => ({ occlusion: { window: opts.window, strides: opts.strides, baseline: opts.baseline, windows, target: 'logit' } }));
    return { attributions, extras };
  },
};
