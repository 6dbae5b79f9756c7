/**
 * LayerNormalization (opset 17): Y = x̂ · Scale + B with x̂ normalised over the axes [axis, rank).
 * dX = inv · (g − mean(g) − x̂ · mean(g · x̂)) with g = dY · Scale; dScale = Σ dY · x̂ and dB = Σ dY over
 * their broadcast axes. The optional Mean and InvStdDev outputs must carry no gradient.
 */
import { attrFloat, attrInt } from '../../onnx/model.js';
import { dy0, GradError, nodeLabel, type GradRule, type OpGradient } from '../rule.js';
import { normalizationGrad, normalized, normAxis, unbroadcast } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  if (ctx.dy[1] || ctx.dy[2]) throw new GradError(`${nodeLabel(node)}: gradients through its Mean / InvStdDev outputs are not supported`);
  const g = dy0(ctx);
  const [x, scale, bias] = [node.input[0]!, node.input[1]!, node.input[2]];
  const xs = ctx.shape(x);
  const axis = normAxis(attrInt(node, 'axis', -1), xs.length);
  if (axis < 0 || axis >= xs.length) throw new GradError(`${nodeLabel(node)}: axis ${attrInt(node, 'axis', -1)} is out of range for rank ${xs.length}`);
  const axes = Array.from({ length: xs.length - axis }, (_, i) => axis + i);
  const n = normalized(ctx, x, axes, attrFloat(node, 'epsilon', 1e-5));
  const ys = ctx.shape(node.output[0]!);
  return [
    ctx.needs[0] ? normalizationGrad(ctx, n, b.mul(g, scale), axes) : null,
    ctx.needs[1] ? unbroadcast(ctx, b.mul(g, n.xhat), ys, ctx.shape(scale), scale) : null,
    bias && ctx.needs[2] ? unbroadcast(ctx, g, ys, ctx.shape(bias), bias) : null,
  ];
};

export const layerNormalization: OpGradient = { op: 'LayerNormalization', rule, note: 'no gradient into Mean / InvStdDev' };
