/**
 * The first principal component projection used by Eigen-CAM, EigenGrad-CAM and eigen-smooth, as
 * pytorch-grad-cam's `get_2d_projection`: per image, X = A reshaped to [h·w, C] and centred (the mean
 * over positions subtracted from every channel); v = the first right singular vector of X; map = X·v.
 *
 * v comes from the symmetric eigenproblem of the smaller Gram matrix (XXᵀ or XᵀX, float64), solved by
 * Householder tridiagonalisation and implicit QL (the EISPACK tred2/tql2 algorithms).
 *
 * Sign rule: an SVD's sign is arbitrary (numpy returns whatever LAPACK gives), so the projection is
 * flipped when |min| > |max|, making the dominant lobe positive — the sign correction of Seg-Eigen-CAM
 * (pytorch-grad-cam's `get_2d_projection_with_sign_correction`).
 */

/** [N, C, h, w] → [N, h, w] projections (float32), NaNs treated as 0 as pytorch-grad-cam does. */
export function projection2d(x: Float32Array, dims: readonly number[]): Float32Array {
  const [n, c, h, w] = dims as [number, number, number, number];
  const hw = h * w;
  const out = new Float32Array(n * hw);
  for (let b = 0; b < n; b++) {
    // X[p, k], centred per channel k (float32 values, like numpy on float32)
    const X = new Float64Array(hw * c);
    for (let k = 0; k < c; k++) {
      const base = (b * c + k) * hw;
      let s = 0;
      for (let p = 0; p < hw; p++) {
        const v = x[base + p]!;
        s += Number.isNaN(v) ? 0 : v;
      }
      const mean = Math.fround(s / hw);
      for (let p = 0; p < hw; p++) {
        const v = x[base + p]!;
        X[p * c + k] = Math.fround((Number.isNaN(v) ? 0 : v) - mean);
      }
    }
    const v = firstRightSingularVector(X, hw, c);
    const proj = new Float32Array(hw);
    let lo = Infinity;
    let hi = -Infinity;
    for (let p = 0; p < hw; p++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += X[p * c + k]! * v[k]!;
      proj[p] = s;
      lo = Math.min(lo, proj[p]!);
      hi = Math.max(hi, proj[p]!);
    }
    if (Math.abs(lo) > Math.abs(hi)) for (let p = 0; p < hw; p++) proj[p] = -proj[p]!;
    out.set(proj, b * hw);
  }
  return out;
}

/** The unit right singular vector of the largest singular value of X [m, n] (row-major, float64). */
export function firstRightSingularVector(X: Float64Array, m: number, n: number): Float64Array {
  if (n <= m) {
    // XᵀX [n, n]: its top eigenvector is v
    const G = new Float64Array(n * n);
    for (let p = 0; p < m; p++) {
      const row = p * n;
      for (let i = 0; i < n; i++) {
        const xi = X[row + i]!;
        if (xi === 0) continue;
        for (let j = i; j < n; j++) G[i * n + j] += xi * X[row + j]!;
      }
    }
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) G[i * n + j] = G[j * n + i]!;
    return topEigenvector(G, n);
  }
  // XXᵀ [m, m]: its top eigenvector u gives v = Xᵀu / ‖Xᵀu‖
  const G = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = i; j < m; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += X[i * n + k]! * X[j * n + k]!;
      G[i * m + j] = s;
      G[j * m + i] = s;
    }
  }
  const u = topEigenvector(G, m);
  const v = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    const ui = u[i]!;
    if (ui === 0) continue;
    for (let k = 0; k < n; k++) v[k] += ui * X[i * n + k]!;
  }
  let norm = 0;
  for (const a of v) norm += a * a;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let k = 0; k < n; k++) v[k]! /= norm;
  return v;
}

/** Eigenvector of the largest eigenvalue of a symmetric matrix A [n, n] (row-major; A is not modified). */
export function topEigenvector(A: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(A, n);
  let best = 0;
  for (let i = 1; i < n; i++) if (values[i]! > values[best]!) best = i;
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = vectors[k * n + best]!;
  return out;
}

/**
 * All eigenvalues and eigenvectors of a symmetric matrix: `vectors[k * n + i]` is component k of the
 * eigenvector of `values[i]`. Householder reduction to tridiagonal form, then the implicit QL method.
 */
export function symmetricEigen(A: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const V = Float64Array.from(A);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: V };
  tridiagonalize(V, d, e, n);
  implicitQL(V, d, e, n);
  return { values: d, vectors: V };
}

function tridiagonalize(V: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  const at = (i: number, j: number) => i * n + j;
  for (let j = 0; j < n; j++) d[j] = V[at(n - 1, j)]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = V[at(i - 1, j)]!;
        V[at(i, j)] = 0;
        V[at(j, i)] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k]! /= scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        V[at(j, i)] = f;
        g = e[j]! + V[at(j, j)]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[at(k, j)]! * d[k]!;
          e[k]! += V[at(k, j)]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j]! /= h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j]! -= hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) V[at(k, j)]! -= f * e[k]! + g * d[k]!;
        d[j] = V[at(i - 1, j)]!;
        V[at(i, j)] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[at(n - 1, i)] = V[at(i, i)]!;
    V[at(i, i)] = 1;
    const h = d[i + 1]!;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[at(k, i + 1)]! / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[at(k, i + 1)]! * V[at(k, j)]!;
        for (let k = 0; k <= i; k++) V[at(k, j)]! -= g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) V[at(k, i + 1)] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[at(n - 1, j)]!;
    V[at(n - 1, j)] = 0;
  }
  V[at(n - 1, n - 1)] = 1;
  e[0] = 0;
}

function implicitQL(V: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  const at = (i: number, j: number) => i * n + j;
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 100) throw new Error('symmetricEigen: no convergence');
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i]! -= h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          for (let k = 0; k < n; k++) {
            h = V[at(k, i + 1)]!;
            V[at(k, i + 1)] = s * V[at(k, i)]! + c * h;
            V[at(k, i)] = c * V[at(k, i)]! - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
}
