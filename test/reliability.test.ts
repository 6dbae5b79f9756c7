/**
 * Reliability, second part: the audit lock is held through the final rewrite of results.jsonl (a run
 * started in that window used to take the lock, append rows and lose them to the rewrite while it
 * reported every image done); model input sizes are bounded before anything is allocated; non-regular
 * files (devices, FIFOs, folders) are refused at once; empty option values and empty .npy inputs are
 * errors; a full disk during an audit names the file and how to resume.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, ROOT, runGradcam as gradcam, hookedArgs, runHooked, oneError } from './helpers/cli.js';

const MODEL = path.join(ROOT, 'demo', 'models', 'where.onnx');
const SCENES = path.join(ROOT, 'demo', 'testset');

let tmp: string;
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-rel2-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const rowKeys = (dir: string) => fs.readFileSync(path.join(dir, 'results.jsonl'), 'utf8').trim().split('\n').filter(Boolean)
  .map((l) => (JSON.parse(l) as { key: string }).key).sort();

describe('audit lock race (point 6)', () => {
  it('a run started while another rewrites results.jsonl is refused; no row is lost', { timeout: 180_000 }, async () => {
    const files = fs.readdirSync(SCENES).filter((f) => f.endsWith('.png')).sort().slice(0, 9).map((f) => path.join(SCENES, f));
    const first = files.slice(0, 6);
    const out = path.join(tmp, 'race');
    // run A pauses inside its lock after reading the rows for the final rewrite
    const a = spawn(process.execPath, hookedArgs({ rewritePauseMs: 15000 }, ['audit', ...first, '--model', MODEL, '--out', out, '--batch-size', '3']), {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let aErr = '';
    let aOut = '';
    a.stdout.on('data', (d) => { aOut += d; });
    const paused = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`run A never reached the rewrite: ${aErr}`)), 120_000);
      a.stderr.on('data', (d) => {
        aErr += d;
        if (aErr.includes('pausing before the final rewrite')) { clearTimeout(t); resolve(); }
      });
    });
    const aDone = new Promise<number | null>((resolve) => a.on('close', resolve));
    try {
      await paused;
      // run B, with three more images, starts in that window
      const b = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const p = spawn(process.execPath, [BIN, 'audit', ...files, '--model', MODEL, '--out', out, '--quiet'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        let o = '';
        let e = '';
        p.stdout.on('data', (d) => { o += d; });
        p.stderr.on('data', (d) => { e += d; });
        const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
        p.on('close', (code) => { clearTimeout(t); resolve({ code, out: o, err: e }); });
      });
      assert.equal(a.exitCode, null, 'run A was still in its final rewrite when B ended');
      assert.equal(b.code, 1, b.err);
      oneError(b.err, /another gradcam run \(pid \d+ on .*\) is writing to .*race; if none is, delete .*\.lock/);
    } finally {
      if (a.exitCode === null) await aDone;
    }
    assert.equal(a.exitCode, 0, aErr);
    assert.match(aOut, /6\/6 images done/);
    assert.deepEqual(rowKeys(out), first.map((f) => path.basename(f)).sort());
    assert.equal(fs.existsSync(path.join(out, '.lock')), false);
    // B run again after A: every row of both
    const again = gradcam(['audit', ...files, '--model', MODEL, '--out', out]);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /9\/9 images done \(3 now, 6 already done\)/);
    assert.deepEqual(rowKeys(out), files.map((f) => path.basename(f)).sort());
    const csv = fs.readFileSync(path.join(out, 'results.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, 10);
  });
});

describe('model input size limits (point 4)', () => {
  const MAXRSS = path.join(ROOT, 'test', 'helpers', 'maxrss.mjs');
  /** where.onnx with its input's height and width declared as given ('H'/'W': dynamic); nothing of that size is allocated. */
  async function withInput(h: number | 'H', w: number | 'W', name: string): Promise<string> {
    const { decodeModel, encodeModel } = await import('../src/onnx/model.js');
    const m = decodeModel(new Uint8Array(fs.readFileSync(MODEL)), MODEL);
    const dims = (m.graph.input[0]!.type as unknown as { tensor_type: { shape: { dim: Record<string, unknown>[] } } }).tensor_type.shape.dim;
    dims[2] = typeof h === 'number' ? { dim_value: h } : { dim_param: h };
    dims[3] = typeof w === 'number' ? { dim_value: w } : { dim_param: w };
    const f = path.join(tmp, `${name}.onnx`);
    fs.writeFileSync(f, encodeModel(m));
    return f;
  }
  function run(args: string[]) {
    const r = spawnSync(process.execPath, ['--import', MAXRSS, BIN, ...args], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
    const kb = Number(/gradcam-maxrss-kb=(\d+)/.exec(r.stderr)?.[1] ?? NaN);
    return { code: r.status, err: r.stderr.replace(/gradcam-maxrss-kb=\d+\n?/, ''), kb, signal: r.signal };
  }
  const limitMsg = /above the limit of 4194304 pixels per model input \(2048×2048\); raise it with --max-input N \(0 for no limit\)/;
  const photo = path.join(ROOT, 'demo', 'photos', 'chelsea.jpg');

  it('a model declaring a 30000×30000 input is refused at once, naming the limit and --max-input', { timeout: 120_000 }, async () => {
    const huge = await withInput(30000, 30000, 'declared-30000');
    for (const args of [['explain', photo, '--model', huge, '--out', path.join(tmp, 'o-huge')], ['layers', '--model', huge],
      ['audit', photo, '--model', huge, '--out', path.join(tmp, 'a-huge')]]) {
      const r = run(args);
      assert.equal(r.code, 1, `${args[0]}: ${r.err}`);
      oneError(r.err.split('\n').filter((l) => !l.startsWith('gradcam: 1 images')).join('\n'), new RegExp(`declared-30000\\.onnx: the model's declared input of 30000×30000 pixels is ${limitMsg.source}`));
      assert.ok(r.kb < 512 * 1024, `${args[0]}: peak RSS ${r.kb} kB`);
    }
    assert.equal(fs.existsSync(path.join(tmp, 'o-huge')), false);
  });

  it('--size 8192 (and 100000 for layers) on a dynamic model is refused before any run', { timeout: 120_000 }, async () => {
    const dyn = await withInput('H', 'W', 'dynamic');
    for (const args of [['explain', photo, '--model', dyn, '--size', '8192', '--out', path.join(tmp, 'o-dyn')],
      ['explain', photo, '--model', dyn, '--size', '8192', '--method', 'scorecam', '--out', path.join(tmp, 'o-dyn')],
      ['layers', '--model', dyn, '--size', '100000'], ['layers', '--model', dyn, '--size', '1025x4096']]) {
      const r = run(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
      oneError(r.err, new RegExp(`the model input \\(--size \\d+x\\d+\\) of \\d+×\\d+ pixels is ${limitMsg.source}`));
      assert.ok(r.kb < 512 * 1024, `${args.join(' ')}: peak RSS ${r.kb} kB`);
    }
    // the option moves the limit both ways
    const low = run(['explain', photo, '--model', MODEL, '--max-input', '10000', '--out', path.join(tmp, 'o-low')]);
    assert.equal(low.code, 1);
    oneError(low.err, /the model's declared input of 128×128 pixels is above the limit of 10000 pixels per model input \(100×100\); raise it with --max-input N/);
    const ok = run(['explain', photo, '--model', MODEL, '--max-input', '16384', '--out', path.join(tmp, 'o-ok'), '--quiet']);
    assert.equal(ok.code, 0, ok.err);
    const bad = run(['layers', '--model', MODEL, '--max-input=-1']);
    assert.equal(bad.code, 2);
    oneError(bad.err, /--max-input must be a whole number ≥ 0, got '-1'; see 'gradcam layers --help'/);
  });

  it('a model run holds at most --max-input pixels in all', async () => {
    const { batchForInputs, DEFAULT_MAX_INPUT_PIXELS } = await import('../src/node.js');
    assert.equal(DEFAULT_MAX_INPUT_PIXELS, 2048 * 2048);
    assert.equal(batchForInputs(8, 224 * 224), 8);
    assert.equal(batchForInputs(8, 1024 * 1024), 4);
    assert.equal(batchForInputs(8, 2048 * 2048), 1);
    assert.equal(batchForInputs(8, 4096 * 4096, 0), 8);
    assert.equal(batchForInputs(8, 4096 * 4096, 1), 1);
  });
});

describe('non-regular files as inputs (point 4)', () => {
  it('/dev/zero, a FIFO and a folder as image, .npy, model or labels are refused at once', { timeout: 180_000 }, () => {
    const fifo = path.join(tmp, 'pipe.png');
    const fifoNpy = path.join(tmp, 'pipe.npy');
    const fifoModel = path.join(tmp, 'pipe.onnx');
    for (const f of [fifo, fifoNpy, fifoModel]) assert.equal(spawnSync('mkfifo', [f]).status, 0, 'mkfifo');
    const dir = path.join(tmp, 'a-folder.onnx');
    fs.mkdirSync(dir);
    const photo = path.join(ROOT, 'demo', 'photos', 'chelsea.jpg');
    const out = path.join(tmp, 'o-nonreg');
    const cases: [string[], RegExp][] = [
      [['explain', '/dev/zero', '--model', MODEL], /cannot decode image \/dev\/zero: it is a character device, not an image file/],
      [['explain', fifo, '--model', MODEL], /cannot decode image .*pipe\.png: it is a FIFO \(named pipe\), not an image file/],
      [['explain', fifoNpy, '--model', MODEL], /npy file .*pipe\.npy is a FIFO \(named pipe\), not a regular file/],
      [['explain', photo, '--model', '/dev/zero'], /model \/dev\/zero is a character device, not a regular file; give an \.onnx file/],
      [['explain', photo, '--model', fifoModel], /model .*pipe\.onnx is a FIFO \(named pipe\), not a regular file/],
      [['explain', photo, '--model', dir], /model folder .*a-folder\.onnx: the folder holds no model: give a folder with model\.onnx/],
      [['layers', '--model', '/dev/urandom'], /model \/dev\/urandom is a character device, not a regular file/],
      [['explain', photo, '--model', MODEL, '--labels', fifo], /cannot read labels file .*pipe\.png: it is a FIFO/],
      [['audit', fifo, '--model', MODEL], /pipe\.png is neither a file nor a folder/],
    ];
    for (const [args, re] of cases) {
      const t0 = Date.now();
      const r = gradcam(args[0] === 'layers' ? args : [...args, '--out', out], {}, 30_000);
      assert.equal(r.signal, null, `${args.join(' ')} hung`);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
      oneError(r.err, re);
      assert.ok(Date.now() - t0 < 30_000);
    }
    assert.equal(fs.existsSync(out), false);
  });
});

describe('empty values (point 7)', () => {
  const photo = path.join(ROOT, 'demo', 'photos', 'chelsea.jpg');
  it('an empty option value is a usage error naming what the option takes', () => {
    const out = path.join(tmp, 'o-empty');
    const cases: [string[], RegExp][] = [
      [['explain', photo, '--model', MODEL, '--alpha', ''], /--alpha needs a value \(heat-map opacity in the overlay, 0\.\.1 \(default 0\.5\)\), got ''; see 'gradcam explain --help'/],
      [['explain', photo, '--model', MODEL, '--alpha', ' '], /--alpha needs a value .*0\.\.1/],
      [['explain', photo, '--model', MODEL, '--max-pixels='], /--max-pixels needs a value \(refuse images larger than N pixels .*0: no limit\)/],
      [['explain', photo, '--model', MODEL, '--batch-size', ''], /--batch-size needs a value \(images per model run \(default 8\)\)/],
      [['explain', photo, '--model', MODEL, '--normalize', ''], /--normalize needs a value \(normalisation preset: imagenet, unit, symmetric, caffe/],
      [['explain', photo, '--model', MODEL, '--labels', ''], /--labels needs a value/],
      [['explain', photo, '--model', MODEL, '--method', 'scorecam', '--cam-batch', ''], /--cam-batch needs a value/],
      [['audit', photo, '--model', MODEL, '--alpha', ''], /--alpha needs a value \(heat-map opacity in the overlay, 0\.\.1.*; see 'gradcam audit --help'/],
      [['sanity', photo, '--model', MODEL, '--seed', ''], /--seed needs a value \(random seed \(default 0\)\)/],
      [['evaluate', photo, '--model', MODEL, '--steps', ''], /--steps needs a value/],
      [['layers', '--model', ''], /--model needs a value/],
      [['serve', '--port', ''], /--port needs a value \(port 0\.\.65535 \(default 8080; 0 picks a free one\)\)/],
    ];
    for (const [args, re] of cases) {
      const r = gradcam(args[0] === 'serve' || args[0] === 'layers' ? args : [...args, '--out', out]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      oneError(r.err, re);
    }
    assert.equal(fs.existsSync(out), false);
  });

  it('numbers read from an option refuse what Number() reads as 0', async () => {
    const { optionNumber, parseNumbers } = await import('../src/cli/common.js');
    assert.ok(Number.isNaN(optionNumber('')));
    assert.ok(Number.isNaN(optionNumber('  ')));
    assert.equal(optionNumber('0.5'), 0.5);
    assert.throws(() => parseNumbers('--mean', '0.5,,0.4'), /--mean must be comma-separated numbers/);
  });

  it('an .npy with zero images (or an empty axis) is refused', async () => {
    const { writeNpy } = await import('../src/image/npy.js');
    const npyModel = path.join(ROOT, 'test', 'fixtures', 'resnet_like', 'model.onnx');
    const zero = path.join(tmp, 'zero.npy');
    fs.writeFileSync(zero, writeNpy(new Float32Array(0), [0, 3, 64, 64]));
    const flat = path.join(tmp, 'flat.npy');
    fs.writeFileSync(flat, writeNpy(new Float32Array(0), [3, 0, 64]));
    const out = path.join(tmp, 'o-zero');
    const r = gradcam(['explain', zero, '--model', npyModel, '--out', out]);
    assert.equal(r.code, 1, r.err);
    oneError(r.err, /zero\.npy: the \.npy input holds no images \(shape \[0, 3, 64, 64\]\)/);
    const f = gradcam(['explain', flat, '--model', npyModel, '--out', out]);
    assert.equal(f.code, 1, f.err);
    oneError(f.err, /flat\.npy: the \.npy input is empty \(shape \[3, 0, 64\]\)/);
    assert.equal(fs.existsSync(out), false);
  });
});

describe('a full disk during audit (point 7)', () => {
  it('names the file and says to run the same command again, which resumes and finishes', { timeout: 240_000 }, () => {
    const files = fs.readdirSync(SCENES).filter((f) => f.endsWith('.png')).sort().slice(10, 16).map((f) => path.join(SCENES, f));
    const out = path.join(tmp, 'full-disk');
    const cmd = ['audit', ...files, '--model', MODEL, '--out', out, '--batch-size', '2', '--quiet'];
    const hint = /; free some space, then run the same command again: it resumes where this one stopped \(finished images are kept\)$/;
    // results.jsonl: opened, one batch appended, then the disk is full
    const a = runHooked(cmd, { writeFault: { code: 'ENOSPC', name: 'results.jsonl', skip: 2 } });
    assert.equal(a.code, 1, a.err);
    oneError(a.err, new RegExp(`cannot write .*full-disk/results\\.jsonl: no space left on device \\(ENOSPC\\)${hint.source}`));
    assert.equal(rowKeys(out).length, 2);
    assert.equal(fs.existsSync(path.join(out, '.lock')), false);
    // a thumbnail
    const b = runHooked(cmd, { writeFault: { code: 'ENOSPC', name: '.cam.png' } });
    assert.equal(b.code, 1, b.err);
    oneError(b.err, new RegExp(`cannot write .*full-disk/thumbs/[^ ]+\\.cam\\.png: no space left on device \\(ENOSPC\\)${hint.source}`));
    assert.equal(rowKeys(out).length, 2);
    // the report, after every image is done
    const c = runHooked(cmd, { writeFault: { code: 'ENOSPC', name: 'report.html' } });
    assert.equal(c.code, 1, c.err);
    oneError(c.err, new RegExp(`cannot write .*full-disk/report\\.html: no space left on device \\(ENOSPC\\)${hint.source}`));
    assert.equal(rowKeys(out).length, 6);
    assert.deepEqual(fs.readdirSync(out).filter((f) => f.includes('.tmp-')), []);
    // space again: the same command finishes
    const d = gradcam(cmd.filter((x) => x !== '--quiet'));
    assert.equal(d.code, 0, d.err);
    assert.match(d.out, /6\/6 images done \(0 now, 6 already done\)/);
    assert.ok(fs.existsSync(path.join(out, 'report.html')));
    assert.deepEqual(rowKeys(out), files.map((f) => path.basename(f)).sort());
  });
});
