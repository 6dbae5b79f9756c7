/** Row-major run-length masks (alternating 0-runs and 1-runs, starting with a 0-run), as in demo annotations. */
export interface RowMajorRle {
  size: [number, number];
  counts: number[];
}

export function decodeRle(rle: RowMajorRle): Uint8Array {
  const [h, w] = rle.size;
  const out = new Uint8Array(h * w);
  let p = 0;
  rle.counts.forEach((c, i) => {
    if (i % 2 === 1) out.fill(1, p, p + c);
    p += c;
  });
  if (p !== h * w) throw new Error(`mask run lengths cover ${p} pixels, expected ${h}×${w} = ${h * w}`);
  return out;
}
