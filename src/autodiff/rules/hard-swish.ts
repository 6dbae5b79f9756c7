/** HardSwish y = x·max(0, min(1, x/6 + 1/2)): dx = dy · (0 if x < −3, 1 if x > 3, else x/3 + 1/2), as torch. */
import { dy0, type GradRule, type OpGradient } from '../rule.js';

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const x = node.input[0]!;
  const mid = b.op('Add', [b.mul(x, b.scalar(1 / 3)), b.scalar(0.5)]);
  const upper = b.op('Where', [b.op('Greater', [x, b.scalar(3)]), b.scalar(1), mid]);
  const d = b.op('Where', [b.op('Less', [x, b.scalar(-3)]), b.scalar(0), upper]);
  return [b.mul(dy0(ctx), d)];
};

export const hardSwish: OpGradient = { op: 'HardSwish', rule };
