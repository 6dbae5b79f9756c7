/**
 * Similarity of two maps, as used by the model-parameter randomisation test (Adebayo et al. 2018):
 * Spearman rank correlation, SSIM and the Pearson correlation of HOG features. Browser-safe.
 */

/** Ranks 1..n with ties given their average rank (scipy.stats.rankdata 'average'). */
export function rankdata(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => x[a]! - x[b]! || a - b);
  const r = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && x[idx[j]!] === x[idx[i]!]) j++;
    const avg = (i + j + 1) / 2; // mean of ranks i+1 .. j
    for (let k = i; k < j; k++) r[idx[k]!] = avg;
    i = j;
  }
  return r;
}

function isConstant(x: ArrayLike<number>): boolean {
  for (let i = 1; i < x.length; i++) if (x[i] !== x[0]) return false;
  return true;
}

function equal(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function checkLengths(fn: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new RangeError(`${fn}: the two inputs have ${a.length} and ${b.length} values`);
  if (a.length === 0) throw new RangeError(`${fn}: empty input`);
}

/**
 * Pearson correlation. The correlation with a constant vector is undefined; this returns 1 when both
 * inputs are identical and 0 otherwise (no shared ordering), so that a map that collapsed to a
 * constant under randomisation counts as completely changed.
 */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkLengths('pearson', a, b);
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa === 0 || sbb === 0 || isConstant(a) || isConstant(b)) return equal(a, b) ? 1 : 0;
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

/** Spearman rank correlation: Pearson correlation of the average ranks (scipy.stats.spearmanr). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkLengths('spearman', a, b);
  if (isConstant(a) || isConstant(b)) return equal(a, b) ? 1 : 0;
  return pearson(rankdata(a), rankdata(b));
}

export interface SsimOptions {
  /** Side of the square uniform window (odd, default 7 as scikit-image). */
  window?: number;
  /** The value range of the maps (default 1: maps in [0, 1]). */
  dataRange?: number;
  k1?: number;
  k2?: number;
}

/**
 * Mean structural similarity (Wang et al. 2004) with scikit-image's defaults
 * (`structural_similarity(a, b, data_range=1)`): 7×7 uniform windows, sample covariances,
 * K1 = 0.01, K2 = 0.03, averaged over the windows that lie wholly inside the image.
 * `a` and `b` are [height, width]; identical maps give exactly 1.
 */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, height: number, width: number, opts: SsimOptions = {}): number {
  checkLengths('ssim', a, b);
  if (a.length !== height * width) throw new RangeError(`ssim: maps have ${a.length} values, expected ${height}×${width}`);
  let win = opts.window ?? 7;
  if (win > Math.min(height, width)) win = Math.min(height, width) % 2 === 1 ? Math.min(height, width) : Math.min(height, width) - 1;
  if (win < 1 || win % 2 !== 1) throw new RangeError(`ssim: the window must be odd, got ${win}`);
  const L = opts.dataRange ?? 1;
  const c1 = ((opts.k1 ?? 0.01) * L) ** 2;
  const c2 = ((opts.k2 ?? 0.03) * L) ** 2;
  const np = win * win;
  const covNorm = np > 1 ? np / (np - 1) : 1;
  // summed-area tables of a, b, a², b², ab
  const W1 = width + 1;
  const tables = [0, 1, 2, 3, 4].map(() => new Float64Array((height + 1) * W1));
  const [sa, sb, saa, sbb, sab] = tables as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const va = a[y * width + x]!;
      const vb = b[y * width + x]!;
      const o = (y + 1) * W1 + x + 1;
      const vals = [va, vb, va * va, vb * vb, va * vb];
      for (let t = 0; t < 5; t++) {
        const s = tables[t]!;
        s[o] = vals[t]! + s[o - 1]! + s[o - W1]! - s[o - W1 - 1]!;
      }
    }
  }
  const box = (s: Float64Array, y0: number, x0: number) => s[(y0 + win) * W1 + x0 + win]! - s[y0 * W1 + x0 + win]! - s[(y0 + win) * W1 + x0]! + s[y0 * W1 + x0]!;
  let total = 0;
  let count = 0;
  for (let y0 = 0; y0 + win <= height; y0++) {
    for (let x0 = 0; x0 + win <= width; x0++) {
      const ux = box(sa, y0, x0) / np;
      const uy = box(sb, y0, x0) / np;
      const vx = covNorm * (box(saa, y0, x0) / np - ux * ux);
      const vy = covNorm * (box(sbb, y0, x0) / np - uy * uy);
      const vxy = covNorm * (box(sab, y0, x0) / np - ux * uy);
      total += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
      count++;
    }
  }
  return total / count;
}

export interface HogOptions {
  /** Orientation bins over 0..180° (default 9). */
  orientations?: number;
  /** Cell side in pixels (default 8; smaller for maps under 24 px so that a block fits). */
  cell?: number;
  /** Block side in cells (default 3, as scikit-image). */
  block?: number;
}

/**
 * Histogram-of-oriented-gradients features (Dalal & Triggs 2005) as scikit-image's `hog` computes them
 * by default: central-difference gradients (zero on the border), unsigned orientations in 9 bins,
 * magnitude-weighted hard binning averaged per cell, overlapping 3×3-cell blocks with L2-Hys
 * normalisation (clip at 0.2). Cells are 8×8 pixels, or ⌊min(H, W) / 3⌋ for maps smaller than 24 px
 * (and blocks shrink for maps under 3 px).
 */
export function hog(img: ArrayLike<number>, height: number, width: number, opts: HogOptions = {}): Float64Array {
  if (img.length !== height * width) throw new RangeError(`hog: map has ${img.length} values, expected ${height}×${width}`);
  const nb = opts.orientations ?? 9;
  const block = Math.max(1, Math.min(opts.block ?? 3, height, width));
  const cell = opts.cell ?? Math.max(1, Math.min(8, Math.floor(Math.min(height, width) / block)));
  const cy = Math.floor(height / cell);
  const cx = Math.floor(width / cell);
  if (cy < block || cx < block) throw new RangeError(`hog: a ${height}×${width} map is too small for ${block}×${block} blocks of ${cell}-pixel cells`);
  const hist = new Float64Array(cy * cx * nb);
  for (let y = 0; y < cy * cell; y++) {
    for (let x = 0; x < cx * cell; x++) {
      const gy = y > 0 && y < height - 1 ? img[(y + 1) * width + x]! - img[(y - 1) * width + x]! : 0;
      const gx = x > 0 && x < width - 1 ? img[y * width + x + 1]! - img[y * width + x - 1]! : 0;
      const mag = Math.hypot(gx, gy);
      if (mag === 0) continue;
      let deg = (Math.atan2(gy, gx) * 180) / Math.PI;
      if (deg < 0) deg += 180;
      if (deg >= 180) deg -= 180;
      const bin = Math.min(nb - 1, Math.floor(deg / (180 / nb)));
      hist[(Math.floor(y / cell) * cx + Math.floor(x / cell)) * nb + bin]! += mag / (cell * cell);
    }
  }
  const by = cy - block + 1;
  const bx = cx - block + 1;
  const per = block * block * nb;
  const out = new Float64Array(by * bx * per);
  const eps = 1e-5;
  for (let j = 0; j < by; j++) {
    for (let i = 0; i < bx; i++) {
      const o = (j * bx + i) * per;
      let k = 0;
      for (let dy = 0; dy < block; dy++) for (let dx = 0; dx < block; dx++) for (let b = 0; b < nb; b++) out[o + k++] = hist[((j + dy) * cx + i + dx) * nb + b]!;
      // L2-Hys
      let s = 0;
      for (let t = 0; t < per; t++) s += out[o + t]! ** 2;
      let norm = Math.sqrt(s + eps * eps);
      s = 0;
      for (let t = 0; t < per; t++) {
        out[o + t] = Math.min(out[o + t]! / norm, 0.2);
        s += out[o + t]! ** 2;
      }
      norm = Math.sqrt(s + eps * eps);
      for (let t = 0; t < per; t++) out[o + t]! /= norm;
    }
  }
  return out;
}

/** Pearson correlation of the HOG features of two [height, width] maps. */
export function hogSimilarity(a: ArrayLike<number>, b: ArrayLike<number>, height: number, width: number, opts: HogOptions = {}): number {
  return pearson(hog(a, height, width, opts), hog(b, height, width, opts));
}

/** All four similarities of the randomisation test for one pair of maps. */
export interface MapSimilarity {
  spearman: number;
  spearman_abs: number;
  ssim: number;
  hog: number;
}
