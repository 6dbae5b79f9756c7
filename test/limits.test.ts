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
import { decodeRle, encodeRle, maskDecodeSize } from '../src/util/rle.js';
import { niftiHeader, niftiGz, deflatedDicom } from './helpers/hostile.js';

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
    let children = 0;
    const watch = setInterval(() => {
      try {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1] ?? 0);
        // the process tree: any processes it started count too (their peaks, VmHWM, summed)
        const kids = descendants(p.pid!).reduce((a, c) => a + procKb(c, 'VmHWM'), 0);
        children = Math.max(children, kids);
        if (kb + kids > KILL_KB) { killed = true; p.kill('SIGKILL'); }
      } catch { /* gone, or not Linux */ }
    }, 25);
    p.on('close', (code) => {
      clearInterval(watch);
      const m = /gradcam-maxrss-kb=(\d+)/.exec(err);
      resolve({ code, err: err.replace(/gradcam-maxrss-kb=\d+\n?/, ''), maxRssKb: m ? Number(m[1]) + children : killed ? Infinity : NaN, killed });
    });
  });
}

/** A /proc/<pid>/status field in kB (0 when gone). */
function procKb(pid: number, field: string): number {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** The processes below `pid` (/proc/<pid>/task/<tid>/children, recursively). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try { tasks = fs.readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const t of tasks) {
    let kids = '';
    try { kids = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8'); } catch { continue; }
    for (const k of kids.split(/\s+/).filter(Boolean).map(Number)) out.push(k, ...descendants(k));
  }
  return out;
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

describe('hostile scans and masks (issue 23): each refused in one line or handled, the process tree under 1 GB, every input at most 4 MB', () => {
  const MED2D = path.join(ROOT, 'demo', 'models', 'med2d.onnx');
  const MED3D = path.join(ROOT, 'demo', 'models', 'med3d.onnx');
  const write = (name: string, bytes: Uint8Array) => {
    const f = path.join(tmp, name);
    fs.writeFileSync(f, bytes);
    assert.ok(bytes.length <= 4 * 2 ** 20, `${name}: ${bytes.length} bytes`);
    return f;
  };
  const cases: { name: string; make: () => Promise<string>; model: string; args?: string[]; error?: RegExp }[] = [
    { name: 'a 352-byte NIfTI declaring 600³ voxels from vox_offset NaN', make: async () => write('nan.nii', niftiHeader({ dims: [600, 600, 600], voxOffset: NaN })), model: MED2D, error: /nan\.nii: vox_offset NaN is not a byte offset/ },
    { name: 'a negative dim[1]', make: async () => write('negdim.nii', niftiHeader({ dims: [-5, 4, 4], datatype: 2 })), model: MED2D, error: /negdim\.nii: axis sizes \[-5, 4, 4\] must be positive/ },
    { name: 'a 32767³ header', make: async () => write('huge.nii', niftiHeader({ dims: [32767, 32767, 32767] })), model: MED3D, error: /huge\.nii: 32767×32767×32767 voxels .* above the limit of 67 M voxels for a scan; raise it with --max-pixels N/ },
    { name: 'a 1.5 MB .nii.gz of 8³ voxels inflating to 1.5 GB', make: async () => write('bomb.nii.gz', await niftiGz({ dims: [8, 8, 8], datatype: 2 }, 1.5e9)), model: MED3D, error: /bomb\.nii\.gz: the gzip stream inflates beyond the declared data/ },
    { name: 'a .nii.gz declaring 1.5 GB', make: async () => write('big.nii.gz', await niftiGz({ dims: [1000, 750, 500], datatype: 4 }, 1000)), model: MED3D, error: /big\.nii\.gz: 1000×750×500 voxels \(375 M\) is above the limit/ },
    { name: 'a 1500-slice .nii.gz for a 2-D model', make: async () => write('slices.nii.gz', await niftiGz({ dims: [512, 512, 1500], datatype: 4 })), model: MED2D, error: /slices\.nii\.gz: 512×512×1500 voxels \(393 M\) is above the limit/ },
    { name: 'a 1500-slice .nii.gz of small slices within the voxel budget, whose inputs to a 2-D model are not', make: async () => write('slices16.nii.gz', await niftiGz({ dims: [16, 16, 1500], datatype: 2 })), model: MED2D, args: ['--max-pixels', '5000000'], error: /slices16\.nii\.gz: its 1500 slices make 1500 inputs of 1×64×64 for this 2-D model \(6144000 values\), above the limit of 5000000 for a scan; give fewer slices/ },
    { name: 'a deflated DICOM of 16384² 16-bit pixels (0.5 MB inflating to 512 MB)', make: async () => write('big.dcm', await deflatedDicom(16384, 16384)), model: MED2D, error: /big\.dcm: the deflated data set inflates to more than 269484032 bytes/ },
    { name: 'a .nii.gz of 64 M float64 voxels (512 MB inflated), the budget, into a 3-D model', make: async () => write('budget.nii.gz', await niftiGz({ dims: [512, 512, 256], datatype: 64 })), model: MED3D },
    { name: 'an 8-bit grey 12000×12000 PNG into a one-channel model', make: async () => {
      const f = path.join(tmp, 'grey8.png');
      await sharp({ create: { width: 12000, height: 12000, channels: 3, background: { r: 90, g: 90, b: 90 } }, limitInputPixels: false }).toColourspace('b-w').png({ compressionLevel: 9 }).toFile(f);
      return f;
    }, model: MED2D },
    { name: 'a 16-bit grey 12000×12000 PNG', make: async () => {
      const f = path.join(tmp, 'grey16.png');
      await sharp({ create: { width: 12000, height: 12000, channels: 3, background: { r: 90, g: 90, b: 90 } }, limitInputPixels: false }).toColourspace('grey16').png({ compressionLevel: 9 }).toFile(f);
      return f;
    }, model: MED2D },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.error ? 'refused in one line' : 'explained'}`, { timeout: 180_000 }, async () => {
      const file = await c.make();
      assert.ok(fs.statSync(file).size <= 4 * 2 ** 20, `${file}: ${fs.statSync(file).size} bytes`);
      const out = path.join(tmp, `out_${path.basename(file)}`);
      const r = await gradcam(['explain', file, '--model', c.model, '--out', out, '--quiet', ...(c.args ?? [])]);
      process.stderr.write(`# ${path.basename(file)}: exit ${r.code}, peak RSS ${(r.maxRssKb / 1024).toFixed(0)} MB\n`);
      assert.equal(r.killed, false, 'killed above 1.5 GB');
      assert.ok(r.maxRssKb < 1024 * 1024, `peak RSS ${r.maxRssKb} kB`);
      if (c.error) {
        assert.equal(r.code, 1, r.err);
        assert.equal(r.err.trim().split('\n').length, 1, r.err);
        assert.match(r.err, /^gradcam: error: /);
        assert.match(r.err, c.error);
        assert.equal(fs.existsSync(out), false);
      } else {
        assert.equal(r.code, 0, r.err);
        assert.ok(fs.readdirSync(out).some((f) => f.endsWith('.gradcam.png')));
      }
      fs.rmSync(file, { force: true });
    });
  }

  it('manifest masks declared at 40000×40000 (RLE) and 30000×30000 (COCO polygon) are sampled at the size needed: right areas, under 1 GB', { timeout: 120_000 }, async () => {
    const dir = path.join(tmp, 'masks');
    fs.mkdirSync(dir);
    await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 10, g: 200, b: 30 } } }).png().toFile(path.join(dir, 'img.png'));
    // the middle half of the rows (row-major runs), and the upper-right half of the image (a triangle)
    fs.writeFileSync(path.join(dir, 'm.jsonl'), `${JSON.stringify({ path: 'img.png', mask_rle: { size: [40000, 40000], order: 'row-major', counts: [10000 * 40000, 20000 * 40000, 10000 * 40000] } })}\n`);
    fs.writeFileSync(path.join(dir, 'coco.json'), JSON.stringify({
      images: [{ id: 1, file_name: 'img.png', width: 30000, height: 30000 }], categories: [{ id: 1, name: 'Coat' }],
      annotations: [{ id: 1, image_id: 1, category_id: 1, segmentation: [[0, 0, 30000, 0, 30000, 30000]], bbox: [0, 0, 30000, 30000] }],
    }));
    for (const m of ['m.jsonl', 'coco.json']) {
      const out = path.join(tmp, `audit_${m}`);
      const r = await gradcam(['audit', path.join(dir, m), '--model', MODEL, '--out', out, '--quiet']);
      process.stderr.write(`# ${m}: exit ${r.code}, peak RSS ${(r.maxRssKb / 1024).toFixed(0)} MB\n`);
      assert.equal(r.code, 0, r.err);
      assert.ok(r.maxRssKb < 1024 * 1024, `peak RSS ${r.maxRssKb} kB`);
      const row = JSON.parse(fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n')[0]!);
      assert.equal(row.status, 'ok', JSON.stringify(row));
      assert.equal(row.metrics.region, 'mask');
      assert.ok(Math.abs(row.metrics.object_area - 0.5) < 0.01, JSON.stringify(row.metrics));
    }
  });

  it('RLE masks decode at any size from their runs: equal to the full decode sampled at pixel centres, both orders', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let t = 0; t < 100; t++) {
      const [h, w] = [1 + Math.floor(rnd() * 30), 1 + Math.floor(rnd() * 30)];
      const m = Uint8Array.from({ length: h * w }, () => (rnd() < 0.3 ? 1 : 0));
      const cm = new Uint8Array(h * w);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) cm[x * h + y] = m[y * w + x]!;
      const rles = [encodeRle(m, h, w), { counts: encodeRle(cm, w, h).counts, size: [h, w] as [number, number], order: 'column-major' as const }];
      for (const rle of rles) {
        assert.deepEqual(decodeRle(rle), m);
        const [th, tw] = [1 + Math.floor(rnd() * 50), 1 + Math.floor(rnd() * 50)];
        const s = decodeRle(rle, [th, tw]);
        for (let y = 0; y < th; y++) {
          for (let x = 0; x < tw; x++) {
            const [yy, xx] = [Math.min(h - 1, Math.floor(((y + 0.5) * h) / th)), Math.min(w - 1, Math.floor(((x + 0.5) * w) / tw))];
            assert.equal(s[y * tw + x], m[yy * w + xx], `${rle.order} ${h}×${w} at ${th}×${tw}`);
          }
        }
      }
    }
    assert.deepEqual(maskDecodeSize(40000, 20000), [4096, 2048]);
    assert.deepEqual(maskDecodeSize(300, 200), [300, 200]);
  });
});
