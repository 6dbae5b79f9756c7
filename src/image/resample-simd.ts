/**
 * Pillow's 8-bit bilinear passes (resample.ts) as WebAssembly SIMD, browser-safe: the same integer sums
 * (HALF + Σ byte · coefficient in 32-bit lanes, >> 22, clipped to 0..255 — the narrowing instructions
 * saturate exactly as Pillow's clip8 does for these non-negative sums), so the very bytes of the
 * JavaScript passes (test/resample.test.ts asserts 0 difference against the old routines through both).
 * The module is a few hundred bytes, written out below instruction by instruction (no toolchain); where
 * WebAssembly or its SIMD is missing, `simdKernels()` is undefined and resample.ts keeps its JavaScript.
 *
 * - `v(src, stride, n, taps, k, dst)`: the vertical pass of one output row: dst[i] for i < n (rounded up to
 *   16: 16 bytes of slack after dst and after the last source row read) = clip8(HALF + Σ_t src[t·stride + i]
 *   · k[t]), 16 bytes at a time.
 * - `h(src, sstride, rows, dst, dstride, cols, b, k, kstride)`: the horizontal pass: for every row and
 *   output pixel x, its taps (b[2x]: the first source byte in the row, b[2x + 1]: the count) times its
 *   coefficients (k + x · kstride, int32), the three channels in one 4-lane sum (the fourth byte written is
 *   the next pixel's, rewritten next; 16 bytes of slack after dst and after the source).
 * - `n(r0, r1, r2, count, l0, l1, l2, d0, d1, d2, dstep)`: modelInputTensor's normalisation of a row through
 *   its float32 tables (scalar), into the tensor's planes or interleaved channels.
 */

import { add, block, br, brIf, c32, ext16hi, ext16lo, ext8hi, ext8lo, get, I32, instantiate, load32, load8x8u, loop, ltS, narrow16, narrow32, set, splat32, store32lane0, tee, uleb, V128, vadd, vec, vload, vmul, vshr, vstore, wasmModule } from './wasm.js';

const HALF = 1 << 21;

/** v(src 0, stride 1, n 2, taps 3, k 4, dst 5); locals: i 6, p 7, t 8, kp 9 (i32), kv 10, a0..a3 11..14, x 15 (v128). */
function vertical(): number[] {
  const [src, stride, n, taps, k, dst, i, p, t, kp, kv, a0, a1, a2, a3, x] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  const acc = (a: number, part: number[]) => [...get(a), ...get(x), ...part, ...get(kv), ...vmul, ...vadd, ...set(a)];
  const body = [
    ...c32(0), ...set(i),
    ...block(loop([
      // while (i < n)
      ...get(i), ...get(n), ...ltS, 0x45 /* i32.eqz */, ...brIf(1),
      ...c32(HALF), ...splat32, ...tee(a0), ...tee(a1), ...tee(a2), ...set(a3),
      ...get(src), ...get(i), ...add, ...set(p),
      ...get(k), ...set(kp),
      ...get(taps), ...set(t),
      ...loop([
        ...get(kp), ...load32(), ...splat32, ...set(kv),
        ...get(p), ...vload, ...set(x),
        // bytes 0..7 and 8..15 widened to 16 bits, each half to 32 bits, times the coefficient
        ...get(x), ...ext8lo, ...set(x),
        ...acc(a0, ext16lo), ...acc(a1, ext16hi),
        ...get(p), ...vload, ...ext8hi, ...set(x),
        ...acc(a2, ext16lo), ...acc(a3, ext16hi),
        ...get(p), ...get(stride), ...add, ...set(p),
        ...get(kp), ...c32(4), ...add, ...set(kp),
        ...get(t), ...c32(-1), ...add, ...tee(t), ...brIf(0),
      ]),
      ...get(dst), ...get(i), ...add,
      ...get(a0), ...c32(22), ...vshr, ...get(a1), ...c32(22), ...vshr, ...narrow32,
      ...get(a2), ...c32(22), ...vshr, ...get(a3), ...c32(22), ...vshr, ...narrow32,
      ...narrow16, ...vstore,
      ...get(i), ...c32(16), ...add, ...set(i),
      ...br(0),
    ])),
  ];
  return [...vec([[...uleb(4), I32], [...uleb(6), V128]]), ...body, 0x0b];
}

/**
 * h(src 0, sstride 1, rows 2, dst 3, dstride 4, cols 5, b 6, k 7, kstride 8); locals: r 9, x 10, s 11, d 12,
 * p 13, kp 14, t 15, bp 16, kc 17, acc 18 (v128).
 */
function horizontal(): number[] {
  const [src, sstride, rows, dst, dstride, cols, b, k, kstride, r, x, , d, p, kp, t, bp, kc, acc] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
  const body = [
    ...c32(0), ...set(r),
    ...block(loop([
      ...get(r), ...get(rows), ...ltS, 0x45, ...brIf(1),
      ...get(dst), ...set(d),
      ...get(b), ...set(bp),
      ...get(k), ...set(kc),
      ...c32(0), ...set(x),
      ...block(loop([
        ...get(x), ...get(cols), ...ltS, 0x45, ...brIf(1),
        ...c32(HALF), ...splat32, ...set(acc),
        ...get(src), ...get(bp), ...load32(), ...add, ...set(p),
        ...get(bp), ...load32(4), ...set(t),
        ...get(kc), ...set(kp),
        ...loop([
          ...get(acc),
          ...get(p), ...load8x8u, ...ext16lo,
          ...get(kp), ...load32(), ...splat32, ...vmul, ...vadd, ...set(acc),
          ...get(p), ...c32(3), ...add, ...set(p),
          ...get(kp), ...c32(4), ...add, ...set(kp),
          ...get(t), ...c32(-1), ...add, ...tee(t), ...brIf(0),
        ]),
        ...get(d),
        ...get(acc), ...c32(22), ...vshr, ...get(acc), ...c32(22), ...vshr, ...narrow32,
        0xfd, ...uleb(0x0c), ...new Array<number>(16).fill(0), ...narrow16, // a zero vector as the high half
        ...store32lane0,
        ...get(d), ...c32(3), ...add, ...set(d),
        ...get(bp), ...c32(8), ...add, ...set(bp),
        ...get(kc), ...get(kstride), ...add, ...set(kc),
        ...get(x), ...c32(1), ...add, ...set(x),
        ...br(0),
      ])),
      ...get(src), ...get(sstride), ...add, ...set(src),
      ...get(dst), ...get(dstride), ...add, ...set(dst),
      ...get(r), ...c32(1), ...add, ...set(r),
      ...br(0),
    ])),
  ];
  return [...vec([[...uleb(9), I32], [...uleb(1), V128]]), ...body, 0x0b];
}

/**
 * n(r0, r1, r2, count, l0, l1, l2, d0, d1, d2, dstep): the input tensor's normalisation of one row (the
 * lookup tables of normalize.ts normalizeLuts, float32): for each of `count` pixels, d_c ← l_c[byte at r_c]
 * for the three tensor channels c, then r_c += 3 and d_c += dstep (4: planes, NCHW; 12: interleaved, NHWC).
 */
function normalise(): number[] {
  const [r0, , , count, l0, , , d0, , , dstep] = Array.from({ length: 11 }, (_, i) => i);
  const channel = (c: number) => [
    // f32.store(d_c, f32.load(l_c + 4 · i32.load8_u(r_c)))
    ...get(d0 + c), ...get(l0 + c), ...get(r0 + c), 0x2d, 0, 0, ...c32(4), 0x6c, ...add, 0x2a, 2, 0, 0x38, 2, 0,
    ...get(r0 + c), ...c32(3), ...add, ...set(r0 + c),
    ...get(d0 + c), ...get(dstep), ...add, ...set(d0 + c),
  ];
  const body = [
    ...block(loop([
      ...c32(0), ...get(count), ...ltS, 0x45, ...brIf(1),
      ...channel(0), ...channel(1), ...channel(2),
      ...get(count), ...c32(-1), ...add, ...set(count),
      ...br(0),
    ])),
  ];
  return [...vec([]), ...body, 0x0b];
}

/** The compiled passes and their memory (grown on demand; views over it are made after any growth). */
export interface SimdKernels {
  memory: WebAssembly.Memory;
  v(src: number, stride: number, n: number, taps: number, k: number, dst: number): void;
  h(src: number, sstride: number, rows: number, dst: number, dstride: number, cols: number, b: number, k: number, kstride: number): void;
  n(r0: number, r1: number, r2: number, count: number, l0: number, l1: number, l2: number, d0: number, d1: number, d2: number, dstep: number): void;
}

let kernels: SimdKernels | null | undefined;
let enabled = true;

/** The SIMD passes, compiled once; undefined where this platform lacks WebAssembly SIMD (or useSimd(false)). */
export function simdKernels(): SimdKernels | undefined {
  if (!enabled) return undefined;
  if (kernels !== undefined) return kernels ?? undefined;
  const e = instantiate(wasmModule([[6, vertical()], [9, horizontal()], [11, normalise()]], ['v', 'h', 'n']));
  kernels = e ? { memory: e.mem, v: e.v as SimdKernels['v'], h: e.h as SimdKernels['h'], n: e.n as SimdKernels['n'] } : null;
  return kernels ?? undefined;
}

/** For tests and benchmarks: resample.ts with (true, the default) or without (false) the SIMD passes. */
export function useSimd(on: boolean): void {
  enabled = on;
}
