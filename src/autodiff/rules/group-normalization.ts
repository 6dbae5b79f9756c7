/**
 * GroupNormalization: x [N, C, ...] viewed as [N, G, C/G·spatial] and normalised over the last axis,
 * then y = scale · x̂ + bias with scale and bias per group (opset 18–20) or per channel (opset 21 and
 * later). The input gradient is the normalisation's in the grouped view with g = dy · scale;
 * dscale = Σ dy · x̂ and dbias = Σ dy over all axes but the group / channel.
 */
import { attrFloat, attrInt } from '../../onnx/model.js';
import { dy0, GradError, nodeLabel, type GradRule, type OpGradient } from '../rule.js';
import { normalizationGrad, normalized, reduceOver } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const dy = dy0(ctx);
  const [x, scale] = [node.input[0]!, node.input[1]!];
  const xs = ctx.shape(x);
  const rank = xs.length;
  const groups = attrInt(node, 'num_groups');
  if (!groups || xs[1]! % groups !== 0) throw new GradError(`${nodeLabel(node)}: num_groups ${groups} does not divide its ${xs[1]} channels`);
  const perChannel = ctx.opset >= 21;
  const grouped = (t: string) => b.op('Reshape', [t, b.ints([0, groups, -1])]);
  const n = normalized(ctx, grouped(x), [2], attrFloat(node, 'epsilon', 1e-5));
  const dyG = grouped(dy);
  let dx: string | null = null;
  if (ctx.needs[0]) {
    const g = perChannel
      ? grouped(b.mul(dy, b.op('Reshape', [scale, b.ints([-1, ...Array(rank - 2).fill(1)])])))
      : b.mul(dyG, b.op('Reshape', [scale, b.ints([-1, 1])]));
    dx = b.reshapeLike(normalizationGrad(ctx, n, g, [2]), x);
  }
  const notChannel = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const sumOut = (t: string, grouped: boolean) => (grouped ? reduceOver(ctx, 'ReduceSum', t, [0, 2], 0) : reduceOver(ctx, 'ReduceSum', t, notChannel, 0));
  let dScale: string | null = null;
  let dBias: string | null = null;
  if (ctx.needs[1]) dScale = perChannel ? sumOut(b.mul(dy, b.reshapeLike(n.xhat, x)), false) : sumOut(b.mul(dyG, n.xhat), true);
  if (ctx.needs[2]) dBias = perChannel ? sumOut(dy, false) : sumOut(dyG, true);
  return [dx, dScale, dBias];
};

export const groupNormalization: OpGradient = { op: 'GroupNormalization', rule, note: 'scale and bias per group at opset 18, per channel from 21' };
