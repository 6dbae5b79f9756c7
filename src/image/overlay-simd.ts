/**
 * The overlay's per-pixel loops in WebAssembly (written out by hand with wasm.ts), browser-safe, the same
 * bytes as the JavaScript loops they stand in for (test/output.test.ts: the old routines as reference,
 * with these on and off):
 * - `hx(src, h, w, outW, xmax, xofs, xa0, xa1, tmp)`: its horizontal pass before (scalar float32 steps);
 * - `lv(tmp, outW, outH, y0, y1, b0, b1, out)`: resize.ts resizeBilinearLevels' vertical pass and
 *   quantizeLevel, 16 levels at a time in float32 lanes: f32(f32(t0 · b0) + f32(t1 · b1)), times 255, cut to
 *   an integer (NaN and negatives 0, 255 and above 255) — IEEE single-precision steps, which JavaScript's
 *   double arithmetic rounded to float32 gives bit for bit (one rounding of an exact double result is
 *   the single-precision rounding for +, − and ×). 16 bytes of slack after `out` and after the rows read.
 * - `p1(levels, src, np, byRow)`: overlay.ts overlayLevels' first pass (the brightest image byte per map
 *   level and channel; byRow: 768 int32, −1 to start);
 * - `p2(levels, src, np, level, row, out)`: its second pass, out[3p + c] = level[row[3 · levels[p] + c] |
 *   src[3p + c]] (row: 768 int32);
 * - `lt(lutImg, heat, count, maxp, level)`: its table of (heat, image) levels, in float32 lanes (÷ too is
 *   one IEEE rounding, as JavaScript's double quotient rounded to float32 is).
 */
import { add, block, br, brIf, c32, get, I32, instantiate, load32, loop, ltS, narrow16, narrow32, set, simd, V128, vec, uleb, vstore, wasmModule } from './wasm.js';

const mul = [0x6c];
const or = [0x72];
const gtS = [0x4a];
const select = [0x1b];
const load8 = (offset = 0) => [0x2d, 0, ...uleb(offset)];
const store8 = (offset = 0) => [0x3a, 0, ...uleb(offset)];
const store32 = (offset = 0) => [0x36, 2, ...uleb(offset)];
const f32load = [0x2a, 2, 0];
const vload = (offset: number) => simd(0x00, 0, ...uleb(offset));
const fsplat = simd(0x13);
const fadd = simd(0xe4);
const fmul = simd(0xe6);
const fdiv = simd(0xe7);
const trunc = simd(0xf8);
const f32const = (v: number) => { const b = new Uint8Array(new Float32Array([v]).buffer); return [0x43, ...b]; };

/** lv: params tmp 0, outW 1, outH 2, y0 3, y1 4, b0 5, b1 6, out 7; locals dy 8, t0 9, t1 10, dx 11 (i32), vb0 12, vb1 13, q0..q3 14..17, k 18 (v128). */
function levels(): number[] {
  const [tmp, outW, outH, y0, y1, b0, b1, out, dy, t0, t1, dx, vb0, vb1, q0, , , , k] = Array.from({ length: 19 }, (_, i) => i);
  const rowAt = (ys: number) => [...get(tmp), ...get(ys), ...load32(), ...get(outW), ...mul, ...c32(4), ...mul, ...add];
  const q = (j: number) => [
    ...get(t0), ...get(dx), ...c32(4), ...mul, ...add, ...vload(16 * j), ...get(vb0), ...fmul,
    ...get(t1), ...get(dx), ...c32(4), ...mul, ...add, ...vload(16 * j), ...get(vb1), ...fmul,
    ...fadd, ...get(k), ...fmul, ...trunc, ...set(q0 + j),
  ];
  const body = [
    ...f32const(255), ...fsplat, ...set(k),
    ...c32(0), ...set(dy),
    ...block(loop([
      ...get(dy), ...get(outH), ...ltS, 0x45, ...brIf(1),
      ...rowAt(y0), ...set(t0), ...rowAt(y1), ...set(t1),
      ...get(b0), ...f32load, ...fsplat, ...set(vb0),
      ...get(b1), ...f32load, ...fsplat, ...set(vb1),
      ...c32(0), ...set(dx),
      ...block(loop([
        ...get(dx), ...get(outW), ...ltS, 0x45, ...brIf(1),
        ...q(0), ...q(1), ...q(2), ...q(3),
        ...get(out), ...get(dx), ...add,
        ...get(q0), ...get(q0 + 1), ...narrow32, ...get(q0 + 2), ...get(q0 + 3), ...narrow32, ...narrow16,
        ...vstore,
        ...get(dx), ...c32(16), ...add, ...set(dx),
        ...br(0),
      ])),
      ...get(out), ...get(outW), ...add, ...set(out),
      ...get(y0), ...c32(4), ...add, ...set(y0),
      ...get(y1), ...c32(4), ...add, ...set(y1),
      ...get(b0), ...c32(4), ...add, ...set(b0),
      ...get(b1), ...c32(4), ...add, ...set(b1),
      ...get(dy), ...c32(1), ...add, ...set(dy),
      ...br(0),
    ])),
  ];
  return [...vec([[...uleb(4), I32], [...uleb(7), V128]]), ...body, 0x0b];
}

/**
 * hx: params src 0, h 1, w 2, outW 3, xmax 4, xofs 5, xa0 6, xa1 7, tmp 8; locals dx 9, sx 10 (i32):
 * resize.ts runLinear's horizontal pass (linear mode), float32 scalar steps: for each of h rows, tmp[dx] =
 * f32(f32(src[x] · xa0[dx]) + f32(src[x + 1] · xa1[dx])) with x = xofs[dx] below xmax, src[x] from there on.
 */
function horizontalLinear(): number[] {
  const [src, h, w, outW, xmax, xofs, xa0, xa1, tmp, dx, sx] = Array.from({ length: 11 }, (_, i) => i);
  const fload = (off = 0) => [0x2a, 2, ...uleb(off)];
  const fstore = [0x38, 2, 0];
  const at4 = (base: number) => [...get(base), ...get(dx), ...c32(4), ...mul, ...add];
  const body = [
    ...block(loop([
      ...c32(0), ...get(h), ...ltS, 0x45, ...brIf(1),
      ...c32(0), ...set(dx),
      ...block(loop([
        ...get(dx), ...get(outW), ...ltS, 0x45, ...brIf(1),
        ...get(src), ...at4(xofs), ...load32(), ...c32(4), ...mul, ...add, ...set(sx),
        ...at4(tmp),
        ...get(dx), ...get(xmax), ...ltS,
        0x04, 0x7d, // if (result f32)
        ...get(sx), ...fload(), ...at4(xa0), ...fload(), 0x94, ...get(sx), ...fload(4), ...at4(xa1), ...fload(), 0x94, 0x92,
        0x05, // else
        ...get(sx), ...fload(),
        0x0b,
        ...fstore,
        ...get(dx), ...c32(1), ...add, ...set(dx),
        ...br(0),
      ])),
      ...get(src), ...get(w), ...c32(4), ...mul, ...add, ...set(src),
      ...get(tmp), ...get(outW), ...c32(4), ...mul, ...add, ...set(tmp),
      ...get(h), ...c32(-1), ...add, ...set(h),
      ...br(0),
    ])),
  ];
  return [...vec([[...uleb(2), I32]]), ...body, 0x0b];
}

/** p1: params levels 0, src 1, np 2, byRow 3; locals end 4, a 5 (the byRow entry's address), s 6, cur 7. */
function pass1(): number[] {
  const [lv, src, np, byRow, end, a, s, cur] = [0, 1, 2, 3, 4, 5, 6, 7];
  const channel = (c: number) => [
    ...get(src), ...load8(c), ...set(s),
    ...get(a), ...load32(4 * c), ...set(cur),
    ...get(a), ...get(s), ...get(cur), ...get(s), ...get(cur), ...gtS, ...select, ...store32(4 * c),
  ];
  const body = [
    ...get(lv), ...get(np), ...add, ...set(end),
    ...block(loop([
      ...get(lv), ...get(end), ...ltS, 0x45, ...brIf(1),
      ...get(byRow), ...get(lv), ...load8(), ...c32(12), ...mul, ...add, ...set(a),
      ...channel(0), ...channel(1), ...channel(2),
      ...get(lv), ...c32(1), ...add, ...set(lv),
      ...get(src), ...c32(3), ...add, ...set(src),
      ...br(0),
    ])),
  ];
  return [...vec([[...uleb(4), I32]]), ...body, 0x0b];
}

/** p2: params levels 0, src 1, np 2, level 3, row 4, out 5; locals end 6, a 7 (the row entries' address). */
function pass2(): number[] {
  const [lv, src, np, level, row, out, end, a] = [0, 1, 2, 3, 4, 5, 6, 7];
  const channel = (c: number) => [
    ...get(out), ...get(level), ...get(a), ...load32(4 * c), ...get(src), ...load8(c), ...or, ...add, ...load8(), ...store8(c),
  ];
  const body = [
    ...get(lv), ...get(np), ...add, ...set(end),
    ...block(loop([
      ...get(lv), ...get(end), ...ltS, 0x45, ...brIf(1),
      ...get(row), ...get(lv), ...load8(), ...c32(12), ...mul, ...add, ...set(a),
      ...channel(0), ...channel(1), ...channel(2),
      ...get(lv), ...c32(1), ...add, ...set(lv),
      ...get(src), ...c32(3), ...add, ...set(src),
      ...get(out), ...c32(3), ...add, ...set(out),
      ...br(0),
    ])),
  ];
  return [...vec([[...uleb(2), I32]]), ...body, 0x0b];
}

/**
 * lt: params lutImg 0 (256 float32), heat 1 (count pairs: heat level int32, its float32 contribution),
 * count 2, maxp 3 (the blend's maximum, float32), level 4; locals i 5, hp 6, s 7 (i32), vlh 8, vmax 9,
 * k 10, q0..q3 11..14 (v128): the 256 levels of each heat level present, level[h · 256 + s] =
 * f32(255 · f32(f32(lh + lutImg[s]) / max)) cut to 0..255 (overlayLevels' table, 16 at a time).
 */
function table(): number[] {
  const [lutImg, heat, count, maxp, level, i, hp, s, vlh, vmax, k, q0] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const q = (j: number) => [
    ...get(vlh), ...get(lutImg), ...get(s), ...c32(4), ...mul, ...add, ...vload(16 * j), ...fadd,
    ...get(vmax), ...fdiv, ...get(k), ...fmul, ...trunc, ...set(q0 + j),
  ];
  const body = [
    ...f32const(255), ...fsplat, ...set(k),
    ...get(maxp), ...f32load, ...fsplat, ...set(vmax),
    ...c32(0), ...set(i),
    ...block(loop([
      ...get(i), ...get(count), ...ltS, 0x45, ...brIf(1),
      ...get(level), ...get(heat), ...get(i), ...c32(8), ...mul, ...add, ...load32(), ...c32(256), ...mul, ...add, ...set(hp),
      ...get(heat), ...get(i), ...c32(8), ...mul, ...add, ...c32(4), ...add, ...f32load, ...fsplat, ...set(vlh),
      ...c32(0), ...set(s),
      ...block(loop([
        ...get(s), ...c32(256), ...ltS, 0x45, ...brIf(1),
        ...q(0), ...q(1), ...q(2), ...q(3),
        ...get(hp), ...get(s), ...add,
        ...get(q0), ...get(q0 + 1), ...narrow32, ...get(q0 + 2), ...get(q0 + 3), ...narrow32, ...narrow16,
        ...vstore,
        ...get(s), ...c32(16), ...add, ...set(s),
        ...br(0),
      ])),
      ...get(i), ...c32(1), ...add, ...set(i),
      ...br(0),
    ])),
  ];
  return [...vec([[...uleb(3), I32], [...uleb(7), V128]]), ...body, 0x0b];
}

export interface OverlayKernels {
  memory: WebAssembly.Memory;
  lv(tmp: number, outW: number, outH: number, y0: number, y1: number, b0: number, b1: number, out: number): void;
  p1(levels: number, src: number, np: number, byRow: number): void;
  p2(levels: number, src: number, np: number, level: number, row: number, out: number): void;
  lt(lutImg: number, heat: number, count: number, maxp: number, level: number): void;
  hx(src: number, h: number, w: number, outW: number, xmax: number, xofs: number, xa0: number, xa1: number, tmp: number): void;
}

let kernels: OverlayKernels | null | undefined;
let enabled = true;

/** The kernels, compiled once; undefined where WebAssembly SIMD is missing (or useOverlaySimd(false)). */
export function overlayKernels(): OverlayKernels | undefined {
  if (!enabled) return undefined;
  if (kernels === undefined) {
    const e = instantiate(wasmModule([[8, levels()], [4, pass1()], [6, pass2()], [5, table()], [9, horizontalLinear()]], ['lv', 'p1', 'p2', 'lt', 'hx']));
    kernels = e ? { memory: e.mem, lv: e.lv as OverlayKernels['lv'], p1: e.p1 as OverlayKernels['p1'], p2: e.p2 as OverlayKernels['p2'], lt: e.lt as OverlayKernels['lt'], hx: e.hx as OverlayKernels['hx'] } : null;
  }
  return kernels ?? undefined;
}

/** For tests and benchmarks: the overlay with (true, the default) or without (false) these kernels. */
export function useOverlaySimd(on: boolean): void {
  enabled = on;
}
