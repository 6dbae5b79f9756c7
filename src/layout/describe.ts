/**
 * A tensor's layout from its axis labels: which axis is the batch, which the channels, where the grid
 * is (separate H/W axes, or one token axis with prefix/suffix tokens); and the conversion of such a
 * tensor to the canonical [N, C, h, w] that every CAM method works on.
 */
import type { Atom, Axis, Labels } from './infer.js';

export type LayoutKind = 'nchw' | 'nhwc' | 'tokens' | 'tokens-first' | 'channels-tokens' | 'ncdhw' | 'ndhwc' | 'other' | 'unknown';

export interface LayerLayout {
  kind: LayoutKind;
  /** The grid: [h, w] (or [d, h, w] for 3-D layers); empty when unknown. */
  grid: number[];
  channels: number;
  /** Tokens before / after the grid on the token axis (class, distillation, register tokens). */
  prefix: number;
  suffix: number;
  batchAxis: number;
  channelAxis: number;
  /** Separate grid axes (nchw, nhwc...), in grid order. */
  gridAxes?: number[];
  /** The token axis holding the flattened grid (row-major). */
  tokenAxis?: number;
  /** Rank of the tensor. */
  rank: number;
  /** Why the layout is unknown. */
  reason?: string;
  /** Given by the user (--layout) rather than inferred. */
  override?: boolean;
}

const unknownLayout = (rank: number, reason: string): LayerLayout => ({ kind: 'unknown', grid: [], channels: 0, prefix: 0, suffix: 0, batchAxis: -1, channelAxis: -1, rank, reason });

const wholeAtom = (t: Atom) => t.stride === 1 && t.size === t.full && t.shift === 0;
const GRID_ORDER = ['D', 'H', 'W'];

/** The layout of a tensor of the given shape from its labels; `batch` is the probed batch size. */
export function describeLayout(labels: Labels, shape: number[], batch = 1): LayerLayout {
  const unknown = (reason: string) => unknownLayout(shape.length, reason);
  if (!labels || labels.length !== shape.length) return unknown('it does not derive from the input');
  type Role = 'N' | 'C' | 'G' | 'L' | 'one' | 'X';
  const roles: Role[] = labels.map((a: Axis): Role => {
    const kinds = a.atoms.map((t) => t.kind);
    if (a.tokensOnly) return 'X';
    if (a.atoms.some((t) => t.shift !== 0)) return 'X';
    if (a.range) return 'X';
    if (kinds.length === 1 && kinds[0] === 'N') return 'N';
    if (a.size === 1 && kinds.length === 0) return 'one';
    if (a.pre || a.post) return kinds.length >= 1 && a.atoms.every((t) => t.kind !== 'C' && t.kind !== 'U' && t.kind !== 'N' && wholeAtom(t)) ? 'L' : 'X';
    if (kinds.length && kinds.every((k) => k === 'C')) return 'C';
    if (kinds.length === 1 && GRID_ORDER.includes(kinds[0]!) && wholeAtom(a.atoms[0]!)) return 'G';
    if (kinds.length >= 2 && a.atoms.every((t) => GRID_ORDER.includes(t.kind) && wholeAtom(t))) return 'L';
    return 'X';
  });
  const at = (r: Role) => roles.flatMap((x, k) => (x === r ? [k] : []));
  if (at('X').length) {
    const k = at('X')[0]!;
    const a = labels[k]!;
    const why = a.atoms.some((t) => t.shift !== 0) ? 'holds a shifted grid (torch.roll, inside a shifted-window block)'
      : a.range ? 'holds a part of the grid'
        : a.tokensOnly ? 'holds only prefix tokens (the class token)'
          : a.atoms.some((t) => t.stride !== 1 || t.size !== t.full) ? 'holds a piece of the grid (windows or patches)'
            : 'mixes the batch, channels or grid';
    return unknown(`axis ${k} (size ${shape[k]}) ${why}`);
  }
  let batchAxis = at('N')[0] ?? -1;
  if (at('N').length > 1) return unknown('two axes carry the batch');
  if (batchAxis < 0) {
    // the batch label is lost when an exporter merges the batch into another axis and splits it again
    if (roles[0] === 'one' && shape[0] === batch) batchAxis = 0;
    else if (roles[1] === 'one' && shape[1] === batch && roles[0] === 'L') batchAxis = 1;
    else return unknown('no batch axis');
  }
  const cAxes = at('C');
  if (cAxes.length !== 1) return unknown(cAxes.length ? 'several channel axes' : 'no channel axis');
  const channelAxis = cAxes[0]!;
  const gAxes = at('G');
  const lAxes = at('L');
  let grid: number[];
  let gridAxes: number[] | undefined;
  let tokenAxis: number | undefined;
  let prefix = 0;
  let suffix = 0;
  if (lAxes.length === 1 && gAxes.length === 0) {
    const a = labels[lAxes[0]!]!;
    const kinds = a.atoms.map((t) => t.kind).join('');
    if (kinds !== 'HW' && kinds !== 'DHW') return unknown(`the token axis holds the grid in ${kinds} order`);
    tokenAxis = lAxes[0]!;
    grid = a.atoms.map((t) => t.size);
    prefix = a.pre;
    suffix = a.post;
  } else if (lAxes.length === 0 && gAxes.length >= 2) {
    const kinds = gAxes.map((k) => labels[k]!.atoms[0]!.kind);
    const want = kinds.length === 2 ? ['H', 'W'] : ['D', 'H', 'W'];
    const order = want.map((k) => kinds.indexOf(k as Atom['kind']));
    if (order.some((i) => i < 0) || new Set(kinds).size !== kinds.length) return unknown(`grid axes ${kinds.join(',')}`);
    gridAxes = order.map((i) => gAxes[i]!);
    grid = gridAxes.map((k) => shape[k]!);
  } else return unknown(lAxes.length + gAxes.length === 0 ? 'no spatial grid' : 'the grid is split over axes in an unexpected way');
  const used = new Set([batchAxis, channelAxis, ...(gridAxes ?? []), ...(tokenAxis !== undefined ? [tokenAxis] : [])]);
  if (shape.some((d, k) => !used.has(k) && d !== 1)) return unknown('extra axes');
  const rest = (ks: number[]) => ks.filter((k) => used.has(k));
  const order = rest(shape.map((_, k) => k));
  const pos = (k: number) => order.indexOf(k);
  let kind: LayoutKind = 'other';
  if (tokenAxis !== undefined) {
    const o = [pos(batchAxis), pos(tokenAxis), pos(channelAxis)].join('');
    kind = o === '012' ? 'tokens' : o === '102' ? 'tokens-first' : o === '021' ? 'channels-tokens' : 'other';
  } else {
    const g = gridAxes!.map(pos);
    const inOrder = g.every((v, i) => i === 0 || v > g[i - 1]!);
    if (inOrder && pos(batchAxis) === 0 && pos(channelAxis) === 1) kind = grid.length === 2 ? 'nchw' : 'ncdhw';
    else if (inOrder && pos(batchAxis) === 0 && pos(channelAxis) === order.length - 1) kind = grid.length === 2 ? 'nhwc' : 'ndhwc';
  }
  return { kind, grid, channels: shape[channelAxis]!, prefix, suffix, batchAxis, channelAxis, gridAxes, tokenAxis, rank: shape.length };
}

/** A user's --layout for a tensor of the given shape: nchw | nhwc | ncdhw | ndhwc | tokens:HxW[+P]. */
export function layoutFromOverride(spec: string, shape: number[]): LayerLayout {
  const s = spec.trim().toLowerCase();
  const fail = (why: string) => new Error(`--layout ${spec}: ${why}`);
  if (s === 'nchw' || s === 'nhwc') {
    if (shape.length !== 4) throw fail(`the layer has shape [${shape.join(', ')}], not 4-D`);
    const nchw = s === 'nchw';
    const grid = nchw ? [shape[2]!, shape[3]!] : [shape[1]!, shape[2]!];
    return { kind: s, grid, channels: nchw ? shape[1]! : shape[3]!, prefix: 0, suffix: 0, batchAxis: 0, channelAxis: nchw ? 1 : 3, gridAxes: nchw ? [2, 3] : [1, 2], rank: 4, override: true };
  }
  if (s === 'ncdhw' || s === 'ndhwc') {
    if (shape.length !== 5) throw fail(`the layer has shape [${shape.join(', ')}], not 5-D`);
    const first = s === 'ncdhw';
    const gridAxes = first ? [2, 3, 4] : [1, 2, 3];
    return { kind: s, grid: gridAxes.map((a) => shape[a]!), channels: first ? shape[1]! : shape[4]!, prefix: 0, suffix: 0, batchAxis: 0, channelAxis: first ? 1 : 4, gridAxes, rank: 5, override: true };
  }
  const m = /^tokens:(\d+)x(\d+)(?:\+(\d+))?$/.exec(s);
  if (m) {
    const [h, w, p] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
    if (shape.length !== 3) throw fail(`the layer has shape [${shape.join(', ')}]; tokens need [N, L, C]`);
    const L = shape[1]!;
    if (p + h * w > L) throw fail(`${p} prefix tokens + a ${h}×${w} grid = ${p + h * w} tokens, but the layer has ${L}`);
    return { kind: 'tokens', grid: [h, w], channels: shape[2]!, prefix: p, suffix: L - p - h * w, batchAxis: 0, channelAxis: 2, tokenAxis: 1, rank: 3, override: true };
  }
  throw fail('valid layouts are nchw, nhwc, ncdhw, ndhwc and tokens:HxW[+P] (P prefix tokens, e.g. tokens:14x14+1 for a ViT with a class token)');
}

/** A short human description: `nchw 7×7`, `tokens 14×14 +1`. */
export function layoutLabel(l: LayerLayout): string {
  if (l.kind === 'unknown') return 'unknown';
  const extra = (l.prefix ? ` +${l.prefix}` : '') + (l.suffix ? ` (+${l.suffix} after)` : '');
  return `${l.kind} ${l.grid.join('×')}${extra}`;
}

/** Whether a layer can be explained: a known 2-D or 3-D layout with a grid of more than one cell. */
export function explainable(l: LayerLayout): boolean {
  return l.kind !== 'unknown' && (l.grid.length === 2 || l.grid.length === 3) && l.grid.reduce((a, v) => a * v, 1) > 1;
}

/**
 * A tensor in the given layout → [N, C, h, w] (row-major): prefix and suffix tokens dropped, the
 * token axis unflattened, channels first — what pytorch-grad-cam's reshape_transform does by hand.
 */
export function toNCHW(data: Float32Array, dims: number[], l: LayerLayout): { data: Float32Array; dims: [number, number, number, number] } {
  if (l.grid.length !== 2) throw new Error(`internal: toNCHW needs a 2-D grid, got [${l.grid.join(', ')}]`);
  return toChannelsFirst(data, dims, l) as { data: Float32Array; dims: [number, number, number, number] };
}

/**
 * A tensor in the given layout → [N, C, ...grid] row-major: [N, C, h, w] for 2-D layers, [N, C, d, h, w]
 * for 3-D ones (ncdhw, ndhwc, tokens over a d×h×w grid).
 */
export function toChannelsFirst(data: Float32Array, dims: number[], l: LayerLayout): { data: Float32Array; dims: number[] } {
  const grid = l.grid;
  if (grid.length !== 2 && grid.length !== 3) throw new Error(`internal: a layer needs a 2-D or 3-D grid, got [${grid.join(', ')}]`);
  const strides = dims.map((_, k) => dims.slice(k + 1).reduce((a, v) => a * v, 1));
  const N = dims[l.batchAxis]!;
  const C = dims[l.channelAxis]!;
  const sN = strides[l.batchAxis]!;
  const sC = strides[l.channelAxis]!;
  const cells = grid.reduce((a, v) => a * v, 1);
  const off = new Int32Array(cells);
  if (l.tokenAxis !== undefined) {
    const sT = strides[l.tokenAxis]!;
    for (let p = 0; p < cells; p++) off[p] = (l.prefix + p) * sT;
  } else {
    const gs = l.gridAxes!.map((a) => strides[a]!);
    for (let p = 0; p < cells; p++) {
      let rest = p;
      let o = 0;
      for (let k = grid.length - 1; k >= 0; k--) {
        o += (rest % grid[k]!) * gs[k]!;
        rest = Math.floor(rest / grid[k]!);
      }
      off[p] = o;
    }
  }
  if ((l.kind === 'nchw' && dims.length === 4) || (l.kind === 'ncdhw' && dims.length === 5)) return { data, dims: [N, C, ...grid] };
  const out = new Float32Array(N * C * cells);
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = n * sN + c * sC;
      for (let p = 0; p < cells; p++) out[o++] = data[base + off[p]!]!;
    }
  }
  return { data: out, dims: [N, C, ...grid] };
}

/** The shape a per-channel mask [B, C] takes to broadcast over a tensor of this layout (B at the batch axis). */
export function channelMaskShape(l: LayerLayout, batch: number, channels: number): number[] {
  const s = Array<number>(l.rank).fill(1);
  s[l.batchAxis] = batch;
  s[l.channelAxis] = channels;
  return s;
}
