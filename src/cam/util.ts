/** Small numeric helpers shared by the CAM methods. */

/** Σ over each of `rows` contiguous blocks of `size` values (float64 accumulation, float32 result). */
export function channelSums(x: Float32Array, rows: number, size: number): Float32Array {
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const base = r * size;
    for (let i = 0; i < size; i++) s += x[base + i]!;
    out[r] = s;
  }
  return out;
}

/** Σ_c X[n, c] over channels of an elementwise product [N, C, h, w] → [N, h, w]. */
export function sumChannels(x: Float32Array, dims: readonly number[]): Float32Array {
  const [n, c, h, w] = dims as [number, number, number, number];
  const hw = h * w;
  const out = new Float32Array(n * hw);
  for (let b = 0; b < n; b++) {
    const acc = new Float64Array(hw);
    for (let k = 0; k < c; k++) {
      const base = (b * c + k) * hw;
      for (let i = 0; i < hw; i++) acc[i] += x[base + i]!;
    }
    out.set(acc, b * hw);
  }
  return out;
}

/** Elementwise f(G, A) over [N, C, h, w]. */
export function elementwise(g: Float32Array, a: Float32Array, fn: (g: number, a: number) => number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = fn(g[i]!, a[i]!);
  return out;
}

/** numpy-style softmax of a float32 vector (max subtracted), float32 result. */
export function softmax32(x: Float32Array | Float64Array): Float32Array {
  let m = -Infinity;
  for (const v of x) if (v > m) m = v;
  const e = new Float64Array(x.length);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += e[i] = Math.exp(x[i]! - m);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = e[i]! / s;
  return out;
}
