/**
 * Layout inference's rules for the ops that cut, pick, join or contract axes: Slice, Split, Gather, Concat
 * (prefix tokens, a torch.roll undone), MatMul, Gemm and Einsum. infer.ts `propagate` dispatches to them.
 */
import { attrInt, attrString } from '../onnx/model.js';
import { AtomFactory, type Axis, broadcastAxes, hasSpatial, informative, type Labels, normAxis, type OpContext, type OpResult, SPATIAL, type SpatialEffect } from './atoms.js';

/** One axis cut to [start, end) with a step: what survives of its atoms and tokens. */
function sliceAxis(f: AtomFactory, a: Axis, start: number, end: number, step: number, outSize: number): Axis {
  if (step === 1 && start <= 0 && end >= a.size) return a;
  if (a.tokensOnly) return { ...f.unknown(outSize), tokensOnly: true };
  if (step === 1) {
    const atomsSize = a.size - a.pre - a.post;
    if (a.pre || a.post) {
      if (start <= a.pre && end >= a.pre + atomsSize) return { size: outSize, atoms: a.atoms, pre: a.pre - start, post: end - a.pre - atomsSize };
      if (end <= a.pre || start >= a.pre + atomsSize) return { ...f.unknown(outSize), tokensOnly: true };
      return f.unknown(outSize);
    }
    if (a.range) {
      const s = a.range.start + start;
      return { size: outSize, atoms: a.atoms, pre: 0, post: 0, range: { start: s, end: s + outSize } };
    }
    if (a.atoms.length === 1 && a.atoms[0]!.stride === 1 && a.atoms[0]!.size === a.atoms[0]!.full && a.atoms[0]!.kind !== 'U') {
      return { size: outSize, atoms: a.atoms, pre: 0, post: 0, range: { start, end: start + outSize } };
    }
    return f.unknown(outSize);
  }
  // a strided slice of a whole grid dimension (Swin's patch merging x[..., 0::2, 0::2, :]): a coarser grid
  if (step > 1 && !a.pre && !a.post && !a.range && a.atoms.length === 1 && a.atoms[0]!.size === a.atoms[0]!.full && start < step && SPATIAL.has(a.atoms[0]!.kind)) {
    return f.axis(a.atoms[0]!.kind, outSize);
  }
  return f.unknown(outSize);
}

export function slice(c: OpContext): OpResult {
  const x = c.inputs[0];
  const out0 = c.outShapes[0]!;
  const shape = c.inShapes[0];
  if (!x || !shape) return { outputs: [undefined], effect: 'keeps' };
  const r = x.length;
  const starts = c.ints(1);
  const ends = c.ints(2);
  const axes = (c.node.input[3] ? c.ints(3) : x.map((_, k) => k))?.map((a) => normAxis(a, r));
  const steps = c.node.input[4] ? c.ints(4) : undefined;
  if (!starts || !ends || !axes) return { outputs: [out0.map((d, k) => (d === shape[k] ? x[k]! : c.f.unknown(d)))], effect: x.some(hasSpatial) ? 'drops' : 'keeps' };
  const outAxes = x.slice();
  let dropped = false;
  axes.forEach((ax, j) => {
    const d = shape[ax]!;
    const step = steps?.[j] ?? 1;
    let s = starts[j]!;
    let e = ends[j]!;
    if (s < 0) s += d;
    if (e < 0) e += d;
    s = Math.max(0, Math.min(s, d));
    e = Math.max(0, Math.min(e, d));
    const before = x[ax]!;
    const after = sliceAxis(c.f, before, s, e, step, out0[ax]!);
    if (hasSpatial(before) && !hasSpatial(after)) dropped = true;
    outAxes[ax] = after;
  });
  return { outputs: [outAxes], effect: dropped ? 'drops' : 'keeps' };
}

export function split(c: OpContext): OpResult {
  const x = c.inputs[0];
  const shape = c.inShapes[0];
  if (!x || !shape) return { outputs: c.node.output.map(() => undefined), effect: 'keeps' };
  const r = x.length;
  const ax = normAxis(attrInt(c.node, 'axis', 0), r);
  let start = 0;
  const outputs: Labels[] = c.outShapes.map((s) => {
    if (!s) return undefined;
    const len = s[ax]!;
    const labels = x.slice();
    labels[ax] = sliceAxis(c.f, x[ax]!, start, start + len, 1, len);
    start += len;
    return labels;
  });
  return { outputs, effect: 'keeps' };
}

export function gather(c: OpContext): OpResult {
  const x = c.inputs[0];
  const out0 = c.outShapes[0]!;
  const shape = c.inShapes[0];
  if (!x || !shape) return { outputs: [c.inputs[1] ? out0.map((d) => c.f.unknown(d)) : undefined], effect: 'keeps' };
  const r = x.length;
  const ax = normAxis(attrInt(c.node, 'axis', 0), r);
  const idxShape = c.inShapes[1] ?? [];
  const a = x[ax]!;
  const idx = c.ints(1)?.map((i) => (i < 0 ? i + a.size : i));
  const middle: Axis[] = idxShape.map((d) => c.f.unknown(d));
  const inPrefix = idx !== undefined && idx.every((i) => i < a.pre || i >= a.size - a.post);
  if (inPrefix && idxShape.length === 1) middle[0] = { ...middle[0]!, tokensOnly: true };
  const identity = idx !== undefined && idxShape.length === 1 && idx.length === a.size && idx.every((v, k) => v === k);
  const outAxes = identity ? x.slice() : [...x.slice(0, ax), ...middle, ...x.slice(ax + 1)];
  if (outAxes.length !== out0.length) return { outputs: [out0.map((d) => c.f.unknown(d))], effect: hasSpatial(a) ? 'mixes' : 'keeps' };
  const effect: SpatialEffect = identity || !hasSpatial(a) ? 'keeps' : inPrefix ? 'drops' : 'mixes';
  return { outputs: [outAxes], effect };
}

export function concat(c: OpContext): OpResult {
  const out0 = c.outShapes[0]!;
  const r = out0.length;
  const ax = normAxis(attrInt(c.node, 'axis', 0), r);
  const f = c.f;
  if (c.inputs.every((l) => !l)) return { outputs: [undefined], effect: 'keeps' };
  // the other axes: as broadcasting of equal shapes
  const others = broadcastAxes(f, c.inputs.map((labels, k) => ({ labels, shape: c.inShapes[k] ?? [] })), out0);
  const parts = c.inputs.map((l, k) => ({ axis: l?.[ax], size: (c.inShapes[k] ?? [])[ax] ?? 0 }));
  others[ax] = concatAxis(f, parts, out0[ax]!);
  return { outputs: [others], effect: 'keeps' };
}

function concatAxis(f: AtomFactory, parts: { axis?: Axis; size: number }[], size: number): Axis {
  const live = parts.filter((p) => p.size > 0);
  // the two halves of a torch.roll of one whole dimension: [k, n) + [0, k)
  if (live.length >= 2 && live.every((p) => p.axis?.range && p.axis.atoms.length === 1)) {
    const id = live[0]!.axis!.atoms[0]!.id;
    const atom = live[0]!.axis!.atoms[0]!;
    let pos = live[0]!.axis!.range!.start;
    let ok = live.every((p) => p.axis!.atoms[0]!.id === id);
    for (const p of live) {
      if (!ok) break;
      if (p.axis!.range!.start !== pos % atom.full) ok = false;
      pos = p.axis!.range!.end;
    }
    if (ok && size === atom.full) {
      const shift = (atom.shift + live[0]!.axis!.range!.start) % atom.full;
      return { size, atoms: [{ ...atom, shift }], pre: 0, post: 0 };
    }
    return f.unknown(size);
  }
  const spatial = live.filter((p) => p.axis && (hasSpatial(p.axis) || p.axis.range));
  if (spatial.length === 1) {
    const p = spatial[0]!.axis!;
    if (p.range) return f.unknown(size);
    const k = live.indexOf(spatial[0]!);
    const otherTokens = live.every((q, j) => j === k || !q.axis || !q.axis.atoms.some((t) => t.kind !== 'U'));
    if (!otherTokens) return f.unknown(size);
    const pre = live.slice(0, k).reduce((s, q) => s + q.size, 0) + p.pre;
    const post = live.slice(k + 1).reduce((s, q) => s + q.size, 0) + p.post;
    return { size, atoms: p.atoms, pre, post };
  }
  if (spatial.length === 0 && live.some((p) => p.axis?.atoms.some((t) => t.kind === 'C'))) return f.axis('C', size);
  return f.unknown(size);
}

export function matMul(c: OpContext): OpResult {
  const [A, B] = c.inputs;
  const [sa, sb] = c.inShapes;
  const out0 = c.outShapes[0]!;
  const f = c.f;
  if (!A && !B) return { outputs: [undefined], effect: 'keeps' };
  if (!sa || !sb) return { outputs: [out0.map((d) => f.unknown(d))], effect: 'mixes' };
  const ra = sa.length;
  const rb = sb.length;
  const colsB = (d: number): Axis => (B && rb >= 2 ? B[rb - 1]! : f.axis('C', d));
  const contractedA = A?.[ra - 1];
  const contractedB = B ? B[rb >= 2 ? rb - 2 : 0] : undefined;
  const effect: SpatialEffect = (contractedA && hasSpatial(contractedA)) || (contractedB && hasSpatial(contractedB)) ? 'mixes' : 'keeps';
  let outAxes: Axis[];
  if (ra >= 2 && rb >= 2) {
    const batch = broadcastAxes(f, [{ labels: A?.slice(0, ra - 2), shape: sa.slice(0, -2) }, { labels: B?.slice(0, rb - 2), shape: sb.slice(0, -2) }], out0.slice(0, -2));
    outAxes = [...batch, A ? A[ra - 2]! : f.unknown(out0[out0.length - 2]!), colsB(out0[out0.length - 1]!)];
  } else if (ra === 1 && rb >= 2) {
    outAxes = [...(B ? B.slice(0, rb - 2) : out0.slice(0, -1).map((d) => f.unknown(d))), colsB(out0[out0.length - 1]!)];
  } else if (rb === 1 && ra >= 2) {
    outAxes = A ? A.slice(0, ra - 1) : out0.map((d) => f.unknown(d));
  } else outAxes = out0.map((d) => f.unknown(d));
  if (outAxes.length !== out0.length) outAxes = out0.map((d) => f.unknown(d));
  return { outputs: [outAxes], effect };
}

export function gemm(c: OpContext): OpResult {
  const [A, B] = c.inputs;
  const out0 = c.outShapes[0]!;
  const f = c.f;
  if (!A && !B) return { outputs: [undefined], effect: 'keeps' };
  const ta = attrInt(c.node, 'transA', 0);
  const tb = attrInt(c.node, 'transB', 0);
  const rows = A ? A[ta ? 1 : 0]! : f.unknown(out0[0]!);
  const cols = B ? B[tb ? 0 : 1]! : f.axis('C', out0[1]!);
  const kA = A?.[ta ? 0 : 1];
  const kB = B?.[tb ? 1 : 0];
  const effect: SpatialEffect = (kA && hasSpatial(kA)) || (kB && hasSpatial(kB)) ? 'mixes' : 'keeps';
  return { outputs: [[rows, cols]], effect };
}

export function einsum(c: OpContext): OpResult {
  const out0 = c.outShapes[0]!;
  const f = c.f;
  const eq = attrString(c.node, 'equation', '').replace(/\s+/g, '');
  const [lhs, rhs] = eq.split('->');
  if (!lhs || rhs === undefined || eq.includes('...')) return { outputs: [out0.map((d) => f.unknown(d))], effect: c.inputs.some((l) => l?.some(hasSpatial)) ? 'mixes' : 'keeps' };
  const terms = lhs.split(',');
  const byLetter = new Map<string, Axis>();
  let effect: SpatialEffect = 'keeps';
  terms.forEach((t, k) => {
    const labels = c.inputs[k];
    [...t].forEach((ch, j) => {
      const a = labels?.[j];
      if (!a) return;
      if (!rhs.includes(ch) && hasSpatial(a)) effect = 'mixes';
      const prev = byLetter.get(ch);
      if (!prev || (!informative(prev) && informative(a))) byLetter.set(ch, a);
    });
  });
  if (c.inputs.every((l) => !l)) return { outputs: [undefined], effect };
  const outAxes = [...rhs].map((ch, j) => byLetter.get(ch) ?? f.axis('C', out0[j]!));
  return { outputs: [outAxes.length === out0.length ? outAxes : out0.map((d) => f.unknown(d))], effect };
}
