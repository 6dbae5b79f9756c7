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
