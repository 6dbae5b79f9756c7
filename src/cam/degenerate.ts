/**
 * Warnings for raw maps that cannot be an explanation: constant maps, and stripes — a map that varies
 * along one axis of the grid only, the signature of a layer whose layout was misread (a channels-last
 * tensor read as channels-first turns channels into a grid axis).
 */
export function degenerateWarnings(raw: ArrayLike<number>, h: number, w: number, layer: string): string[] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < h * w; i++) {
    const v = raw[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = hi - lo;
  const scale = Math.max(Math.abs(lo), Math.abs(hi));
  if (!(range > 1e-6 * scale) || range === 0) {
    return [`the raw map at layer ${layer} is constant (${lo}): the layer carries no spatial evidence for this target`];
  }
  if (h < 2 || w < 2) return [];
  const tol = 1e-5 * range;
  let rowsVary = 0; // largest change down a column
  let colsVary = 0; // largest change along a row
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = raw[y * w + x]!;
      if (y > 0) rowsVary = Math.max(rowsVary, Math.abs(v - raw[(y - 1) * w + x]!));
      if (x > 0) colsVary = Math.max(colsVary, Math.abs(v - raw[y * w + x - 1]!));
    }
  }
  if (rowsVary <= tol || colsVary <= tol) {
    const dir = rowsVary <= tol ? 'vertical' : 'horizontal';
    return [`the raw map at layer ${layer} varies along one axis only (${dir} stripes): the layer's layout may be misread; check \`gradcam layers\` or give --layout`];
  }
  return [];
}

/**
 * Per image: whether a gradient method's raw map is rounding noise because the channels' contributions
 * cancel — its largest value is below 1e-4 of the largest Σ_c |A_c·G_c|. A layer followed only by a
 * normalisation over channels (LayerNorm, ConvNeXt's downsampling norm) has Σ_c A_c·∂y/∂A_c = 0 exactly
 * (the norm does not see the scale of its input), so HiResCAM there is float noise in any precision.
 */
export function cancelled(activations: Float32Array, gradients: Float32Array, dims: readonly number[], raw: Float32Array): boolean[] {
  const [n, c, h, w] = dims as [number, number, number, number];
  const hw = h * w;
  const out: boolean[] = [];
  if (gradients.length !== activations.length) return Array<boolean>(n).fill(false);
  const a = activations;
  const g = gradients;
  const acc = new Float64Array(hw);
  for (let b = 0; b < n; b++) {
    let mag = 0;
    for (let p = 0; p < hw; p++) mag = Math.max(mag, Math.abs(raw[b * hw + p]!));
    // Σ_c |A·G| per cell, channel by channel (contiguous rows), two channels per pass
    acc.fill(0);
    let k = 0;
    for (; k + 1 < c; k += 2) {
      const i0 = (b * c + k) * hw;
      const i1 = i0 + hw;
      for (let p = 0; p < hw; p++) acc[p] += Math.abs(a[i0 + p]! * g[i0 + p]!) + Math.abs(a[i1 + p]! * g[i1 + p]!);
    }
    for (; k < c; k++) {
      const i0 = (b * c + k) * hw;
      for (let p = 0; p < hw; p++) acc[p] += Math.abs(a[i0 + p]! * g[i0 + p]!);
    }
    let scale = 0;
    for (let p = 0; p < hw; p++) if (acc[p]! > scale) scale = acc[p]!;
    out.push(scale > 0 && mag < 1e-4 * scale);
  }
  return out;
}

/** `cancelled` from the graph's own max_cell Σ_c |A_c·G_c| per image (Grad-CAM's in-graph maps, cam/methods/gradcam-graph.ts). */
export function cancelledFromScale(raw: Float32Array, hw: number, scale: Float32Array): boolean[] {
  return Array.from(scale, (s, b) => {
    let mag = 0;
    for (let p = b * hw; p < (b + 1) * hw; p++) mag = Math.max(mag, Math.abs(raw[p]!));
    return s > 0 && mag < 1e-4 * s;
  });
}

export function cancellationWarning(layer: string): string {
  return `the map at layer ${layer} is rounding noise: the channels' contributions cancel (Σ_c A·∂score/∂A ≈ 0, as after a LayerNorm over channels); choose another layer or method`;
}
