/**
 * The vocabulary of layout inference (infer.ts): atoms (pieces of a semantic dimension in mixed-radix
 * form), axes (atoms plus prefix/suffix tokens or a range), labels (a tensor's axes), the AtomFactory,
 * and the rules shared by several ops: reshape (atoms follow the row-major order of the elements) and
 * broadcasting (element-wise ops keep what their operands agree on); the context and result of one op's
 * rule (OpContext, OpResult).
 */
import type { Node } from '../onnx/model.js';

export type AtomKind = 'N' | 'C' | 'D' | 'H' | 'W' | 'U';

export interface Atom {
  /** The semantic dimension this atom is a piece of. */
  id: number;
  kind: AtomKind;
  size: number;
  /** Mixed-radix stride within the dimension (index = Σ atom index · stride). */
  stride: number;
  /** Size of the whole dimension. */
  full: number;
  /** torch.roll offset of the whole dimension (0: in place). */
  shift: number;
}

export interface Axis {
  size: number;
  atoms: Atom[];
  /** Tokens before / after the atoms on this axis (class, distillation, register tokens). */
  pre: number;
  post: number;
  /** A contiguous slice [start, end) of a single whole atom (the halves of a torch.roll). */
  range?: { start: number; end: number };
  /** A selection of prefix/suffix tokens only (the class token picked for the head). */
  tokensOnly?: boolean;
}

/** Labels of a tensor: one Axis per dimension, or undefined for tensors that do not derive from the input. */
export type Labels = Axis[] | undefined;

export class AtomFactory {
  private next = 0;
  fresh(kind: AtomKind, size: number): Atom {
    return { id: this.next++, kind, size, stride: 1, full: size, shift: 0 };
  }
  /** A fresh axis; size-1 axes keep their atom only for the batch and the grid (a 1×W text line is a grid). */
  axis(kind: AtomKind, size: number): Axis {
    if (size === 1 && (kind === 'C' || kind === 'U')) return { size: 1, atoms: [], pre: 0, post: 0 };
    return { size, atoms: [this.fresh(kind, size)], pre: 0, post: 0 };
  }
  unknown(size: number): Axis {
    return this.axis('U', size);
  }
}

export const SPATIAL: ReadonlySet<AtomKind> = new Set(['D', 'H', 'W']);

export function hasSpatial(a: Axis): boolean {
  return a.atoms.some((t) => SPATIAL.has(t.kind));
}

/** Merges neighbouring atoms that are consecutive pieces of one dimension; drops size-1 pieces. */
function normalize(atoms: Atom[]): Atom[] {
  const out: Atom[] = [];
  for (const a of atoms) {
    if (a.size === 1 && (a.kind === 'C' || a.kind === 'U')) continue;
    const p = out[out.length - 1];
    if (p && p.id === a.id && p.shift === a.shift && p.stride === a.stride * a.size) {
      out[out.length - 1] = { ...p, size: p.size * a.size, stride: a.stride };
    } else out.push({ ...a });
  }
  return out;
}

/** Splits the atoms of a group of input axes into output axes of the given sizes (row-major). */
function splitGroup(f: AtomFactory, group: Axis[], sizes: number[]): Axis[] {
  if (group.length === 1 && sizes.length === 1) return [group[0]!];
  const bad = () => sizes.map((s) => f.unknown(s));
  if (group.some((a) => a.pre || a.post || a.range || a.tokensOnly)) return bad();
  const atoms = group.flatMap((a) => a.atoms.map((t) => ({ ...t })));
  const out: Axis[] = [];
  for (const size of sizes) {
    const take: Atom[] = [];
    let need = size;
    while (need > 1 || (atoms[0] && atoms[0].size === 1)) {
      const at = atoms.shift();
      if (!at) return bad();
      if (at.size <= need) {
        if (need % at.size) return bad();
        take.push(at);
        need /= at.size;
      } else {
        if (at.size % need) return bad();
        const inner = at.size / need;
        take.push({ ...at, size: need, stride: at.stride * inner });
        atoms.unshift({ ...at, size: inner });
        need = 1;
      }
    }
    out.push({ size, atoms: normalize(take), pre: 0, post: 0 });
  }
  return out;
}

/** Reshape (also Flatten, Squeeze, Unsqueeze): atoms follow the row-major order of the elements. */
export function reshapeAxes(f: AtomFactory, inp: Axis[], out: number[]): Axis[] {
  const res: Axis[] = [];
  let i = 0;
  let j = 0;
  while (i < inp.length || j < out.length) {
    const a = inp[i];
    const o = out[j];
    if (a && o !== undefined && a.size === 1 && o === 1) { res.push(a); i++; j++; continue; }
    if (o === 1) { res.push(f.unknown(1)); j++; continue; }
    if (a && a.size === 1) { i++; continue; }
    if (!a || o === undefined) {
      for (; j < out.length; j++) res.push(f.unknown(out[j]!));
      break;
    }
    const gi = [a];
    let pi = a.size;
    i++;
    const go = [o];
    let po = o;
    j++;
    while (pi !== po) {
      if (pi < po) {
        const nx = inp[i];
        if (!nx) break;
        gi.push(nx); pi *= nx.size; i++;
      } else {
        const nx = out[j];
        if (nx === undefined) break;
        go.push(nx); po *= nx; j++;
      }
    }
    if (pi !== po) { for (const s of go) res.push(f.unknown(s)); continue; }
    res.push(...splitGroup(f, gi, go));
  }
  return res;
}

export function informative(a: Axis): boolean {
  return a.pre > 0 || a.post > 0 || a.atoms.some((t) => t.kind !== 'U');
}

function sameMeaning(a: Axis, b: Axis): boolean {
  if (a.size !== b.size || a.pre !== b.pre || a.post !== b.post || a.atoms.length !== b.atoms.length) return false;
  if (!!a.range !== !!b.range || (a.range && (a.range.start !== b.range!.start || a.range.end !== b.range!.end))) return false;
  return a.atoms.every((t, k) => {
    const u = b.atoms[k]!;
    if (t.id === u.id) return t.stride === u.stride && t.size === u.size && t.shift === u.shift;
    // two pieces of different dimensions of the same kind and size (e.g. the four strided slices of a
    // patch merging, or two branches' conv outputs): the same role
    return t.kind === u.kind && t.size === u.size && t.kind !== 'U' && t.shift === 0 && u.shift === 0 && t.full === t.size && u.full === u.size;
  });
}

/**
 * Numpy broadcasting of labelled operands: each output axis takes the label of the operands whose axis
 * has the output's size; disagreeing labels make it unknown.
 */
export function broadcastAxes(f: AtomFactory, ins: { labels: Labels; shape: number[] }[], outShape: number[]): Axis[] {
  const r = outShape.length;
  return outShape.map((d, k) => {
    let best: Axis | undefined;
    for (const { labels } of ins) {
      if (!labels) continue;
      const off = labels.length - r + k;
      if (off < 0) continue;
      const a = labels[off]!;
      if (a.size !== d) continue;
      if (!best) { best = a; continue; }
      if (!informative(a)) continue;
      if (!informative(best)) { best = a; continue; }
      if (!sameMeaning(best, a)) return f.unknown(d);
    }
    return best ?? f.unknown(d);
  });
}

/** What an op does to spatial positions, for the automatic layer choice. */
export type SpatialEffect = 'keeps' | 'mixes' | 'drops';

export interface OpContext {
  node: Node;
  f: AtomFactory;
  /** Labels of each input (undefined: constant or not derived from the model input). */
  inputs: Labels[];
  inShapes: (number[] | undefined)[];
  outShapes: (number[] | undefined)[];
  /** Integer values of a non-data input (axes, starts, indices...), from constants or the probe run. */
  ints(index: number): number[] | undefined;
}

export interface OpResult {
  outputs: Labels[];
  effect: SpatialEffect;
}

export const normAxis = (a: number, r: number) => (a < 0 ? a + r : a);
