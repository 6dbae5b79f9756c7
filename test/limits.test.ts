/**
 * Memory and size limits on pathological inputs: `gradcam explain` on 1×16000, 100000×1 and
 * 16000×16000 PNGs stays under 1 GB of peak memory (it took 4–6.4 GB before: full-size decodes kept
 * for the whole run, overlays enlarged to 256 px wide whatever the height); overlays are at most 2048 px
 * long (--max-overlay); images above --max-pixels are refused before decoding with a message naming the
 * option; Score-CAM's passes per run come from a memory budget.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodePng } from '../src/image/png.js';
import { camBatchFromBudget, CAM_BATCH_MAX } from '../src/cam/budget.js';
import { overlaySize } from '../src/node.js';
import { cleanOrtMessage } from '../src/runtime/node.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const BIN = path.join(ROOT, 'bin', 'gradcam.js');
const MODEL = path.join(ROOT, 'demo', 'models', 'where.onnx');
const MAXRSS = path.join(ROOT, 'test', 'helpers', 'maxrss.mjs');
const KILL_KB = 1.5 * 1024 * 1024;

let tmp: string;
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-limits-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function png(w: number, h: number): Promise<string> {
  const f = path.join(tmp, `img_${w}x${h}.png`);
  await sharp({ create: { width: w, height: h, channels: 3, background: { r: 120, g: 60, b: 200 } }, limitInputPixels: false }).png({ compressionLevel: 1 }).toFile(f);
  return f;
}

/** Runs the CLI; resolves with its exit status, stderr and peak RSS in kB; killed (and failed) above 1.5 GB. */
function gradcam(args: string[]): Promise<{ code: number | null; err: string; maxRssKb: number; killed: boolean }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', MAXRSS, BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let killed = false;
    p.stderr.on('data', (d) => { err += d; });
    p.stdout.resume();
    const watch = setInterval(() => {
      try {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1] ?? 0);
        if (kb > KILL_KB) { killed = true; p.kill('SIGKILL'); }
      } catch { /* gone, or not Linux */ }
    }, 25);
    p.on('close', (code) => {
      clearInterval(watch);
      const m = /gradcam-maxrss-kb=(\d+)/.exec(err);
      resolve({ code, err: err.replace(/gradcam-maxrss-kb=\d+\n?/, ''), maxRssKb: m ? Number(m[1]) : killed ? Infinity : NaN, killed });
    });
  });
}

describe('pathological images', () => {
  for (const [w, h] of [[1, 16000], [100000, 1], [16000, 16000]] as const) {
    it(`explain on a ${w}×${h} PNG: peak memory under 1 GB, overlay at most 2048 px long`, { timeout: 120_000 }, async () => {
      const file = await png(w, h);
      const out = path.join(tmp, `out_${w}x${h}`);
      const r = await gradcam(['explain', file, '--model', MODEL, '--out', out, '--quiet']);
      assert.equal(r.killed, false, 'killed above 1.5 GB');
      assert.equal(r.code, 0, r.err);
      process.stderr.write(`# ${w}×${h}: peak RSS ${(r.maxRssKb / 1024).toFixed(0)} MB\n`);
      assert.ok(r.maxRssKb < 1024 * 1024, `peak RSS ${r.maxRssKb} kB`);
      const img = decodePng(new Uint8Array(fs.readFileSync(path.join(out, `img_${w}x${h}.gradcam.png`))));
      assert.ok(Math.max(img.width, img.height) <= 2048, `${img.width}×${img.height}`);
      const json = JSON.parse(fs.readFileSync(path.join(out, `img_${w}x${h}.gradcam.json`), 'utf8'));
      assert.deepEqual(json.image_size, [h, w]);
      fs.rmSync(file);
    });
  }

  it('an image above --max-pixels is refused before decoding, naming the option; nothing is written', async () => {
    const file = await png(3000, 2000);
    const out = path.join(tmp, 'out_limit');
    const r = await gradcam(['explain', file, '--model', MODEL, '--out', out, '--max-pixels', '5000000']);
    assert.equal(r.code, 1);
    assert.match(r.err, /^gradcam: error: image .*img_3000x2000\.png is 3000×2000 \(6\.0 megapixels\), above the limit of 5\.0 megapixels; raise it with --max-pixels N \(0 for no limit\)/);
    assert.equal(r.err.trim().split('\n').length, 1);
    assert.equal(fs.existsSync(out), false);
    const ok = await gradcam(['explain', file, '--model', MODEL, '--out', out, '--max-pixels', '0', '--max-overlay', '300', '--quiet']);
    assert.equal(ok.code, 0, ok.err);
    const img = decodePng(new Uint8Array(fs.readFileSync(path.join(out, 'img_3000x2000.gradcam.png'))));
    assert.ok(Math.max(img.width, img.height) <= 300 && img.width >= 280, `${img.width}×${img.height}`);
    const bad = spawnSync(process.execPath, [BIN, 'explain', file, '--model', MODEL, '--max-overlay', '5'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--max-overlay must be a whole number from 16 to 32768, got '5'; see 'gradcam explain --help'/);
  });
});

describe('sizes and budgets', () => {
  it('overlay sizes: small pictures enlarged by a whole factor, long sides bounded', () => {
    assert.deepEqual(overlaySize(48, 48, 256), [288, 288]);
    assert.deepEqual(overlaySize(1, 16000, 256), [1, 2048]);
    assert.deepEqual(overlaySize(100000, 1, 256), [2048, 1]);
    assert.deepEqual(overlaySize(1, 700, 256), [2, 1400]);
    assert.deepEqual(overlaySize(4000, 3000, 256, 1000), [1000, 750]);
  });

  it('Score-CAM / Ablation-CAM passes per run shrink with the input size (512 MB budget, at most 32)', () => {
    assert.equal(camBatchFromBudget([1, 3, 224, 224], [1, 2048, 7, 7]), CAM_BATCH_MAX);
    assert.equal(camBatchFromBudget([1, 3, 1024, 1024], [1, 64, 32, 32]), 4);
    assert.equal(camBatchFromBudget([1, 3, 4096, 4096], [1, 64, 128, 128]), 1);
    assert.equal(camBatchFromBudget([1, 3, 224, 224], [1, 2048, 7, 7], 16 * 2 ** 20), 2);
  });

  it('onnxruntime messages lose their C++ source locations and signatures, and become one line', () => {
    assert.equal(
      cleanOrtMessage('/onnxruntime_src/onnxruntime/core/graph/model_load_utils.h:46 void onnxruntime::model_load_utils::ValidateOpsetForDomain(const std::unordered_map<std::string, int>&, const onnxruntime::logging::Logger&, bool, const std::string&, int) ONNX Runtime only *guarantees* support for models stamped with official released onnx opset versions.'),
      'ONNX Runtime only *guarantees* support for models stamped with official released onnx opset versions.',
    );
    assert.equal(cleanOrtMessage('Got invalid dimensions for input: input for the following indices\n index: 0 Got: 1 Expected: 2\n Please fix either the inputs/outputs or the model.'),
      'Got invalid dimensions for input: input for the following indices | index: 0 Got: 1 Expected: 2 | Please fix either the inputs/outputs or the model.');
  });
});
