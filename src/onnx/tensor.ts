/** ONNX tensors as typed arrays: decoding TensorProto (raw_data, typed fields, external data) and encoding. */
import Long from 'long';

export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool' | 'float16' | 'bfloat16' | 'string';

export type TypedArray = Float32Array | Float64Array | BigInt64Array | BigUint64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array | Uint32Array;

export interface Tensor {
  dtype: DType;
  dims: number[];
  data: TypedArray;
}

/** A tensor the model stores that cannot be decoded: the model's fault (named ModelError, as model.ts's). */
export class TensorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

/** ONNX TensorProto.DataType codes. */
export const DATA_TYPE: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8, bool: 9,
  float16: 10, float64: 11, uint32: 12, uint64: 13, bfloat16: 16,
};
const DTYPE_BY_CODE = new Map<number, DType>(Object.entries(DATA_TYPE).map(([k, v]) => [v, k as DType]));

export function dtypeFromCode(code: number): DType {
  const d = DTYPE_BY_CODE.get(code);
  if (!d) throw new TensorError(`unsupported ONNX tensor data type ${code}`);
  return d;
}

const BYTES: Record<DType, number> = {
  float32: 4, float64: 8, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, uint16: 2, uint32: 4, uint64: 8,
  bool: 1, float16: 2, bfloat16: 2, string: 0,
};

export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Converts protobufjs int64 values (Long, number or string) to numbers. */
export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') return Number(v);
  if (Long.isLong(v)) return (v as Long).toNumber();
  if (v == null) return 0;
  throw new Error(`not an integer: ${String(v)}`);
}

function allocate(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'uint64': return new BigUint64Array(n);
    case 'int32': return new Int32Array(n);
    case 'int16': return new Int16Array(n);
    case 'int8': return new Int8Array(n);
    case 'uint8': case 'bool': return new Uint8Array(n);
    case 'uint16': case 'float16': case 'bfloat16': return new Uint16Array(n);
    case 'uint32': return new Uint32Array(n);
    default: throw new Error(`tensors of type ${dtype} are not supported`);
  }
}

/** Copies little-endian bytes into a fresh, aligned typed array (never a view into the file buffer). */
function fromBytes(dtype: DType, bytes: Uint8Array, n: number, name: string): TypedArray {
  const size = BYTES[dtype];
  if (bytes.byteLength !== n * size) {
    throw new TensorError(`tensor '${name}': raw data has ${bytes.byteLength} bytes, expected ${n * size} for ${n} ${dtype} values`);
  }
  const out = allocate(dtype, n);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}

export interface TensorProtoLike {
  name?: string;
  dims?: unknown[];
  data_type?: number;
  raw_data?: Uint8Array;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: unknown[];
  double_data?: number[];
  uint64_data?: unknown[];
  data_location?: number;
  external_data?: { key?: string; value?: string }[];
}

/** Reads external data: given a location relative to the model file, returns its bytes. */
export type ExternalDataReader = (location: string, offset: number, length: number | undefined) => Uint8Array;

export function decodeTensor(p: TensorProtoLike, external?: ExternalDataReader): Tensor {
  const name = p.name ?? '';
  const dtype = dtypeFromCode(p.data_type ?? 0);
  const dims = (p.dims ?? []).map(toNumber);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new TensorError(`tensor '${name}': bad dims [${dims.join(', ')}]`);
  const n = numel(dims);
  if (!Number.isSafeInteger(n) || n * BYTES[dtype] > 2 ** 32) throw new TensorError(`tensor '${name}': dims [${dims.join(', ')}] hold more values than a tensor can`);
  if (dtype === 'string') throw new TensorError(`tensor '${name}': string tensors are not supported`);
  if (p.data_location === 1) {
    const entries = new Map((p.external_data ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = entries.get('location');
    if (!location) throw new TensorError(`tensor '${name}': external data without a location`);
    if (!external) throw new TensorError(`tensor '${name}' is stored in external file '${location}', which cannot be read here (load the model from a file path)`);
    const offset = Number(entries.get('offset') ?? 0);
    const length = entries.has('length') ? Number(entries.get('length')) : undefined;
    if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
      throw new TensorError(`tensor '${name}': external data has a bad offset or length (offset '${entries.get('offset') ?? ''}', length '${entries.get('length') ?? ''}')`);
    }
    return { dtype, dims, data: fromBytes(dtype, external(location, offset, length), n, name) };
  }
  if (p.raw_data && p.raw_data.byteLength > 0) return { dtype, dims, data: fromBytes(dtype, p.raw_data, n, name) };
  let src: ArrayLike<unknown> = [];
  switch (dtype) {
    case 'float32': src = p.float_data ?? []; break;
    case 'float64': src = p.double_data ?? []; break;
    case 'int64': src = p.int64_data ?? []; break;
    case 'uint64': case 'uint32': src = p.uint64_data ?? []; break;
    default: src = p.int32_data ?? [];
  }
  if (src.length !== n) throw new TensorError(`tensor '${name}': holds ${src.length} values, expected ${n} for dims [${dims.join(', ')}]`);
  const out = allocate(dtype, n); // after the check: dims that claim billions of values allocate nothing
  if (out instanceof BigInt64Array) for (let i = 0; i < n; i++) out[i] = BigInt(toNumber(src[i]));
  else if (out instanceof BigUint64Array) for (let i = 0; i < n; i++) out[i] = BigInt(toNumber(src[i]));
  else for (let i = 0; i < n; i++) (out as Float32Array)[i] = toNumber(src[i]);
  return { dtype, dims, data: out };
}

export function encodeTensor(name: string, t: Tensor): TensorProtoLike {
  const d = t.data;
  return {
    name,
    dims: t.dims.slice(),
    data_type: DATA_TYPE[t.dtype],
    raw_data: new Uint8Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength)),
  };
}

/** Values of a numeric tensor as plain numbers. */
export function tensorValues(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

export function floatTensor(data: Float32Array | number[], dims: number[]): Tensor {
  return { dtype: 'float32', dims, data: data instanceof Float32Array ? data : Float32Array.from(data) };
}

export function int64Tensor(values: number[], dims: number[] = [values.length]): Tensor {
  return { dtype: 'int64', dims, data: BigInt64Array.from(values.map((v) => BigInt(v))) };
}

// ---- half precision: float16 (IEEE binary16) and bfloat16 (float32's top 16 bits) ----

let halfTable: Float32Array | undefined;

/** float16 bit patterns as float32 values (exact: every float16 is a float32). */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const f = h & 0x3ff;
      halfTable[h] = e === 0 ? sign * f * 2 ** -24 : e === 31 ? (f ? NaN : sign * Infinity) : sign * (1 + f / 1024) * 2 ** (e - 15);
    }
  }
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfTable[bits[i]!]!;
  return out;
}

/** bfloat16 bit patterns as float32 values (exact). */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i]! << 16;
  return new Float32Array(out.buffer);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 values as float16 bit patterns, rounded to nearest even (overflow to ±Infinity), as numpy's astype. */
export function float32ToFloat16(x: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    f32[0] = x[i]!;
    const u = u32[0]!;
    const sign = (u >>> 16) & 0x8000;
    const e = (u >>> 23) & 0xff;
    let m = u & 0x7fffff;
    if (e === 0xff) { out[i] = sign | 0x7c00 | (m ? 0x200 : 0); continue; }
    const ex = e - 127 + 15;
    if (ex >= 31) { out[i] = sign | 0x7c00; continue; }
    if (ex <= 0) {
      // subnormal half (or zero): the value in units of 2^-24, rounded to nearest even
      if (ex < -10) { out[i] = sign; continue; }
      m |= 0x800000;
      const shift = 14 - ex;
      const q = m >>> shift;
      const rest = m & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      out[i] = sign | (q + (rest > half || (rest === half && q & 1) ? 1 : 0));
      continue;
    }
    let q = (ex << 10) | (m >>> 13);
    const rest = m & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && q & 1)) q++; // may carry into the exponent (up to Infinity): right
    out[i] = sign | q;
  }
  return out;
}

/** float32 values as bfloat16 bit patterns, rounded to nearest even (NaN stays NaN). */
export function float32ToBfloat16(x: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    f32[0] = x[i]!;
    const u = u32[0]!;
    out[i] = Number.isNaN(f32[0]) ? 0x7fc0 : ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

/** A float16 / bfloat16 / float64 tensor's values as float32 (other types unchanged). */
export function toFloat32Tensor(t: Tensor): Tensor {
  if (t.dtype === 'float16') return { dtype: 'float32', dims: t.dims, data: float16ToFloat32(t.data as Uint16Array) };
  if (t.dtype === 'bfloat16') return { dtype: 'float32', dims: t.dims, data: bfloat16ToFloat32(t.data as Uint16Array) };
  if (t.dtype === 'float64') return { dtype: 'float32', dims: t.dims, data: Float32Array.from(t.data as Float64Array) };
  return t;
}
