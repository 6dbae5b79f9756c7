/**
 * Gemm Y = α·A'·B' + β·C (A' = Aᵀ if transA, B' = Bᵀ if transB):
 * dA = α·dY·B'ᵀ (or its transpose), dB = α·A'ᵀ·dY (or its transpose), dC = β·dY unbroadcast.
 */
import { attrFloat, attrInt, float } from '../../onnx/model.js';
import { dy0, type GradRule, type OpGradient } from '../rule.js';
import { unbroadcast } from './util.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const g = dy0(ctx);
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const tA = attrInt(node, 'transA', 0);
  const tB = attrInt(node, 'transB', 0);
  const [A, B, C] = node.input;
  const a = float(alpha);
  const dA = !ctx.needs[0] ? null
    : tA === 0 ? b.op('Gemm', [g, B!], { alpha: a, transB: tB ? 0 : 1 })
    : b.op('Gemm', [B!, g], { alpha: a, transA: tB, transB: 1 });
  const dB = !ctx.needs[1] ? null
    : tB === 0 ? b.op('Gemm', [A!, g], { alpha: a, transA: tA ? 0 : 1 })
    : b.op('Gemm', [g, A!], { alpha: a, transA: 1, transB: tA });
  let dC: string | null = null;
  if (C && ctx.needs[2]) {
    const scaled = beta === 1 ? g : b.mul(g, b.scalar(beta));
    dC = unbroadcast(ctx, scaled, ctx.shape(node.output[0]!), ctx.shape(C), C);
  }
  return [dA, dB, dC];
};

export const gemm: OpGradient = { op: 'Gemm', rule };
