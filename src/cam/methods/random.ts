/**
 * Random-CAM baseline (pytorch-grad-cam's RandomCAM): channel weights uniform in [-1, 1).
 * The weights come from MT19937 seeded like `np.random.seed(seed)` and drawn like
 * `np.random.uniform(-1, 1, size=(N, C))`, so a seeded run matches numpy's numbers exactly.
 */
import { weightedSum } from './gradcam.js';
import type { CamMethod, LayerTensors } from '../types.js';
import { FORWARD_NEEDS, FORWARD_BATCHING, FORWARD_COST } from './common.js';

/** numpy's legacy RandomState(seed) Mersenne Twister. */
export class MT19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.mt[i - 1]! ^ (this.mt[i - 1]! >>> 30);
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  nextUint32(): number {
    if (this.index >= 624) this.twist();
    let y = this.mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A double in [0, 1) with 53 random bits, as numpy's random_sample. */
  nextDouble(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < 624; i++) {
      const y = (mt[i]! & 0x80000000) | (mt[(i + 1) % 624]! & 0x7fffffff);
      let v = mt[(i + 397) % 624]! ^ (y >>> 1);
      if (y & 1) v ^= 0x9908b0df;
      mt[i] = v >>> 0;
    }
    this.index = 0;
  }
}

/** `np.random.seed(seed); np.random.uniform(low, high, size=count)` (float64 values). */
export function uniform(seed: number, count: number, low = -1, high = 1): Float64Array {
  const rng = new MT19937(seed);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = low + (high - low) * rng.nextDouble();
  return out;
}

export function randomWeights(t: LayerTensors, seed = 0): Float32Array {
  const [n, c] = t.dims;
  return Float32Array.from(uniform(seed, n * c));
}

export const random: CamMethod = {
  name: 'random',
  kind: 'cam',
  summary: 'Random-CAM baseline: uniform random channel weights in [-1, 1) (seeded; a sanity check for the others)',
  citation: 'pytorch-grad-cam RandomCAM (a baseline)',
  needs: FORWARD_NEEDS,
  batching: FORWARD_BATCHING,
  cost: FORWARD_COST,
  options: [{ key: 'randomSeed', flag: 'seed', type: 'integer', default: 0, min: 0, max: 2 ** 32 - 1, value: 'S', shared: true, help: 'numpy seed of the channel weights' }],
  volumes: false,
  compute: (t) => weightedSum(t.activations, randomWeights(t), t.dims),
  weights: (t) => randomWeights(t),
  weightsAsync: async (t, ctx) => randomWeights(t, ctx.randomSeed),
};
