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
import { encodePng } from '../src/image/png.js';
import type { AuditRow } from '../src/audit/types.js';
import { FIXTURES } from './helpers/fixtures.js';

const ROOT = path.join(FIXTURES, '..', '..');
const BIN = path.join(ROOT, 'bin', 'gradcam.js');
const MODEL = path.join(FIXTURES, 'resnet_like', 'model.onnx');

function gradcam(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

let tmp: string;
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-pipeline-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

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
  });
});
