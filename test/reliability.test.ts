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

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const BIN = path.join(ROOT, 'bin', 'gradcam.js');
const MODEL = path.join(ROOT, 'demo', 'models', 'where.onnx');
const SCENES = path.join(ROOT, 'demo', 'testset');

let tmp: string;
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-rel2-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function gradcam(args: string[], env: Record<string, string> = {}, timeout = 120_000) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, ...env }, timeout });
  return { code: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

/** One `gradcam: error:` line and nothing else on stderr, matching `re`, not an internal error. */
function oneError(err: string, re: RegExp): void {
  const lines = err.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, err);
  assert.match(lines[0]!, /^gradcam: error: /);
  assert.doesNotMatch(lines[0]!, /internal error/);
  assert.match(lines[0]!, re);
}

const rowKeys = (dir: string) => fs.readFileSync(path.join(dir, 'results.jsonl'), 'utf8').trim().split('\n').filter(Boolean)
  .map((l) => (JSON.parse(l) as { key: string }).key).sort();

describe('audit lock race (point 6)', () => {
  it('a run started while another rewrites results.jsonl is refused; no row is lost', { timeout: 180_000 }, async () => {
    const files = fs.readdirSync(SCENES).filter((f) => f.endsWith('.png')).sort().slice(0, 9).map((f) => path.join(SCENES, f));
    const first = files.slice(0, 6);
    const out = path.join(tmp, 'race');
    // run A pauses inside its lock after reading the rows for the final rewrite
    const a = spawn(process.execPath, [BIN, 'audit', ...first, '--model', MODEL, '--out', out, '--batch-size', '3'], {
      cwd: ROOT, env: { ...process.env, GRADCAM_AUDIT_REWRITE_PAUSE_MS: '15000' }, stdio: ['ignore', 'pipe', 'pipe'],
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
