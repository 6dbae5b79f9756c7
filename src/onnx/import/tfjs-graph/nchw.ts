/**
 * TF ops with weights or a spatial window, as ONNX: the convolutions (plain, depthwise, fused with bias,
 * batch norm and an activation; dilated ones from SpaceToBatchND), MatMul, BiasAdd, FusedBatchNorm, the
 * pools and the resizes. Convolutions, pools and resizes run in NCHW between Transposes. Browser-safe.
 */
import type { AttrValue } from '../../model.js';
import { attrB, attrF, attrInts, attrS, attrStrs, floatT, values } from './graph.js';
import type { NodeCtx } from './context.js';

/** TF Conv2D, DepthwiseConv2dNative, _FusedConv2D, FusedConv2D, FusedDepthwiseConv2dNative. */
function conv(ctx: NodeCtx): void {
  const { g, n, fail, data, inVal, x, cst, set, out, toNCHW, toNHWC, channelsLast, activation, bnConsts } = ctx;
  const depthwise = n.op.includes('Depthwise');
  const xin = inVal(0);
  const f = cst(1);
  if (f.dims.length !== 4) fail(`its filter must be 4-D, got [${f.dims.join(', ')}]`);
  const [kh, kw, cin, cout] = f.dims as [number, number, number, number];
  const fv = f.data as Float32Array;
  let w: Float32Array;
  let wdims: number[];
  if (depthwise) {
    // [kh, kw, cin, mult] → [cin·mult, 1, kh, kw]
    w = new Float32Array(fv.length);
    for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) for (let c = 0; c < cin; c++) for (let m = 0; m < cout; m++) {
      w[((c * cout + m) * kh + a) * kw + b] = fv[((a * kw + b) * cin + c) * cout + m]!;
    }
    wdims = [cin * cout, 1, kh, kw];
  } else {
    w = new Float32Array(fv.length);
    for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) for (let c = 0; c < cin; c++) for (let o = 0; o < cout; o++) {
      w[((o * cin + c) * kh + a) * kw + b] = fv[((a * kw + b) * cin + c) * cout + o]!;
    }
    wdims = [cout, cin, kh, kw];
  }
  const strides = attrInts(n, 'strides') ?? [1, 1, 1, 1];
  const dil = attrInts(n, 'dilations') ?? [1, 1, 1, 1];
  const [sh, sw] = channelsLast ? [strides[1]!, strides[2]!] : [strides[2]!, strides[3]!];
  let [dh, dw] = channelsLast ? [dil[1]!, dil[2]!] : [dil[2]!, dil[3]!];
  const padding = attrS(n, 'padding', 'VALID');
  const attrs: Record<string, AttrValue> = { kernel_shape: [kh, kw], strides: [sh, sw] };
  let input = xin.name;
  let dilated = false;
  if (xin.s2b) {
    if (padding !== 'VALID') fail('a convolution after SpaceToBatchND must have VALID padding');
    if (sh !== 1 || sw !== 1 || dh !== 1 || dw !== 1) fail('a convolution after SpaceToBatchND must have strides and dilations 1');
    input = xin.s2b.input;
    [dh, dw] = xin.s2b.block as [number, number];
    const p = xin.s2b.paddings;
    attrs.pads = [p[0]![0]!, p[1]![0]!, p[0]![1]!, p[1]![1]!];
    dilated = true;
  } else if (xin.dilated) {
    fail('a convolution reads a tensor between SpaceToBatchND and BatchToSpaceND');
  } else if (padding === 'SAME') attrs.auto_pad = 'SAME_UPPER';
  else if (padding === 'EXPLICIT') {
    const e = attrInts(n, 'explicit_paddings') ?? [];
    const pr = channelsLast ? [e[2]!, e[3]!, e[4]!, e[5]!] : [e[4]!, e[5]!, e[6]!, e[7]!];
    attrs.pads = [pr[0]!, pr[2]!, pr[1]!, pr[3]!];
  } else if (padding !== 'VALID') fail(`padding ${padding} is not supported (SAME, VALID, EXPLICIT)`);
  attrs.dilations = [dh, dw];
  if (depthwise) attrs.group = cin;
  const fused = /^_?Fused/.test(n.op) ? attrStrs(n, 'fused_ops') : [];
  const inputs = [channelsLast ? toNCHW(input) : input, g.init(floatT(w, wdims), g.fresh(`${out}/filter`))];
  let k = 0;
  let bnAfter: { mul: Float32Array; add: Float32Array } | undefined;
  if (fused[0] === 'BiasAdd') { inputs.push(x(2)); k = 1; } else if (fused[0] === 'FusedBatchNorm') { bnAfter = bnConsts(2, attrF(n, 'epsilon', 1e-3)); k = 1; }
  const acts = fused.slice(k);
  if (acts.length > 1) fail(`fused ops [${fused.join(', ')}] are not supported`);
  // the bias inside the Conv; batch norm and activation after the transpose back (alphas broadcast as TF's)
  const after = !!(acts.length || bnAfter);
  let t = g.emit('Conv', inputs, attrs, after || channelsLast ? undefined : out);
  if (channelsLast) t = toNHWC(t, after ? undefined : out);
  if (bnAfter) {
    const c = bnAfter.mul.length;
    const shape = channelsLast ? [c] : [c, 1, 1];
    t = g.emit('Add', [g.emit('Mul', [t, g.init(floatT(bnAfter.mul, shape), g.fresh('bn_mul'))]), g.init(floatT(bnAfter.add, shape), g.fresh('bn_add'))], {}, acts.length ? undefined : out);
  }
  if (acts.length) t = activation(acts[0]!, t, out, data[3] ?? data[2 + (bnAfter ? 4 : 1)]);
  set(t, { dilated });
}

/** TF _FusedMatMul, MatMul. */
function matMul(ctx: NodeCtx): void {
  const { g, n, fail, data, x, set, out, activation } = ctx;
  let a = x(0);
  if (attrB(n, 'transpose_a', false)) a = g.emit('Transpose', [a], { perm: [1, 0] });
  let b: string;
  const bc = g.constant(data[1]!);
  if (bc && attrB(n, 'transpose_b', false)) {
    const [r, c] = bc.dims as [number, number];
    const src = bc.data as Float32Array;
    const tr = new Float32Array(src.length);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) tr[j * r + i] = src[i * c + j]!;
    b = g.init(floatT(tr, [c, r]), g.fresh(`${out}/weights`));
  } else {
    b = x(1);
    if (attrB(n, 'transpose_b', false)) b = g.emit('Transpose', [b], { perm: [1, 0] });
  }
  const fused = n.op === '_FusedMatMul' ? attrStrs(n, 'fused_ops') : [];
  let k = 0;
  const acts = fused[0] === 'BiasAdd' ? (k = 1, fused.slice(1)) : fused;
  if (acts.length > 1) fail(`fused ops [${fused.join(', ')}] are not supported`);
  let t = g.emit('MatMul', [a, b], {}, k || acts.length ? undefined : out);
  if (k) t = g.emit('Add', [t, x(2)], {}, acts.length ? undefined : out);
  if (acts.length) t = activation(acts[0]!, t, out, data[2 + k]);
  set(t);
}

/** TF BiasAdd. */
function biasAdd(ctx: NodeCtx): void {
  const { g, inVal, x, cst, set, out, channelsLast } = ctx;
  const v = inVal(0);
  let bias = x(1);
  if (!channelsLast) {
    const c = cst(1);
    bias = g.init(floatT(Float32Array.from(values(c)), [c.dims[0]!, 1, 1]), g.fresh(`${out}/bias`));
  }
  set(g.emit('Add', [v.name, bias], {}, out), { dilated: v.dilated });
}

/** TF MaxPool, AvgPool. */
function pool(ctx: NodeCtx): void {
  const { g, n, fail, x, set, out, toNCHW, toNHWC, channelsLast } = ctx;
  const k = attrInts(n, 'ksize') ?? [];
  const s = attrInts(n, 'strides') ?? [1, 1, 1, 1];
  const [kh, kw, sh, sw] = channelsLast ? [k[1]!, k[2]!, s[1]!, s[2]!] : [k[2]!, k[3]!, s[2]!, s[3]!];
  const padding = attrS(n, 'padding', 'VALID');
  if (padding !== 'SAME' && padding !== 'VALID') fail(`padding ${padding} is not supported (SAME, VALID)`);
  const attrs: Record<string, AttrValue> = { kernel_shape: [kh, kw], strides: [sh, sw], auto_pad: padding === 'SAME' ? 'SAME_UPPER' : 'VALID' };
  const t = g.emit(n.op === 'MaxPool' ? 'MaxPool' : 'AveragePool', [channelsLast ? toNCHW(x(0)) : x(0)], attrs, channelsLast ? undefined : out);
  set(channelsLast ? toNHWC(t, out) : t);
}

/** TF ResizeBilinear, ResizeNearestNeighbor. */
function resize(ctx: NodeCtx): void {
  const { g, n, fail, x, nums, set, out, toNCHW, toNHWC } = ctx;
  const size = nums(1);
  if (size.length !== 2) fail('its size must hold [height, width]');
  const align = attrB(n, 'align_corners', false);
  const half = attrB(n, 'half_pixel_centers', false);
  if (align && half) fail('align_corners and half_pixel_centers cannot both be set');
  const mode = align ? 'align_corners' : half ? 'half_pixel' : 'asymmetric';
  const nearest = n.op === 'ResizeNearestNeighbor';
  const attrs: Record<string, AttrValue> = { mode: nearest ? 'nearest' : 'linear', coordinate_transformation_mode: mode };
  // TF nearest: floor(x·scale) (asymmetric), floor((x + 0.5)·scale) (half pixel: round_prefer_ceil of the half-pixel coordinate), round (align corners)
  if (nearest) attrs.nearest_mode = align || half ? 'round_prefer_ceil' : 'floor';
  const xt = toNCHW(x(0));
  const nc = g.emit('Slice', [g.emit('Shape', [xt]), g.ints([0], 'starts'), g.ints([2], 'ends'), g.ints([0], 'axes')]);
  const sizes = g.emit('Concat', [nc, g.ints(size, 'size')], { axis: 0 });
  set(toNHWC(g.emit('Resize', [xt, '', '', sizes], attrs), out));
}

/** TF FusedBatchNorm, FusedBatchNormV3. */
function fusedBatchNorm(ctx: NodeCtx): void {
  const { g, n, fail, inVal, set, out, channelsLast, bnConsts } = ctx;
  if (attrB(n, 'is_training', false)) fail('is_training is set: a model for inference has it false');
  const v = inVal(0);
  const { mul, add } = bnConsts(1, attrF(n, 'epsilon', 1e-3));
  const c = mul.length;
  const shape = channelsLast ? [c] : [c, 1, 1];
  const t = g.emit('Mul', [v.name, g.init(floatT(mul, shape), g.fresh(`${out}/scale`))]);
  set(g.emit('Add', [t, g.init(floatT(add, shape), g.fresh(`${out}/shift`))], {}, out), { dilated: v.dilated });
}

export const NCHW_OPS: Record<string, (c: NodeCtx) => void> = {
  Conv2D: conv, DepthwiseConv2dNative: conv, _FusedConv2D: conv, FusedConv2D: conv, FusedDepthwiseConv2dNative: conv,
  _FusedMatMul: matMul, MatMul: matMul,
  BiasAdd: biasAdd,
  MaxPool: pool, AvgPool: pool,
  ResizeBilinear: resize, ResizeNearestNeighbor: resize,
  FusedBatchNorm: fusedBatchNorm, FusedBatchNormV3: fusedBatchNorm,
};
