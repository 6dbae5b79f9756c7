/**
 * Seeded fuzzing of the command line: a few hundred mutations of the fixture models (ops, attributes,
 * shapes, types, initializers, external data, opsets, raw bytes), of images (broken bytes, 1×1, 1×700,
 * 900×1, grey, alpha) and .npy inputs (bad headers, dtypes, shapes, NaN), bad option values, and
 * hostile scans and masks (NIfTI headers and gzip bodies, deflated DICOM, huge RLE/COCO masks). Every
 * case must end the way a user expects: no uncaught exception, no crash, no stack trace on stderr, an
 * error as exactly one `gradcam: error: ...` line that is not an internal error, and after a failure
 * the output folder exactly as it was (no partial output, no temporary files).
 *
 * GRADCAM_FUZZ_SEED and GRADCAM_FUZZ_CASES change the seed (default 1) and the count (default 300).
 * The cases run in one worker process (test/helpers/fuzz-worker.ts), restarted after a crash; a case
 * that runs longer than 20 s or takes more than 2 GB of memory fails.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeFuzzCases, makeScanCases, type FuzzCase } from './helpers/fuzz-cases.js';

const SEED = Number(process.env['GRADCAM_FUZZ_SEED'] ?? 1);
const COUNT = Number(process.env['GRADCAM_FUZZ_CASES'] ?? 300);
/** Hostile scans and masks (issue 23), after the others: a fifth as many, at least 20. */
const SCAN_COUNT = Math.max(20, Math.ceil(COUNT / 5));
const CASE_TIMEOUT_MS = 20_000;
const RSS_LIMIT_KB = 2 * 1024 * 1024;
const WORKER = path.join(path.dirname(new URL(import.meta.url).pathname), 'helpers', 'fuzz-worker.ts');

interface Result {
  id: number;
  code: number;
  stderr: string;
  uncaught: string[];
  ms: number;
  crash?: string;
}

/** The folder's files (relative path → size and content hash), or 'file:<size>' when it is a file, or null. */
function snapshot(p: string): Record<string, string> | string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    return null;
  }
  if (!st.isDirectory()) return `file:${st.size}:${fs.readFileSync(p).toString('base64').slice(0, 64)}`;
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(p, { recursive: true }) as string[]) {
    const full = path.join(p, f);
    const s = fs.statSync(full);
    out[f] = s.isDirectory() ? 'dir' : `${s.size}:${fs.readFileSync(full).toString('base64').slice(-64)}`;
  }
  return out;
}

function vmRssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Runs cases from index `from` in a worker; resolves with the results, a crash or timeout as a result with `crash`. */
function runWorker(casesFile: string, from: number): Promise<Result[]> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--max-old-space-size=1536', '--import', 'tsx', WORKER, casesFile, String(from)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const results: Result[] = [];
    let current: number | undefined;
    let startedAt = Date.now();
    let buf = '';
    let err = '';
    let killedFor: string | undefined;
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const v = JSON.parse(line) as { start?: number } & Result;
        if (v.start !== undefined) {
          current = v.start;
          startedAt = Date.now();
        } else {
          results.push(v);
          current = undefined;
        }
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    const watch = setInterval(() => {
      if (current === undefined) return;
      if (Date.now() - startedAt > CASE_TIMEOUT_MS) killedFor = `ran longer than ${CASE_TIMEOUT_MS / 1000} s`;
      else if (vmRssKb(child.pid!) > RSS_LIMIT_KB) killedFor = `took more than ${RSS_LIMIT_KB / 1024 / 1024} GB of memory`;
      if (killedFor) child.kill('SIGKILL');
    }, 50);
    child.on('close', (code, signal) => {
      clearInterval(watch);
      if (current !== undefined) {
        results.push({ id: current, code: -1, stderr: '', uncaught: [], ms: Date.now() - startedAt, crash: killedFor ?? `worker died (exit ${code}, signal ${signal}): ${err.slice(-2000)}` });
      }
      resolve(results);
    });
  });
}

let dir: string;
before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-fuzz-')); });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('fuzzing the command line', () => {
  it(`${COUNT} seeded mutations (seed ${SEED}) of models, images, .npy inputs and options, and ${SCAN_COUNT} hostile scans and masks: one-line errors, no crash, no partial output`, { timeout: 300_000 }, async () => {
    const t0 = Date.now();
    const cases: FuzzCase[] = [...await makeFuzzCases(SEED, COUNT, dir), ...await makeScanCases(SEED + 1000, SCAN_COUNT, COUNT, dir)];
    const before = new Map(cases.map((c) => [c.id, snapshot(c.out)]));
    const casesFile = path.join(dir, 'cases.json');
    fs.writeFileSync(casesFile, JSON.stringify(cases));
    const tGen = Date.now();
    const results: Result[] = [];
    let from = 0;
    while (from < cases.length) {
      const r = await runWorker(casesFile, from);
      results.push(...r);
      if (!r.length) break;
      from = r[r.length - 1]!.id + 1;
    }
    const byId = new Map(results.map((r) => [r.id, r]));
    const failures: string[] = [];
    const codes = new Map<number, number>();
    for (const c of cases) {
      const r = byId.get(c.id);
      const what = `case ${c.id} (${c.kind}): gradcam ${c.argv.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`;
      if (!r) { failures.push(`${what}: no result`); continue; }
      codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      const lines = r.stderr.split('\n').filter((l) => l.length);
      const problems: string[] = [];
      if (r.crash) problems.push(r.crash);
      if (r.uncaught.length) problems.push(`uncaught: ${r.uncaught.join(' / ').slice(0, 600)}`);
      if (lines.some((l) => /^\s+at .+[(:]\d+/.test(l) || /^\s+at /.test(l))) problems.push('a stack trace on stderr');
      if (lines.some((l) => !l.startsWith('gradcam: '))) problems.push('a stderr line that is not a gradcam message');
      if (r.code === 3) {
        // an audit that finished with error rows: its folder holds them (that is its output), no error line
        if (c.argv[0] !== 'audit' || !fs.existsSync(path.join(c.out, 'results.jsonl'))) problems.push('exit status 3 without an audit folder');
      } else if (r.code !== 0) {
        const errors = lines.filter((l) => l.startsWith('gradcam: error: '));
        if (errors.length !== 1) problems.push(`${errors.length} error lines`);
        if (errors.some((l) => l.includes('internal error'))) problems.push('an internal error');
        if (![1, 2].includes(r.code)) problems.push(`exit status ${r.code}`);
        const after = snapshot(c.out);
        if (JSON.stringify(after) !== JSON.stringify(before.get(c.id))) problems.push(`the output folder changed: ${JSON.stringify(before.get(c.id))} → ${JSON.stringify(after)}`.slice(0, 600));
      } else if (fs.existsSync(c.out) && fs.statSync(c.out).isDirectory()) {
        const tmp = (fs.readdirSync(c.out, { recursive: true }) as string[]).filter((f) => /\.tmp-\d+/.test(f));
        if (tmp.length) problems.push(`temporary files left: ${tmp.join(', ')}`);
      }
      if (problems.length) failures.push(`${what}: ${problems.join('; ')} | stderr: ${r.stderr.slice(0, 400)}`);
    }
    const seconds = (Date.now() - t0) / 1000;
    process.stderr.write(`# fuzz: ${cases.length} cases (seed ${SEED}) in ${seconds.toFixed(1)} s (generation ${((tGen - t0) / 1000).toFixed(1)} s); exit codes ${JSON.stringify(Object.fromEntries(codes))}\n`);
    assert.equal(results.length, cases.length, 'every case ran');
    assert.deepEqual(failures, []);
  });
});
