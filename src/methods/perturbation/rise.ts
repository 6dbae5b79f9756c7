/**
 * RISE (Petsiuk, Das & Saenko 2018, "Randomized Input Sampling for Explanation of Black-box Models"), with
 * the masks of the reference implementation (github.com/eclique/RISE, explanations.py `generate_masks`):
 * N binary grids s × s whose cells are kept with probability p, each upsampled bilinearly to
 * (s + 1)·⌈H/s⌉ × (s + 1)·⌈W/s⌉ (skimage's resize, order 1, mode 'reflect', no anti-aliasing: scipy's zoom
 * with grid_mode and mirror boundaries) and cropped at a random shift (0..⌈H/s⌉−1, 0..⌈W/s⌉−1). The saliency
 * of the target is Σ_i score(x ⊙ M_i)·M_i / (N·p), the score being the target's softmax probability (the
 * reference explains `nn.Sequential(model, nn.Softmax(dim=1))`).
 *
 * The random numbers are numpy's: `np.random.seed(seed)`, then `grid = np.random.rand(N, s, s) < p` and,
 * per mask, `x = np.random.randint(0, ⌈H/s⌉)`, `y = np.random.randint(0, ⌈W/s⌉)` — MT19937 with numpy's
 * legacy seeding, its 53-bit doubles and its masked rejection sampling of bounded integers (cam/methods/random.ts
 * MT19937). A seeded run therefore uses exactly the masks that the reference code draws after
 * np.random.seed(seed) (`--seed`). Masks are made batch by batch (the reference keeps all N in memory). The
 * attribution is repeated over the channels; the map is |a| scaled like every pixel method's.
 *
 * Defaults: the paper's ResNet-50 setting, N = 4000, s = 7, p = 0.5 (the repository's notebook uses
 * N = 6000, s = 8, p = 0.1); seed 0.
 */
import { MT19937 } from '../../cam/methods/random.js';
import { InputError } from '../../util/scores.js';
import { perImage, type PerturbationRun } from './common.js';
import type { AttributionMethod } from '../types.js';
import { CAM_BATCH_OPTION } from '../../cam/methods/common.js';

export interface RiseOptions {
  /** N, the number of masks (default 4000). */
  masks?: number;
  /** s, the grid's cells per side (default 7). */
  cells?: number;
  /** p, the probability that a cell is kept (default 0.5). */
  keep?: number;
  /** numpy's seed of the masks (default 0). */
  seed?: number;
}

export const RISE_DEFAULTS = { masks: 4000, cells: 7, keep: 0.5, seed: 0 } as const;

/** numpy's legacy randint(0, high) from MT19937: masked rejection sampling over next_uint32. */
function randint(rng: MT19937, high: number): number {
  const r = high - 1;
  if (r === 0) return 0;
  let mask = r;
  for (let k = 1; k <= 16; k <<= 1) mask |= mask >>> k;
  mask >>>= 0;
  for (;;) {
    const v = (rng.nextUint32() & mask) >>> 0;
    if (v <= r) return v;
  }
}

/** The masks' random draws: the s × s grids (1 keeps a cell) and each mask's shift, in numpy's order. */
export interface RiseDraws {
  n: number;
  cells: number;
  grids: Uint8Array;
  shifts: Int32Array;
  cell: [number, number];
}

export function riseDraws(height: number, width: number, opts: RiseOptions = {}): RiseDraws {
  const n = opts.masks ?? RISE_DEFAULTS.masks;
  const s = opts.cells ?? RISE_DEFAULTS.cells;
  const p = opts.keep ?? RISE_DEFAULTS.keep;
  const seed = opts.seed ?? RISE_DEFAULTS.seed;
  if (!Number.isInteger(n) || n < 1) throw new InputError(`RISE needs a whole number of masks of at least 1, got ${n}`);
  if (!Number.isInteger(s) || s < 1 || s > Math.min(height, width)) throw new InputError(`RISE's grid must have 1 to ${Math.min(height, width)} cells per side (the input is ${height}x${width}), got ${s}`);
  if (!(p > 0 && p <= 1)) throw new InputError(`RISE's keep probability must be in (0, 1], got ${p}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new InputError(`the seed must be a whole number from 0 to 4294967295, got ${seed}`);
  const rng = new MT19937(seed);
  const grids = new Uint8Array(n * s * s);
  for (let i = 0; i < grids.length; i++) grids[i] = rng.nextDouble() < p ? 1 : 0;
  const cell: [number, number] = [Math.ceil(height / s), Math.ceil(width / s)];
  const shifts = new Int32Array(2 * n);
  for (let i = 0; i < n; i++) {
    shifts[2 * i] = randint(rng, cell[0]);
    shifts[2 * i + 1] = randint(rng, cell[1]);
  }
  return { n, cells: s, grids, shifts, cell };
}

/** Bilinear taps of scipy's zoom (grid_mode, order 1, mirror) from s cells to `out` samples, for samples shift..shift+len−1. */
function taps(s: number, out: number, shift: number, len: number): { i0: Int32Array; i1: Int32Array; t: Float64Array } {
  const i0 = new Int32Array(len);
  const i1 = new Int32Array(len);
  const t = new Float64Array(len);
  const zoom = s / out;
  for (let k = 0; k < len; k++) {
    let c = (shift + k + 0.5) * zoom - 0.5;
    if (s === 1) c = 0;
    else {
      if (c < 0) c = -c;
      if (c > s - 1) c = 2 * (s - 1) - c;
    }
    const a = Math.floor(c);
    i0[k] = a;
    i1[k] = Math.min(a + 1, s - 1);
    t[k] = c - a;
  }
  return { i0, i1, t };
}

/** Mask i [H, W] (float32 values, as the reference's float32 resize). */
export function riseMask(d: RiseDraws, i: number, height: number, width: number, out = new Float32Array(height * width)): Float32Array {
  const s = d.cells;
  const r = taps(s, (s + 1) * d.cell[0], d.shifts[2 * i]!, height);
  const c = taps(s, (s + 1) * d.cell[1], d.shifts[2 * i + 1]!, width);
  const g = d.grids.subarray(i * s * s, (i + 1) * s * s);
  for (let y = 0; y < height; y++) {
    const a0 = r.i0[y]! * s;
    const a1 = r.i1[y]! * s;
    const ty = r.t[y]!;
    for (let x = 0; x < width; x++) {
      const b0 = c.i0[x]!;
      const b1 = c.i1[x]!;
      const tx = c.t[x]!;
      const top = g[a0 + b0]! * (1 - tx) + g[a0 + b1]! * tx;
      const bottom = g[a1 + b0]! * (1 - tx) + g[a1 + b1]! * tx;
      out[y * width + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}

/** RISE saliency [H, W] of one image for its target (float64 accumulation). */
export async function rise(run: PerturbationRun, opts: RiseOptions = {}): Promise<Float32Array> {
  const { image, geometry: g, score } = run;
  const { height: H, width: W, channels: C } = g;
  const d = riseDraws(H, W, opts);
  const p = opts.keep ?? RISE_DEFAULTS.keep;
  const per = C * H * W;
  const size = H * W;
  const acc = new Float64Array(size);
  const bs = Math.max(1, run.batchSize);
  const masks = new Float32Array(Math.min(bs, d.n) * size);
  for (let start = 0; start < d.n; start += bs) {
    const count = Math.min(bs, d.n - start);
    const batch = new Float32Array(count * per);
    for (let q = 0; q < count; q++) {
      const m = riseMask(d, start + q, H, W, masks.subarray(q * size, (q + 1) * size));
      const o = q * per;
      if (g.layout === 'NCHW') {
        for (let cc = 0; cc < C; cc++) for (let i = 0; i < size; i++) batch[o + cc * size + i] = image[cc * size + i]! * m[i]!;
      } else {
        for (let i = 0; i < size; i++) for (let cc = 0; cc < C; cc++) batch[o + i * C + cc] = image[i * C + cc]! * m[i]!;
      }
    }
    const s = await score(batch, count);
    for (let q = 0; q < count; q++) {
      const v = s[q]!;
      const m = masks.subarray(q * size, (q + 1) * size);
      for (let i = 0; i < size; i++) acc[i] += v * m[i]!;
    }
    run.progress?.(count);
  }
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = acc[i]! / d.n / p;
  return out;
}


export const riseMethod: AttributionMethod = {
  name: 'rise',
  kind: 'perturbation',
  scores: 'probability',
  summary: 'RISE: Σ of the class probability of the input under N random smooth masks × the mask, ÷ (N·p)',
  citation: 'Petsiuk, Das & Saenko 2018, RISE: Randomized Input Sampling for Explanation of Black-box Models (BMVC); github.com/eclique/RISE',
  needs: { layer: false, layerGradient: false, inputGradient: false },
  batching: 'the masked copies of an image in runs of as many as fit in 512 MB (--cam-batch), masks made batch by batch',
  cost: 'N forwards per image (--rise-masks)',
  options: [
    CAM_BATCH_OPTION,
    { key: 'masks', flag: 'rise-masks', type: 'integer', value: 'N', default: RISE_DEFAULTS.masks, min: 1, help: 'the number of random masks, one forward pass each' },
    { key: 'cells', flag: 'rise-cells', type: 'integer', value: 'S', default: RISE_DEFAULTS.cells, min: 1, help: 'the masks\' grid: S × S cells' },
    { key: 'keep', flag: 'rise-keep', type: 'number', value: 'P', default: RISE_DEFAULTS.keep, min: 0, max: 1, help: 'the probability that a cell is kept (above 0); the masks are numpy\'s after np.random.seed(--seed)' },
    { key: 'randomSeed', flag: 'seed', type: 'integer', value: 'S', default: 0, min: 0, max: 2 ** 32 - 1, help: 'numpy seed of the masks', shared: true },
  ],
  volumes: false,
  passes: (images, o) => images * ((o['masks'] as number | undefined) ?? RISE_DEFAULTS.masks),
  attribute: async (ctx, o) => {
    const opts: RiseOptions = { masks: o['masks'] as number, cells: o['cells'] as number, keep: o['keep'] as number, seed: ctx.seed };
    const [H, W] = ctx.layout === 'NCHW' ? [ctx.dims[2]!, ctx.dims[3]!] : [ctx.dims[1]!, ctx.dims[2]!];
    riseDraws(H, W, { ...opts, masks: 1 }); // the options' checks before any pass
    const attributions = await perImage(ctx, 'softmax', (run) => rise(run, opts));
    const extras = Array.from({ length: ctx.dims[0]! }, () => ({ rise: { ...opts, target: 'softmax' } }));
    return { attributions, extras };
  },
};
