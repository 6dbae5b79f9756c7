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
  /**
   * A tensor's value when it is known at compile time: a constant of the graph (initializer, Constant
   * node, or Identity of one) or a parameter computed by a shape subgraph and learnt by the probe run
   * (which runs at batch 1 on zeros: never use it for values that depend on the data).
   */
  constant(name: string): Tensor | undefined;
  /** A constant of the graph itself (initializer, Constant node, Identity of one), never a probed value. */
  graphConstant(name: string): Tensor | undefined;
  /** The rectifier rule for this node (plain unless the node is a rectifier chosen for guiding). */
  readonly rectifier: Rectifier;
  readonly opset: number;
}

/** Returns the gradient for each input (null where none is needed or none flows). */
export type GradRule = (ctx: GradContext) => (string | null)[];

/** Everything the compiler knows about one op type: its rule and its per-op facts. */
export interface OpGradient {
  /** The ONNX op type (default domain unless `domain` says otherwise). */
  readonly op: string;
  /** The op's domain when it is not the default one (com.microsoft for onnxruntime's contrib ops). */
  readonly domain?: 'com.microsoft';
  readonly rule: GradRule;
  /** A rectifier: the guided / deconvnet rules apply to it (see `Rectifier`). */
  readonly rectifier?: boolean;
  /** Which input slots carry gradients (default: all); the others are shapes, axes, indices, weights... */
  readonly differentiable?: (node: Node) => boolean[];
  /** A short note on the supported forms, shown in the README's op list. */
  readonly note?: string;
}

/** `differentiable` for ops whose only differentiable input is the first (data) input. */
export const firstInputOnly = (n: Node): boolean[] => n.input.map((_, k) => k === 0);

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
