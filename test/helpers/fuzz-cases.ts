/**
 * Seeded mutations of the fixture models, images and .npy inputs for test/fuzz.test.ts: each case is a
 * `gradcam` command line over files written to a scratch folder. Structure-aware model mutations
 * (ops, attributes, shapes, types, initializers, external data, opsets) and byte-level ones (flips,
 * truncation, splices), broken and extreme images, malformed .npy files and bad option values; then
 * (issue 23) hostile scans — NIfTI headers with lying fields, gzip bodies short, long or bombs,
 * deflated DICOM of any declared size — and manifests with huge or malformed masks (makeScanCases).
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { decodeModel, encodeModel, type ModelProto } from '../../src/onnx/model.js';
import { Rng } from '../../src/util/random.js';
import { FIXTURES } from './fixtures.js';
import { niftiHeader, niftiDataBytes, compressZeros, deflatedDicom } from './hostile.js';

export interface FuzzCase {
  id: number;
  kind: string;
  argv: string[];
  /** The output folder of the case: must hold nothing after a failed run. */
  out: string;
}

const MODELS = ['resnet_like', 'mobilenet_like', 'vgg_like', 'opzoo_a', 'opzoo_b', 'nhwc_input', 'softmax_head', 'opset9', 'squeezenet_like', 'densenet_like'];
const OPS = ['Relu', 'Conv', 'Add', 'MatMul', 'Gemm', 'Reshape', 'Flatten', 'GlobalAveragePool', 'MaxPool', 'Softmax', 'Identity', 'Concat', 'Transpose', 'Resize', 'Sigmoid', 'NoSuchOp', 'Loop', 'If', 'Cast'];
const WEIRD_INTS = [0, -1, -2, 1, 2, 3, 7, 64, 1000, 2 ** 31 - 1, -(2 ** 31)];

class Picker {
  constructor(readonly rng: Rng) {}
  int(n: number): number {
    return Math.floor(this.rng.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.rng.next() < p;
  }
}

type ModelMutation = (m: ModelProto, r: Picker, dir: string) => string;

const MODEL_MUTATIONS: ModelMutation[] = [
  (m, r) => {
    const n = r.pick(m.graph.node);
    const op = r.pick(OPS);
    const was = n.op_type;
    n.op_type = op;
    return `op ${was}→${op}`;
  },
  (m, r) => {
    const i = r.int(m.graph.node.length);
    const [n] = m.graph.node.splice(i, 1);
    return `delete node ${n!.op_type}`;
  },
  (m, r) => {
    const nodes = m.graph.node.filter((n) => n.attribute.some((a) => a.i !== undefined || a.ints));
    if (!nodes.length) return 'no int attributes';
    const n = r.pick(nodes);
    const a = r.pick(n.attribute.filter((x) => x.i !== undefined || x.ints));
    if (a.ints) {
      const ints = a.ints.slice();
      if (ints.length && r.chance(0.7)) ints[r.int(ints.length)] = r.pick(WEIRD_INTS);
      else if (r.chance(0.5)) ints.push(r.pick(WEIRD_INTS));
      else ints.pop();
      a.ints = ints;
    } else a.i = r.pick(WEIRD_INTS);
    return `attribute ${n.op_type}.${a.name}`;
  },
  (m, r) => {
    const dims = m.graph.input[0]!.type!.tensor_type!.shape!.dim!;
    const k = r.int(4);
    const v = r.pick([0, 1, 2, 5, -3, 100000, 'dyn']);
    if (r.chance(0.2)) {
      if (r.chance(0.5)) dims.pop();
      else dims.push({ dim_value: 1 });
      return 'input rank';
    }
    dims[k] = typeof v === 'string' ? { dim_param: v } : { dim_value: v };
    return `input dim ${k}=${v}`;
  },
  (m, r) => {
    const t = m.graph.input[0]!.type!.tensor_type!;
    t.elem_type = r.pick([0, 2, 7, 8, 9, 10, 11, 16, 99]);
    return `input type ${t.elem_type}`;
  },
  (m, r) => {
    if (!m.graph.initializer.length) return 'no initializers';
    const i = r.int(m.graph.initializer.length);
    const [t] = m.graph.initializer.splice(i, 1);
    return `remove initializer ${t!.name}`;
  },
  (m, r) => {
    if (!m.graph.initializer.length) return 'no initializers';
    const t = r.pick(m.graph.initializer);
    const dims = (t.dims ?? []).slice();
    if (dims.length && r.chance(0.6)) dims[r.int(dims.length)] = r.pick([0, -1, 3, 1, 100000, 2 ** 40]);
    else dims.push(r.pick([2, 0]));
    t.dims = dims;
    return `initializer dims ${t.name}`;
  },
  (m, r) => {
    const inits = m.graph.initializer.filter((t) => t.raw_data && t.raw_data.byteLength > 0);
    if (!inits.length) return 'no raw data';
    const t = r.pick(inits);
    t.raw_data = t.raw_data!.subarray(0, r.int(t.raw_data!.byteLength));
    return `truncate raw data ${t.name}`;
  },
  (m, r) => {
    const v = r.pick([0, 1, 6, 8, 99, 1000]);
    m.opset_import = [{ domain: '', version: v }];
    return `opset ${v}`;
  },
  (m, r) => {
    const n = r.pick(m.graph.node.filter((x) => x.input.length));
    n.input[r.int(n.input.length)] = r.pick(['missing_tensor', '', m.graph.node[r.int(m.graph.node.length)]!.output[0] ?? 'x']);
    return `rewire ${n.op_type}`;
  },
  (m, r, dir) => {
    // move an initializer to an external data file, with good or broken location/offset/length
    const inits = m.graph.initializer.filter((t) => t.raw_data && t.raw_data.byteLength > 0);
    if (!inits.length) return 'no raw data';
    const t = r.pick(inits);
    const bytes = t.raw_data!;
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat([Buffer.alloc(16), Buffer.from(bytes)]));
    const variant = r.int(9);
    const loc = ['weights.bin', 'weights.bin', 'missing.bin', '../weights.bin', '/etc/passwd', '', '.', 'weights.bin', 'weights.bin'][variant]!;
    const offset = ['16', '16', '16', '16', '0', '16', '0', '-5', 'abc'][variant]!;
    const length = [String(bytes.byteLength), String(bytes.byteLength + 100), undefined, undefined, undefined, undefined, undefined, undefined, '1e30'][variant];
    delete t.raw_data;
    t.data_location = 1;
    t.external_data = [{ key: 'location', value: loc }, { key: 'offset', value: offset }, ...(length !== undefined ? [{ key: 'length', value: length }] : [])];
    return `external data ${loc} @${offset}+${length}`;
  },
  (m, r) => {
    if (r.chance(0.5)) m.graph.output = [];
    else m.graph.input.push({ name: 'second', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 1 }] } } } });
    return 'graph inputs/outputs';
  },
  (m, r) => {
    const n = r.pick(m.graph.node);
    m.graph.node.push({ ...n, name: `${n.name}_dup` });
    return `duplicate node ${n.op_type}`;
  },
  (m, r) => {
    m.metadata_props = [{ key: 'labels', value: r.pick(['[1,2', '{"a":', '[]', '["a"]', '\n\n', 'x'.repeat(1000)]) }];
    return 'labels metadata';
  },
  (m, r) => {
    const n = r.pick(m.graph.node);
    n.domain = r.pick(['com.microsoft', 'ai.onnx.ml', 'bogus.domain']);
    return `domain ${n.domain}`;
  },
  (m, r) => {
    const n = r.pick(m.graph.node);
    n.output = r.chance(0.5) ? [] : [...n.output, `${n.output[0] ?? 'x'}_extra`];
    return `outputs of ${n.op_type}`;
  },
];

type ByteMutation = (b: Buffer, r: Picker) => Buffer;
const BYTE_MUTATIONS: ByteMutation[] = [
  (b, r) => {
    const c = Buffer.from(b);
    const k = 1 + r.int(8);
    for (let i = 0; i < k; i++) c[r.int(c.length)] = r.int(256);
    return c;
  },
  (b, r) => b.subarray(0, r.int(b.length)),
  (b, r) => {
    const at = r.int(b.length);
    const len = 1 + r.int(64);
    return Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: len }, () => r.int(256))), b.subarray(at)]);
  },
  (b, r) => {
    const a = r.int(b.length);
    const len = r.int(Math.min(4096, b.length - a));
    return Buffer.concat([b.subarray(0, a), b.subarray(a, a + len), b.subarray(a)]);
  },
];

function npyHeader(descr: string, shape: string, fortran = false): Buffer {
  let h = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
  const total = 10 + h.length + 1;
  h += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(h.length, 8);
  return Buffer.concat([head, Buffer.from(h, 'latin1')]);
}

/** Writes `count` cases (model, image, .npy and option mutations) under `dir`. */
export async function makeFuzzCases(seed: number, count: number, dir: string): Promise<FuzzCase[]> {
  const r = new Picker(new Rng(seed));
  fs.mkdirSync(dir, { recursive: true });
  // base images
  const img = path.join(dir, 'base');
  fs.mkdirSync(img, { recursive: true });
  const mk = (w: number, h: number, ch: 1 | 2 | 3 | 4, fmt: 'png' | 'jpeg' | 'webp', name: string) =>
    sharp({ create: { width: w, height: h, channels: ch === 1 || ch === 2 ? 3 : ch, background: { r: 30, g: 140, b: 90, alpha: 0.5 } } })
      .toColourspace(ch <= 2 ? 'b-w' : 'srgb').toFormat(fmt).toFile(path.join(img, `${name}.${fmt === 'jpeg' ? 'jpg' : fmt}`));
  await mk(96, 64, 3, 'png', 'photo');
  await mk(80, 80, 3, 'jpeg', 'photo');
  await mk(40, 30, 4, 'png', 'alpha');
  await mk(33, 17, 1, 'png', 'grey');
  await mk(1, 1, 3, 'png', 'dot');
  await mk(1, 700, 3, 'png', 'tall');
  await mk(900, 1, 3, 'webp', 'wide');
  const photos = ['photo.png', 'photo.jpg', 'alpha.png', 'grey.png', 'dot.png', 'tall.png', 'wide.webp'].map((f) => path.join(img, f));

  const cases: FuzzCase[] = [];
  for (let id = 0; id < count; id++) {
    const cdir = path.join(dir, `c${id}`);
    fs.mkdirSync(cdir);
    const out = path.join(cdir, 'out');
    const name = r.pick(MODELS);
    const fixture = path.join(FIXTURES, name);
    const modelFile = path.join(cdir, 'model.onnx');
    let model = path.join(fixture, 'model.onnx');
    let input = path.join(fixture, 'input.npy');
    const extra: string[] = ['--quiet'];
    let kind: string;
    let cmd = 'explain';
    const roll = r.int(100);
    if (roll < 40) {
      // a structure-aware model mutation (one or two)
      const m = decodeModel(new Uint8Array(fs.readFileSync(model)));
      const what: string[] = [];
      for (let k = 0, n = 1 + (r.chance(0.3) ? 1 : 0); k < n; k++) what.push(r.pick(MODEL_MUTATIONS)(m, r, cdir));
      let bytes: Uint8Array;
      try {
        bytes = encodeModel(m);
      } catch {
        bytes = new Uint8Array(fs.readFileSync(model)).subarray(0, 100);
      }
      fs.writeFileSync(modelFile, bytes);
      model = modelFile;
      kind = `model ${name}: ${what.join(', ')}`;
    } else if (roll < 55) {
      const f = r.pick(BYTE_MUTATIONS);
      fs.writeFileSync(modelFile, f(fs.readFileSync(model), r));
      model = modelFile;
      kind = `model bytes ${name}: ${BYTE_MUTATIONS.indexOf(f)}`;
    } else if (roll < 70) {
      // a broken or extreme image
      const src = r.pick(photos);
      const ext = path.extname(src);
      const f = path.join(cdir, `img${ext}`);
      if (r.chance(0.5)) {
        const m = r.pick(BYTE_MUTATIONS);
        fs.writeFileSync(f, m(fs.readFileSync(src), r));
        kind = `image bytes ${path.basename(src)}: ${BYTE_MUTATIONS.indexOf(m)}`;
      } else {
        fs.copyFileSync(src, f);
        kind = `image ${path.basename(src)}`;
      }
      input = f;
      if (name === 'nhwc_input' || r.chance(0.3)) extra.push('--size', r.pick(['48', '32x40', '0', '1x1', '7']));
    } else if (roll < 82) {
      // a malformed .npy
      const f = path.join(cdir, 'x.npy');
      const v = r.int(10);
      const good = fs.readFileSync(input);
      const bodies: (() => Buffer)[] = [
        () => Buffer.concat([npyHeader('<f4', '(1, 3, 100000, 100000)'), Buffer.alloc(64)]),
        () => Buffer.concat([npyHeader('<f8', '(3, 48, 48)'), Buffer.alloc(3 * 48 * 48 * 8)]),
        () => Buffer.concat([npyHeader('<c8', '(3, 48, 48)'), Buffer.alloc(3 * 48 * 48 * 8)]),
        () => Buffer.concat([npyHeader('>f4', '(3, 48, 48)', true), Buffer.alloc(3 * 48 * 48 * 4)]),
        () => Buffer.concat([npyHeader('<f4', '(3, 48)'), Buffer.alloc(3 * 48 * 4)]),
        () => Buffer.concat([npyHeader('<f4', '(-1, 3)'), Buffer.alloc(12)]),
        () => Buffer.concat([npyHeader('|O', '(3,)'), Buffer.alloc(24)]),
        () => Buffer.from(`\x93NUMPY\x01\x00\xff\xff{'descr'`, 'latin1'),
        () => r.pick(BYTE_MUTATIONS)(good, r),
        () => {
          const b = Buffer.from(good);
          const d = new Float32Array(b.buffer, b.byteOffset + b.length - 4 * 64, 64);
          d.fill(r.pick([NaN, Infinity, -Infinity, 3e38]));
          return b;
        },
      ];
      fs.writeFileSync(f, bodies[v]!());
      input = f;
      kind = `npy ${v}`;
    } else if (roll < 92) {
      // bad option values
      const opts: string[][] = [
        ['--class', r.pick(['-1', '1e3', '99999', 'NaN', '', 'top5', '3.5'])],
        ['--alpha', r.pick(['-0.1', 'NaN', '2', ''])],
        ['--layer', r.pick(['nope', '', '/layer1', 'input', 'logits'])],
        ['--method', r.pick(['gradcam++', 'nope', 'GRADCAM', 'scorecam', 'ablationcam', 'guided-gradcam', ''])],
        ['--batch-size', r.pick(['0', '-3', '1.5', '1e9', 'x'])],
        ['--size', r.pick(['0', '0x0', '-5', '1e9', '48x', '100000x100000'])],
        ['--colormap', r.pick(['hot', ''])],
        ['--normalize', r.pick(['nope', 'unit'])],
        ['--mean', r.pick(['1,2', 'a,b,c', '0.5,0.5,0.5'])],
        ['--output', r.pick(['nope', 'logits'])],
        ['--labels', r.pick([path.join(cdir, 'missing.txt'), cdir, input])],
        ['--cam-batch', r.pick(['0', '1', '3'])],
        ['--top-k', r.pick(['0', '2', '100'])],
        ['--target', r.pick(['nope', 'segmentation', 'binary', 'element'])],
      ];
      const o = r.pick(opts);
      extra.push(...o);
      if (o[0] === '--method' && ['scorecam', 'ablationcam'].includes(o[1]!)) extra.push('--cam-batch', '64');
      kind = `option ${o.join(' ')}`;
    } else if (roll < 96) {
      // the output folder is a file, or an input sits where an output goes
      if (r.chance(0.5)) {
        fs.writeFileSync(out, 'a file where the output folder should be');
        kind = 'out is a file';
      } else {
        fs.mkdirSync(out);
        const mine = path.join(out, 'mine.png');
        fs.copyFileSync(photos[0]!, mine);
        fs.copyFileSync(photos[0]!, path.join(out, 'mine.gradcam.png'));
        input = mine;
        kind = 'input inside the output folder';
      }
    } else {
      // other commands on a mutated model
      cmd = r.pick(['layers', 'audit']);
      const m = decodeModel(new Uint8Array(fs.readFileSync(model)));
      const what = r.pick(MODEL_MUTATIONS)(m, r, cdir);
      fs.writeFileSync(modelFile, encodeModel(m));
      model = modelFile;
      kind = `${cmd} ${name}: ${what}`;
    }
    const argv = cmd === 'layers' ? ['layers', '--model', model]
      : cmd === 'audit' ? ['audit', r.pick(photos), '--model', model, '--out', out, '--quiet', ...(name === 'nhwc_input' ? [] : [])]
      : ['explain', input, '--model', model, '--out', out, ...extra];
    cases.push({ id, kind, argv, out });
  }
  return cases;
}

const MED = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'demo', 'models');
const NIFTI_FIELDS: ((h: DataView, r: Picker) => string)[] = [
  (h, r) => { const k = 1 + r.int(4); const v = r.pick([...WEIRD_INTS, 32767, -32768, 1500]) << 16 >> 16; h.setInt16(40 + 2 * k, v, true); return `dim[${k}] = ${v}`; },
  (h, r) => { const v = r.pick([0, -1, 2, 4, 5, 8, 32767]); h.setInt16(40, v, true); return `dim[0] = ${v}`; },
  (h, r) => { const v = r.pick([NaN, Infinity, -Infinity, -1, 0, 1e9, 347, 353, 3e38, 4e9]); h.setFloat32(108, v, true); return `vox_offset = ${v}`; },
  (h, r) => { const v = r.pick([0, 1, 3, 32, 128, 1792, 2304, 2048, -1]); h.setInt16(70, v, true); return `datatype = ${v}`; },
  (h, r) => { const v = r.pick([NaN, Infinity, 0, -1, 1e38]); h.setFloat32(112, v, true); return `scl_slope = ${v}`; },
  (h, r) => { h.setInt16(254, 1, true); const k = r.int(12); const v = r.pick([NaN, Infinity, 1e38]); h.setFloat32(280 + 4 * k, v, true); return `srow[${k}] = ${v}`; },
  (h, r) => { h.setInt16(252, 1, true); const k = r.int(3); const v = r.pick([NaN, 2, -5]); h.setFloat32(256 + 4 * k, v, true); return `quatern[${k}] = ${v}`; },
  (h, r) => { const v = r.pick([0, 540, 348 << 8, -348]); h.setInt32(0, v, true); return `sizeof_hdr = ${v}`; },
  (h, r) => { const k = 344 + r.int(4); h.setUint8(k, r.int(256)); return `magic byte ${k}`; },
];

/**
 * `count` hostile scan and mask cases (ids from `first`), each small on disk: NIfTI files (plain or
 * gzipped) whose header fields lie and whose bodies are short, long or bombs; deflated DICOM files of
 * any declared size; byte mutations of both; audit manifests whose masks are declared huge or broken.
 */
export async function makeScanCases(seed: number, count: number, first: number, dir: string): Promise<FuzzCase[]> {
  const r = new Picker(new Rng(seed));
  const photo = path.join(dir, 'scan-photo.png');
  await sharp({ create: { width: 60, height: 40, channels: 3, background: { r: 30, g: 140, b: 90 } } }).png().toFile(photo);
  const cases: FuzzCase[] = [];
  for (let id = first; id < first + count; id++) {
    const cdir = path.join(dir, `c${id}`);
    fs.mkdirSync(cdir, { recursive: true });
    const out = path.join(cdir, 'out');
    const model = path.join(MED, r.pick(['med2d.onnx', 'med3d.onnx']));
    const roll = r.int(100);
    let kind: string;
    let argv: string[];
    if (roll < 50) {
      // a NIfTI header with one or two lying fields, a body of the declared length or not
      const dims = r.pick([[32, 32, 3], [16, 16, 16], [20, 24, 18, 2], [64, 64]]);
      const spec = { dims, datatype: r.pick([2, 4, 16, 64, 512]) };
      const h = niftiHeader(spec);
      const hv = new DataView(h.buffer);
      const what = [r.pick(NIFTI_FIELDS)(hv, r)];
      if (r.chance(0.3)) what.push(r.pick(NIFTI_FIELDS)(hv, r));
      const declared = niftiDataBytes(spec);
      const len = r.pick([declared, declared, 0, Math.floor(declared / 2), declared + 7, 50_000_000]);
      const gz = len > 4_000_000 || r.chance(0.5);
      const f = path.join(cdir, gz ? 'scan.nii.gz' : 'scan.nii');
      let bytes = gz ? await compressZeros(h, len, 'gzip') : Buffer.concat([h, Buffer.alloc(len)]);
      if (r.chance(0.2)) bytes = r.pick(BYTE_MUTATIONS)(Buffer.from(bytes), r);
      fs.writeFileSync(f, bytes);
      kind = `nifti ${gz ? 'gz ' : ''}${dims.join('×')}: ${what.join(', ')}, ${len} body bytes`;
      argv = ['explain', f, '--model', model, '--out', out, '--quiet'];
    } else if (roll < 75) {
      // a deflated DICOM of any declared size, its pixels complete, short or long
      const [rows, cols, frames] = [r.pick([1, 2, 40, 255, 16384, 65535]), r.pick([1, 3, 48, 4096, 65535]), r.pick([1, 1, 3, 16, 100000])];
      const n = rows * cols * frames * 2;
      // a legitimate volume of millions of voxels takes longer than a case may (20 s): those stay short of pixels
      // (truncated); above the voxel budget, the pixels may be a 40 MB bomb (refused from the header)
      const zeros = n / 2 > 64 * 2 ** 20 ? r.pick([1000, 40_000_000]) : n > 4_000_000 ? 1000 : r.pick([n, 1000, n + 3]);
      let bytes: Uint8Array = await deflatedDicom(rows, cols, frames, zeros);
      const mutated = r.chance(0.25);
      if (mutated) bytes = r.pick(BYTE_MUTATIONS)(Buffer.from(bytes), r);
      const f = path.join(cdir, 'scan.dcm');
      fs.writeFileSync(f, bytes);
      kind = `dicom deflated ${cols}×${rows}×${frames}, ${zeros} pixel bytes${mutated ? ', bytes mutated' : ''}`;
      argv = ['explain', f, '--model', model, '--out', out, '--quiet'];
    } else {
      // an audit manifest whose mask is declared huge or broken
      fs.copyFileSync(photo, path.join(cdir, 'img.png'));
      const big = r.pick([[40000, 40000], [1, 1_000_000_000], [65536, 65536], [0, 5], [-3, 4], [1e300, 2], [40, 60]]);
      const total = big[0]! * big[1]!;
      const counts = r.pick([[total], [Math.floor(total / 2), Math.ceil(total / 2)], [total + 1], [-1, total + 1], 'abc', '', [0, 0, 0], [1e308, 1e308]]);
      let manifest: string;
      if (r.chance(0.6)) {
        manifest = path.join(cdir, 'm.jsonl');
        fs.writeFileSync(manifest, `${JSON.stringify({ path: 'img.png', mask_rle: { size: big, counts, ...(r.chance(0.5) ? { order: r.pick(['row-major', 'F', 'sideways']) } : {}) } })}\n`);
        kind = `manifest rle ${JSON.stringify(big)} counts ${JSON.stringify(counts).slice(0, 40)}`;
      } else {
        manifest = path.join(cdir, 'coco.json');
        const poly = r.pick([[0, 0, big[1]!, 0, big[1]!, big[0]!], [0, 0, 1e308, 1, 5, NaN], [1, 2], [0, 0, 1e9, 1e9, -1e9, 1e9]]);
        fs.writeFileSync(manifest, JSON.stringify({
          images: [{ id: 1, file_name: 'img.png', width: big[1], height: big[0] }], categories: [{ id: 1, name: 'x' }],
          annotations: [{ id: 1, image_id: 1, category_id: 1, segmentation: [poly], bbox: [0, 0, 10, 10] }],
        }));
        kind = `manifest coco ${JSON.stringify(big)} polygon ${JSON.stringify(poly).slice(0, 40)}`;
      }
      argv = ['audit', manifest, '--model', path.join(FIXTURES, 'resnet_like', 'model.onnx'), '--out', out, '--quiet'];
    }
    cases.push({ id, kind, argv, out });
  }
  return cases;
}
