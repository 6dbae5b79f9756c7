/**
 * Resize (nearest or linear over the last two axes, or the last three of a 5-D tensor: trilinear): the
 * forward op is y = A_h · x · A_wᵀ (and A_d along the depth) with interpolation matrices built here from
 * the static shapes, the coordinate transformation and the nearest mode; the gradient is
 * dx = A_hᵀ · dy · A_w (two MatMuls), the depth axis through a third MatMul on a [.., d, h·w] view.
 */
import { attrFloat, attrInt, attrString } from '../../onnx/model.js';
import { floatTensor, tensorValues } from '../../onnx/tensor.js';
import { dy0, GradError, nodeLabel, type GradRule, type OpGradient, firstInputOnly } from '../rule.js';

function sourceCoord(mode: string, xOut: number, scale: number, inSize: number, outSize: number): number {
  switch (mode) {
    case 'half_pixel': return (xOut + 0.5) / scale - 0.5;
    case 'pytorch_half_pixel': return outSize > 1 ? (xOut + 0.5) / scale - 0.5 : 0;
    case 'align_corners': return outSize === 1 ? 0 : (xOut * (inSize - 1)) / (outSize - 1);
    case 'asymmetric': return xOut / scale;
    case 'half_pixel_symmetric': {
      const adj = outSize / (scale * inSize);
      const centre = inSize / 2;
      const offset = centre * (1 - adj);
      return offset + (xOut + 0.5) / scale - 0.5;
    }
    default: throw new Error(`coordinate_transformation_mode '${mode}' is not supported`);
  }
}

function nearestIndex(mode: string, x: number): number {
  switch (mode) {
    case 'round_prefer_floor': return x === Math.floor(x) + 0.5 ? Math.floor(x) : Math.round(x);
    case 'round_prefer_ceil': return Math.round(x);
    case 'floor': return Math.floor(x);
    case 'ceil': return Math.ceil(x);
    default: throw new Error(`nearest_mode '${mode}' is not supported`);
  }
}

/** Interpolation matrix M[out, in] with y = M · x along one axis. */
export function interpolationMatrix(inSize: number, outSize: number, scale: number, mode: 'nearest' | 'linear', coord: string, nearestMode: string): Float32Array {
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const x = sourceCoord(coord, o, scale, inSize, outSize);
    if (mode === 'nearest') {
      const i = Math.min(Math.max(nearestIndex(nearestMode, x), 0), inSize - 1);
      m[o * inSize + i] = 1;
    } else {
      const xc = Math.min(Math.max(x, 0), inSize - 1);
      const i0 = Math.floor(xc);
      const i1 = Math.min(i0 + 1, inSize - 1);
      const w1 = xc - i0;
      m[o * inSize + i0] += 1 - w1;
      m[o * inSize + i1] += w1;
    }
  }
  return m;
}

function transposed(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const label = nodeLabel(node);
  const xs = ctx.shape(node.input[0]!);
  const ys = ctx.shape(node.output[0]!);
  const rank = xs.length;
  const modeAttr = attrString(node, 'mode', 'nearest');
  if (modeAttr !== 'nearest' && modeAttr !== 'linear' && modeAttr !== 'bilinear') {
    throw new GradError(`${label}: Resize mode '${modeAttr}' is not supported (nearest, linear)`);
  }
  if (attrInt(node, 'antialias', 0) !== 0) throw new GradError(`${label}: antialiased Resize is not supported`);
  if (attrInt(node, 'exclude_outside', 0) !== 0 || attrFloat(node, 'extrapolation_value', 0) !== 0 && attrString(node, 'coordinate_transformation_mode', '') === 'tf_crop_and_resize') {
    throw new GradError(`${label}: this Resize configuration is not supported`);
  }
  const spatial = rank >= 5 ? 3 : 2;
  for (let i = 0; i < rank - spatial; i++) if (xs[i] !== ys[i]) throw new GradError(`${label}: only the last ${spatial === 3 ? 'three' : 'two'} axes may be resized`);
  const scales = node.input[2] ? ctx.constant(node.input[2]) : undefined;
  const sv = scales && scales.data.length ? tensorValues(scales) : undefined;
  const coord = attrString(node, 'coordinate_transformation_mode', 'half_pixel');
  const nearestMode = attrString(node, 'nearest_mode', 'round_prefer_floor');
  const mode = modeAttr === 'nearest' ? 'nearest' : 'linear';
  const axes = spatial === 3 ? [rank - 3, rank - 2, rank - 1] : [rank - 2, rank - 1];
  const mats = axes.map((ax) => {
    const scale = sv ? sv[ax]! : ys[ax]! / xs[ax]!;
    try {
      return interpolationMatrix(xs[ax]!, ys[ax]!, scale, mode, coord, nearestMode);
    } catch (e) {
      throw new GradError(`${label}: ${(e as Error).message}`);
    }
  });
  const [hIn, wIn, hOut, wOut] = [xs[rank - 2]!, xs[rank - 1]!, ys[rank - 2]!, ys[rank - 1]!];
  const [mH, mW] = mats.slice(-2) as [Float32Array, Float32Array];
  const aW = b.constant(floatTensor(mW, [wOut, wIn]), 'resize_aw');
  const aHt = b.constant(floatTensor(transposed(mH, hOut, hIn), [hIn, hOut]), 'resize_aht');
  const t = b.op('MatMul', [dy0(ctx), aW]);
  let dx = b.op('MatMul', [aHt, t]);
  if (spatial === 3) {
    const [dIn, dOut] = [xs[rank - 3]!, ys[rank - 3]!];
    if (dIn !== dOut || mats[0]!.some((v, k) => v !== (Math.floor(k / dIn) === k % dIn ? 1 : 0))) {
      const aDt = b.constant(floatTensor(transposed(mats[0]!, dOut, dIn), [dIn, dOut]), 'resize_adt');
      const lead = xs.slice(0, rank - 3).map(() => 0); // Reshape's 0 keeps the axis (the batch is not fixed)
      const view = b.op('Reshape', [dx, b.ints([...lead, dOut, hIn * wIn])]);
      dx = b.op('Reshape', [b.op('MatMul', [aDt, view]), b.ints([...lead, dIn, hIn, wIn])]);
    }
  }
  return [dx, ...node.input.slice(1).map(() => null)];
};

export const resize: OpGradient = { op: 'Resize', rule, differentiable: firstInputOnly, note: 'nearest, linear, on the last two axes (three of a 5-D tensor); Upsample is upgraded to it' };
