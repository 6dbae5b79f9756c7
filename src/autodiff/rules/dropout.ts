/**
 * Dropout: an identity in inference mode, which is when its training_mode input is absent or a constant
 * false, or when its ratio is a constant 0. In training mode the mask is random, so there is no
 * gradient to give.
 */
import { tensorValues } from '../../onnx/tensor.js';
import { dy0, firstInputOnly, GradError, nodeLabel, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { node } = ctx;
  const mode = node.input[2];
  if (mode) {
    const t = ctx.graphConstant(mode);
    if (!t) throw new GradError(`${nodeLabel(node)}: its training_mode input '${mode}' is computed, not a constant false, so it may be a random training-mode dropout`);
    const ratio = node.input[1] ? ctx.graphConstant(node.input[1]) : undefined;
    // torchvision's Swin exports Dropout(ratio=0, training_mode=true): with a zero ratio it keeps everything
    const zeroRatio = !!ratio && tensorValues(ratio).every((v) => v === 0);
    if (tensorValues(t).some((v) => v !== 0) && !zeroRatio) throw new GradError(`${nodeLabel(node)}: its training_mode is true (random dropout); export the model in inference mode`);
  }
  return [dy0(ctx), null, null];
};

export const dropout: OpGradient = { op: 'Dropout', rule, differentiable: firstInputOnly, note: 'inference mode' };
