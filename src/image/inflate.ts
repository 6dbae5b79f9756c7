/**
 * Bounded inflation (browser-safe, fflate): gzip and deflate streams are inflated piece by piece, and
 * stop as soon as their output passes a limit, so that a small hostile file (deflate reaches ~1000:1)
 * never allocates more than its reader's budget.
 */
import { Gunzip, Inflate, Unzlib } from 'fflate';

/** Input is pushed this many bytes at a time: at most ~16 MB of output per piece. */
const PIECE = 16 * 1024;

/** Thrown when a stream inflates to more than the limit given. */
export class InflateLimitError extends RangeError {
  constructor(readonly limit: number) {
    super(`inflates to more than ${limit} bytes`);
    this.name = 'InflateLimitError';
  }
}

/**
 * Inflates `bytes` (gzip, zlib or raw deflate) and hands each piece of output to `sink` as it comes; an
 * exception thrown by `sink` stops the inflation at once (and is rethrown). Returns the number of bytes
 * inflated. A stream that ends early throws fflate's error ('unexpected EOF').
 */
export function inflateStream(bytes: Uint8Array, format: 'gzip' | 'zlib' | 'deflate', sink: (piece: Uint8Array) => void): number {
  let total = 0;
  const ondata = (piece: Uint8Array) => {
    total += piece.length;
    if (piece.length) sink(piece);
  };
  const s = format === 'gzip' ? new Gunzip(ondata) : format === 'zlib' ? new Unzlib(ondata) : new Inflate(ondata);
  for (let i = 0; i < bytes.length; i += PIECE) s.push(bytes.subarray(i, Math.min(i + PIECE, bytes.length)), i + PIECE >= bytes.length);
  if (!bytes.length) s.push(bytes, true);
  return total;
}

/** Inflates `bytes` whole, refusing (InflateLimitError) as soon as the output passes `limit` bytes. */
export function inflateBounded(bytes: Uint8Array, format: 'gzip' | 'zlib' | 'deflate', limit: number): Uint8Array {
  const pieces: Uint8Array[] = [];
  let n = 0;
  inflateStream(bytes, format, (p) => {
    n += p.length;
    if (n > limit) throw new InflateLimitError(limit);
    pieces.push(p);
  });
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(n);
  let o = 0;
  for (let k = 0; k < pieces.length; k++) {
    out.set(pieces[k]!, o);
    o += pieces[k]!.length;
  }
  return out;
}
