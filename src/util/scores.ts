/** Small shared pieces of the explain pipeline: the user-input error type, arg-max and softmax of score rows. */

/** A problem with what the user gave (inputs, layers, classes): a one-line message, exit status 1 in the CLI. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

export function argmax(row: ArrayLike<number>): number {
  let top = 0;
  for (let k = 1; k < row.length; k++) if (row[k]! > row[top]!) top = k;
  return top;
}

export function softmax(row: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]!);
  const out = new Float64Array(row.length);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += out[i] = Math.exp(row[i]! - m);
  for (let i = 0; i < row.length; i++) out[i]! /= s;
  return out;
}
