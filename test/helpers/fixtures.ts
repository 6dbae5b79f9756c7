/** Loads the golden fixtures made by scripts/fixtures/make_fixtures.py. */
import fs from 'node:fs';
import path from 'node:path';
import { parseNpy, toFloat32 } from '../../src/image/npy.js';

export const FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures');

export interface FixtureMeta {
  name: string;
  opset: number;
  layout: 'NCHW' | 'NHWC';
  input_name: string;
  input_shape: number[];
  output_name: string;
  ends_in_softmax: boolean;
  num_classes: number;
  classes: number[];
  layers: { key: string; tensor: string; auto?: boolean }[];
}

export function fixtureNames(): string[] {
  return fs.readdirSync(FIXTURES).filter((d) => fs.existsSync(path.join(FIXTURES, d, 'meta.json'))).sort();
}

export function loadMeta(name: string): FixtureMeta {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'meta.json'), 'utf8')) as FixtureMeta;
}

export function loadArray(name: string, file: string): { data: Float32Array; shape: number[] } {
  const npy = parseNpy(new Uint8Array(fs.readFileSync(path.join(FIXTURES, name, file))));
  return { data: toFloat32(npy), shape: npy.shape };
}

export function modelBytes(name: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(path.join(FIXTURES, name, 'model.onnx')));
}

/** max |a − b| / max |b|. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / (m || 1);
}

/** ‖a − b‖₂ / ‖b‖₂. */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    m += b[i]! ** 2;
  }
  return Math.sqrt(d) / (Math.sqrt(m) || 1);
}

export function maxAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < b.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}
