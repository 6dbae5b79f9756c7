/**
 * InstanceNormalization: y = scale[c] · x̂ + B[c], x̂ normalised over the spatial axes of each (n, c).
 * dx = inv · (g − mean(g) − x̂ · mean(g · x̂)) with g = dy · scale; dscale = Σ dy · x̂, dB = Σ dy over
 * all axes but the channel.
 */
import { attrFloat } from '../../onnx/model.js';
import { dy0, type GradRule, type OpGradient } from '../rule.js';
import { normalizationGrad, normalized, reduceOver } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const dy = dy0(ctx);
  const [x, scale] = [node.input[0]!, node.input[1]!];
  const rank = ctx.shape(x).length;
  const spatial = Array.from({ length: rank - 2 }, (_, i) => i + 2);
  const notChannel = [0, ...spatial];
  const n = normalized(ctx, x, spatial, attrFloat(node, 'epsilon', 1e-5));
  const perChannel = (t: string) => b.op('Reshape', [t, b.ints([-1, ...Array(rank - 2).fill(1)])]);
  return [
    ctx.needs[0] ? normalizationGrad(ctx, n, b.mul(dy, perChannel(scale)), spatial) : null,
    ctx.needs[1] ? reduceOver(ctx, 'ReduceSum', b.mul(dy, n.xhat), notChannel, 0) : null,
    ctx.needs[2] ? reduceOver(ctx, 'ReduceSum', dy, notChannel, 0) : null,
  ];
};

export const instanceNormalization: OpGradient = { op: 'InstanceNormalization', rule };
