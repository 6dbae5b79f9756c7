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
import { ROOT } from './helpers/cli.js';

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
import { acquireLock } from ${JSON.stringify(path.join(ROOT, 'src', 'node-audit.ts'))};
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
