/** Helpers shared by the gradient rules. */
import type { GradContext } from '../rule.js';
import { GradError, nodeLabel } from '../rule.js';
import { attrInts } from '../../onnx/model.js';
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

/** Reduction axes of ReduceX nodes: the `axes` attribute (older opsets) or the constant second input. */
export function reduceAxes(ctx: GradContext, rank: number): number[] {
  const n = ctx.node;
  let axes = attrInts(n, 'axes');
  if (!axes && n.input[1]) {
    const t = ctx.constant(n.input[1]);
    if (!t) throw new GradError(`${nodeLabel(n)}: its axes must be constant`);
    axes = tensorValues(t);
  }
  if (!axes || axes.length === 0) return Array.from({ length: rank }, (_, i) => i);
  return axes.map((a) => normAxis(a, rank));
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
