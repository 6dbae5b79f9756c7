/**
 * A few WebAssembly instructions and a module's sections as bytes, browser-safe: enough to write the small
 * SIMD kernels of resample-simd.ts and overlay-simd.ts by hand (no toolchain), each a module of its own with
 * its own memory (exported as `mem`) and i32-parameter functions without results.
 */
export const SIMD = 0xfd;
export const I32 = 0x7f;
export const V128 = 0x7b;

/** Unsigned / signed LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
}
export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
export const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
export const str = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

// instructions
export const get = (i: number) => [0x20, ...uleb(i)];
export const set = (i: number) => [0x21, ...uleb(i)];
export const tee = (i: number) => [0x22, ...uleb(i)];
export const c32 = (n: number) => [0x41, ...sleb(n)];
export const add = [0x6a];
export const mul = [0x6c];
export const ltS = [0x48];
export const load32 = (offset = 0) => [0x28, 2, ...uleb(offset)];
export const simd = (op: number, ...imm: number[]) => [SIMD, ...uleb(op), ...imm];
export const mem = (align: number, offset = 0) => [align, ...uleb(offset)];
export const vload = simd(0x00, ...mem(0));
export const vstore = simd(0x0b, ...mem(0));
export const load8x8u = simd(0x02, ...mem(0));
export const store32lane0 = simd(0x5a, ...mem(0), 0);
export const splat32 = simd(0x11);
export const ext8lo = simd(0x89);
export const ext8hi = simd(0x8a);
export const ext16lo = simd(0xa9);
export const ext16hi = simd(0xaa);
export const vadd = simd(0xae);
export const vmul = simd(0xb5);
export const vshr = simd(0xac);
export const narrow32 = simd(0x85);
export const narrow16 = simd(0x66);
export const loop = (body: number[]) => [0x03, 0x40, ...body, 0x0b];
export const block = (body: number[]) => [0x02, 0x40, ...body, 0x0b];
export const brIf = (depth: number) => [0x0d, ...uleb(depth)];
export const br = (depth: number) => [0x0c, ...uleb(depth)];


/** A module of functions (each: its i32 parameter count and its code entry) exported under `names`, and a memory `mem`. */
export function wasmModule(fns: [number, number[]][], names: string[]): Uint8Array<ArrayBuffer> {
  const type = (n: number) => [0x60, ...vec(new Array(n).fill([I32])), 0];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(fns.map(([n]) => type(n)))),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, ...uleb(1)]])),
    ...section(7, vec([[...str('mem'), 0x02, 0], ...names.map((n, i) => [...str(n), 0x00, ...uleb(i)])])),
    ...section(10, vec(fns.map(([, c]) => [...uleb(c.length), ...c]))),
  ]);
}

/** The module's exports, or undefined where WebAssembly (or the SIMD it uses) is missing. */
export function instantiate(bytes: Uint8Array<ArrayBuffer>): ({ mem: WebAssembly.Memory } & Record<string, unknown>) | undefined {
  try {
    const W = (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
    if (!W || !W.validate(bytes)) return undefined;
    return new W.Instance(new W.Module(bytes), {}).exports as { mem: WebAssembly.Memory } & Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * A module's memory grown to at least `bytes` (views over it are to be made after this: growth replaces
 * the buffer); undefined where it cannot grow (the callers' JavaScript passes run then).
 */
export function grownMemory(memory: WebAssembly.Memory, bytes: number): ArrayBuffer | undefined {
  try {
    if (memory.buffer.byteLength < bytes) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
  } catch {
    return undefined;
  }
  return memory.buffer;
}
