/**
 * Grad-CAM's maps computed inside the gradient graph (the compiler's LayerPost hook), so that a small
 * model does not pay JavaScript per pixel: the channel weights (spatial mean of the gradient), the raw
 * map Σ_c w_c·A_c, its ReLU and min-max scaling, the bilinear upsample to the input size (half-pixel
 * centres, as cv2.resize) and the final min-max scaling, plus max_cell Σ_c |A_c·G_c| (the cancellation
 * check's scale). Only where the layer allows: nchw or nhwc, 2-D, batch axis 0, its grid not larger than
 * the input and at most 32×32 or dividing it; elsewhere the JavaScript path (pipeline.ts) runs.
 */
import type { Builder } from '../../autodiff/builder.js';
import type { LayerPost } from '../../autodiff/compiler.js';
import { GradError } from '../../autodiff/rule.js';
import { reduceOver } from '../../autodiff/rules/util.js';
import { bilinearMatrices } from '../../image/resize.js';
import type { LayerLayout } from '../../layout/describe.js';
import type { RunResult } from '../../types.js';

interface MapsParams { channelAxis: number; gridAxes: [number, number]; size: [number, number] }

/** Grad-CAM's in-graph outputs: raw maps [N, h, w], final maps [N, H, W], each final map's range before scaling (0: all zero) and max_cell Σ_c |A_c·G_c|. */
export interface GraphMaps { raw: Float32Array; h: number; w: number; map: Float32Array; range: Float32Array; scale: Float32Array }

/** RunOptions.post for Grad-CAM: the hook where the layer (its layout) and the input grid allow, else undefined. */
export function gradcamGraphMaps(l0: LayerLayout, grid: readonly number[]): LayerPost | undefined {
  if (!((l0.kind === 'nchw' || l0.kind === 'nhwc') && l0.rank === 4 && l0.batchAxis === 0 && grid.length === 2)) return undefined;
  const [ha, wa] = l0.gridAxes as [number, number];
  // a grid larger than the input (cv2.resize downscales with other rules), or one above 32 cells that
  // does not divide it (the in-graph Resize takes whole factors), keeps the JavaScript path
  const [h, w] = l0.grid as [number, number];
  const fits = h <= grid[0]! && w <= grid[1]! && ((h <= 32 && w <= 32) || (grid[0]! % h === 0 && grid[1]! % w === 0));
  if (!(ha < wa && fits)) return undefined;
  const m: MapsParams = { channelAxis: l0.channelAxis, gridAxes: [ha, wa], size: [grid[0]!, grid[1]!] };
  return { key: `gradcam-maps ${JSON.stringify(m)}`, build: (b, opset, a, g, dims) => gradcamMaps(b, opset, a, g, dims, m) };
}

/** A run's Grad-CAM maps, where the hook ran (RunResult.post). */
export function graphMaps(r: Pick<RunResult, 'post'>): GraphMaps | undefined {
  const p = r.post;
  if (!p) return undefined;
  return { raw: p['raw']!.data, h: p['raw']!.dims[1]!, w: p['raw']!.dims[2]!, map: p['map']!.data, range: p['range']!.data, scale: p['scale']!.data };
}

/**
 * The nodes computing Grad-CAM's maps from a layer's activation and gradient, with
 * pytorch-grad-cam's steps (the same float32 operations as src/cam/pipeline.ts, but for the order of the
 * channel sums and the resize's rounding: within a few float32 ulps of it).
 */
function gradcamMaps(b: Builder, opset: number, a: string, g: string, dims: number[], m: MapsParams): Record<'raw' | 'map' | 'range' | 'scale', string> {
  const reduce = (op: 'ReduceMax' | 'ReduceMin', x: string, axes: number[], keepdims: number) => reduceOver({ b, opset }, op, x, axes, keepdims);
  const named = (op: string, inputs: string[], name: string) => {
    b.nodes.push({ name: `${name}/node`, op_type: op, domain: '', input: inputs, output: [name], attribute: [] });
    return name;
  };
  const [ha, wa] = m.gridAxes;
  const [h, w, c] = [dims[ha]!, dims[wa]!, dims[m.channelAxis]!];
  const cells = h * w;
  // raw map [N, h, w] = Σ_c mean_cells(G_c) · A_c, as MatMuls over [N, C, h·w] (or [N, h·w, C]): unlike a
  // ReduceSum over the channel axis, each image's sums are then the same whatever the batch holds
  const first = m.channelAxis < ha;
  const flat = (x: string) => b.op('Reshape', [x, b.ints(first ? [0, c, cells] : [0, cells, c])]);
  const ones = b.floats(new Float32Array(cells).fill(1), first ? [cells, 1] : [1, cells], 'ones');
  const sums = first ? b.op('MatMul', [flat(g), ones]) : b.op('MatMul', [ones, flat(g)]); // [N, C, 1] | [N, 1, C]
  const weights = b.op('Div', [b.op('Transpose', [sums], { perm: [0, 2, 1] }), b.scalar(cells)]); // [N, 1, C] | [N, C, 1]
  const product = first ? b.op('MatMul', [weights, flat(a)]) : b.op('MatMul', [flat(a), weights]);
  const raw = named('Reshape', [product, b.ints([0, h, w])], 'gradcam/maps/raw');
  // max_cell Σ_c |A_c·G_c|: the channel sum as a MatMul too (a ReduceSum over a middle axis is slow)
  const onesC = b.floats(new Float32Array(c).fill(1), first ? [1, c] : [c, 1], 'ones');
  const terms = flat(b.op('Abs', [b.mul(a, g)]));
  const cellSums = first ? b.op('MatMul', [onesC, terms]) : b.op('MatMul', [terms, onesC]); // [N, 1, cells] | [N, cells, 1]
  const scale = named('Identity', [reduce('ReduceMax', cellSums, [1, 2], 0)], 'gradcam/maps/scale');
  // ReLU, per-image (x − min) / (max + 1e-7)
  const minmax = (x: string, axes: number[], names?: { scaled: string; range: string }) => {
    const shifted = b.op('Sub', [x, reduce('ReduceMin', x, axes, 1)]);
    const max = reduce('ReduceMax', shifted, axes, 1);
    const hi = names ? named('Identity', [max], names.range) : max;
    const denominator = b.op('Add', [max, b.scalar(1e-7)]);
    return { scaled: names ? named('Div', [shifted, denominator], names.scaled) : b.op('Div', [shifted, denominator]), hi };
  };
  const cam = minmax(b.op('Relu', [raw]), [1, 2]).scaled;
  const [H, W] = m.size;
  let up: string;
  const small = h <= 32 && w <= 32;
  if (small) {
    // cv2.resize's bilinear coefficients as two MatMuls (rows · map · colsᵀ): [N, H, W]; cheaper than ORT's
    // Resize for the small grids of late layers (at most 32 multiply-adds per output pixel here)
    const { rows, cols } = bilinearMatrices(h, w, H, W);
    const colsT = new Float32Array(w * W);
    for (let x = 0; x < W; x++) for (let k = 0; k < w; k++) colsT[k * W + x] = cols[x * w + k]!;
    up = b.op('MatMul', [b.floats(rows, [H, h], 'resize_rows'), b.op('MatMul', [cam, b.floats(colsT, [w, W], 'resize_cols')])]);
  } else {
    // larger grids: ORT's Resize, half-pixel centres (cv2.resize's INTER_LINEAR for upsampling), [N, 1, H, W];
    // the caller asks for it only with whole-number factors (a scale such as 299/10 would floor to 298)
    if (H % h !== 0 || W % w !== 0) throw new GradError(`internal: in-graph maps resize ${h}×${w} to ${H}×${W} by a whole factor only`);
    up = b.op('Resize', [b.op('Unsqueeze', [cam, b.ints([1])]), '', b.floats([1, 1, H / h, W / w], [4], 'scales')], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
  }
  const final = minmax(up, small ? [1, 2] : [2, 3], { scaled: 'gradcam/maps/map', range: 'gradcam/maps/range' });
  return { raw, map: final.scaled, range: final.hi, scale };
}
