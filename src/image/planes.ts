/**
 * One image in the model's layout as channel planes, and the Gaussian blur of its channels: shared by the
 * faithfulness metrics (substrates) and Integrated Gradients' blurred baseline.
 */

export type Layout = 'NCHW' | 'NHWC';

/** One image in the model's layout: `dims` = [1, C, H, W] (NCHW) or [1, H, W, C] (NHWC). */
export interface ImageInput {
  data: Float32Array;
  dims: readonly number[];
  layout: Layout;
}

export function geometry(img: ImageInput): { c: number; h: number; w: number } {
  const d = img.dims;
  if (d.length !== 4 || d[0] !== 1) throw new RangeError(`expected one image [1, ...] of rank 4, got [${d.join(', ')}]`);
  return img.layout === 'NCHW' ? { c: d[1]!, h: d[2]!, w: d[3]! } : { c: d[3]!, h: d[1]!, w: d[2]! };
}

/** Index of (channel c, pixel p) in the layout. */
export function at(layout: Layout, c: number, p: number, channels: number, hw: number): number {
  return layout === 'NCHW' ? c * hw + p : p * channels + c;
}

export function toPlanar(img: ImageInput): Float32Array[] {
  const { c, h, w } = geometry(img);
  const hw = h * w;
  return Array.from({ length: c }, (_, k) => {
    const out = new Float32Array(hw);
    for (let p = 0; p < hw; p++) out[p] = img.data[at(img.layout, k, p, c, hw)]!;
    return out;
  });
}

export function fromPlanar(channels: Float32Array[], layout: Layout): Float32Array {
  const c = channels.length;
  const hw = channels[0]!.length;
  const out = new Float32Array(c * hw);
  for (let k = 0; k < c; k++) for (let p = 0; p < hw; p++) out[at(layout, k, p, c, hw)] = channels[k]![p]!;
  return out;
}

/**
 * Gaussian blur of each channel, as RISE's reference code blurs the insertion start image: an
 * `size`×`size` kernel (default 11) with σ = `sigma` (default 5), normalised to sum 1, zero padding.
 */
export function gaussianBlur(img: ImageInput, sigma = 5, size = 11): Float32Array {
  const { h, w } = geometry(img);
  const r = Math.floor(size / 2);
  const k1 = Array.from({ length: size }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const s = k1.reduce((a, v) => a + v, 0);
  const k = k1.map((v) => v / s); // the 2-D kernel is the outer product, normalised
  const planes = toPlanar(img).map((src) => {
    const tmp = new Float32Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let v = 0;
        for (let j = -r; j <= r; j++) { const xx = x + j; if (xx >= 0 && xx < w) v += k[j + r]! * src[y * w + xx]!; }
        tmp[y * w + x] = v;
      }
    }
    const out = new Float32Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let v = 0;
        for (let j = -r; j <= r; j++) { const yy = y + j; if (yy >= 0 && yy < h) v += k[j + r]! * tmp[yy * w + x]!; }
        out[y * w + x] = v;
      }
    }
    return out;
  });
  return fromPlanar(planes, img.layout);
}

