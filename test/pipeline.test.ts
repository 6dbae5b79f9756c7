/**
 * One explain pipeline: the same behaviour from every entry point.
 * - one RLE mask reader: `audit` and `evaluate` see the same object in the same annotations.json;
 * - progress callbacks from the passes of Score-CAM / Ablation-CAM;
 * - `evaluate` appends its rows as it goes and resumes a killed run;
 * - torchvision's Resize(N) + CenterCrop(M) preprocessing (--resize / --crop), checked against torchvision.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodePng, decodePng, toRgbImage } from '../src/image/png.js';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { resizeRgb } from '../src/image/resize.js';
import { overlay } from '../src/image/overlay.js';
import { boxInView, cutRegion, maskInView, resizeCrop, resizeCropPlan } from '../src/image/view.js';
import type { RgbImage } from '../src/image/types.js';
import { parseAnnotations, groundTruthFor } from '../src/metrics/annotations.js';
import type { AuditRow } from '../src/audit/types.js';
import { loadExplainer, prepareInputs } from '../src/node.js';
import { explainMany } from '../src/cam/runner.js';
import { FIXTURES, loadArray, loadMeta, maxRelError, modelBytes } from './helpers/fixtures.js';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { gradcam as gradcamMethod } from '../src/cam/methods/gradcam.js';
import { postprocess } from '../src/cam/pipeline.js';
import { gradcamGraphMaps, graphMaps } from '../src/cam/methods/gradcam-graph.js';
import { BIN, ROOT, gradcam } from './helpers/cli.js';

const MODEL = path.join(FIXTURES, 'resnet_like', 'model.onnx');

let tmp: string;
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-pipeline-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function loadNpy(file: string): { shape: number[]; data: Uint8Array | Float32Array } {
  const a = parseNpy(new Uint8Array(fs.readFileSync(file)));
  return { shape: a.shape, data: a.data instanceof Uint8Array ? a.data : toFloat32(a) };
}

/** A w×h picture: smooth colour waves with a bright patch at [x0, x1) × [y0, y1). */
function picture(w: number, h: number, seed: number, patch?: [number, number, number, number]): Uint8Array {
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = Math.round(127 + 100 * Math.sin(0.11 * (c + 1 + seed) * x + 0.07 * (3 - c) * y + seed));
      if (patch && x >= patch[0] && x < patch[2] && y >= patch[1] && y < patch[3]) px.set([250, 240, 20], (y * w + x) * 3);
    }
  }
  return encodePng({ width: w, height: h, data: px });
}

/** Run lengths of a row-major [h, w] mask flattened in `order`. */
function rle(mask: Uint8Array, h: number, w: number, order: 'row' | 'col'): number[] {
  const flat: number[] = [];
  if (order === 'row') for (let i = 0; i < h * w; i++) flat.push(mask[i]!);
  else for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) flat.push(mask[y * w + x]!);
  const counts: number[] = [];
  let cur = 0;
  let n = 0;
  for (const v of flat) {
    if (v === cur) n++;
    else { counts.push(n); cur = v; n = 1; }
  }
  counts.push(n);
  return counts;
}

describe('annotations: one RLE reader for audit and evaluate', () => {
  it('the same annotations.json without `order` gives audit and evaluate the same object (COCO column-major)', () => {
    const dir = path.join(tmp, 'rle');
    fs.mkdirSync(dir);
    const [H, W] = [48, 48];
    fs.writeFileSync(path.join(dir, 'a.png'), picture(W, H, 1, [26, 4, 44, 22]));
    // an object that is not symmetric under transposition: read in the wrong order, it moves
    const mask = new Uint8Array(H * W);
    for (let y = 4; y < 22; y++) for (let x = 26; x < 44; x++) mask[y * W + x] = 1;
    const ann = path.join(dir, 'annotations.json');
    fs.writeFileSync(ann, JSON.stringify({ images: [{ file: 'a.png', mask_rle: { size: [H, W], counts: rle(mask, H, W, 'col') } }] }));

    const auditOut = path.join(tmp, 'rle-audit');
    const a = gradcam('audit', ann, '--model', MODEL, '--out', auditOut, '--quiet');
    assert.equal(a.code, 0, a.err);
    const row = JSON.parse(fs.readFileSync(path.join(auditOut, 'results.jsonl'), 'utf8').trim()) as AuditRow;
    assert.equal(row.metrics!.region, 'mask');
    assert.ok(Math.abs(row.metrics!.object_area! - (18 * 18) / (H * W)) < 1e-6, `object area ${row.metrics!.object_area}`);

    const evalOut = path.join(tmp, 'rle-eval');
    const e = gradcam('evaluate', path.join(dir, 'a.png'), '--model', MODEL, '--annotations', ann, '--metrics', 'localisation', '--class', 'top', '--out', evalOut, '--quiet');
    assert.equal(e.code, 0, e.err);
    const er = JSON.parse(fs.readFileSync(path.join(evalOut, 'evaluate.jsonl'), 'utf8').trim().split('\n')[0]!);
    // the same map (Grad-CAM of the predicted class at the 48×48 input) and the same object: the same share of the map on it
    assert.equal(er.class, row.predicted!.index);
    assert.ok(Math.abs(er.energy - row.metrics!.energy_in_object!) < 1e-5, `evaluate energy ${er.energy} vs audit ${row.metrics!.energy_in_object}`);
    assert.equal(er.pointing === 1, row.metrics!.peak_in_object);

    // an explicit row-major order is honoured by both
    const annRow = path.join(dir, 'annotations-row.json');
    fs.writeFileSync(annRow, JSON.stringify({ images: [{ file: 'a.png', mask_rle: { size: [H, W], order: 'row-major', counts: rle(mask, H, W, 'row') } }] }));
    const a2 = gradcam('audit', annRow, '--model', MODEL, '--out', path.join(tmp, 'rle-audit-row'), '--quiet');
    assert.equal(a2.code, 0, a2.err);
    const row2 = JSON.parse(fs.readFileSync(path.join(tmp, 'rle-audit-row', 'results.jsonl'), 'utf8').trim()) as AuditRow;
    assert.deepEqual(row2.metrics, row.metrics);

    // COCO (a polygon and a box-only object) and the `objects` form: both commands read them with one reader
    const coco = path.join(dir, 'coco.json');
    fs.writeFileSync(coco, JSON.stringify({
      images: [{ id: 1, file_name: 'a.png', width: W, height: H }],
      categories: [{ id: 5, name: 'thing' }],
      annotations: [
        { image_id: 1, category_id: 5, bbox: [26, 4, 18, 18], segmentation: [[26, 4, 44, 4, 44, 22, 26, 22]] },
        { image_id: 1, category_id: 5, bbox: [2, 30, 10, 12] },
      ],
    }));
    const objects = path.join(dir, 'objects.json');
    fs.writeFileSync(objects, JSON.stringify({ images: [{ file: 'a.png', objects: [{ mask_rle: { size: [H, W], counts: rle(mask, H, W, 'col') } }, { box: [2, 30, 12, 42] }] }] }));
    for (const [name, file] of [['coco', coco], ['objects', objects]] as const) {
      const ao = path.join(tmp, `rle-audit-${name}`);
      const aa = gradcam('audit', file, '--model', MODEL, '--out', ao, '--quiet');
      assert.equal(aa.code, 0, aa.err);
      const ar = JSON.parse(fs.readFileSync(path.join(ao, 'results.jsonl'), 'utf8').trim()) as AuditRow;
      assert.ok(Math.abs(ar.metrics!.object_area! - (18 * 18 + 10 * 12) / (H * W)) < 1e-6, `${name}: object area ${ar.metrics!.object_area}`);
      const eo = path.join(tmp, `rle-eval-${name}`);
      const ee = gradcam('evaluate', path.join(dir, 'a.png'), '--model', MODEL, '--annotations', file, '--metrics', 'localisation', '--class', 'top', '--out', eo, '--quiet');
      assert.equal(ee.code, 0, ee.err);
      const erow = JSON.parse(fs.readFileSync(path.join(eo, 'evaluate.jsonl'), 'utf8').trim().split('\n')[0]!);
      assert.ok(Math.abs(erow.energy - ar.metrics!.energy_in_object!) < 1e-5, `${name}: evaluate energy ${erow.energy} vs audit ${ar.metrics!.energy_in_object}`);
    }
  });
});

// ------------------------------------------------------------------------------------------ --resize / --crop

interface CropCase { name: string; width: number; height: number; seed: number; resize: number; crop: number; resized: [number, number] }
const CROP_DIR = path.join(FIXTURES, 'resize_crop');
const cropCases = (): CropCase[] => JSON.parse(fs.readFileSync(path.join(CROP_DIR, 'index.json'), 'utf8')).cases;

/** The LCG of scripts/fixtures/torchvision_resize_crop.py (and test/image.test.ts): the top byte of each state. */
function lcgU8(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const casePicture = (c: CropCase): RgbImage => ({ width: c.width, height: c.height, data: lcgU8(c.width * c.height * 3, c.seed) });

describe('--resize N --crop M: torchvision Resize(N) + CenterCrop(M)', () => {
  it('sizes, offsets and pixels equal torchvision 0.14 on PIL images (bit-exact)', () => {
    for (const c of cropCases()) {
      const plan = resizeCropPlan(c.width, c.height, { resize: c.resize, crop: [c.crop, c.crop] });
      assert.deepEqual(plan.resized, c.resized, `${c.name}: Resize(${c.resize}) size`);
      const { image } = resizeCrop(casePicture(c), { resize: c.resize, crop: [c.crop, c.crop] });
      const ref = loadNpy(path.join(CROP_DIR, `${c.name}.crop.npy`));
      assert.deepEqual(ref.shape, [c.crop, c.crop, 3]);
      assert.deepEqual([image.width, image.height], [c.crop, c.crop]);
      const diff = image.data.findIndex((v, i) => v !== ref.data[i]);
      assert.equal(diff, -1, `${c.name}: first differing value at ${diff} (${image.data[diff]} vs ${ref.data[diff]})`);
    }
    // the offsets: round half to even, and padding where the crop is larger
    assert.deepEqual(resizeCropPlan(61, 90, { resize: 50, crop: [48, 48] }).top, 12); // round(12.5)
    assert.deepEqual(resizeCropPlan(40, 30, { resize: 52, crop: [48, 48] }).left, 10); // round(10.5)
    const padded = resizeCropPlan(50, 40, { resize: 40, crop: [48, 48] });
    assert.deepEqual([padded.left, padded.top], [1, -4]);
    assert.deepEqual(padded.region, [1, -4, 49, 44]);
  });

  it('prepareInputs gives the model torchvision\'s normalised tensor, the crop as its picture and the crop\'s region', async () => {
    const dir = path.join(tmp, 'crop-inputs');
    fs.mkdirSync(dir, { recursive: true });
    const explainer = await loadExplainer(MODEL);
    try {
      for (const c of cropCases()) {
        const file = path.join(dir, `${c.name}.png`);
        fs.writeFileSync(file, encodePng(casePicture(c)));
        const [inp] = await prepareInputs(explainer, file, { preset: 'imagenet', resize: c.resize, view: true });
        assert.deepEqual(inp!.dims, [1, 3, c.crop, c.crop]);
        assert.deepEqual(inp!.sourceSize, [c.width, c.height]);
        const ref = loadNpy(path.join(CROP_DIR, `${c.name}.crop.npy`));
        assert.deepEqual(Array.from(inp!.view!.data), Array.from(ref.data), `${c.name}: the model's picture`);
        const plan = resizeCropPlan(c.width, c.height, { resize: c.resize, crop: [c.crop, c.crop] });
        assert.deepEqual(inp!.region, plan.region);
        // the overlay picture is that part of the image, at the image's resolution
        assert.deepEqual(inp!.image, cutRegion(casePicture(c), [c.width, c.height], plan.region));
        const tensorFile = path.join(CROP_DIR, `${c.name}.tensor.npy`);
        if (fs.existsSync(tensorFile)) {
          const t = loadNpy(tensorFile);
          let worst = 0;
          t.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - inp!.tensor[i]!))));
          assert.ok(worst <= 1e-6, `${c.name}: tensor differs from torchvision's by ${worst}`);
        }
      }
      const file = path.join(dir, 'landscape.png');
      await assert.rejects(prepareInputs(explainer, file, { resize: 56, crop: [40, 40] }), /--crop 40x40 does not match the model's input size 48x48/);
      await assert.rejects(prepareInputs(explainer, file, { crop: [48, 48] }), /--crop 48x48 goes with --resize N/);
    } finally {
      await explainer.release();
    }
  });

  it('boxes and masks follow the crop (evaluate\'s ground truth, audit\'s object region)', () => {
    const region: [number, number, number, number] = [10, 20, 50, 60]; // a 40×40 part of a 100×80 image
    const [ann] = parseAnnotations({ images: [{ file: 'a.png', width: 100, height: 80, boxes: [[10, 20, 30, 40], [70, 0, 90, 10]] }] });
    const g = groundTruthFor(ann!, 8, 8, undefined, undefined, [80, 100], region);
    assert.deepEqual(g.boxes, [[0, 0, 4, 4]], 'the box inside, in map pixels; the one outside the crop is dropped');
    assert.equal(g.region.reduce((a, v) => a + v, 0), 16);
    // a mask of the whole image, at half resolution: only the crop's part, at the view's resolution
    const mask = { width: 50, height: 40, data: new Uint8Array(50 * 40) };
    for (let y = 10; y < 20; y++) for (let x = 5; x < 15; x++) mask.data[y * 50 + x] = 1; // image pixels [10, 30) × [20, 40)
    const inView = maskInView(mask, [100, 80], region, 8, 8);
    assert.equal(inView.reduce((a, v) => a + v, 0), 16);
    assert.equal(inView[0], 1);
    assert.equal(inView[4], 0);
    assert.deepEqual(boxInView([10, 20, 30, 40], region, 8, 8), [0, 0, 4, 4]);
  });

  it('explain, audit, evaluate and sanity take --resize/--crop; the overlay is the cropped part of the picture', () => {
    const c = cropCases().find((x) => x.name === 'landscape')!;
    const dir = path.join(tmp, 'crop-cli');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'landscape.png');
    fs.writeFileSync(file, encodePng(casePicture(c)));
    const out = path.join(tmp, 'crop-explain');
    const r = gradcam('explain', file, '--model', MODEL, '--resize', String(c.resize), '--crop', String(c.crop), '--alpha', '0', '--no-caption', '--raw', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    const plan = resizeCropPlan(c.width, c.height, { resize: c.resize, crop: [c.crop, c.crop] });
    const part = cutRegion(casePicture(c), [c.width, c.height], plan.region);
    assert.deepEqual([part.width, part.height], [65, 65]);
    const png = toRgbImage(decodePng(new Uint8Array(fs.readFileSync(path.join(out, 'landscape.gradcam.png')))));
    assert.deepEqual([png.width, png.height], [260, 260], 'the 65×65 cropped part, enlarged 4× to at least 256 px');
    // the overlay with alpha 0 is the cropped part (scaled by its maximum, as pytorch-grad-cam's blend)
    const blank = new Float32Array(260 * 260);
    assert.deepEqual(Array.from(png.data), Array.from(overlay(resizeRgb(part, 260, 260), blank, { alpha: 0 }).data), 'the overlay (alpha 0) is the cropped part');
    // the map is the model's: the same as explaining torchvision's tensor given as .npy
    const npy = path.join(dir, 'landscape.npy');
    fs.writeFileSync(npy, fs.readFileSync(path.join(CROP_DIR, 'landscape.tensor.npy')));
    const ref = path.join(tmp, 'crop-explain-npy');
    assert.equal(gradcam('explain', npy, '--model', MODEL, '--raw', '--out', ref, '--quiet').code, 0);
    const a = loadNpy(path.join(out, 'landscape.gradcam.npy')).data;
    const b = loadNpy(path.join(ref, 'landscape.gradcam.npy')).data;
    let worst = 0;
    a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]!))));
    assert.ok(worst < 1e-4, `map vs torchvision's input: ${worst}`);

    // audit: a box around the crop covers the whole map
    const manifest = path.join(dir, 'm.jsonl');
    fs.writeFileSync(manifest, `${JSON.stringify({ path: 'landscape.png', boxes: [plan.region.map((v) => Math.round(v))] })}\n`);
    const auditOut = path.join(tmp, 'crop-audit');
    const au = gradcam('audit', manifest, '--model', MODEL, '--resize', String(c.resize), '--out', auditOut, '--quiet');
    assert.equal(au.code, 0, au.err);
    const row = JSON.parse(fs.readFileSync(path.join(auditOut, 'results.jsonl'), 'utf8').trim()) as AuditRow;
    assert.ok(row.metrics!.object_area! > 0.97, `object area ${row.metrics!.object_area}`);
    assert.equal(JSON.parse(fs.readFileSync(path.join(auditOut, 'audit.json'), 'utf8')).resize, c.resize);
    const again = gradcam('audit', manifest, '--model', MODEL, '--out', auditOut, '--quiet');
    assert.equal(again.code, 1);
    assert.match(again.err, /other settings \(resize/);

    const evalOut = path.join(tmp, 'crop-eval');
    const ev = gradcam('evaluate', file, '--model', MODEL, '--resize', String(c.resize), '--metrics', 'average_drop', '--out', evalOut, '--quiet');
    assert.equal(ev.code, 0, ev.err);
    const evNpy = gradcam('evaluate', npy, '--model', MODEL, '--metrics', 'average_drop', '--out', path.join(tmp, 'crop-eval-npy'), '--quiet');
    assert.equal(evNpy.code, 0, evNpy.err);
    const p1 = JSON.parse(fs.readFileSync(path.join(evalOut, 'evaluate.jsonl'), 'utf8').split('\n')[0]!).probability;
    const p2 = JSON.parse(fs.readFileSync(path.join(tmp, 'crop-eval-npy', 'evaluate.jsonl'), 'utf8').split('\n')[0]!).probability;
    assert.ok(Math.abs(p1 - p2) < 1e-5, `evaluate: ${p1} vs ${p2}`);

    const san = gradcam('sanity', file, '--model', MODEL, '--resize', String(c.resize), '--methods', 'gradcam', '--mode', 'cascading', '--randomize', '1', '--out', path.join(tmp, 'crop-sanity'), '--quiet');
    assert.equal(san.code, 0, san.err);
    const bad = gradcam('sanity', file, '--model', MODEL, '--crop', '48', '--out', path.join(tmp, 'crop-sanity-bad'), '--quiet');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--crop goes with --resize N/);
  });
});

// ------------------------------------------------------------------------------------------ progress

describe('progress of Score-CAM and Ablation-CAM', () => {
  it('onProgress is called per batch of passes with increasing done up to total', async () => {
    const explainer = await loadExplainer(MODEL);
    try {
      const npy = parseNpy(new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'resnet_like', 'input.npy'))));
      const input = toFloat32(npy);
      const dims = npy.shape; // [2, 3, 48, 48]; the automatic layer has 24 channels
      const C = 24;
      for (const method of ['scorecam', 'ablationcam']) {
        const calls: [number, number, string][] = [];
        const r = await explainer.explain(input, dims, { method, batchSize: 5, onProgress: (d, t, s) => calls.push([d, t, s]) });
        assert.equal(calls.length, 2 * Math.ceil(C / 5), `${method}: one call per batch of passes`);
        assert.ok(calls.every(([, t, s]) => t === 2 * C && s === method), `${method}: total and stage`);
        assert.ok(calls.every(([d], i) => i === 0 || d > calls[i - 1]![0]), `${method}: done increases`);
        assert.equal(calls.at(-1)![0], 2 * C);
        // the maps do not depend on being watched
        const plain = await explainer.explain(input, dims, { method, batchSize: 5 });
        assert.deepEqual(r.explanations.map((e) => Array.from(e.map)), plain.explanations.map((e) => Array.from(e.map)));
      }
      // several methods and augmentations: one total for the call
      const calls: [number, number, string][] = [];
      await explainMany(explainer, input, dims, { methods: ['gradcam', 'scorecam', 'ablationcam'], layers: ['auto'], augSmooth: true, batchSize: 8, onProgress: (d, t, s) => calls.push([d, t, s]) });
      const total = 6 * 2 * (2 * C);
      assert.ok(calls.every(([, t]) => t === total), `total ${calls[0]?.[1]} vs ${total}`);
      assert.ok(calls.every(([d], i) => i === 0 || d > calls[i - 1]![0]));
      assert.equal(calls.at(-1)![0], total);
      assert.deepEqual([...new Set(calls.map(([, , s]) => s))], ['scorecam', 'ablationcam']);
      // --score-top N: N passes per image
      const top: number[] = [];
      await explainer.explain(input, dims, { method: 'scorecam', scoreCamTopN: 7, onProgress: (d, t) => top.push(t) });
      assert.ok(top.length > 0 && top.every((t) => t === 14));
    } finally {
      await explainer.release();
    }
  });
});

// ------------------------------------------------------------------------------------------ evaluate resumes

describe('gradcam evaluate: rows stored as they are made, resumable', () => {
  const N = 5;
  let data: string;
  let ref: string;
  const args = (out: string, ...more: string[]) => ['evaluate', data, '--model', MODEL, '--methods', 'gradcam,guided-backprop', '--metrics', 'deletion,average_drop', '--steps', '5', '--batch-size', '2', '--out', out, '--quiet', ...more];
  const outputs = (dir: string) => Object.fromEntries(['evaluate.jsonl', 'evaluate.csv', 'summary.json', 'summary.md'].map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
  const lines = (file: string) => { try { return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length; } catch { return 0; } };

  before(() => {
    data = path.join(tmp, 'eval-data');
    fs.mkdirSync(data);
    for (let i = 0; i < N; i++) fs.writeFileSync(path.join(data, `img${i}.png`), picture(48 + 8 * (i % 2), 48, 10 + i, [4 + 3 * i, 8, 24 + 3 * i, 30]));
    ref = path.join(tmp, 'eval-ref');
    const r = gradcam(...args(ref));
    assert.equal(r.code, 0, r.err);
  });

  it('killed part-way (SIGKILL, a torn last line) and run again: the same outputs as an uninterrupted run', async () => {
    const out = path.join(tmp, 'eval-killed');
    const store = path.join(out, 'evaluate.jsonl');
    const child = spawn(process.execPath, [BIN, ...args(out)], { cwd: ROOT, env: { ...process.env, GRADCAM_EVALUATE_THROTTLE_MS: '400' }, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    let killedAt = 0;
    for (let t = 0; t < 1200 && !killedAt; t++) {
      await new Promise((r) => setTimeout(r, 25));
      const n = lines(store);
      if (n >= 3) {
        child.kill('SIGKILL');
        killedAt = n;
      }
    }
    await exited;
    assert.ok(killedAt >= 3 && killedAt < 2 * N, `killed part-way (${killedAt} rows)`);
    assert.ok(!fs.existsSync(path.join(out, 'evaluate.csv')), 'no summary yet');
    // the rows so far are stored as they were made
    const partial = fs.readFileSync(store, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const refRows = fs.readFileSync(path.join(ref, 'evaluate.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    for (const row of partial) assert.deepEqual(row, refRows.find((x) => x.key === row.key));
    fs.appendFileSync(store, '{"key":"gradcam /x/img4.png","status":"ok","image":"/x/img4.p');
    const again = spawnSync(process.execPath, [BIN, ...args(out).filter((a) => a !== '--quiet')], { encoding: 'utf8', cwd: ROOT });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`resumed .*: ${partial.length} of ${2 * N} rows were done before`));
    assert.deepEqual(outputs(out), outputs(ref));
    // a third run has nothing to do, and changes nothing
    const third = spawnSync(process.execPath, [BIN, ...args(out).filter((a) => a !== '--quiet')], { encoding: 'utf8', cwd: ROOT });
    assert.equal(third.status, 0, third.stderr);
    assert.match(third.stderr, new RegExp(`${2 * N} of ${2 * N} rows were done before`));
    assert.deepEqual(outputs(out), outputs(ref));
  });

  it('another method adds its rows; other settings or another model are refused', () => {
    const out = path.join(tmp, 'eval-more');
    fs.cpSync(ref, out, { recursive: true });
    const r = gradcam(...args(out).map((a) => (a === 'gradcam,guided-backprop' ? 'gradcam,guided-backprop,ablationcam' : a)));
    assert.equal(r.code, 0, r.err);
    const csv = fs.readFileSync(path.join(out, 'evaluate.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, 1 + 3 * N);
    const refCsv = fs.readFileSync(path.join(ref, 'evaluate.csv'), 'utf8').trim().split('\n');
    for (const line of refCsv.slice(1)) assert.ok(csv.includes(line), `kept: ${line}`);

    const steps = gradcam(...args(out).map((a) => (a === '5' ? '6' : a)));
    assert.equal(steps.code, 1);
    assert.match(steps.err, /holds an evaluation with other settings \(steps: 5 vs 6\); use another --out folder/);
    const model = gradcam(...args(out).map((a) => (a === MODEL ? path.join(ROOT, 'demo', 'models', 'where.onnx') : a)));
    assert.equal(model.code, 1);
    assert.match(model.err, /holds an evaluation with other settings \(model: .*"where\.onnx"/);
    assert.deepEqual(fs.readFileSync(path.join(out, 'evaluate.csv'), 'utf8').trim().split('\n'), csv, 'a refused run changes nothing');
    // a folder that is not an evaluation's is not written into
    const foreign = path.join(tmp, 'eval-foreign');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
    const f = gradcam(...args(foreign));
    assert.equal(f.code, 1);
    assert.match(f.err, /already holds files \(notes\.txt\) and is not a gradcam evaluation folder/);
  });
});

describe("Grad-CAM's maps computed inside the gradient graph", () => {
  // explain() and the CLI take them from the graph (weights, weighted sum, scaling, resize) where the
  // layer's layout allows; they must equal the JavaScript pipeline, the references, and not depend on the batch
  for (const name of ['resnet_like', 'tf_style_nhwc_op17', 'opzoo_a', 'nhwc_input']) {
    it(`${name}: equal to the JavaScript pipeline and to pytorch-grad-cam, the same in any batch`, async () => {
      const meta = loadMeta(name);
      const ex = Explainer.fromBytes(modelBytes(name), { createSession: createNodeSession });
      const input = loadArray(name, 'input.npy');
      const n = input.shape[0]!;
      for (const l of meta.layers) {
        const run = await ex.run(input.data, input.shape, { layers: [l.tensor], classes: meta.classes, post: gradcamGraphMaps });
        const graph = { maps: graphMaps(run)!, activations: run.activations };
        assert.ok(graph.maps, `${l.key}: the in-graph path was taken`);
        assert.equal(graph.activations.length, 0);
        const js = await ex.run(input.data, input.shape, { layers: [l.tensor], classes: meta.classes });
        const a = js.activations[0]!;
        const raw = gradcamMethod.compute({ activations: a.data, gradients: js.gradients[0]!.data, dims: a.dims as [number, number, number, number] });
        const post = postprocess([{ raw, h: a.dims[2]!, w: a.dims[3]! }], n, js.size[0], js.size[1]);
        assert.ok(maxRelError(graph.maps.raw, raw) < 1e-5, `${l.key}: raw maps ${maxRelError(graph.maps.raw, raw)}`);
        assert.ok(maxRelError(graph.maps.map, post.maps) < 1e-5, `${l.key}: maps ${maxRelError(graph.maps.map, post.maps)}`);
        assert.deepEqual(Array.from(graph.maps.range, (v) => v === 0), post.empty);
        const ref = loadArray(name, `${l.key}.gradcam.npy`);
        const e = await ex.explain(input.data, input.shape, { layer: l.tensor, classes: meta.classes });
        const got = new Float32Array(e.explanations.flatMap((x) => Array.from(x.map)));
        assert.ok(maxRelError(got, ref.data) < 1e-4, `${l.key}: vs pytorch-grad-cam ${maxRelError(got, ref.data)}`);
        // each image alone gives the same bits as in the batch
        const per = input.data.length / n;
        for (let i = 0; i < n; i++) {
          const one = await ex.explain(input.data.slice(i * per, (i + 1) * per), [1, ...input.shape.slice(1)], { layer: l.tensor, classes: meta.classes[i] });
          assert.deepEqual(one.explanations[0]!.map, e.explanations[i]!.map, `${l.key}: image ${i} alone`);
          assert.deepEqual(one.explanations[0]!.raw, e.explanations[i]!.raw);
        }
      }
      await ex.release();
    });
  }

  it('token layers keep the JavaScript pipeline', async () => {
    const meta = loadMeta('vit_tiny_op17');
    const ex = Explainer.fromBytes(modelBytes('vit_tiny_op17'), { createSession: createNodeSession });
    const input = loadArray('vit_tiny_op17', 'input.npy');
    const r = await ex.run(input.data, input.shape, { layers: [meta.layers[0]!.tensor], classes: meta.classes, post: gradcamGraphMaps });
    assert.equal(r.post, undefined);
    assert.equal(r.activations.length, 1);
    await ex.release();
  });
});
