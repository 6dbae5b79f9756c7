/**
 * Bilinear upsampling with align_corners=True, as torch.nn.UpsamplingBilinear2d on CPU (float32):
 * src = dst·(in−1)/(out−1) with a float32 ratio; x interpolated first within each of the two rows, then
 * the rows blended in y.
 */
const f = Math.fround;

interface Axis { i0: Int32Array; i1: Int32Array; l0: Float32Array; l1: Float32Array }

function axis(inSize: number, outSize: number): Axis {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const l0 = new Float32Array(outSize);
  const l1 = new Float32Array(outSize);
  const ratio = outSize > 1 ? f((inSize - 1) / (outSize - 1)) : 0;
  for (let o = 0; o < outSize; o++) {
    if (inSize === outSize) {
      i0[o] = i1[o] = o;
      l0[o] = 1;
      l1[o] = 0;
      continue;
    }
    const real = f(ratio * o);
    const a = Math.min(Math.floor(real), inSize - 1);
    i0[o] = a;
    i1[o] = a + (a < inSize - 1 ? 1 : 0);
    l1[o] = f(real - a);
    l0[o] = f(1 - l1[o]!);
  }
  return { i0, i1, l0, l1 };
}

/** [n, h, w] → [n, outH, outW]. */
export function upsampleAlignCorners(src: Float32Array, n: number, h: number, w: number, outH: number, outW: number): Float32Array {
  const ax = axis(w, outW);
  const ay = axis(h, outH);
  const out = new Float32Array(n * outH * outW);
  for (let b = 0; b < n; b++) {
    const s = b * h * w;
    const o = b * outH * outW;
    for (let y = 0; y < outH; y++) {
      const r0 = s + ay.i0[y]! * w;
      const r1 = s + ay.i1[y]! * w;
      const wy0 = ay.l0[y]!;
      const wy1 = ay.l1[y]!;
      for (let x = 0; x < outW; x++) {
        const x0 = ax.i0[x]!;
        const x1 = ax.i1[x]!;
        const wx0 = ax.l0[x]!;
        const wx1 = ax.l1[x]!;
        const t0 = f(f(src[r0 + x0]! * wx0) + f(src[r0 + x1]! * wx1));
        const t1 = f(f(src[r1 + x0]! * wx0) + f(src[r1 + x1]! * wx1));
        out[o + y * outW + x] = f(f(t0 * wy0) + f(t1 * wy1));
      }
    }
  }
  return out;
}
