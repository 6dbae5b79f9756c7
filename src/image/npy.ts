/**
 * NumPy .npy reader/writer (format versions 1.0, 2.0 and 3.0), browser-safe.
 * Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */

/** dtypes this module reads, as numpy spells them in the header. */
export const NPY_DTYPES = ['<f4', '<f8', '<i4', '<i8', '|u1', '|b1'] as const;
export type NpyDtype = (typeof NPY_DTYPES)[number];
export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface NpyArray {
  /** Elements in C (row-major) order. `|b1` arrays come back as a Uint8Array of 0/1. */
  data: NpyData;
  shape: number[];
  dtype: NpyDtype;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const ITEMSIZE: Record<NpyDtype, number> = { '<f4': 4, '<f8': 8, '<i4': 4, '<i8': 8, '|u1': 1, '|b1': 1 };

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Aliases numpy may write for the same 1-byte types. */
function canonicalDtype(descr: string): NpyDtype | undefined {
  const d = descr === '<u1' || descr === '>u1' || descr === '=u1' ? '|u1'
    : descr === '<b1' || descr === '>b1' || descr === '=b1' ? '|b1'
      : descr;
  return (NPY_DTYPES as readonly string[]).includes(d) ? (d as NpyDtype) : undefined;
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

function decodeLatin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/** Parses the bytes of a .npy file. Throws a descriptive Error on anything it cannot represent. */
export function parseNpy(bytes: Uint8Array): NpyArray {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('parseNpy: expected a Uint8Array');
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new Error('parseNpy: not a .npy file (missing \\x93NUMPY magic)');
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new Error('parseNpy: truncated header');
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new Error(`parseNpy: unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) throw new Error('parseNpy: truncated header');
  const headerBytes = bytes.subarray(headerStart, dataStart);
  const header = major === 3 ? new TextDecoder('utf-8').decode(headerBytes) : decodeLatin1(headerBytes);

  const descrM = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header);
  if (!descrM) {
    throw new Error(`parseNpy: unsupported dtype (structured or missing 'descr') in header ${header.trim()}`);
  }
  const descr = descrM[1]!;
  const dtype = canonicalDtype(descr);
  if (!dtype) {
    throw new Error(`parseNpy: unsupported dtype '${descr}' (supported: ${NPY_DTYPES.join(', ')})`);
  }
  const fortranM = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  if (!fortranM) throw new Error(`parseNpy: missing 'fortran_order' in header ${header.trim()}`);
  if (fortranM[1] === 'True') {
    throw new Error('parseNpy: Fortran-ordered arrays are not supported; save a C-ordered array (np.ascontiguousarray) instead');
  }
  const shapeM = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!shapeM) throw new Error(`parseNpy: missing 'shape' in header ${header.trim()}`);
  const shape = shapeM[1]!
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0) throw new Error(`parseNpy: bad shape entry '${s}'`);
      return n;
    });

  const count = product(shape);
  const itemsize = ITEMSIZE[dtype];
  const nbytes = count * itemsize;
  if (bytes.length - dataStart < nbytes) {
    throw new Error(
      `parseNpy: truncated data: shape (${shape.join(', ')}) ${dtype} needs ${nbytes} bytes, file has ${bytes.length - dataStart}`,
    );
  }
  // Copy into a fresh, aligned buffer (the payload offset need not be a multiple of the item size).
  const raw = bytes.slice(dataStart, dataStart + nbytes);
  let data: NpyData;
  if (HOST_LE || itemsize === 1) {
    switch (dtype) {
      case '<f4': data = new Float32Array(raw.buffer, 0, count); break;
      case '<f8': data = new Float64Array(raw.buffer, 0, count); break;
      case '<i4': data = new Int32Array(raw.buffer, 0, count); break;
      case '<i8': data = new BigInt64Array(raw.buffer, 0, count); break;
      case '|u1': data = raw; break;
      case '|b1': data = raw.map((v) => (v ? 1 : 0)); break;
    }
  } else {
    const dv = new DataView(raw.buffer);
    switch (dtype) {
      case '<f4': data = Float32Array.from({ length: count }, (_, i) => dv.getFloat32(i * 4, true)); break;
      case '<f8': data = Float64Array.from({ length: count }, (_, i) => dv.getFloat64(i * 8, true)); break;
      case '<i4': data = Int32Array.from({ length: count }, (_, i) => dv.getInt32(i * 4, true)); break;
      case '<i8': data = BigInt64Array.from({ length: count }, (_, i) => dv.getBigInt64(i * 8, true)); break;
      default: throw new Error('unreachable');
    }
  }
  return { data, shape, dtype };
}

/** The array's values as float32 (a copy unless it already is a `<f4` array). */
export function toFloat32(npy: NpyArray): Float32Array {
  const d = npy.data;
  if (d instanceof Float32Array) return d;
  if (d instanceof BigInt64Array) {
    const out = new Float32Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]!);
    return out;
  }
  return Float32Array.from(d);
}

export type NpyWritable = Float32Array | Float64Array | Int32Array | Uint8Array;

function dtypeOf(data: NpyWritable): NpyDtype {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof Uint8Array) return '|u1';
  throw new TypeError('writeNpy: data must be a Float32Array, Float64Array, Int32Array or Uint8Array');
}

/**
 * Serialises a C-ordered array as a version 1.0 .npy file. A Float32Array becomes '<f4' (the usual case);
 * Float64Array, Int32Array and Uint8Array become '<f8', '<i4' and '|u1'. The header is padded with
 * spaces and ends in '\n' so that the data starts at a multiple of 64 bytes, as numpy does.
 */
export function writeNpy(data: NpyWritable, shape: readonly number[]): Uint8Array {
  const dtype = dtypeOf(data);
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw new RangeError(`writeNpy: bad shape [${shape.join(', ')}]`);
  }
  if (product(shape) !== data.length) {
    throw new RangeError(`writeNpy: shape [${shape.join(', ')}] holds ${product(shape)} elements, data has ${data.length}`);
  }
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const unpadded = 10 + header.length + 1; // magic(6) + version(2) + len(2) + header + '\n'
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  if (header.length > 0xffff) throw new RangeError('writeNpy: header too long for format 1.0');
  const itemsize = ITEMSIZE[dtype];
  const out = new Uint8Array(10 + header.length + data.length * itemsize);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const start = 10 + header.length;
  if (HOST_LE || itemsize === 1) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), start);
  } else {
    const dv = new DataView(out.buffer, start);
    for (let i = 0; i < data.length; i++) {
      if (data instanceof Float32Array) dv.setFloat32(i * 4, data[i]!, true);
      else if (data instanceof Float64Array) dv.setFloat64(i * 8, data[i]!, true);
      else dv.setInt32(i * 4, data[i]!, true);
    }
  }
  return out;
}
