/** The contract between the gradient compiler and the per-op gradient rules in rules/. */
import type { Builder } from './builder.js';
import type { Node } from '../onnx/model.js';
import type { Tensor } from '../onnx/tensor.js';

/**
 * How rectifiers (Relu and friends) pass gradients back:
 * - `plain`: the true gradient (vanilla saliency, Grad-CAM);
 * - `guided`: only where the forward input is > 0 and the incoming gradient is > 0 (Guided Backprop);
 * - `deconvnet`: only where the incoming gradient is > 0.
 */
export type Rectifier = 'plain' | 'guided' | 'deconvnet';

export interface GradContext {
  readonly node: Node;
  readonly b: Builder;
  /** Gradient flowing into each output of the node; null where none does. */
  readonly dy: readonly (string | null)[];
  /** Whether input i needs a gradient (it lies between the chosen tensors and the score). */
  readonly needs: readonly boolean[];
  /** Static shape of a tensor, learnt from a probe run (batch dimension as probed). */
  shape(name: string): number[];
  /** A constant tensor's value (initializer, Constant node, or Identity of one), or undefined. */
  constant(name: string): Tensor | undefined;
  /** The rectifier rule for this node (plain unless the node is a rectifier chosen for guiding). */
  readonly rectifier: Rectifier;
  readonly opset: number;
}

/** Returns the gradient for each input (null where none is needed or none flows). */
export type GradRule = (ctx: GradContext) => (string | null)[];

export class GradError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GradError';
  }
}

export function nodeLabel(n: Node): string {
  return `${n.op_type} node '${n.name || n.output[0]}'`;
}

/** The single incoming gradient of a one-output node (rules are only called when one flows). */
export function dy0(ctx: GradContext): string {
  const d = ctx.dy[0];
  if (!d) throw new GradError(`${nodeLabel(ctx.node)}: no gradient reaches its output`);
  return d;
}

/** A required constant input, with a clear error when it is computed at run time. */
export function requireConstant(ctx: GradContext, index: number, what: string): Tensor {
  const name = ctx.node.input[index];
  const t = name ? ctx.constant(name) : undefined;
  if (!t) throw new GradError(`${nodeLabel(ctx.node)}: its ${what} (input ${index}) must be a constant to differentiate it`);
  return t;
}
