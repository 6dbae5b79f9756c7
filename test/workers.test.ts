/**
 * `--workers` for explain on image files, and `--workers auto` (issue 27): worker sessions give the
 * command's own bytes, lines and maps; a bad file among several fails the run with its message and
 * writes nothing; auto's decision (a pure function) and a short default run that starts no worker.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { parseNpy, writeNpy } from '../src/image/npy.js';
import { autoWorkers, AUTO_MIN_IMAGES } from '../src/dataset/pool.js';
import { FIXTURES } from './helpers/fixtures.js';
import { ROOT, gradcam, oneError } from './helpers/cli.js';

const MODEL = path.join(FIXTURES, 'resnet_like', 'model.onnx');
const STARTED = /sessions in worker threads/;

let tmp: string;
let files: string[];
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-workers-'));
  // 7 photos (JPEG and PNG, different sizes), two of them named alike in different folders
  const photos = fs.readdirSync(path.join(ROOT, 'demo', 'photos')).filter((f) => f.endsWith('.jpg')).sort();
  files = [];
  for (let i = 0; i < 7; i++) {
    const dir = path.join(tmp, 'in', i === 5 ? 'b' : 'a');
    fs.mkdirSync(dir, { recursive: true });
    const src = sharp(path.join(ROOT, 'demo', 'photos', photos[i % photos.length]!)).resize(120 + 16 * i, 96 + 8 * i, { fit: 'fill' });
    const f = path.join(dir, i === 5 ? 'img0.jpg' : `img${i}.${i % 3 === 2 ? 'png' : 'jpg'}`);
    fs.writeFileSync(f, await (i % 3 === 2 ? src.png() : src.jpeg({ quality: 90 })).toBuffer());
    files.push(f);
  }
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const read = (dir: string) => fs.readdirSync(dir).sort();
const sidecar = (f: string) => ({ ...JSON.parse(fs.readFileSync(f, 'utf8')), timings_ms: undefined });

describe('explain on files with --workers', () => {
  it('--workers 2 gives one session\'s files (bytes; sidecars but their timings), maps within 1e-6 and lines in input order', () => {
    const one = path.join(tmp, 'one');
    const two = path.join(tmp, 'two');
    const args = ['--model', MODEL, '--batch-size', '2', '--raw', '--format', 'webp'];
    const a = gradcam('explain', ...files, ...args, '--out', one, '--workers', '1');
    assert.equal(a.code, 0, a.err);
    assert.doesNotMatch(a.err, STARTED);
    const b = gradcam('explain', ...files, ...args, '--out', two, '--workers', '2');
    assert.equal(b.code, 0, b.err);
    assert.match(b.err, /gradcam: 2 sessions in worker threads \(--workers 2\), 1 intra-op thread each/);
    assert.deepEqual(b.out.split(path.join(tmp, 'two')).join('OUT'), a.out.split(path.join(tmp, 'one')).join('OUT'));
    assert.equal(a.out.trim().split('\n').length, files.length);
    assert.deepEqual(read(two), read(one));
    assert.ok(read(one).includes('img0-2.gradcam.webp'), read(one).join(' ')); // the second img0 named as one session names it
    for (const f of read(one)) {
      if (f.endsWith('.json')) assert.deepEqual(sidecar(path.join(two, f)), sidecar(path.join(one, f)), f);
      else if (f.endsWith('.npy')) {
        const [x, y] = [one, two].map((d) => parseNpy(new Uint8Array(fs.readFileSync(path.join(d, f)))).data as Float32Array);
        assert.equal(x!.length, y!.length);
        let worst = 0;
        for (let i = 0; i < x!.length; i++) worst = Math.max(worst, Math.abs(x![i]! - y![i]!));
        assert.ok(worst <= 1e-6, `${f}: ${worst}`);
      } else assert.ok(fs.readFileSync(path.join(two, f)).equals(fs.readFileSync(path.join(one, f))), f);
    }
  });

  it('a bad file among several: non-zero exit, its one-line message, nothing in --out', () => {
    const bad = path.join(tmp, 'in', 'broken.jpg');
    fs.writeFileSync(bad, fs.readFileSync(files[0]!).subarray(0, 300));
    const out = path.join(tmp, 'bad-out');
    const r = gradcam('explain', ...files.slice(0, 3), bad, ...files.slice(3), '--model', MODEL, '--out', out, '--batch-size', '2', '--workers', '2', '--quiet');
    assert.equal(r.code, 1);
    oneError(r.err, /cannot decode image .*broken\.jpg/);
    assert.ok(!fs.existsSync(out), 'no output folder');
    // a file of several inputs: the workers name each file's outputs as one image's, so it is refused
    const batch = path.join(tmp, 'in', 'two.npy');
    fs.writeFileSync(batch, writeNpy(Float32Array.from({ length: 2 * 3 * 48 * 48 }, (_, i) => Math.sin(i)), [2, 3, 48, 48]));
    const n = gradcam('explain', files[0]!, batch, '--model', MODEL, '--out', out, '--workers', '2', '--quiet');
    assert.equal(n.code, 1);
    oneError(n.err, /two\.npy holds 2 inputs; with --workers every input file must be one image \(give --workers 1/);
    assert.ok(!fs.existsSync(out), 'no output folder');
  });

  it('a short run with the default (--workers auto) starts no worker and says none; bad --workers values are refused', () => {
    const out = path.join(tmp, 'auto');
    const r = gradcam('explain', ...files.slice(0, 3), '--model', MODEL, '--out', out);
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.err, STARTED);
    assert.equal(fs.readdirSync(out).filter((f) => f.endsWith('.png')).length, 3);
    assert.ok(!fs.existsSync(path.join(out, 'explain.jsonl')), 'files, not a dataset run');
    oneError(gradcam('explain', files[0]!, '--model', MODEL, '--out', out, '--workers', 'two').err, /--workers two: give auto or a whole number from 1 to \d+/);
    oneError(gradcam('explain', files[0]!, '--model', MODEL, '--out', out, '--workers', String(os.availableParallelism() + 1)).err, /this machine has \d+ cores/);
  });
});

describe('--workers auto (autoWorkers)', () => {
  it('one session for short runs, one core, or cores taken by --threads; else a 1-thread session per core, at most one per AUTO_MIN_IMAGES images and 8', () => {
    const min = AUTO_MIN_IMAGES.compiled;
    assert.equal(autoWorkers({ cores: 2, images: 10, compiled: true }), 1);
    assert.equal(autoWorkers({ cores: 2, images: min - 1, compiled: true }), 1);
    assert.equal(autoWorkers({ cores: 2, images: min, compiled: true }), 2);
    assert.equal(autoWorkers({ cores: 1, images: 10_000, compiled: true }), 1);
    assert.equal(autoWorkers({ cores: 2, images: 10_000, threads: 2, compiled: true }), 1);
    assert.equal(autoWorkers({ cores: 16, images: 10_000, threads: 4, compiled: true }), 4);
    assert.equal(autoWorkers({ cores: 16, images: 3 * min, compiled: true }), 4);
    assert.equal(autoWorkers({ cores: 16, images: 10_000, compiled: true }), 8);
    // the sources (tsx) start workers more slowly: more images needed
    assert.equal(autoWorkers({ cores: 2, images: min, compiled: false }), 1);
    assert.equal(autoWorkers({ cores: 2, images: AUTO_MIN_IMAGES.sources, compiled: false }), 2);
  });
});
