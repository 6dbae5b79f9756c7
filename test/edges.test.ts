/**
 * Defects found at the edges (issue 24): a negative number after an option (a box partly outside the
 * image), `detect --raw`, Eigen-CAM on a detector through `explain` (no target needed), and a colour
 * image given to a 3-D model described as what it is. Each test failed before its fix.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { negativeValues } from '../src/cli/spec.js';
import { FIXTURES } from './helpers/fixtures.js';
import { gradcam, oneError } from './helpers/cli.js';

const MODEL = path.join(FIXTURES, 'detect_yolo_obj', 'model.onnx');
const INPUT = path.join(FIXTURES, 'detect_yolo_obj', 'input.npy');

let tmp: string;
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-edges-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const npy = (file: string) => {
  const a = parseNpy(new Uint8Array(fs.readFileSync(file)));
  return { data: toFloat32(a), shape: a.shape };
};
const json = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));

describe('negative numbers after an option', () => {
  it('are values, not options: --box -3.2,... and --box=-3.2,... explain the same box', () => {
    const a = path.join(tmp, 'neg-a');
    const b = path.join(tmp, 'neg-b');
    let r = gradcam('detect', INPUT, '--model', MODEL, '--box', '-3.2,23,28,52', '--class', '2', '--out', a, '--quiet');
    assert.equal(r.code, 0, r.err);
    r = gradcam('detect', INPUT, '--model', MODEL, '--box=-3.2,23,28,52', '--class', '2', '--out', b, '--quiet');
    assert.equal(r.code, 0, r.err);
    const ja = json(path.join(a, 'input_0.det0.gradcam.json'));
    assert.deepEqual(ja.detection.box, [-3.2, 23, 28, 52]);
    assert.deepEqual(json(path.join(b, 'input_0.det0.gradcam.json')).detection.box, ja.detection.box);
    // a missing value is still reported as one (an option's name never starts with a digit)
    oneError(gradcam('detect', INPUT, '--model', MODEL, '--class', '2', '--box').err, /--box needs a value/);
  });

  it('the rewrite: long and short options taking values, not booleans, not after --', () => {
    const defs = { box: { type: 'string' as const, help: '' }, out: { type: 'string' as const, short: 'o', help: '' }, quiet: { type: 'boolean' as const, help: '' } };
    assert.deepEqual(negativeValues(['--box', '-3.2,1', '-o', '-.5', '--quiet', '-1', '--', '--box', '-2'], defs), ['--box=-3.2,1', '--out=-.5', '--quiet', '-1', '--', '--box', '-2']);
    assert.deepEqual(negativeValues(['--box', '-x'], defs), ['--box', '-x']);
  });
});

describe('gradcam detect --raw', () => {
  it('writes the map (.npy [H, W]) and the raw map (.raw.npy [h, w]) per detection, as its help promises', () => {
    const out = path.join(tmp, 'raw');
    const r = gradcam('detect', INPUT, '--model', MODEL, '--box', '4,23,28,52', '--class', '2', '--raw', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    const j = json(path.join(out, 'input_0.det0.gradcam.json'));
    assert.deepEqual(j.files, ['input_0.det0.gradcam.png', 'input_0.det0.gradcam.npy', 'input_0.det0.gradcam.raw.npy']);
    const map = npy(path.join(out, 'input_0.det0.gradcam.npy'));
    const raw = npy(path.join(out, 'input_0.det0.gradcam.raw.npy'));
    assert.deepEqual(map.shape, j.input_size);
    assert.deepEqual(raw.shape, j.raw_map.shape);
    assert.ok(Math.abs(Math.min(...raw.data) - j.raw_map.min) < 1e-6 && Math.abs(Math.max(...raw.data) - j.raw_map.max) < 1e-6);
    assert.ok(Math.max(...map.data) <= 1 && Math.min(...map.data) >= 0 && Math.max(...map.data) > 0.5);
  });
});

describe('gradcam explain --method eigencam on a detector', () => {
  it('needs no target: the map is the one `detect` gives every detection of the image', () => {
    const ex = path.join(tmp, 'eigen-explain');
    const det = path.join(tmp, 'eigen-detect');
    let r = gradcam('explain', INPUT, '--model', MODEL, '--method', 'eigencam', '--raw', '--out', ex, '--quiet');
    assert.equal(r.code, 0, r.err);
    r = gradcam('detect', INPUT, '--model', MODEL, '--box', '4,23,28,52', '--class', '2', '--method', 'eigencam', '--raw', '--out', det, '--quiet');
    assert.equal(r.code, 0, r.err);
    const j = json(path.join(ex, 'input_0.eigencam.json'));
    assert.deepEqual(j.target, { kind: 'none', name: 'no target', value: null });
    assert.equal(j.class, null);
    assert.equal(j.layer, json(path.join(det, 'input_0.det0.eigencam.json')).layer);
    const a = npy(path.join(ex, 'input_0.eigencam.npy')).data;
    const b = npy(path.join(det, 'input_0.det0.eigencam.npy')).data;
    assert.equal(a.length, b.length);
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
    assert.ok(d < 1e-5, `max difference ${d}`);
    assert.ok(Math.max(...a) - Math.min(...a) > 0.5, 'a map, not a constant');
  });

  it('a method that needs a target still asks for one on a dense output', () => {
    const r = gradcam('explain', INPUT, '--model', MODEL, '--methods', 'gradcam,eigencam', '--out', path.join(tmp, 'eigen-bad'));
    oneError(r.err, /a map rather than \[batch, classes\]/);
  });
});

describe('a 2-D image for a 3-D model', () => {
  it('a colour JPEG is described as colour (read as its luminance), a grayscale PNG as grayscale', async () => {
    const model = path.join(FIXTURES, 'volume3d', 'model.onnx');
    const jpg = path.join(tmp, 'colour.jpg');
    const png = path.join(tmp, 'gray.png');
    await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 200, g: 30, b: 60 } } }).jpeg().toFile(jpg);
    await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 90, g: 90, b: 90 } } }).toColourspace('b-w').png().toFile(png);
    oneError(gradcam('explain', jpg, '--model', model, '--out', path.join(tmp, 'v')).err, /a 2-D image \(jpeg 32×24 8-bit colour, read as its luminance\) for a 3-D model/);
    oneError(gradcam('explain', png, '--model', model, '--out', path.join(tmp, 'v')).err, /a 2-D image \(png 32×24 8-bit grayscale\) for a 3-D model/);
    assert.ok(!fs.existsSync(path.join(tmp, 'v')));
  });
});
