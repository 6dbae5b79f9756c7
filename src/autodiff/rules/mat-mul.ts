/**
 * MatMul (numpy semantics, batch broadcasting): dA = dY·Bᵀ, dB = Aᵀ·dY, each summed over broadcast batch
 * axes. A 1-D operand is promoted as numpy does (A [k] → [1, k], B [k] → [k, 1]); dY regains the
 * dropped axis, and each gradient is reshaped back to its operand.
 */
import { dy0, type GradRule, type OpGradient } from '../rule.js';
import { unbroadcast } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const [A, B] = [node.input[0]!, node.input[1]!];
  const as = ctx.shape(A);
  const bs = ctx.shape(B);
  const ys = ctx.shape(node.output[0]!);
  const aVec = as.length === 1;
  const bVec = bs.length === 1;
  // promoted operands and output
  const a2 = aVec ? b.op('Unsqueeze', [A, b.ints([0])]) : A;
  const b2 = bVec ? b.op('Unsqueeze', [B, b.ints([1])]) : B;
  const as2 = aVec ? [1, as[0]!] : as;
  const bs2 = bVec ? [bs[0]!, 1] : bs;
  let g = dy0(ctx);
  let ys2 = ys;
  if (aVec && bVec) { g = b.op('Reshape', [g, b.ints([1, 1])]); ys2 = [1, 1]; }
  else if (aVec) { g = b.op('Unsqueeze', [g, b.ints([-2])]); ys2 = [...ys.slice(0, -1), 1, ys[ys.length - 1]!]; }
  else if (bVec) { g = b.op('Unsqueeze', [g, b.ints([-1])]); ys2 = [...ys, 1]; }
  const swap = (rank: number) => {
    const p = Array.from({ length: rank }, (_, i) => i);
    [p[rank - 2], p[rank - 1]] = [p[rank - 1]!, p[rank - 2]!];
    return p;
  };
  const T = (x: string, rank: number) => b.op('Transpose', [x], { perm: swap(rank) });
  const back = (grad: string, promoted: boolean, like: string) => (promoted ? b.reshapeLike(grad, like) : grad);
  const dA = ctx.needs[0] ? back(unbroadcast(ctx, b.op('MatMul', [g, T(b2, bs2.length)]), ys2, as2, a2), aVec, A) : null;
  const dB = ctx.needs[1] ? back(unbroadcast(ctx, b.op('MatMul', [T(a2, as2.length), g]), ys2, bs2, b2), bVec, B) : null;
  return [dA, dB];
};

export const matMul: OpGradient = { op: 'MatMul', rule };
