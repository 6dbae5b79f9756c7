/**
 * Keras layers that move or combine data: Dropout-like identities, Flatten, Reshape, Permute, ZeroPadding2D,
 * Cropping2D, UpSampling2D, and the merges (Add, Subtract, Multiply, Maximum, Minimum, Average, Concatenate).
 */
import type { AttrValue } from '../../model.js';
import { cfg } from './topology.js';
import { amounts, channelsLast, type Converter, type Dim, err, num, one, pair, rank4, str, type T } from './layer-call.js';
import { finishNCHW, toNCHW } from './activations.js';

// ---------------------------------------------------------------- shapes

export const identity: Converter = (c) => [{ name: c.e.node('Identity', [one(c).name], {}, c.out), shape: one(c).shape }];

export const flatten: Converter = (c) => {
  const x = one(c);
  const rest = x.shape.slice(1);
  const n = rest.every((d) => d != null) ? (rest as number[]).reduce((a, v) => a * v, 1) : null;
  // row-major over the channels-last tensor: Keras's own order
  return [{ name: c.e.node('Reshape', [x.name, c.e.ints([0, -1])], {}, c.out), shape: [x.shape[0]!, n] }];
};

export const reshape: Converter = (c) => {
  const x = one(c);
  const target = (cfg<unknown[]>(c.layer.config, 'target_shape') ?? []).map(Number);
  let shape: Dim[] = [x.shape[0]!, ...target];
  if (target.includes(-1)) {
    const rest = x.shape.slice(1);
    const known = target.filter((t) => t !== -1).reduce((a, v) => a * v, 1);
    shape = rest.every((d) => d != null) ? [x.shape[0]!, ...target.map((t) => (t === -1 ? (rest as number[]).reduce((a, v) => a * v, 1) / known : t))] : shape.map((d) => (d === -1 ? null : d));
  }
  return [{ name: c.e.node('Reshape', [x.name, c.e.ints([0, ...target])], {}, c.out), shape }];
};

export const permute: Converter = (c) => {
  const x = one(c);
  const dims = (cfg<unknown[]>(c.layer.config, 'dims') ?? []).map(Number);
  if (dims.length !== x.shape.length - 1) throw err(c, `dims ${JSON.stringify(dims)} do not match its rank-${x.shape.length} input`);
  return [{ name: c.e.node('Transpose', [x.name], { perm: [0, ...dims] }, c.out), shape: [x.shape[0]!, ...dims.map((d) => x.shape[d]!)] }];
};

export const zeroPadding: Converter = (c) => {
  channelsLast(c);
  const x = one(c);
  rank4(c, x);
  const [t, b, l, r] = amounts(c, 'padding');
  const add = (d: Dim, p: number) => (d == null ? null : d + p);
  return [{ name: c.e.node('Pad', [x.name, c.e.ints([0, t, l, 0, 0, b, r, 0])], {}, c.out), shape: [x.shape[0]!, add(x.shape[1]!, t + b), add(x.shape[2]!, l + r), x.shape[3]!] }];
};

export const cropping: Converter = (c) => {
  channelsLast(c);
  const x = one(c);
  rank4(c, x);
  const [t, b, l, r] = amounts(c, 'cropping');
  const BIG = 2 ** 31 - 1;
  const name = c.e.node('Slice', [x.name, c.e.ints([t, l]), c.e.ints([b ? -b : BIG, r ? -r : BIG]), c.e.ints([1, 2])], {}, c.out);
  const sub = (d: Dim, p: number) => (d == null ? null : d - p);
  return [{ name, shape: [x.shape[0]!, sub(x.shape[1]!, t + b), sub(x.shape[2]!, l + r), x.shape[3]!] }];
};

export const upSampling: Converter = (c) => {
  channelsLast(c);
  const x = one(c);
  rank4(c, x);
  const [sh, sw] = pair(c, 'size', [2, 2]);
  const interp = str(c, 'interpolation', 'nearest').toLowerCase();
  let attrs: Record<string, AttrValue>;
  if (interp === 'nearest') attrs = { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' };
  else if (interp === 'bilinear') {
    // TF.js: tf.image.resizeBilinear (alignCorners and halfPixelCenters false); Keras 2/3: tf.image.resize (half-pixel centres)
    attrs = { mode: 'linear', coordinate_transformation_mode: c.dialect.tfjs ? 'asymmetric' : 'half_pixel' };
  } else throw err(c, `interpolation '${interp}' is not supported (nearest, bilinear)`);
  const scales = c.e.weight(Float32Array.of(1, 1, sh, sw), [4], `${c.out}/scales`);
  const y = c.e.node('Resize', [toNCHW(c, x.name), '', scales], attrs, `${c.out}/resize`);
  const mul = (d: Dim, s: number) => (d == null ? null : d * s);
  return finishNCHW(c, y, [x.shape[0]!, mul(x.shape[1]!, sh), mul(x.shape[2]!, sw), x.shape[3]!], 'linear');
};

// ---------------------------------------------------------------- merges

function broadcastShape(ts: T[]): Dim[] {
  const r = Math.max(...ts.map((t) => t.shape.length));
  return Array.from({ length: r }, (_, i) => {
    let d: Dim = 1;
    for (const t of ts) {
      const v = t.shape[t.shape.length - r + i];
      if (v === undefined) continue;
      if (v === null) return null;
      if (v !== 1) d = v;
    }
    return i === 0 ? null : d;
  });
}

export function chain(op: string): Converter {
  return (c) => {
    if (c.inputs.length < 2) throw err(c, `expects at least two inputs, got ${c.inputs.length}`);
    let y = c.inputs[0]!.name;
    for (let i = 1; i < c.inputs.length; i++) y = c.e.node(op, [y, c.inputs[i]!.name], {}, i === c.inputs.length - 1 ? c.out : `${c.out}/${op.toLowerCase()}_${i}`);
    return [{ name: y, shape: broadcastShape(c.inputs) }];
  };
}

export const average: Converter = (c) => {
  if (c.inputs.length < 2) throw err(c, `expects at least two inputs, got ${c.inputs.length}`);
  let y = c.inputs[0]!.name;
  for (let i = 1; i < c.inputs.length; i++) y = c.e.node('Add', [y, c.inputs[i]!.name], {}, `${c.out}/add_${i}`);
  return [{ name: c.e.node('Mul', [y, c.e.scalar(1 / c.inputs.length)], {}, c.out), shape: broadcastShape(c.inputs) }];
};

export const concatenate: Converter = (c) => {
  if (c.inputs.length < 1) throw err(c, 'has no inputs');
  const r = c.inputs[0]!.shape.length;
  let axis = num(c, 'axis', -1);
  if (axis < 0) axis += r;
  const shape = c.inputs[0]!.shape.slice();
  shape[axis] = c.inputs.every((t) => t.shape[axis] != null) ? c.inputs.reduce((a, t) => a + (t.shape[axis] as number), 0) : null;
  return [{ name: c.e.node('Concat', c.inputs.map((t) => t.name), { axis }, c.out), shape }];
};
