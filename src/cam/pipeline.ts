/**
 * The post-processing shared by all CAM methods, with pytorch-grad-cam's numerics:
 * ReLU → per image (x − min) / (max + 1e-7) → bilinear resize with half-pixel centres (OpenCV
 * INTER_LINEAR) → ReLU, mean over layers → (x − min) / (max + 1e-7). Volumes ([N, d, h, w] raw maps) take
 * the same steps with a 3-D resize: trilinear (half-pixel centres) or pytorch-grad-cam's scipy.ndimage.zoom.
 */
import { resizeBilinear, resizeBilinearInto } from '../image/resize.js';
import { resizeVolume, type VolumeResize } from '../image/resize3d.js';

export const SCALE_EPS = 1e-7;

export function relu(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! > 0 ? x[i]! : 0;
  return out;
}

/** Per-image min-max scaling in place, as pytorch-grad-cam's scale_cam_image (float32 arithmetic). */
export function scaleEach(maps: Float32Array, n: number): Float32Array {
  scaleEachRange(maps, n);
  return maps;
}

/** scaleEach that also returns each image's range (max − min before scaling; 0 for a constant map). */
function scaleEachRange(maps: Float32Array, n: number): Float32Array {
  const size = maps.length / n;
  const ranges = new Float32Array(n);
  for (let b = 0; b < n; b++) {
    const m = maps.subarray(b * size, (b + 1) * size);
    let lo = Infinity;
    for (let i = 0; i < m.length; i++) if (m[i]! < lo) lo = m[i]!;
    let hi = -Infinity;
    for (let i = 0; i < m.length; i++) {
      const v = Math.fround(m[i]! - lo);
      m[i] = v;
      if (v > hi) hi = v;
    }
    const d = Math.fround(SCALE_EPS + hi);
    for (let i = 0; i < m.length; i++) m[i] = Math.fround(m[i]! / d);
    ranges[b] = hi;
  }
  return ranges;
}

export interface Postprocessed {
  /** [N, H, W] in [0, 1]. */
  maps: Float32Array;
  /** Images whose map was all zero (nothing in favour of the class at this layer). */
  empty: boolean[];
}

/**
 * Raw maps per layer ([N, h_l, w_l] each) → final maps [N, H, W]. One layer gives exactly
 * pytorch-grad-cam's result for one target layer; several are averaged as it does.
 */
export function postprocess(layers: { raw: Float32Array; h: number; w: number }[], n: number, outH: number, outW: number): Postprocessed {
  const size = outH * outW;
  const acc = new Float32Array(n * size);
  if (layers.length === 1) {
    // one layer (the common case): each map is resized straight into place, its range taken, then scaled
    // in one pass; the same float32 steps as below, three passes instead of five
    const l = layers[0]!;
    const cam = scaleEach(relu(l.raw), n);
    const empty: boolean[] = [];
    for (let b = 0; b < n; b++) {
      const [lo, top] = resizeBilinearInto(cam.subarray(b * l.h * l.w, (b + 1) * l.h * l.w), l.h, l.w, outH, outW, acc, b * size);
      // max of fround(v − lo) is fround(max − lo): the subtraction is monotone
      const hi = Math.fround(top - lo);
      const d = Math.fround(SCALE_EPS + hi);
      for (let i = b * size, end = i + size; i < end; i++) acc[i] = Math.fround(Math.fround(acc[i]! - lo) / d);
      empty.push(hi === 0);
    }
    return { maps: acc, empty };
  }
  for (const l of layers) {
    const cam = scaleEach(relu(l.raw), n);
    for (let b = 0; b < n; b++) {
      const up = resizeBilinear(cam.subarray(b * l.h * l.w, (b + 1) * l.h * l.w), l.h, l.w, outH, outW);
      for (let i = 0; i < size; i++) acc[b * size + i] += up[i]! > 0 ? up[i]! : 0;
    }
  }
  for (let i = 0; i < acc.length; i++) acc[i] = Math.fround(acc[i]! / layers.length);
  // maps are ≥ 0, so a zero range means an all-zero map
  const ranges = scaleEachRange(acc, n);
  return { maps: acc, empty: Array.from(ranges, (r) => r === 0) };
}

/**
 * Raw 3-D maps per layer ([N, d_l, h_l, w_l] each) → final maps [N, D, H, W], pytorch-grad-cam's steps for
 * 3-D layers: ReLU → per-volume min-max scaling → resize (`trilinear`, half-pixel centres, by default;
 * `spline`: scipy.ndimage.zoom's cubic spline, as pytorch-grad-cam) → ReLU, mean over layers → scaling.
 */
export function postprocessVolume(layers: { raw: Float32Array; grid: readonly [number, number, number] }[], n: number, out: readonly [number, number, number], resize: VolumeResize = 'trilinear'): Postprocessed {
  const size = out[0] * out[1] * out[2];
  const acc = new Float32Array(n * size);
  for (const l of layers) {
    const cells = l.grid[0] * l.grid[1] * l.grid[2];
    const cam = scaleEach(relu(l.raw), n);
    for (let b = 0; b < n; b++) {
      const up = resizeVolume(cam.subarray(b * cells, (b + 1) * cells), l.grid, out, resize);
      // the spline over- and undershoots: pytorch-grad-cam's np.maximum(cam, 0) before the mean
      for (let i = 0; i < size; i++) acc[b * size + i] += up[i]! > 0 ? up[i]! : 0;
    }
  }
  if (layers.length > 1) for (let i = 0; i < acc.length; i++) acc[i] = Math.fround(acc[i]! / layers.length);
  const ranges = scaleEachRange(acc, n);
  return { maps: acc, empty: Array.from(ranges, (r) => r === 0) };
}
