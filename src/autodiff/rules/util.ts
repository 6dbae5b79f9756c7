/** Helpers shared by the gradient rules. */
import type { GradContext } from '../rule.js';
import { GradError, nodeLabel } from '../rule.js';
import { attrInt, attrInts } from '../../onnx/model.js';
import { tensorValues } from '../../onnx/tensor.js';

export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/**
 * Sums a gradient of shape `from` down to the broadcast operand shape `to` (numpy broadcasting),
 * then reshapes it to `like`'s run-time shape.
 */
export function unbroadcast(ctx: GradContext, g: string, from: number[], to: number[], like: string): string {
  const lead = from.length - to.length;
  const axes: number[] = [];
  for (let i = 0; i < from.length; i++) {
    if (i < lead) axes.push(i);
    else if (to[i - lead] === 1 && from[i] !== 1) axes.push(i);
  }
  if (axes.length === 0 && lead === 0) return g;
  let r = g;
  if (axes.length) r = ctx.b.op('ReduceSum', [g, ctx.b.ints(axes)], { keepdims: 1 });
  return lead > 0 || axes.length ? ctx.b.reshapeLike(r, like) : r;
}

/**
 * Reduction axes of ReduceX nodes: the `axes` attribute (older opsets) or the constant second input;
 * none given means all axes, or none at all (an empty list: the node is an identity) with
 * noop_with_empty_axes = 1.
 */
export function reduceAxes(ctx: GradContext, rank: number): number[] {
  const n = ctx.node;
  let axes = attrInts(n, 'axes');
  if (!axes && n.input[1]) {
    const t = ctx.constant(n.input[1]);
    if (!t) throw new GradError(`${nodeLabel(n)}: its axes must be constant`);
    axes = tensorValues(t);
  }
  if (!axes || axes.length === 0) {
    if (attrInt(n, 'noop_with_empty_axes', 0) === 1) return [];
    return Array.from({ length: rank }, (_, i) => i);
  }
  return [...new Set(axes.map((a) => normAxis(a, rank)))].sort((a, b) => a - b);
}

/** Multiplies the incoming gradient by a 0/1 mask of where `cond` holds (bool tensor). */
export function maskWhere(ctx: GradContext, g: string, cond: string): string {
  return ctx.b.mul(g, ctx.b.op('Cast', [cond], { to: 1 }));
}

/** Spatial attributes of Conv-like nodes, with auto_pad resolved to explicit pads from static shapes. */
export interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[]; // [b0, b1, ..., e0, e1, ...]
}

export function resolveWindow(ctx: GradContext, inSpatial: number[], kernel: number[], autoPad: string): Window {
  const n = ctx.node;
  const k = kernel.length;
  const strides = attrInts(n, 'strides') ?? Array(k).fill(1);
  const dilations = attrInts(n, 'dilations') ?? Array(k).fill(1);
  let pads = attrInts(n, 'pads') ?? Array(2 * k).fill(0);
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = Array(2 * k).fill(0);
    for (let i = 0; i < k; i++) {
      const out = Math.ceil(inSpatial[i]! / strides[i]!);
      const total = Math.max((out - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - inSpatial[i]!, 0);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[i + k] = total - pads[i]!;
    }
  } else if (autoPad === 'VALID') pads = Array(2 * k).fill(0);
  return { kernel, strides, dilations, pads };
}

export type ReduceOp = 'ReduceSum' | 'ReduceMean' | 'ReduceMax' | 'ReduceMin' | 'ReduceL2';

/** A ReduceX node over the given axes, in the form the model's opset wants (axes as input from opset 18, 13 for ReduceSum). */
export function reduceOver(ctx: Pick<GradContext, 'b' | 'opset'>, op: ReduceOp, x: string, axes: number[], keepdims = 1): string {
  const inputAxes = op === 'ReduceSum' ? ctx.opset >= 13 : ctx.opset >= 18;
  return inputAxes ? ctx.b.op(op, [x, ctx.b.ints(axes)], { keepdims }) : ctx.b.op(op, [x], { axes, keepdims });
}

/**
 * x̂ = (x − mean) / sqrt(var + ε) over `axes` and inv = 1 / sqrt(var + ε), recomputed from x (the
 * forward node's optional Mean / InvStdDev outputs are not relied upon).
 */
export function normalized(ctx: GradContext, x: string, axes: number[], eps: number): { xhat: string; inv: string } {
  const { b } = ctx;
  const d = b.op('Sub', [x, reduceOver(ctx, 'ReduceMean', x, axes)]);
  const variance = reduceOver(ctx, 'ReduceMean', b.mul(d, d), axes);
  const inv = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [variance, b.scalar(eps)])])]);
  return { xhat: b.mul(d, inv), inv };
}

/**
 * The input gradient of a normalisation over `axes`, for an incoming gradient `g` already multiplied
 * by the scale: dx = inv · (g − mean(g) − x̂ · mean(g · x̂)).
 */
export function normalizationGrad(ctx: GradContext, n: { xhat: string; inv: string }, g: string, axes: number[]): string {
  const { b } = ctx;
  const gMean = reduceOver(ctx, 'ReduceMean', g, axes);
  const gxMean = reduceOver(ctx, 'ReduceMean', b.mul(g, n.xhat), axes);
  return b.mul(n.inv, b.op('Sub', [b.op('Sub', [g, gMean]), b.mul(n.xhat, gxMean)]));
}

/** Broadcast shape of numpy-broadcast operands. */
export function broadcastShape(...shapes: number[][]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i];
      if (v !== undefined && v !== 1) d = v;
    }
    out.push(d);
  }
  return out;
}
