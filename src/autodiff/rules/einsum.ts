/**
 * Einsum. The gradient of operand k is an Einsum of dy (with the output's subscripts) and the other
 * operands, back to operand k's subscripts: Einsum('out,others->k'). Subscripts that only operand k has
 * (summed away in the forward) are left out of that Einsum and restored by Unsqueeze + Expand, and so
 * are the ones that operand k broadcasts (size 1 where the others have more). Ellipses are written out
 * as explicit letters. Not supported: a subscript repeated within one operand or in the output
 * (diagonals, traces), and implicit-output equations (no '->') mixing upper- and lower-case letters.
 */
import { attrString } from '../../onnx/model.js';
import { dy0, GradError, nodeLabel, type GradContext, type GradRule, type OpGradient } from '../rule.js';

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

interface Equation { inputs: string[][]; output: string[] }

/** Parses an equation into per-operand label lists, ellipses replaced by fresh letters. */
export function parseEinsum(equation: string, ranks: number[], fresh: () => string): Equation {
  const eq = equation.replace(/\s+/g, '');
  const arrow = eq.indexOf('->');
  const lhs = arrow >= 0 ? eq.slice(0, arrow) : eq;
  const rhs = arrow >= 0 ? eq.slice(arrow + 2) : undefined;
  const terms = lhs.split(',');
  if (terms.length !== ranks.length) throw new Error(`equation '${equation}' has ${terms.length} operands, the node ${ranks.length}`);
  const split = (t: string) => {
    const e = t.indexOf('...');
    if (e < 0) return { before: [...t], after: [] as string[], ellipsis: false };
    if (t.indexOf('...', e + 3) >= 0) throw new Error(`equation '${equation}' has two ellipses in one term`);
    return { before: [...t.slice(0, e)], after: [...t.slice(e + 3)], ellipsis: true };
  };
  const parts = terms.map(split);
  for (const p of [...parts, ...(rhs !== undefined ? [split(rhs)] : [])]) {
    for (const c of [...p.before, ...p.after]) if (!LETTERS.includes(c)) throw new Error(`equation '${equation}' has an invalid subscript '${c}'`);
  }
  const ellRanks = parts.map((p, i) => {
    const n = ranks[i]! - p.before.length - p.after.length;
    if (n < 0 || (n > 0 && !p.ellipsis)) throw new Error(`equation '${equation}': operand ${i} has rank ${ranks[i]}, its subscripts do not match`);
    return n;
  });
  const E = Math.max(0, ...ellRanks);
  const ell = Array.from({ length: E }, fresh);
  const inputs = parts.map((p, i) => [...p.before, ...ell.slice(E - ellRanks[i]!), ...p.after]);
  let output: string[];
  if (rhs !== undefined) {
    const o = split(rhs);
    output = [...o.before, ...(o.ellipsis ? ell : []), ...o.after];
  } else {
    const counts = new Map<string, number>();
    for (const p of parts) for (const c of [...p.before, ...p.after]) counts.set(c, (counts.get(c) ?? 0) + 1);
    const once = [...counts].filter(([, n]) => n === 1).map(([c]) => c);
    if (once.some((c) => c === c.toUpperCase()) && once.some((c) => c === c.toLowerCase())) {
      throw new Error(`equation '${equation}': implicit output with mixed-case subscripts is ambiguous; write '->'`);
    }
    output = [...ell, ...once.sort()];
  }
  return { inputs, output };
}

const rule: GradRule = (ctx) => {
  const { b, node } = ctx;
  const label = nodeLabel(node);
  const equation = attrString(node, 'equation', '');
  const shapes = node.input.map((x) => ctx.shape(x));
  const ys = ctx.shape(node.output[0]!);
  const used = new Set(equation);
  const pool = [...LETTERS].filter((c) => !used.has(c));
  const fresh = () => {
    const c = pool.shift();
    if (!c) throw new GradError(`${label}: too many subscripts for Einsum's 52 letters`);
    return c;
  };
  let eq: Equation;
  try {
    eq = parseEinsum(equation, shapes.map((s) => s.length), fresh);
  } catch (e) {
    if (e instanceof GradError) throw e;
    throw new GradError(`${label}: ${(e as Error).message}`);
  }
  const repeated = (t: string[]) => t.find((c, i) => t.indexOf(c) !== i);
  eq.inputs.forEach((t, i) => {
    const r = repeated(t);
    if (r) throw new GradError(`${label}: equation '${equation}' repeats subscript '${r}' within operand ${i}; diagonals and traces are not supported`);
  });
  const r = repeated(eq.output);
  if (r) throw new GradError(`${label}: equation '${equation}' repeats subscript '${r}' in its output, which is not supported`);
  // each letter's full (broadcast) size
  const full = new Map<string, number>();
  const note = (t: string[], s: number[]) => t.forEach((c, i) => { if (s[i] !== 1 || !full.has(c)) full.set(c, s[i]!); });
  eq.inputs.forEach((t, i) => note(t, shapes[i]!));
  note(eq.output, ys);
  const broadcastIn = (t: string[], s: number[]) => new Set(t.filter((c, i) => s[i] === 1 && full.get(c) !== 1));
  const g = dy0(ctx);
  const grads = node.input.map((x, k) => (ctx.needs[k] ? operandGrad(ctx, eq, shapes, ys, k, g, x, broadcastIn, fresh) : null));
  return grads;
};

function operandGrad(
  ctx: GradContext, eq: Equation, shapes: number[][], ys: number[], k: number, g: string, x: string,
  broadcastIn: (t: string[], s: number[]) => Set<string>, fresh: () => string,
): string {
  const { b } = ctx;
  // the other operands, with the letters they broadcast renamed apart (summing a size-1 axis is a no-op)
  const others: { name: string; labels: string[] }[] = [];
  eq.inputs.forEach((t, j) => {
    if (j === k) return;
    const bc = broadcastIn(t, shapes[j]!);
    others.push({ name: ctx.node.input[j]!, labels: t.map((c) => (bc.has(c) ? fresh() : c)) });
  });
  const available = new Set([...eq.output, ...others.flatMap((o) => o.labels)]);
  const mine = eq.inputs[k]!;
  const bcMine = broadcastIn(mine, shapes[k]!);
  const kept = mine.filter((c) => !bcMine.has(c) && available.has(c));
  let out: string;
  if (others.length === 0 && eq.output.length === kept.length) {
    // dy itself, permuted (every output letter is one of operand k's)
    const perm = kept.map((c) => eq.output.indexOf(c));
    out = perm.every((p, i) => p === i) ? g : b.op('Transpose', [g], { perm });
  } else {
    const equation = `${[eq.output, ...others.map((o) => o.labels)].map((t) => t.join('')).join(',')}->${kept.join('')}`;
    out = b.op('Einsum', [g, ...others.map((o) => o.name)], { equation });
  }
  if (kept.length === mine.length) return out;
  const missing = mine.map((c, i) => (kept.includes(c) ? -1 : i)).filter((i) => i >= 0);
  return b.op('Expand', [b.op('Unsqueeze', [out, b.ints(missing)]), b.shape(x)]);
}

export const einsum: OpGradient = { op: 'Einsum', rule, note: 'no repeated subscripts within an operand' };
