/**
 * Resizing of one float32 volume [d, h, w] (row-major), browser-safe: the upsampling of 3-D CAMs.
 *
 * - resizeTrilinear: linear in each axis with half-pixel centres (src = (o + 0.5)·in/out − 0.5, clamped to
 *   [0, in − 1]), as torch's `F.interpolate(mode='trilinear', align_corners=False)` and OpenCV's 2-D
 *   INTER_LINEAR; the default for 3-D maps.
 * - zoomSpline: `scipy.ndimage.zoom(x, out/in, order=3)` (its defaults: mode 'constant', grid_mode False),
 *   the cubic B-spline that pytorch-grad-cam uses to upsample 3-D CAMs: the input is spline-filtered along
 *   each axis with mirror boundaries (pole √3 − 2), then sampled at o·(in − 1)/(out − 1) (corners aligned)
 *   with mirrored indices, in float64, the result cast to float32. It may undershoot 0 and overshoot 1.
 */

export type VolumeResize = 'trilinear' | 'spline';

export const VOLUME_RESIZES: readonly VolumeResize[] = ['trilinear', 'spline'];

function check(fn: string, dims: readonly number[], out: readonly number[]): void {
  for (const v of [...dims, ...out]) if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${fn}: sizes must be positive integers, got [${dims.join(', ')}] → [${out.join(', ')}]`);
}

/** Separable resampling: for each axis, out[o] = Σ_k weight[o][k]·in[index[o][k]]. */
interface AxisPlan { taps: number; index: Int32Array; weight: Float64Array }

function separable(src: Float32Array | Float64Array, dims: readonly number[], plans: readonly AxisPlan[], out: readonly number[]): Float32Array {
  // no Float64 copy of the source: the first pass reads it as it is, and an axis whose size stays is
  // skipped (its weights are exactly 1 at the same index); the last pass sums each line in a Float64
  // scratch and stores Float32 (the values Float32Array.from of a Float64 result would have), so that
  // resizing a large scan, or to one, holds no full-size Float64 array
  let cur: Float32Array | Float64Array = src;
  const shape = [...dims];
  const axes = [0, 1, 2].filter((ax) => !(shape[ax] === out[ax] && isIdentity(plans[ax]!, out[ax]!)));
  for (const ax of axes) {
    const p = plans[ax]!;
    const outer = shape.slice(0, ax).reduce((a, v) => a * v, 1);
    const inner = shape.slice(ax + 1).reduce((a, v) => a * v, 1);
    const n = shape[ax]!;
    const m = out[ax]!;
    const last = ax === axes[axes.length - 1];
    const next: Float32Array | Float64Array = last ? new Float32Array(outer * m * inner) : new Float64Array(outer * m * inner);
    // the last pass sums in a Float64 scratch: one output line (inner values) when lines are long, all
    // m lines of one outer index when they are short (fewer, larger copies)
    const perLine = inner >= 4096;
    const scratch = last ? new Float64Array(perLine ? inner : m * inner) : (next as Float64Array);
    for (let a = 0; a < outer; a++) {
      if (last && !perLine) scratch.fill(0);
      for (let o = 0; o < m; o++) {
        const dst = !last ? (a * m + o) * inner : perLine ? 0 : o * inner;
        if (last && perLine) scratch.fill(0);
        for (let k = 0; k < p.taps; k++) {
          const wgt = p.weight[o * p.taps + k]!;
          if (wgt === 0) continue;
          const s = (a * n + p.index[o * p.taps + k]!) * inner;
          for (let i = 0; i < inner; i++) scratch[dst + i] += wgt * cur[s + i]!;
        }
        if (last && perLine) next.set(scratch, (a * m + o) * inner);
      }
      if (last && !perLine) next.set(scratch, a * m * inner);
    }
    cur = next;
    shape[ax] = m;
  }
  return cur instanceof Float32Array && cur !== src ? cur : Float32Array.from(cur);
}

/** Whether a plan maps every output index to the same input index with weight 1. */
function isIdentity(p: AxisPlan, m: number): boolean {
  for (let o = 0; o < m; o++) {
    for (let k = 0; k < p.taps; k++) {
      const w = p.weight[o * p.taps + k]!;
      if (w !== 0 && (w !== 1 || p.index[o * p.taps + k] !== o)) return false;
    }
  }
  return true;
}

function linearPlan(n: number, m: number): AxisPlan {
  const index = new Int32Array(m * 2);
  const weight = new Float64Array(m * 2);
  for (let o = 0; o < m; o++) {
    const x = Math.min(Math.max(((o + 0.5) * n) / m - 0.5, 0), n - 1);
    const i0 = Math.floor(x);
    const i1 = Math.min(i0 + 1, n - 1);
    const t = x - i0;
    index[o * 2] = i0;
    index[o * 2 + 1] = i1;
    weight[o * 2] = 1 - t;
    weight[o * 2 + 1] = t;
  }
  return { taps: 2, index, weight };
}

/** [d, h, w] → [outD, outH, outW], trilinear with half-pixel centres. */
export function resizeTrilinear(src: Float32Array, dims: readonly [number, number, number], out: readonly [number, number, number]): Float32Array {
  check('resizeTrilinear', dims, out);
  return separable(src, dims, dims.map((n, k) => linearPlan(n, out[k]!)), out);
}

const POLE = Math.sqrt(3) - 2;

/** scipy's mirror boundary for an index into an axis of n (n > 1): … 2 1 | 0 1 … n−1 | n−2 … */
function mirror(i: number, n: number): number {
  if (n <= 1) return 0;
  const s2 = 2 * n - 2;
  if (i < 0) {
    i = s2 * Math.trunc(-i / s2) + i;
    return i <= 1 - n ? i + s2 : -i;
  }
  if (i >= n) {
    i -= s2 * Math.trunc(i / s2);
    if (i >= n) i = s2 - i;
  }
  return i;
}

/** The cubic B-spline prefilter along one line (in place), scipy's mirror initialisation. */
function filterLine(c: Float64Array, n: number): void {
  if (n === 1) return;
  const z = POLE;
  const gain = (1 - z) * (1 - 1 / z);
  for (let i = 0; i < n; i++) c[i] *= gain;
  const zn1 = Math.pow(z, n - 1);
  let zi = z;
  let c0 = c[0]! + zn1 * c[n - 1]!;
  for (let i = 1; i < n - 1; i++) {
    c0 += zi * (c[i]! + zn1 * c[n - 1 - i]!);
    zi *= z;
  }
  c[0] = c0 / (1 - zn1 * zn1);
  for (let i = 1; i < n; i++) c[i] += z * c[i - 1]!;
  c[n - 1] = ((z * c[n - 2]! + c[n - 1]!) * z) / (z * z - 1);
  for (let i = n - 2; i >= 0; i--) c[i] = z * (c[i + 1]! - c[i]!);
}

function splineFilter(src: Float32Array, dims: readonly number[]): Float64Array {
  const out = Float64Array.from(src);
  for (let ax = 0; ax < 3; ax++) {
    const n = dims[ax]!;
    const inner = dims.slice(ax + 1).reduce((a, v) => a * v, 1);
    const outer = dims.slice(0, ax).reduce((a, v) => a * v, 1);
    const line = new Float64Array(n);
    for (let a = 0; a < outer; a++) {
      for (let i = 0; i < inner; i++) {
        const base = a * n * inner + i;
        for (let k = 0; k < n; k++) line[k] = out[base + k * inner]!;
        filterLine(line, n);
        for (let k = 0; k < n; k++) out[base + k * inner] = line[k]!;
      }
    }
  }
  return out;
}

function splinePlan(n: number, m: number): AxisPlan {
  const index = new Int32Array(m * 4);
  const weight = new Float64Array(m * 4);
  const zoom = m > 1 ? (n - 1) / (m - 1) : 1;
  for (let o = 0; o < m; o++) {
    // scipy: coordinates are o·zoom; a sample beyond the last input cell (rounding) is clamped to it
    const x = n === 1 ? 0 : Math.min(o * zoom, n - 1);
    const s = Math.floor(x);
    const t = x - s;
    const u = 1 - t;
    const w = [(u * u * u) / 6, (3 * t * t * t - 6 * t * t + 4) / 6, (-3 * t * t * t + 3 * t * t + 3 * t + 1) / 6, (t * t * t) / 6];
    for (let k = 0; k < 4; k++) {
      index[o * 4 + k] = mirror(s - 1 + k, n);
      weight[o * 4 + k] = w[k]!;
    }
  }
  return { taps: 4, index, weight };
}

/** [d, h, w] → [outD, outH, outW] as `scipy.ndimage.zoom(x, [outD/d, outH/h, outW/w])` (order 3). */
export function zoomSpline(src: Float32Array, dims: readonly [number, number, number], out: readonly [number, number, number]): Float32Array {
  check('zoomSpline', dims, out);
  const coef = splineFilter(src, dims);
  return separable(coef, dims, dims.map((n, k) => splinePlan(n, out[k]!)), out);
}

/** One volume resized by the named method. */
export function resizeVolume(src: Float32Array, dims: readonly [number, number, number], out: readonly [number, number, number], method: VolumeResize = 'trilinear'): Float32Array {
  return method === 'spline' ? zoomSpline(src, dims, out) : resizeTrilinear(src, dims, out);
}
