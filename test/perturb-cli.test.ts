/**
 * `gradcam explain --method occlusion|rise` (issue 25): files (the attribution .npy equals the Captum
 * reference), folders (the resumable dataset run), the attribution picture and sidecar, and the one-line
 * refusals of options that do not go together.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { decodePng } from '../src/image/png.js';
import { FIXTURES, loadArray, relL2 } from './helpers/fixtures.js';
import { ROOT, gradcam, oneError } from './helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-perturb-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MODEL = path.join(FIXTURES, 'resnet_like', 'model.onnx');
const INPUT = path.join(FIXTURES, 'resnet_like', 'input.npy');
const npy = (f: string) => {
  const a = parseNpy(new Uint8Array(fs.readFileSync(f)));
  return { data: toFloat32(a), shape: a.shape };
};

describe('gradcam explain --method occlusion on files', () => {
  it('writes the attribution that Captum\'s Occlusion gives, its picture and its sidecar', () => {
    const out = path.join(tmp, 'occ');
    const r = gradcam('explain', INPUT, '--model', MODEL, '--method', 'occlusion', '--occlusion-window', '10,7', '--occlusion-stride', '4,3', '--occlusion-baseline=-0.5', '--class', '3', '--raw', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    const ref = loadArray('resnet_like', 'perturb/occlusion0.npy');
    // --raw: the attribution in the input's layout [C, H, W], the same over the channels
    const a = npy(path.join(out, 'input_0.occlusion.npy'));
    assert.deepEqual(a.shape, [3, 48, 48]);
    for (let c = 0; c < 3; c++) assert.ok(relL2(a.data.subarray(c * 48 * 48, (c + 1) * 48 * 48), ref.data.subarray(0, 48 * 48)) < 1e-4);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'input_0.occlusion.json'), 'utf8'));
    assert.equal(j.method, 'occlusion');
    assert.deepEqual(j.occlusion, { window: [10, 7], strides: [4, 3], baseline: -0.5, windows: 11 * 15, target: 'logit' });
    assert.equal(j.target.kind, 'logit');
    assert.equal(j.class.index, 3);
    assert.equal(j.attribution.picture, 'signed');
    assert.ok(j.attribution.min < 0 && j.attribution.max > 0);
    assert.equal(j.top_percent, 10);
    // [overlay | signed attribution | top 10 %], each enlarged to at least 256 wide
    const png = decodePng(new Uint8Array(fs.readFileSync(path.join(out, 'input_0.occlusion.png'))));
    assert.ok(png.width > 3 * 256, `${png.width}`);
  });

  it('with --abs draws the magnitude and keeps the top pixels by |a|', () => {
    const out = path.join(tmp, 'occ-abs');
    const r = gradcam('explain', INPUT, '--model', MODEL, '--method', 'occlusion', '--abs', '--top-percent', '5', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'input_1.occlusion.json'), 'utf8'));
    assert.equal(j.attribution.picture, 'abs');
    assert.equal(j.top_percent, 5);
    // gradcam's defaults: a 16 × 16 window, stride 8
    assert.deepEqual(j.occlusion, { window: [16, 16], strides: [8, 8], baseline: 0, windows: 25, target: 'logit' });
  });
});

describe('gradcam explain --method rise on a folder', () => {
  it('runs the resumable dataset engine: a row and the files per image, skipped when run again', () => {
    const dir = path.join(tmp, 'scenes');
    fs.mkdirSync(dir);
    const scenes = ['00_t-shirt-top.png', '01_trouser.png'];
    for (const f of scenes) fs.copyFileSync(path.join(ROOT, 'demo', 'scenes', f), path.join(dir, f));
    const out = path.join(tmp, 'rise');
    const args = ['explain', dir, '--model', path.join(ROOT, 'demo', 'models', 'where.onnx'), '--method', 'rise', '--rise-masks', '40', '--rise-cells', '4', '--seed', '3', '--out', out, '--quiet'];
    const r = gradcam(...args);
    assert.equal(r.code, 0, r.err);
    const rows = fs.readFileSync(path.join(out, 'explain.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 2);
    assert.ok(rows.every((x) => x.status === 'ok' && x.files.some((f: string) => f.endsWith('.rise.png'))), JSON.stringify(rows));
    const stem = scenes[0]!.replace(/\.png$/, '');
    const j = JSON.parse(fs.readFileSync(path.join(out, `${stem}.rise.json`), 'utf8'));
    assert.deepEqual(j.rise, { masks: 40, cells: 4, keep: 0.5, seed: 3, target: 'softmax' });
    // the sidecar's target is what RISE's attribution is of: the class probability, not its logit
    assert.deepEqual(j.target, { kind: 'probability', name: `probability ${j.class.index}`, value: j.class.probability });
    assert.equal(j.attribution.picture, 'signed');
    assert.ok(j.attribution.min >= 0); // probabilities × masks
    const again = gradcam(...args.filter((a) => a !== '--quiet'));
    assert.equal(again.code, 0, again.err);
    assert.equal(fs.readFileSync(path.join(out, 'explain.jsonl'), 'utf8').trim().split('\n').length, 2);
  });
});

describe('gradcam explain: perturbation options refused where they do not apply', () => {
  const base = ['explain', INPUT, '--model', MODEL, '--out', path.join(tmp, 'never')];
  for (const [args, re] of [
    [['--method', 'occlusion', '--occlusion-window', '0'], /--occlusion-window must be one or two positive whole numbers/],
    [['--method', 'occlusion', '--occlusion-baseline', 'dark'], /--occlusion-baseline/],
    [['--method', 'occlusion', '--occlusion-window', '64'], /window 64x64 is larger than the model input 48x48/],
    [['--method', 'occlusion', '--occlusion-window', '8', '--occlusion-stride', '9'], /stride 9x9 is larger than the window 8x8/],
    [['--method', 'occlusion', '--rise-masks', '5'], /--rise-masks goes with rise; --method occlusion does not take it/],
    [['--methods', 'gradcam,rise'], /rise is a perturbation method: give it alone with --method rise/],
    [['--method', 'rise', '--layer', 'layer3'], /reads no layer/],
    [['--method', 'rise', '--eigen-smooth'], /is a perturbation method and takes none of the CAM-family options \(--eigen-smooth\)/],
    [['--method', 'gradcam', '--top-percent', '5'], /--top-percent goes with the attribution methods \([^)]*\bocclusion, rise\)/],
    [['--method', 'gradcam', '--occlusion-stride', '5'], /--occlusion-stride goes with occlusion; --method gradcam does not take it/],
    [['--method', 'rise', '--rise-keep', '0'], /RISE's keep probability must be in \(0, 1\], got 0/],
  ] as [string[], RegExp][]) {
    it(`${args.join(' ')}: one line, exit 2 or 1, nothing written`, () => {
      const r = gradcam(...base, ...args);
      assert.ok(r.code === 1 || r.code === 2, `${r.code} ${r.err}`);
      oneError(r.err, re);
      assert.ok(!fs.existsSync(path.join(tmp, 'never')));
    });
  }
});
