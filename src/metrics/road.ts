/**
 * ROAD's noisy linear imputation (Rong et al., "A Consistent and Efficient Evaluation Strategy for
 * Attribution Methods", ICML 2022): every removed pixel takes the weighted mean of its 8 neighbours
 * (weight 1/6 for the 4 direct ones, 1/12 for the diagonals; neighbours outside the image are left
 * out), all removed pixels solved together as one sparse linear system per channel, then Gaussian noise
 * is added to the imputed values. The system Σₙ wₙ (xᵢ − xₙ) = 0 (known xₙ moved to the right-hand side)
 * is symmetric positive definite whenever at least one pixel is kept, and is solved here by this
 * project's own conjugate-gradient solver (./cg.ts) with a multigrid preconditioner.
 */
import { conjugateGradient, csrFromTriplets, gridMultigrid } from './cg.js';
import { Rng } from '../util/random.js';

const NEIGHBOURS: readonly [number, number, number][] = [
  [-1, -1, 1 / 12], [-1, 0, 1 / 6], [-1, 1, 1 / 12],
  [0, -1, 1 / 6], [0, 1, 1 / 6],
  [1, -1, 1 / 12], [1, 0, 1 / 6], [1, 1, 1 / 12],
];

export interface ImputeOptions {
  /** Standard deviation of the noise added to imputed values (default 0.01, as ROAD). 0 for none. */
  noise?: number;
  seed?: number;
  /**
   * Conjugate-gradient tolerance (relative residual, default 1e-4: imputed values to about 1e-3 on
   * images of unit scale, well under the noise).
   */
  tol?: number;
}

/**
 * Imputes the pixels where `remove[p]` is set in a planar image `channels` × [height, width] (each
 * channel a Float32Array of height·width values). Returns new channels; kept pixels are unchanged.
 */
export function noisyLinearImpute(channels: Float32Array[], height: number, width: number, remove: Uint8Array, opts: ImputeOptions = {}): Float32Array[] {
  const n = height * width;
  if (remove.length !== n) throw new RangeError(`noisyLinearImpute: mask has ${remove.length} values, expected ${height}×${width}`);
  let m = 0;
  for (let p = 0; p < n; p++) if (remove[p]) m++;
  if (m === n) throw new RangeError('noisyLinearImpute: every pixel is removed; nothing to impute from');
  const out = linearImpute(channels, height, width, remove, opts.tol ?? 1e-4);
  const noise = opts.noise ?? 0.01;
  if (noise > 0) {
    const rng = new Rng(opts.seed ?? 0);
    for (const c of out) for (let p = 0; p < n; p++) if (remove[p]) c[p]! += noise * rng.normal();
  }
  return out;
}

/**
 * The noiseless imputation: the sparse system solved per channel by conjugate gradients. Plain
 * Jacobi-preconditioned CG needs hundreds of iterations on large holes (the system is a discrete
 * Laplace equation), so the preconditioner is a small aggregation-multigrid V-cycle (./cg.ts,
 * gridMultigrid); the answer is the same to the tolerance either way.
 */
export function linearImpute(channels: Float32Array[], height: number, width: number, remove: Uint8Array, tol = 1e-6): Float32Array[] {
  const n = height * width;
  const varIndex = new Int32Array(n).fill(-1);
  const pixels: number[] = [];
  for (let p = 0; p < n; p++) if (remove[p]) { varIndex[p] = pixels.length; pixels.push(p); }
  const out = channels.map((c) => c.slice());
  const m = pixels.length;
  if (m === 0) return out;
  const rows = new Int32Array(9 * m);
  const cols = new Int32Array(9 * m);
  const vals = new Float64Array(9 * m);
  let e = 0;
  const kv: number[] = []; // (variable, known pixel, weight) triples, flattened
  for (let v = 0; v < m; v++) {
    const p = pixels[v]!;
    const y = Math.floor(p / width);
    const x = p - y * width;
    let diag = 0;
    for (const [dy, dx, w] of NEIGHBOURS) {
      const yy = y + dy;
      const xx = x + dx;
      if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
      diag += w;
      const q = yy * width + xx;
      const u = varIndex[q]!;
      if (u >= 0) { rows[e] = v; cols[e] = u; vals[e++] = -w; } else kv.push(v, q, w);
    }
    rows[e] = v; cols[e] = v; vals[e++] = diag;
  }
  const a = csrFromTriplets(m, rows.subarray(0, e), cols.subarray(0, e), vals.subarray(0, e));
  const preconditioner = m > 200 ? gridMultigrid(a, Int32Array.from(pixels, (p) => Math.floor(p / width)), Int32Array.from(pixels, (p) => p % width)) : undefined;
  for (let c = 0; c < channels.length; c++) {
    const src = channels[c]!;
    const b = new Float64Array(m);
    for (let k = 0; k < kv.length; k += 3) b[kv[k]!]! += kv[k + 2]! * src[kv[k + 1]!]!;
    const { x } = conjugateGradient(a, b, { tol, preconditioner });
    for (let v = 0; v < m; v++) out[c]![pixels[v]!] = x[v]!;
  }
  return out;
}
