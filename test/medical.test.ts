/**
 * Scans (issue 16) on files the test makes itself (scripts/medical/dicom-writer.ts, the NIfTI writer,
 * a 16-bit PNG and TIFF written here): NIfTI round trips (sform, qform, big-endian, scaled int16), DICOM
 * (rescale, windows, multi-frame, MONOCHROME1, series order), 16-bit PNG/TIFF without precision loss,
 * intensity options, one-line errors for bad files, and `gradcam explain` on a NIfTI volume and on the
 * same volume as a DICOM series with the 3-D fixture model (same maps; the NIfTI map keeps the scan's
 * geometry).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readNifti, writeNifti } from '../src/image/nifti.js';
import { readDicom, stackSeries } from '../src/image/dicom.js';
import { applyIntensity, scanToTensors, type Volume } from '../src/image/volume.js';
import { openImageFile } from '../src/image/node.js';
import { readScanFile } from '../src/image/scan-node.js';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { prepareInputs } from '../src/node.js';
import { writeDicom } from '../scripts/medical/dicom-writer.js';
import { png16, tiff16, tiffGrey, tiffPages, tiffStack } from '../scripts/medical/image16-writer.js';
import { FIXTURES, loadArray, modelBytes } from './helpers/fixtures.js';
import { gradcam, oneError, ROOT as ROOT_DIR } from './helpers/cli.js';
import { niftiHeader, niftiDataBytes, niftiGz, deflatedDicom } from './helpers/hostile.js';

const AFFINE = new Float64Array([1.5, 0, 0, -10, 0, 1.5, 0, -20, 0, 0, 3, 5, 0, 0, 0, 1]);

describe('NIfTI', () => {
  it('round trip: values, dims and the affine (sform) survive, gzipped or not', () => {
    const v = Float32Array.from({ length: 4 * 3 * 5 }, (_, i) => Math.sin(i) * 1000);
    for (const gzip of [false, true]) {
      const r = readNifti(writeNifti(v, { dims: [4, 3, 5], affine: AFFINE }, { gzip }), 'a.nii');
      assert.deepEqual(r.dims, [4, 3, 5]);
      assert.deepEqual(Array.from(r.data), Array.from(v));
      assert.deepEqual(Array.from(r.affine), Array.from(AFFINE));
      // a map written with the read header keeps the geometry byte for byte
      const again = readNifti(writeNifti(new Float32Array(v.length), r), 'b.nii');
      assert.deepEqual(Array.from(again.affine), Array.from(AFFINE));
    }
  });

  it('int16 with scl_slope/inter, a qform with qfac −1, big-endian: read as written', () => {
    const hdr = (le: boolean) => {
      const b = new Uint8Array(352 + 2 * 2 * 2 * 3);
      const dv = new DataView(b.buffer);
      dv.setInt32(0, 348, le);
      [3, 3, 2, 2, 1, 1, 1, 1].forEach((d, k) => dv.setInt16(40 + 2 * k, d, le));
      dv.setInt16(70, 4, le);
      dv.setInt16(72, 16, le);
      [-1, 2, 3, 4].forEach((p, k) => dv.setFloat32(76 + 4 * k, p, le));
      dv.setFloat32(108, 352, le);
      dv.setFloat32(112, 0.5, le);
      dv.setFloat32(116, -100, le);
      dv.setInt16(252, 1, le);
      // quaternion (0, 0, 1): 180° about z
      dv.setFloat32(256, 0, le); dv.setFloat32(260, 0, le); dv.setFloat32(264, 1, le);
      dv.setFloat32(268, 7, le); dv.setFloat32(272, 8, le); dv.setFloat32(276, 9, le);
      b.set([0x6e, 0x2b, 0x31, 0], 344);
      for (let i = 0; i < 12; i++) dv.setInt16(352 + 2 * i, i * 10 - 30, le);
      return b;
    };
    for (const le of [true, false]) {
      const r = readNifti(hdr(le), 'q.nii');
      assert.deepEqual(r.dims, [2, 2, 3]);
      assert.deepEqual(Array.from(r.data).slice(0, 3), [-115, -110, -105]);
      // R = diag(−1, −1, 1), voxel sizes (2, 3, 4·qfac)
      assert.deepEqual(Array.from(r.affine).map((x) => Math.round(x * 1e6) / 1e6 + 0), [-2, 0, 0, 7, 0, -3, 0, 8, 0, 0, -4, 9, 0, 0, 0, 1]);
    }
  });

  it('bad files: one line naming the problem', () => {
    const good = writeNifti(new Float32Array(60), { dims: [4, 3, 5], affine: AFFINE });
    assert.throws(() => readNifti(good.subarray(0, 400), 't.nii'), /t\.nii: the header promises 5×3×4 float32 voxels .* truncated/);
    assert.throws(() => readNifti(good.subarray(0, 100), 't.nii'), /shorter than a NIfTI-1 header/);
    const n2 = new Uint8Array(600);
    new DataView(n2.buffer).setInt32(0, 540, true);
    assert.throws(() => readNifti(n2, 'n2.nii'), /NIfTI-2 files are not supported/);
    assert.throws(() => readNifti(new Uint8Array([0x1f, 0x8b, 1, 2, 3]), 'g.nii.gz'), /not a readable gzip stream/);
  });

  it('hostile headers (issue 23): NaN or negative offsets, non-positive sizes, sizes above the budget, data beyond the declared size; refused from the header', async () => {
    const body = (spec: Parameters<typeof niftiHeader>[0], extra = 0) => {
      const h = niftiHeader(spec);
      const out = new Uint8Array(h.length + Math.max(0, niftiDataBytes(spec)) + extra);
      out.set(h, 0);
      return out;
    };
    // a 352-byte file declaring 200³ voxels from byte NaN was read from the header's own bytes
    assert.throws(() => readNifti(niftiHeader({ dims: [200, 200, 200], voxOffset: NaN }), 'nan.nii'), /^InputError: nan\.nii: vox_offset NaN is not a byte offset/);
    assert.throws(() => readNifti(body({ dims: [2, 2, 2], voxOffset: -Infinity }), 'inf.nii'), /vox_offset -Infinity is not a byte offset/);
    assert.throws(() => readNifti(body({ dims: [2, 2, 2], voxOffset: -400 }), 'neg.nii'), /vox_offset -400 is not a byte offset/);
    // a negative dim[1] was read as 1
    assert.throws(() => readNifti(body({ dims: [-5, 4, 4], datatype: 2 }), 'negdim.nii'), /negdim\.nii: axis sizes \[-5, 4, 4\] must be positive/);
    assert.throws(() => readNifti(body({ dims: [0, 4, 4], datatype: 2 }), 'zero.nii'), /axis sizes \[0, 4, 4\] must be positive/);
    // 32767³ gave a raw 'Invalid typed array length'
    assert.throws(() => readNifti(niftiHeader({ dims: [32767, 32767, 32767] }), 'huge.nii'), /^InputError: huge\.nii: 32767×32767×32767 voxels \(35181151 M\) is above the limit of 67 M voxels for a scan; raise it with --max-pixels N \(0 for no limit\)/);
    // the budget is --max-pixels' (voxels): 0 lifts it, a smaller one refuses what the default takes
    assert.throws(() => readNifti(body({ dims: [10, 10, 10], datatype: 2 }), 'b.nii', { maxVoxels: 999 }), /b\.nii: 10×10×10 voxels \(1000\) is above the limit of 999 voxels/);
    assert.deepEqual(readNifti(body({ dims: [10, 10, 10], datatype: 2 }), 'b.nii', { maxVoxels: 0 }).dims, [10, 10, 10]);
    assert.throws(() => readNifti(body({ dims: [4, 4, 4, 2], datatype: 2 }), 'c.nii', { maxVoxels: 100 }), /4×4×4×2 voxels \(128\)/);
    // bytes after the declared data: refused, in a .nii and in a .nii.gz (whose inflation stops there)
    assert.throws(() => readNifti(body({ dims: [2, 2, 2], datatype: 2 }, 5), 't.nii'), /t\.nii: 5 bytes after the voxel data: the header declares 2×2×2 uint8 voxels \(8 bytes from byte 352\), the file has 365/);
    const bomb = await niftiGz({ dims: [8, 8, 8], datatype: 2 }, 50_000_000);
    const short = await niftiGz({ dims: [8, 8, 8], datatype: 2 }, 500);
    assert.throws(() => readNifti(bomb, 'z.nii.gz'), /z\.nii\.gz: the gzip stream inflates beyond the declared data: the header declares 8×8×8 uint8 voxels \(512 bytes from byte 352\)/);
    assert.throws(() => readNifti(short, 'short.nii.gz'), /short\.nii\.gz: the header declares 8×8×8 uint8 voxels .* but the file inflates to 852 bytes: truncated/);
    // a check of the declared size (a 2-D model's slices) runs before anything is allocated
    let seen: unknown;
    assert.throws(() => readNifti(niftiHeader({ dims: [512, 512, 1500], datatype: 4 }), 's.nii', { maxVoxels: 0, check: (d, c) => { seen = [d, c]; throw new Error('refused'); } }), /refused/);
    assert.deepEqual(seen, [[1500, 512, 512], 1]);
  });

  it('a .nii.gz is inflated piece by piece into the voxels: gzip pieces of any length give the same values as the plain file', async () => {
    const v = Float32Array.from({ length: 40 * 30 * 20 }, (_, i) => Math.sin(i) * 1000);
    const plain = writeNifti(v, { dims: [20, 30, 40], affine: AFFINE });
    const { gzipSync } = await import('node:zlib');
    for (const level of [0, 1, 9]) {
      const r = readNifti(new Uint8Array(gzipSync(plain, { level })), 'p.nii.gz');
      assert.deepEqual(r.data, v);
      assert.deepEqual(r.dims, [20, 30, 40]);
    }
    // int16 scaled, an odd byte count per gzip piece (values straddle pieces): level 0 stores 64 kB blocks
    const hdr = niftiHeader({ dims: [33, 17, 9], datatype: 4, slope: 0.5 });
    const raw = new Uint8Array(352 + 33 * 17 * 9 * 2);
    raw.set(hdr, 0);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < 33 * 17 * 9; i++) dv.setInt16(352 + 2 * i, i - 2000, true);
    const a = readNifti(raw, 'i.nii');
    const b = readNifti(new Uint8Array(gzipSync(raw, { level: 0 })), 'i.nii.gz');
    assert.deepEqual(a.data, b.data);
    assert.equal(a.data[0], -1000);
    assert.equal(a.data[33 * 17 * 9 - 1], (33 * 17 * 9 - 1 - 2000) / 2);
  });
});

describe('DICOM', () => {
  const px = Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 100 - 1024);
  it('16-bit signed, rescale slope/intercept, windows, multi-frame, geometry; implicit VR alike', () => {
    for (const transferSyntax of [undefined, '1.2.840.10008.1.2']) {
      const f = readDicom(writeDicom({ rows: 3, cols: 4, frames: 2, pixels: px, signed: true, slope: 2, intercept: -5, windows: [{ center: 40, width: 400 }, { center: 500, width: 2000 }], spacing: [0.5, 0.7], position: [1, 2, 3], orientation: [1, 0, 0, 0, 1, 0], sliceThickness: 2, transferSyntax }), 'x.dcm');
      assert.deepEqual(f.dims, [2, 3, 4]);
      assert.deepEqual(Array.from(f.data), px.map((v) => v * 2 - 5));
      assert.deepEqual(f.windows, [{ center: 40, width: 400 }, { center: 500, width: 2000 }]);
      // LPS → RAS: x and y negated; columns 0.7 mm, rows 0.5 mm, slices 2 mm
      assert.deepEqual(Array.from(f.affine).map((x) => x + 0), [-0.7, 0, 0, -1, 0, -0.5, 0, -2, 0, 0, 2, 3, 0, 0, 0, 1]);
    }
  });

  it('MONOCHROME1 is inverted; 8-bit unsigned is read as stored', () => {
    const f = readDicom(writeDicom({ rows: 1, cols: 3, pixels: [0, 10, 250], bits: 8, photometric: 'MONOCHROME1' }), 'm1.dcm');
    assert.deepEqual(Array.from(f.data), [250, 240, 0]);
  });

  it('a series is stacked along the slice normal whatever the file order', () => {
    const files = [2, 0, 1].map((k) => readDicom(writeDicom({ rows: 2, cols: 2, pixels: [k, k, k, k], position: [0, 0, 10 + 2.5 * k], orientation: [1, 0, 0, 0, 1, 0], instance: 5 - k }), `s${k}.dcm`));
    const v = stackSeries(files);
    assert.deepEqual(v.dims, [3, 2, 2]);
    assert.deepEqual(Array.from(v.data), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    assert.equal(v.affine[10], 2.5);
    assert.throws(() => stackSeries([files[0]!, files[0]!]), /two slices at the same position/);
  });

  it('compressed, truncated and non-DICOM files: one line naming the problem and the way out', () => {
    assert.throws(() => readDicom(writeDicom({ rows: 2, cols: 2, pixels: [1, 2, 3, 4], transferSyntax: '1.2.840.10008.1.2.4.90' }), 'j2k.dcm'), /j2k\.dcm: transfer syntax 1\.2\.840\.10008\.1\.2\.4\.90 \(JPEG 2000 lossless\) holds compressed pixel data .*gdcmconv --raw/);
    const ok = writeDicom({ rows: 4, cols: 4, pixels: new Array(16).fill(7) });
    assert.throws(() => readDicom(ok.subarray(0, ok.length - 10), 'cut.dcm'), /cut\.dcm: .*truncated/);
    assert.throws(() => readDicom(new Uint8Array(200), 'zero.dcm'), /not a DICOM Part 10 file/);
  });

  it('hostile sizes (issue 23): a deflated data set is inflated with a limit, the declared size checked against the budget before the pixels are read', async () => {
    // a valid deflated file reads as before
    const ok = readDicom(await deflatedDicom(30, 40, 2), 'd.dcm');
    assert.deepEqual(ok.dims, [2, 30, 40]);
    assert.ok(ok.data.every((v) => v === 0));
    assert.match(ok.description, /deflated explicit VR little endian/);
    // 16384×16384 16-bit zeros: a 0.5 MB file inflating to 512 MB stops at the limit (4 bytes a voxel of the budget)
    const big = await deflatedDicom(16384, 16384);
    assert.ok(big.length < 1_000_000, `${big.length} bytes`);
    assert.throws(() => readDicom(big, 'big.dcm'), /^InputError: big\.dcm: the deflated data set inflates to more than 269484032 bytes, beyond any scan within the limit of 67108864 voxels; raise it with --max-pixels N/);
    // within the inflation limit, the declared size is refused before the pixels are converted
    const three = await deflatedDicom(100, 100, 3);
    assert.throws(() => readDicom(three, 'f.dcm', { maxVoxels: 29_999 }), /f\.dcm: 100×100×3 voxels \(30000\) is above the limit of 29999 voxels for a scan/);
    assert.throws(() => readDicom(writeDicom({ rows: 50, cols: 60, pixels: new Array(3000).fill(1) }), 'u.dcm', { maxVoxels: 2999 }), /u\.dcm: 60×50×1 voxels \(3000\) is above the limit of 2999/);
    assert.deepEqual(readDicom(writeDicom({ rows: 50, cols: 60, pixels: new Array(3000).fill(1) }), 'u.dcm', { maxVoxels: 3000 }).dims, [1, 50, 60]);
  });
});

describe('16-bit and grayscale images, intensities', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-med-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const v = Uint16Array.from({ length: 5 * 3 }, (_, i) => i * 4000 + 7);

  it('16-bit PNG and TIFF keep every bit', async () => {
    fs.writeFileSync(path.join(dir, 'g.png'), png16(5, 3, v));
    fs.writeFileSync(path.join(dir, 'g.tif'), tiff16(5, 3, v));
    for (const f of ['g.png', 'g.tif']) {
      const s = await readScanFile(path.join(dir, f));
      assert.equal(s.bits, 16);
      assert.deepEqual(s.dims, [1, 3, 5]);
      assert.deepEqual(Array.from(s.data), Array.from(v));
    }
  });

  it('a 16-bit PNG into a 3-channel model: v / 65535 into every channel, then the ImageNet mean/std as photos get', async () => {
    const ex = Explainer.fromBytes(modelBytes('resnet_like'), { createSession: createNodeSession });
    try {
      const [h, w] = ex.inputSize as [number, number];
      const big = Uint16Array.from({ length: h * w }, (_, i) => (i * 997) % 65536);
      fs.writeFileSync(path.join(dir, 'big.png'), png16(w, h, big));
      const [inp] = await prepareInputs(ex, path.join(dir, 'big.png'));
      assert.deepEqual(inp!.dims, [1, 3, h, w]);
      const [mean, std] = [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]];
      for (let c = 0; c < 3; c++) for (let p = 0; p < h * w; p += 37) assert.equal(inp!.tensor[c * h * w + p], Math.fround((Math.fround(big[p]! / 65535) - mean[c]!) / std[c]!));
      assert.ok(inp!.image, 'a gray picture for the overlay');
      const [z] = await prepareInputs(ex, path.join(dir, 'big.png'), { scan: { intensity: 'zscore', mean: [0.5], std: [2] } });
      let s = 0;
      for (let p = 0; p < h * w; p++) s += z!.tensor[p]!;
      assert.ok(Math.abs(s / (h * w) + 0.25) < 1e-4, 'zscore then (x − 0.5) / 2 has mean −0.25');
    } finally {
      await ex.release();
    }
  });

  it('float, signed and 32-bit TIFFs keep their values (never cast to 8 bits); explain asks what they mean', async () => {
    // a float picture of values in [0, 1] (cast to 8 bits it was all black), signed values, 32-bit counts
    const W = 6, H = 4;
    const cases = [
      ['f.tif', Float32Array.from({ length: W * H }, (_, i) => i / 23), '32-bit float'],
      ['n.tif', Float32Array.from({ length: W * H }, (_, i) => i * 0.75 - 9.5), '32-bit float'],
      ['c.tif', Int8Array.from({ length: W * H }, (_, i) => i * 5 - 60), '8-bit signed'],
      ['i.tif', Int32Array.from({ length: W * H }, (_, i) => i * 100_000), '32-bit signed'],
      ['u.tif', Uint32Array.from({ length: W * H }, (_, i) => i * 300_000), '32-bit unsigned'],
    ] as const;
    const model = path.join(FIXTURES, 'resnet_like', 'model.onnx');
    for (const [name, values, kind] of cases) {
      const f = path.join(dir, name);
      fs.writeFileSync(f, tiffGrey(W, H, values));
      const s = await readScanFile(f);
      assert.equal(s.bits, undefined, name);
      assert.deepEqual(s.dims, [1, H, W]);
      assert.deepEqual(Array.from(s.data), Array.from(values, (x) => Math.fround(x)), name);
      assert.match(s.description, new RegExp(`tiff ${W}×${H} ${kind} grayscale`));
      // the photo decode refuses it rather than cast it
      await assert.rejects(async () => (await openImageFile(f)).decode(), new RegExp(`cannot read image .*${name} as a photo: its samples are ${kind} \\(values without a fixed range\\); explain reads it as a scan with --intensity minmax`));
      // explain: no range to divide by unless told; with --intensity minmax the input spans [0, 1] (an explicit
      // intensity is a scan's: --mean/--std only where given)
      const out = path.join(dir, `out-${name}`);
      oneError(gradcam('explain', f, '--model', model, '--out', out).err, new RegExp(`${name}: --intensity unit divides by the stored bit depth's maximum, which only 8- and 16-bit unsigned PNG/TIFF images and DICOM files have \\(this picture's samples have no fixed range\\); choose one of: none, minmax, zscore, window`));
      assert.ok(!fs.existsSync(out), 'no output');
      const ex = Explainer.fromBytes(modelBytes('resnet_like'), { createSession: createNodeSession });
      try {
        const [inp] = await prepareInputs(ex, f, { scan: { intensity: 'minmax' } });
        const [h, w] = ex.inputSize as [number, number];
        let lo = Infinity, hi = -Infinity;
        for (let p = 0; p < h * w; p++) { lo = Math.min(lo, inp!.tensor[p]!); hi = Math.max(hi, inp!.tensor[p]!); }
        // (x − min)/(max − min): the resize (bilinear) keeps the corners' extremes
        assert.ok(Math.abs(lo) < 1e-6 && Math.abs(hi - 1) < 1e-6, `${name}: ${lo}..${hi}`);
      } finally {
        await ex.release();
      }
    }
    // 16-bit signed samples (a CT slice in HU): libvips would clip them at 0, so they are refused
    const s16 = path.join(dir, 's.tif');
    fs.writeFileSync(s16, tiffGrey(W, H, Int16Array.from({ length: W * H }, (_, i) => i * 150 - 1000)));
    await assert.rejects(readScanFile(s16), /cannot read image .*s\.tif: its samples are 16-bit signed \(Hounsfield units\?\), which the image decoder would clip at 0; give the scan as NIfTI or DICOM, or the model input as \.npy/);
    oneError(gradcam('explain', s16, '--model', model, '--out', path.join(dir, 'out-s'), '--intensity', 'minmax').err, /s\.tif: its samples are 16-bit signed/);
    assert.ok(!fs.existsSync(path.join(dir, 'out-s')));
    const r = gradcam('explain', path.join(dir, 'f.tif'), '--model', model, '--out', path.join(dir, 'out-ok'), '--intensity', 'minmax', '--quiet');
    assert.equal(r.code, 0, r.err);
    assert.ok(fs.existsSync(path.join(dir, 'out-ok', 'f.gradcam.png')));
  });

  it('a TIFF stack (pages of one size) is a volume: a 2-D model explains every page as that page alone; a pyramid gives its first page', async () => {
    const W = 40, H = 30;
    const page = (k: number) => Uint8Array.from({ length: W * H }, (_, i) => ((i % W) * 5 + Math.floor(i / W) * 3 + k * 70) % 256);
    const pages = [0, 1, 2].map(page);
    const stack = path.join(dir, 'stack.tif');
    fs.writeFileSync(stack, tiffStack(W, H, pages));
    const v = await readScanFile(stack);
    assert.deepEqual(v.dims, [3, H, W]);
    assert.equal(v.bits, 8);
    assert.deepEqual(Array.from(v.data), pages.flatMap((p) => Array.from(p)));
    assert.match(v.description, /tiff 40×30, 3 pages, 8-bit grayscale/);
    const f16 = tiffStack(W, H, [0, 1].map((k) => Uint16Array.from(page(k), (x) => x * 257 + k)));
    fs.writeFileSync(path.join(dir, 'stack16.tif'), f16);
    const v16 = await readScanFile(path.join(dir, 'stack16.tif'));
    assert.deepEqual([v16.dims, v16.bits, v16.data[W * H]], [[2, H, W], 16, page(1)[0]! * 257 + 1]);
    const floats = [0, 1, 2].map((k) => Float32Array.from(page(k), (x) => x / 255 - 0.5));
    fs.writeFileSync(path.join(dir, 'stackf.tif'), tiffStack(W, H, floats));
    const vf = await readScanFile(path.join(dir, 'stackf.tif'));
    assert.deepEqual([vf.dims, vf.bits, vf.description], [[3, H, W], undefined, 'tiff 40×30, 3 pages, 32-bit float grayscale']);
    assert.deepEqual(Array.from(vf.data), floats.flatMap((p) => Array.from(p)));
    // never decoded as one picture
    await assert.rejects(async () => (await openImageFile(stack)).decode(), /stack\.tif as one picture: it is a stack of 3 pages; explain reads it as a scan/);
    // each page's input is that page's on its own read as a scan (as 16-bit pictures and DICOM frames are;
    // a 3-channel model: the ImageNet preset after ÷ 255), for a one-channel model and a 3-channel one
    for (const model of [path.join(ROOT_DIR, 'demo', 'models', 'med2d.onnx'), path.join(FIXTURES, 'resnet_like', 'model.onnx')]) {
      const ex = Explainer.fromBytes(new Uint8Array(fs.readFileSync(model)), { createSession: createNodeSession });
      try {
        const inputs = await prepareInputs(ex, stack);
        assert.equal(inputs.length, 3, model);
        for (let k = 0; k < 3; k++) {
          const one = path.join(dir, `page${k}.tif`);
          fs.writeFileSync(one, tiffGrey(W, H, pages[k]!));
          const [ref] = await prepareInputs(ex, one, { scan: { intensity: 'unit' } });
          assert.deepEqual(inputs[k]!.dims, ref!.dims);
          assert.deepEqual(Array.from(inputs[k]!.tensor), Array.from(ref!.tensor), `${model}: page ${k}`);
        }
      } finally {
        await ex.release();
      }
    }
    const out = path.join(dir, 'out-stack');
    const r = gradcam('explain', stack, '--model', path.join(ROOT_DIR, 'demo', 'models', 'med2d.onnx'), '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(fs.readdirSync(out).filter((f) => f.endsWith('.png')).sort(), ['stack_0.gradcam.png', 'stack_1.gradcam.png', 'stack_2.gradcam.png']);
    // pages of different sizes (a pyramid, a thumbnail): the first page, as a picture
    fs.writeFileSync(path.join(dir, 'pyramid.tif'), tiffPages([{ width: W, height: H, data: pages[0]! }, { width: 20, height: 15, data: new Uint8Array(20 * 15).fill(200) }]));
    const pv = await readScanFile(path.join(dir, 'pyramid.tif'));
    assert.deepEqual(pv.dims, [1, H, W]);
    assert.deepEqual(Array.from(pv.data), Array.from(pages[0]!));
    assert.match(pv.description, /the first of 2 pages of different sizes/);
  });

  it('intensity modes', () => {
    const vol: Pick<Volume, 'windows' | 'bits' | 'source'> = { source: 'dicom', windows: [{ center: 40, width: 400 }], bits: 12 };
    assert.deepEqual(Array.from(applyIntensity(Float32Array.of(-1000, -160, 40, 240, 3000), vol, { intensity: 'window' }, 'x')), [0, 0, 0.5, 1, 1]);
    assert.deepEqual(Array.from(applyIntensity(Float32Array.of(0, 2, 4), vol, { intensity: 'minmax' }, 'x')), [0, 0.5, 1]);
    assert.deepEqual(Array.from(applyIntensity(Float32Array.of(0, 4095), vol, { intensity: 'unit' }, 'x')), [0, 1]);
    assert.throws(() => applyIntensity(Float32Array.of(1), { source: 'nifti' }, { intensity: 'window' }, 'n.nii'), /n\.nii: --intensity window needs --window CENTRE,WIDTH/);
    const t = scanToTensors({ data: Float32Array.from({ length: 8 }, (_, i) => i), channels: 1, dims: [2, 2, 2], affine: AFFINE, source: 'nifti', description: '' }, { channels: 3, channelsFirst: false, grid: [2, 2, 2] }, {}, 'x');
    assert.deepEqual(t[0]!.dims, [1, 2, 2, 2, 3]);
    assert.deepEqual(Array.from(t[0]!.tensor.subarray(0, 6)), [0, 0, 0, 1, 1, 1]);
  });
});

describe('gradcam explain: a multi-frame DICOM into a 2-D 3-channel model', () => {
  it('every frame is an input (windowed, repeated into 3 channels), overlaid on its own gray picture', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-dcm2d-'));
    try {
      const n = 48 * 40;
      const pixels = Array.from({ length: 2 * n }, (_, i) => ((i * 37) % 2000) - 1000);
      fs.writeFileSync(path.join(dir, 'ct.dcm'), writeDicom({ rows: 40, cols: 48, frames: 2, pixels, signed: true, windows: [{ center: 40, width: 400 }] }));
      const out = path.join(dir, 'out');
      const r = gradcam('explain', path.join(dir, 'ct.dcm'), '--model', path.join(FIXTURES, 'resnet_like', 'model.onnx'), '--out', out, '--channels', '3', '--intensity', 'window', '--quiet');
      assert.equal(r.code, 0, r.err);
      for (const f of ['ct_0.gradcam.png', 'ct_1.gradcam.png', 'ct_0.gradcam.json']) assert.ok(fs.existsSync(path.join(out, f)), f);
      const json = JSON.parse(fs.readFileSync(path.join(out, 'ct_1.gradcam.json'), 'utf8'));
      assert.deepEqual(json.image_size, [40, 48]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('gradcam explain on volumes (3-D fixture model)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-vol-'));
  const model = path.join(FIXTURES, 'volume3d', 'model.onnx');
  const input = loadArray('volume3d', 'input.npy');
  const one = input.data.slice(0, 8 * 12 * 12);
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  before(() => {
    fs.writeFileSync(path.join(dir, 'vol.nii.gz'), writeNifti(one, { dims: [8, 12, 12], affine: AFFINE }, { gzip: true }));
    // the same volume as a DICOM series (float values stored as int16 with slope 1/1000), files shuffled
    const series = path.join(dir, 'series');
    fs.mkdirSync(series);
    for (const k of [5, 0, 7, 2, 1, 6, 3, 4]) {
      const pixels = Array.from(one.subarray(k * 144, (k + 1) * 144), (x) => Math.round(x * 1000));
      fs.writeFileSync(path.join(series, `s${k}.dcm`), writeDicom({ rows: 12, cols: 12, pixels, signed: true, slope: 0.001, intercept: 0, position: [0, 0, 3 * k], orientation: [1, 0, 0, 0, 1, 0], spacing: [1.5, 1.5], instance: k + 1 }));
    }
  });

  it('a NIfTI volume: montage, NIfTI map in the scan geometry, .npy map equal to the library\'s', async () => {
    const out = path.join(dir, 'out');
    const r = gradcam('explain', path.join(dir, 'vol.nii.gz'), '--model', model, '--out', out, '--raw', '--class', '1', '--volume-resize', 'spline', '--quiet');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /vol\.nii\.gz: gradcam: class 1 .* → .*vol\.gradcam\.png/);
    for (const f of ['vol.gradcam.png', 'vol.gradcam.json', 'vol.gradcam.nii.gz', 'vol.gradcam.npy', 'vol.gradcam.raw.npy']) assert.ok(fs.existsSync(path.join(out, f)), f);
    const map = readNifti(new Uint8Array(fs.readFileSync(path.join(out, 'vol.gradcam.nii.gz'))), 'map');
    assert.deepEqual(map.dims, [8, 12, 12]);
    assert.deepEqual(Array.from(map.affine), Array.from(AFFINE));
    const npy = parseNpy(new Uint8Array(fs.readFileSync(path.join(out, 'vol.gradcam.npy'))));
    assert.deepEqual(npy.shape, [8, 12, 12]);
    const ex = Explainer.fromBytes(modelBytes('volume3d'), { createSession: createNodeSession });
    const e = (await ex.explain(one, [1, 1, 8, 12, 12], { classes: 1, volumeResize: 'spline' })).explanations[0]!;
    await ex.release();
    assert.deepEqual(Array.from(toFloat32(npy)), Array.from(e.map));
    assert.deepEqual(Array.from(map.data), Array.from(e.map));
    const json = JSON.parse(fs.readFileSync(path.join(out, 'vol.gradcam.json'), 'utf8'));
    assert.deepEqual(json.input_size, [8, 12, 12]);
    assert.deepEqual(json.raw_map.shape, [4, 6, 6]);
    assert.deepEqual(json.scan.spacing_mm, [3, 1.5, 1.5]);
  });

  it('the same volume as a shuffled DICOM series gives the same map (values within int16 rounding)', async () => {
    const out = path.join(dir, 'out-dcm');
    const files = fs.readdirSync(path.join(dir, 'series')).map((f) => path.join(dir, 'series', f));
    const r = gradcam('explain', ...files, '--model', model, '--out', out, '--raw', '--class', '1', '--quiet');
    assert.equal(r.code, 0, r.err);
    const npy = toFloat32(parseNpy(new Uint8Array(fs.readFileSync(path.join(out, 'series.gradcam.npy')))));
    const ex = Explainer.fromBytes(modelBytes('volume3d'), { createSession: createNodeSession });
    const e = (await ex.explain(one, [1, 1, 8, 12, 12], { classes: 1 })).explanations[0]!;
    await ex.release();
    let d = 0;
    for (let i = 0; i < npy.length; i++) d = Math.max(d, Math.abs(npy[i]! - e.map[i]!));
    assert.ok(d < 1e-2, `max difference ${d}`);
    const map = readNifti(new Uint8Array(fs.readFileSync(path.join(out, 'series.gradcam.nii.gz'))), 'map');
    assert.equal(map.affine[10], 3, 'slice spacing from the positions');
    // the series' folder stands for its files: the same map
    const byFolder = path.join(dir, 'out-dcm-folder');
    const f = gradcam('explain', path.join(dir, 'series'), '--model', model, '--out', byFolder, '--raw', '--class', '1', '--quiet');
    assert.equal(f.code, 0, f.err);
    assert.ok(fs.readFileSync(path.join(byFolder, 'series.gradcam.npy')).equals(fs.readFileSync(path.join(out, 'series.gradcam.npy'))));
  });

  it('bad inputs: one line, exit 1, nothing written', () => {
    const out = path.join(dir, 'bad');
    fs.writeFileSync(path.join(dir, 'flat.png'), png16(12, 12, new Uint16Array(144)));
    oneError(gradcam('explain', path.join(dir, 'flat.png'), '--model', model, '--out', out).err, /a 2-D image .* for a 3-D model; give a volume/);
    fs.writeFileSync(path.join(dir, 'cut.nii'), writeNifti(one, { dims: [8, 12, 12], affine: AFFINE }).subarray(0, 1000));
    const r = gradcam('explain', path.join(dir, 'vol.nii.gz'), path.join(dir, 'cut.nii'), '--model', model, '--out', out);
    assert.equal(r.code, 1);
    oneError(r.err, /cut\.nii: the header promises .* truncated/);
    oneError(gradcam('explain', path.join(dir, 'vol.nii.gz'), '--model', model, '--out', out, '--method', 'scorecam').err, /does not explain 3-D models yet; for volumes choose one of/);
    oneError(gradcam('explain', path.join(dir, 'vol.nii.gz'), '--model', model, '--out', out, '--top-k', '2').err, /3-D models take none of: --top-k/);
    oneError(gradcam('explain', path.join(dir, 'vol.nii.gz'), '--model', model, '--out', out, '--intensity', 'hu').err, /unknown --intensity 'hu'; choose one of: none, unit, minmax, zscore, window; see 'gradcam explain --help'/);
    oneError(gradcam('explain', path.join(dir, 'vol.nii.gz'), '--model', model, '--out', out, '--channels', '3').err, /--channels 3, but the model's input 'input' takes 1 channel/);
    assert.ok(!fs.existsSync(out), 'no partial output');
  });
});
