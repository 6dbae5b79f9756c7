/** MatMul (rank ≥ 2, batch broadcasting): dA = dY·Bᵀ, dB = Aᵀ·dY, each summed over broadcast batch axes. */
import { dy0, GradError, nodeLabel, type GradRule, type OpGradient } from '../rule.js';
import { unbroadcast } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const g = dy0(ctx);
  const [A, B] = [node.input[0]!, node.input[1]!];
  const as = ctx.shape(A);
  const bs = ctx.shape(B);
  const ys = ctx.shape(node.output[0]!);
  if (as.length < 2 || bs.length < 2) throw new GradError(`${nodeLabel(node)}: MatMul with 1-D operands is not supported`);
  const swap = (rank: number) => {
    const p = Array.from({ length: rank }, (_, i) => i);
    [p[rank - 2], p[rank - 1]] = [p[rank - 1]!, p[rank - 2]!];
    return p;
  };
  const T = (x: string, rank: number) => b.op('Transpose', [x], { perm: swap(rank) });
  const dA = ctx.needs[0] ? unbroadcast(ctx, b.op('MatMul', [g, T(B, bs.length)]), ys, as, A) : null;
  const dB = ctx.needs[1] ? unbroadcast(ctx, b.op('MatMul', [T(A, as.length), g]), ys, bs, B) : null;
  return [dA, dB];
};

export const matMul: OpGradient = { op: 'MatMul', rule };
