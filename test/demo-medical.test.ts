/**
 * The medical demo's models (demo/models/med3d.onnx, med2d.onnx; scripts/demo/medical/) on the first
 * test phantoms of `npm run demo:medical` (seeds from 100000, never trained on): they classify them, and
 * Grad-CAM lands on the lesions — checked on a subset here, the full numbers are demo/medical/RESULTS.json.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { energyPointing, pointingGame } from '../src/metrics/localisation.js';
import { phantomSlice, phantomVolume, sliceInput, volumeInput } from '../scripts/demo/medical/phantom.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const load = (name: string) => Explainer.fromBytes(new Uint8Array(fs.readFileSync(path.join(ROOT, 'demo', 'models', name))), { createSession: createNodeSession, source: name });
const results = JSON.parse(fs.readFileSync(path.join(ROOT, 'demo', 'medical', 'RESULTS.json'), 'utf8'));

describe('medical demo models', () => {
  it('RESULTS.json states what the demo measured', () => {
    assert.ok(results.med3d.accuracy >= 85 && results.med3d.pointing_game >= 60, JSON.stringify(results.med3d));
    assert.ok(results.med2d.accuracy >= 90 && results.med2d.pointing_game >= 85, JSON.stringify(results.med2d));
    assert.ok(results.med3d.energy_in_lesion > 4 * results.med3d.energy_uniform_baseline);
  });

  const m3 = load('med3d.onnx');
  const m2 = load('med2d.onnx');
  after(async () => { await m3.release(); await m2.release(); });

  it('med3d: labels in the metadata, 3-D auto layer; the first 8 test volumes, maps on the lesions', async () => {
    assert.deepEqual(m3.labels, ['normal', 'lesion']);
    assert.equal(m3.volume, true);
    let correct = 0;
    let hits = 0;
    let energy = 0;
    for (let k = 0; k < 8; k++) {
      const label = (k % 2 === 0 ? 1 : 0) as 0 | 1;
      const p = phantomVolume(100000 + k, label);
      const e = (await m3.explain(volumeInput(p), [1, 1, 32, 32, 32], { classes: 'lesion' })).explanations[0]!;
      if (e.predicted.index === label) correct++;
      if (label === 1) { if (pointingGame(e.map, p.mask, 1024)) hits++; energy += energyPointing(e.map, p.mask) / 4; }
    }
    assert.ok(correct >= 6, `${correct}/8 correct`); // 90 % over the demo's 40
    assert.ok(hits >= 2, `${hits}/4 peaks in the lesion`);
    assert.ok(energy > 0.03, `energy in the lesions ${energy}`);
  });

  it('med2d: 1-channel input; the first 20 test slices, peaks in the nodules', async () => {
    assert.equal(m2.channels, 1);
    let correct = 0;
    let hits = 0;
    for (let k = 0; k < 20; k++) {
      const label = (k % 2 === 0 ? 1 : 0) as 0 | 1;
      const p = phantomSlice(100000 + k, label);
      const e = (await m2.explain(sliceInput(p), [1, 1, 64, 64], { classes: 'lesion' })).explanations[0]!;
      if (e.predicted.index === label) correct++;
      if (label === 1 && pointingGame(e.map, p.mask, 64)) hits++;
    }
    assert.ok(correct >= 18, `${correct}/20 correct`);
    assert.ok(hits >= 8, `${hits}/10 peaks in the nodule`);
  });
});
