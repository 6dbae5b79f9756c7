/**
 * A small sparse linear solver: conjugate gradients with a Jacobi (diagonal) preconditioner on a
 * symmetric positive-definite matrix in compressed-sparse-row form. Written here (no dependency) for
 * ROAD's noisy linear imputation, whose systems are SPD and diagonally dominant.
 */

export interface CsrMatrix {
  n: number;
  /** Row starts, length n + 1. */
  rowPtr: Int32Array;
  col: Int32Array;
  val: Float64Array;
}

/** Builds a CSR matrix from (row, col, value) triplets; duplicates are summed. */
export function csrFromTriplets(n: number, rows: ArrayLike<number>, cols: ArrayLike<number>, vals: ArrayLike<number>): CsrMatrix {
  const m = rows.length;
  const count = new Int32Array(n + 1);
  for (let k = 0; k < m; k++) count[rows[k]! + 1]!++;
  for (let i = 0; i < n; i++) count[i + 1]! += count[i]!;
  const fill = count.slice(0, n);
  const rawCol = new Int32Array(m);
  const rawVal = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const p = fill[rows[k]!]!++;
    rawCol[p] = cols[k]!;
    rawVal[p] = vals[k]!;
  }
  // merge duplicates within each row
  const where = new Int32Array(n).fill(-1);
  const rowPtr = new Int32Array(n + 1);
  const col = new Int32Array(m);
  const val = new Float64Array(m);
  let nnz = 0;
  for (let i = 0; i < n; i++) {
    const start = nnz;
    for (let p = count[i]!; p < count[i + 1]!; p++) {
      const j = rawCol[p]!;
      const q = where[j]!;
      if (q >= start) val[q]! += rawVal[p]!;
      else { where[j] = nnz; col[nnz] = j; val[nnz] = rawVal[p]!; nnz++; }
    }
    rowPtr[i + 1] = nnz;
  }
  return { n, rowPtr, col: col.slice(0, nnz), val: val.slice(0, nnz) };
}

export function csrMultiply(a: CsrMatrix, x: ArrayLike<number>, out: Float64Array = new Float64Array(a.n)): Float64Array {
  for (let i = 0; i < a.n; i++) {
    let s = 0;
    for (let p = a.rowPtr[i]!; p < a.rowPtr[i + 1]!; p++) s += a.val[p]! * x[a.col[p]!]!;
    out[i] = s;
  }
  return out;
}

export interface CgOptions {
  /** Stop when ‖r‖ ≤ tol · ‖b‖ (default 1e-8). */
  tol?: number;
  /** Default 10 n (at least 100). */
  maxIter?: number;
  /** Starting guess (default 0). */
  x0?: ArrayLike<number>;
  /** A symmetric positive-definite preconditioner: z ← M⁻¹ r (default: Jacobi, z = r / diag(A)). */
  preconditioner?: (r: Float64Array, z: Float64Array) => void;
}

export interface CgResult {
  x: Float64Array;
  iterations: number;
  /** ‖b − A x‖ / ‖b‖ at the end. */
  residual: number;
  converged: boolean;
}

/** Solves A x = b for symmetric positive-definite A by preconditioned conjugate gradients. */
export function conjugateGradient(a: CsrMatrix, b: ArrayLike<number>, opts: CgOptions = {}): CgResult {
  const n = a.n;
  if (b.length !== n) throw new RangeError(`conjugateGradient: b has ${b.length} values for a ${n}×${n} matrix`);
  const tol = opts.tol ?? 1e-8;
  const maxIter = opts.maxIter ?? Math.max(100, 10 * n);
  const x = new Float64Array(n);
  if (opts.x0) x.set(Array.from(opts.x0));
  const diag = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let p = a.rowPtr[i]!; p < a.rowPtr[i + 1]!; p++) if (a.col[p] === i) diag[i]! += a.val[p]!;
    if (!(diag[i]! > 0)) throw new RangeError(`conjugateGradient: the matrix is not positive definite (diagonal ${i} is ${diag[i]})`);
  }
  let bnorm = 0;
  for (let i = 0; i < n; i++) bnorm += b[i]! ** 2;
  bnorm = Math.sqrt(bnorm);
  if (bnorm === 0) return { x: new Float64Array(n), iterations: 0, residual: 0, converged: true };
  const r = new Float64Array(n);
  const ax = csrMultiply(a, x);
  for (let i = 0; i < n; i++) r[i] = b[i]! - ax[i]!;
  const z = new Float64Array(n);
  const precondition = opts.preconditioner ?? ((rr: Float64Array, zz: Float64Array) => { for (let i = 0; i < n; i++) zz[i] = rr[i]! / diag[i]!; });
  precondition(r, z);
  const p = z.slice();
  const ap = new Float64Array(n);
  let rz = 0;
  for (let i = 0; i < n; i++) rz += r[i]! * z[i]!;
  let rnorm = Math.sqrt(r.reduce((s, v) => s + v * v, 0));
  let it = 0;
  while (it < maxIter && rnorm > tol * bnorm) {
    csrMultiply(a, p, ap);
    let pap = 0;
    for (let i = 0; i < n; i++) pap += p[i]! * ap[i]!;
    if (!(pap > 0)) throw new RangeError('conjugateGradient: the matrix is not positive definite');
    const alpha = rz / pap;
    let rr = 0;
    for (let i = 0; i < n; i++) {
      x[i]! += alpha * p[i]!;
      r[i]! -= alpha * ap[i]!;
      rr += r[i]! * r[i]!;
    }
    rnorm = Math.sqrt(rr);
    precondition(r, z);
    let rzNew = 0;
    for (let i = 0; i < n; i++) rzNew += r[i]! * z[i]!;
    const beta = rzNew / rz;
    rz = rzNew;
    for (let i = 0; i < n; i++) p[i] = z[i]! + beta * p[i]!;
    it++;
  }
  return { x, iterations: it, residual: rnorm / bnorm, converged: rnorm <= tol * bnorm };
}

/**
 * An aggregation multigrid V-cycle for grid problems, usable as a CG preconditioner: unknowns carry
 * grid coordinates; each level merges 2×2 blocks of the level below (piecewise-constant
 * prolongation P, Galerkin coarse matrix PᵀAP), smooths with one forward Gauss–Seidel sweep before
 * and one backward sweep after the coarse correction (so the cycle is symmetric), and solves the
 * coarsest level (≤ 200 unknowns) by dense Cholesky.
 */
export function gridMultigrid(a: CsrMatrix, ys: Int32Array, xs: Int32Array): (r: Float64Array, z: Float64Array) => void {
  interface Level { a: CsrMatrix; diag: Float64Array; agg?: Int32Array; coarse?: Level; chol?: Float64Array; r: Float64Array; rc?: Float64Array; ec?: Float64Array }
  const build = (m: CsrMatrix, y: Int32Array, x: Int32Array): Level => {
    const n = m.n;
    const diag = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let p = m.rowPtr[i]!; p < m.rowPtr[i + 1]!; p++) if (m.col[p] === i) diag[i]! += m.val[p]!;
    const level: Level = { a: m, diag, r: new Float64Array(n) };
    if (n <= 200) {
      level.chol = cholesky(m);
      return level;
    }
    let maxY = 0;
    let maxX = 0;
    for (let i = 0; i < n; i++) { maxY = Math.max(maxY, y[i]! >> 1); maxX = Math.max(maxX, x[i]! >> 1); }
    const ids = new Int32Array((maxY + 1) * (maxX + 1)).fill(-1);
    const agg = new Int32Array(n);
    const cy: number[] = [];
    const cx: number[] = [];
    for (let i = 0; i < n; i++) {
      const key = (y[i]! >> 1) * (maxX + 1) + (x[i]! >> 1);
      if (ids[key]! < 0) { ids[key] = cy.length; cy.push(y[i]! >> 1); cx.push(x[i]! >> 1); }
      agg[i] = ids[key]!;
    }
    const nc = cy.length;
    if (nc === n) { level.chol = cholesky(m); return level; }
    const nnz = m.rowPtr[n]!;
    const rows = new Int32Array(nnz);
    const cols = new Int32Array(nnz);
    for (let i = 0; i < n; i++) for (let p = m.rowPtr[i]!; p < m.rowPtr[i + 1]!; p++) { rows[p] = agg[i]!; cols[p] = agg[m.col[p]!]!; }
    const vals = m.val;
    level.agg = agg;
    level.coarse = build(csrFromTriplets(nc, rows, cols, vals), Int32Array.from(cy), Int32Array.from(cx));
    level.rc = new Float64Array(nc);
    level.ec = new Float64Array(nc);
    return level;
  };
  const sweep = (l: Level, b: Float64Array, x: Float64Array, forward: boolean) => {
    const { a: m, diag } = l;
    for (let k = 0; k < m.n; k++) {
      const i = forward ? k : m.n - 1 - k;
      let s = b[i]! + diag[i]! * x[i]!; // the loop below subtracts the diagonal term too
      for (let p = m.rowPtr[i]!; p < m.rowPtr[i + 1]!; p++) s -= m.val[p]! * x[m.col[p]!]!;
      x[i] = s / diag[i]!;
    }
  };
  const vcycle = (l: Level, b: Float64Array, x: Float64Array) => {
    x.fill(0);
    if (l.chol) { choleskySolve(l.chol, l.a.n, b, x); return; }
    sweep(l, b, x, true);
    csrMultiply(l.a, x, l.r);
    const rc = l.rc!.fill(0);
    for (let i = 0; i < l.a.n; i++) rc[l.agg![i]!]! += b[i]! - l.r[i]!;
    vcycle(l.coarse!, rc, l.ec!);
    for (let i = 0; i < l.a.n; i++) x[i]! += l.ec![l.agg![i]!]!;
    sweep(l, b, x, false);
  };
  const top = build(a, ys, xs);
  return (r, z) => vcycle(top, r, z);
}

/** Dense Cholesky factor (lower, row-major n×n) of a small SPD CSR matrix. */
function cholesky(m: CsrMatrix): Float64Array {
  const n = m.n;
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let p = m.rowPtr[i]!; p < m.rowPtr[i + 1]!; p++) L[i * n + m.col[p]!]! += m.val[p]!;
  for (let j = 0; j < n; j++) {
    let d = L[j * n + j]!;
    for (let k = 0; k < j; k++) d -= L[j * n + k]! ** 2;
    if (!(d > 0)) throw new RangeError('cholesky: the matrix is not positive definite');
    d = Math.sqrt(d);
    L[j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let s = L[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      L[i * n + j] = s / d;
    }
    for (let i = 0; i < j; i++) L[i * n + j] = 0;
  }
  return L;
}

function choleskySolve(L: Float64Array, n: number, b: ArrayLike<number>, x: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * x[k]!;
    x[i] = s / L[i * n + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * x[k]!;
    x[i] = s / L[i * n + i]!;
  }
}
