/** Add and Sub (with numpy broadcasting): each operand gets ±dy summed over its broadcast axes. */
import { type GradRule, type OpGradient } from '../rule.js';
import { unbroadcast } from './util.js';

function addSub(sign: number): GradRule {
  return (ctx) => {
    const { node, b } = ctx;
    const g = ctx.dy[0]!;
    const outShape = ctx.shape(node.output[0]!);
    return node.input.slice(0, 2).map((x, i) => {
      if (!ctx.needs[i]) return null;
      const gi = unbroadcast(ctx, g, outShape, ctx.shape(x), x);
      return i === 1 && sign < 0 ? b.op('Neg', [gi]) : gi;
    });
  };
}

export const add: OpGradient = { op: 'Add', rule: addSub(1) };
export const sub: OpGradient = { op: 'Sub', rule: addSub(-1) };
