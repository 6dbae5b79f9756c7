/**
 * Reliability, second round (issue 23): the folder lock's stale takeover can never let two runs hold
 * the lock; resume after SIGKILL leaves no temporary file anywhere under --out; an --out inside the
 * input folder named through a symbolic link is still left out of the listing.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runGradcam as gradcam } from './helpers/cli.js';

const MODEL = path.join(ROOT, 'demo', 'models', 'where.onnx');
const SCENE = (i: number) => path.join(ROOT, 'demo', 'testset', `${String(i).padStart(3, '0')}.png`);
const tree = (d: string) => (fs.readdirSync(d, { recursive: true }) as string[]).map((f) => f.split(path.sep).join('/')).sort();

let tmp: string;
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-files-locks-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the folder lock', () => {
  it('two runs that both find a dead run\'s lock never both hold it', { timeout: 120_000 }, async () => {
    // a pid that is certainly dead: a process that has exited
    const dead = spawnSync('true').pid!;
    const child = path.join(tmp, 'locker.mts');
    fs.writeFileSync(child, `
import fs from 'node:fs';
import path from 'node:path';
import { acquireLock } from ${JSON.stringify(path.join(ROOT, 'src', 'dataset', 'lock.ts'))};
const [base, trials] = process.argv.slice(2);
console.log('ready');
for (let t = 0; t < Number(trials); t++) {
  while (!fs.existsSync(path.join(base, 'go-' + t))) { if (!fs.existsSync(base) || fs.existsSync(path.join(base, 'end'))) process.exit(1); await new Promise((r) => setTimeout(r, 2)); }
  try {
    await acquireLock(path.join(base, 'trial-' + t));
    console.log('held ' + t);
  } catch (e) {
    console.log('refused ' + t + ' ' + (e as Error).message);
  }
}
while (fs.existsSync(base) && !fs.existsSync(path.join(base, 'end'))) await new Promise((r) => setTimeout(r, 20));
`);
    const base = path.join(tmp, 'lock-race');
    fs.mkdirSync(base);
    const TRIALS = 4;
    const RUNNERS = 3;
    const lines: string[][] = [];
    // every run waits 300 ms between judging the lock dead and taking it over: all find it dead
    const env = { ...process.env, GRADCAM_TEST_LOCK_PAUSE_MS: '300' };
    const kids = Array.from({ length: RUNNERS }, (_, k) => {
      lines[k] = [];
      const p = spawn(process.execPath, ['--import', 'tsx', child, base, String(TRIALS)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
      let buf = '';
      p.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        lines[k]!.push(...parts);
      });
      return p;
    });
    try {
      const until = async (ok: () => boolean) => { for (let i = 0; i < 6000 && !ok(); i++) await sleep(10); assert.ok(ok()); };
      await until(() => lines.every((l) => l.includes('ready')));
      for (let t = 0; t < TRIALS; t++) {
        const dir = path.join(base, `trial-${t}`);
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, '.lock'), JSON.stringify({ pid: dead, host: os.hostname(), started: new Date().toISOString() }));
        fs.writeFileSync(path.join(base, `go-${t}`), '');
        const mine = (l: string[]) => l.filter((x) => new RegExp(`^(held|refused) ${t}\\b`).test(x));
        await until(() => lines.every((l) => mine(l).length === 1));
        const results = lines.map((l) => mine(l)[0]!);
        assert.equal(results.filter((x) => x.startsWith('held')).length, 1, results.join('\n'));
        for (const r of results.filter((x) => x.startsWith('refused'))) assert.match(r, /another gradcam run \(pid \d+ on .*\) is writing to .*trial-\d; if none is, delete/);
        // the lock names the run that holds it, and nothing else is left in the folder
        const holder = lines.findIndex((l) => mine(l)[0]!.startsWith('held'));
        assert.equal(JSON.parse(fs.readFileSync(path.join(dir, '.lock'), 'utf8')).pid, kids[holder]!.pid);
        assert.deepEqual(fs.readdirSync(dir), ['.lock']);
      }
    } finally {
      fs.writeFileSync(path.join(base, 'end'), '');
      await Promise.all(kids.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
    }
  });
});

describe('temporaries a killed run left', () => {
  it('a resumed folder run removes them anywhere under --out, mirrored subfolders included', { timeout: 120_000 }, () => {
    const input = path.join(tmp, 'tmp-in');
    for (const [sub, i] of [['a', 1], ['b/c', 2]] as const) {
      fs.mkdirSync(path.join(input, sub), { recursive: true });
      fs.copyFileSync(SCENE(i), path.join(input, sub, `s${i}.png`));
    }
    const out = path.join(tmp, 'tmp-out');
    const cmd = ['explain', input, '--model', MODEL, '--out', out, '--quiet'];
    const a = gradcam(cmd);
    assert.equal(a.code, 0, a.err);
    const done = tree(out);
    // what SIGKILLs during atomic writes leave: NAME.tmp-PID-N beside each file, in every folder
    const dead = spawnSync('true').pid!;
    for (const f of done) {
      const p = path.join(out, f);
      if (fs.statSync(p).isFile()) fs.writeFileSync(`${p}.tmp-${dead}-${7}`, 'torn');
    }
    assert.ok(tree(out).filter((f) => f.includes('.tmp-')).some((f) => f.startsWith('b/c/')));
    const b = gradcam(cmd);
    assert.equal(b.code, 0, b.err);
    assert.deepEqual(tree(out), done);
  });

  it('a complete rerun of a killed file run removes the hidden .NAME.tmp-PID-N it left (a live run\'s are kept)', { timeout: 120_000 }, () => {
    const out = path.join(tmp, 'file-out');
    const cmd = ['explain', SCENE(3), '--model', MODEL, '--out', out, '--quiet'];
    const a = gradcam(cmd);
    assert.equal(a.code, 0, a.err);
    const done = tree(out);
    assert.ok(done.length >= 2, done.join());
    const dead = spawnSync('true').pid!;
    for (const f of done) fs.writeFileSync(path.join(out, `.${f}.tmp-${dead}-${3}`), 'torn');
    // this test process is alive: its temporaries belong to a run still writing
    const live = `.${done[0]}.tmp-${process.pid}-0`;
    fs.writeFileSync(path.join(out, live), 'in flight');
    const b = gradcam(cmd);
    assert.equal(b.code, 0, b.err);
    assert.deepEqual(tree(out), [live, ...done].sort());
  });
});

describe('--out inside the input folder', () => {
  it('named through a symbolic link, it is still left out of the listing: reruns converge', { timeout: 120_000 }, () => {
    const input = path.join(tmp, 'conv-in');
    fs.mkdirSync(input);
    fs.copyFileSync(SCENE(4), path.join(input, 'p.png'));
    fs.copyFileSync(SCENE(5), path.join(input, 'q.png'));
    const link = path.join(tmp, 'conv-link');
    fs.symlinkSync(input, link);
    const out = path.join(link, 'out');
    const rows = () => fs.readFileSync(path.join(out, 'explain.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).key as string).sort();
    for (let run = 0; run < 2; run++) {
      const r = gradcam(['explain', input, '--model', MODEL, '--out', out, '--quiet']);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(rows(), ['p.png', 'q.png']);
    }
    // and the other way round: the input named through the link, --out by its real path
    const r = gradcam(['explain', link, '--model', MODEL, '--out', path.join(input, 'out'), '--quiet']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(rows(), ['p.png', 'q.png']);
  });
});

describe('the library: explain()', () => {
  it('null options are no options, the input is read when called, a zero-image batch is empty and quiet, explain after release() is an error', { timeout: 120_000 }, () => {
    const script = path.join(tmp, 'api.mts');
    fs.writeFileSync(script, `
import { loadExplainer, readNpyFile } from ${JSON.stringify(path.join(ROOT, 'src', 'node.ts'))};
const ex = await loadExplainer(${JSON.stringify(path.join(ROOT, 'test', 'fixtures', 'resnet_like', 'model.onnx'))}, null);
const npy = await readNpyFile(${JSON.stringify(path.join(ROOT, 'test', 'fixtures', 'resnet_like', 'input.npy'))});
const x = new Float32Array(npy.data);
const dims = [...npy.shape];
const plain = await ex.explain(x.slice(), dims.slice());
const withNull = await ex.explain(x.slice(), dims.slice(), null);
// the array (and dims) changed right after the call: the result is still that of what was passed
const y = x.slice();
const d = dims.slice();
const pending = ex.explain(y, d, { method: 'gradcam' });
y.fill(0);
d[0] = 1;
const changed = await pending;
const ref = await ex.explain(x.slice(), dims.slice(), { method: 'gradcam' });
const empty = await ex.explain(new Float32Array(0), [0, ...dims.slice(1)]);
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
await ex.release();
let after = '';
try { await ex.explain(x.slice(), dims.slice()); after = 'ran'; } catch (e) { after = (e as Error).name + ': ' + (e as Error).message; }
console.log(JSON.stringify({
  n: plain.explanations.length,
  nullDiff: Math.max(...plain.explanations.map((e, i) => maxDiff(e.map, withNull.explanations[i]!.map))),
  changedN: changed.explanations.length,
  changedDiff: Math.max(...ref.explanations.map((e, i) => maxDiff(e.map, changed.explanations[i]!.map))),
  changedTop: changed.explanations.map((e) => e.predicted.index), refTop: ref.explanations.map((e) => e.predicted.index),
  empty: empty.explanations.length,
  after,
}));
`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8', timeout: 100_000 });
    assert.equal(r.status, 0, r.stderr);
    // nothing on stderr: no TypeError, no onnxruntime log line for the empty batch
    assert.equal(r.stderr, '');
    const o = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(o.n, 2);
    assert.equal(o.nullDiff, 0);
    assert.equal(o.changedN, 2);
    assert.ok(o.changedDiff < 1e-6, String(o.changedDiff));
    assert.deepEqual(o.changedTop, o.refTop);
    assert.equal(o.empty, 0);
    assert.match(o.after, /^InputError: this explainer was released \(release\(\) was called\); make a new one/);
  });
});

describe('manifest paths on the terminal', () => {
  it('control characters in a manifest\'s paths are printed escaped', { timeout: 120_000 }, () => {
    const d = path.join(tmp, 'ctl');
    fs.mkdirSync(d);
    fs.copyFileSync(SCENE(6), path.join(d, 'ok.png'));
    const evil = 'gone\x1b[2J\x1b]0;pwned\x07\r\u2028.png';
    fs.writeFileSync(path.join(d, 'list.jsonl'), `${JSON.stringify({ path: 'ok.png' })}\n${JSON.stringify({ path: evil })}\n`);
    const r = gradcam(['explain', path.join(d, 'list.jsonl'), '--model', MODEL, '--out', path.join(tmp, 'ctl-out')]);
    assert.equal(r.code, 3, r.err); // one item failed
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(r.err + r.out, /[\x00-\x09\x0b-\x1f\x7f\u2028]/);
    assert.match(r.err, /gone\\x1b\[2J\\x1b\]0;pwned\\x07\\x0d\\u2028\.png: failed: /);
  });
});

describe('manifests read through the folder gate', () => {
  it('a relative path that climbs out of the manifest\'s folder, or a symbolic link leading out, is refused in one line', async () => {
    const { listInputs } = await import('../src/dataset/listing.js');
    const d = path.join(tmp, 'mf');
    fs.mkdirSync(path.join(d, 'imgs'), { recursive: true });
    fs.copyFileSync(SCENE(7), path.join(d, 'imgs', 'a.png'));
    fs.copyFileSync(SCENE(8), path.join(tmp, 'outside.png'));
    fs.symlinkSync(path.join(tmp, 'outside.png'), path.join(d, 'imgs', 'link.png'));
    fs.symlinkSync(path.join(d, 'imgs', 'a.png'), path.join(d, 'imgs', 'inner.png'));
    const list = (name: string, rows: object[]) => {
      const f = path.join(d, name);
      fs.writeFileSync(f, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
      return f;
    };
    // inside (a link that stays inside is fine, so are absolute paths and missing files: error rows later)
    const ok = await listInputs([list('ok.jsonl', [{ path: 'imgs/a.png' }, { path: 'imgs/inner.png' }, { path: path.join(tmp, 'outside.png') }, { path: 'imgs/missing.png' }])]);
    assert.deepEqual(ok.map((i) => i.file), [path.join(d, 'imgs', 'a.png'), path.join(d, 'imgs', 'inner.png'), path.join(tmp, 'outside.png'), path.join(d, 'imgs', 'missing.png')]);
    await assert.rejects(listInputs([list('up.jsonl', [{ path: 'imgs/a.png' }, { path: '../outside.png' }])]), (e: Error) => {
      assert.equal(e.name, 'InputError');
      assert.match(e.message, /^manifest .*up\.jsonl: '\.\.\/outside\.png' leaves the folder .*mf; a manifest's relative paths must stay inside its folder/);
      return true;
    });
    await assert.rejects(listInputs([list('link.jsonl', [{ path: 'imgs/link.png' }])]), /^InputError: manifest .*link\.jsonl: 'imgs\/link\.png' is a symbolic link \(or lies in one\) leading outside the folder/);
    await assert.rejects(listInputs([list('mask.jsonl', [{ path: 'imgs/a.png', mask: '../../etc/passwd' }])]), /mask\.jsonl: '\.\.\/\.\.\/etc\/passwd' leaves the folder/);
  });
});
