/**
 * `npm run bench`: every performance goal of the project in one run, as ratios (issue 14's table).
 *
 *   /usr/bin/python3 scripts/fixtures/make_fixtures.py --bench      # once: bench/models/{resnet50,mobilenet_v2,vgg16}.onnx
 *   npx tsx bench/all.ts [--quick] [--web] [--json FILE]
 *
 * Runs, one after the other, each in its own process (so that one's threads and memory do not weigh on
 * the next): bench/gradcam.ts (library Grad-CAM and Guided Grad-CAM vs a plain forward, PyTorch's hook
 * Grad-CAM), bench/cli.ts (the command per JPEG image and cold, WebP and PNG out, with the CPU per stage;
 * one session, the default --workers auto and --workers 2), bench/audit.ts (audit images/s vs the library's
 * Grad-CAM throughput at batch 8; --workers auto, 1 and 2), bench/family.ts --scorecam-only
 * (Score-CAM vs pytorch-grad-cam's code path on resnet50, mobilenet_v2, vgg16: channel subsets,
 * extrapolated) and, with --web, bench/web.ts (the browser vs Node). Each part interleaves its own
 * comparisons; medians throughout. On a shared machine the absolute times move with the load: read the
 * ratios. About 5 minutes on a quiet 2-core machine (--quick: fewer repeats, about 3).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: o } = parseArgs({ options: { quick: { type: 'boolean', default: false }, web: { type: 'boolean', default: false }, json: { type: 'string' } } });
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

for (const m of ['resnet50', 'mobilenet_v2', 'vgg16']) {
  if (!fs.existsSync(path.join(ROOT, 'bench', 'models', `${m}.onnx`))) {
    console.error(`bench/models/${m}.onnx is missing: run /usr/bin/python3 scripts/fixtures/make_fixtures.py --bench`);
    process.exit(2);
  }
}

/** Runs a bench script; returns its stdout (its progress goes to our stderr). */
function run(script: string, args: string[]): string {
  const t0 = performance.now();
  console.error(`\n== ${script} ${args.join(' ')}`);
  const r = spawnSync(TSX, [path.join(ROOT, 'bench', script), ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${script} failed (exit ${r.status}): ${r.stdout.slice(-2000)}`);
  const text = r.stdout.trimStart().startsWith('{') && script === 'audit.ts' ? '' : r.stdout;
  process.stderr.write(text.split('\n').filter((l) => !l.startsWith('{')).join('\n'));
  console.error(`(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  return r.stdout;
}
const lastJson = <T>(out: string): T => JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).pop()!) as T;
const tmp = path.join(ROOT, '.tmp', 'bench-all');
fs.mkdirSync(tmp, { recursive: true });
const load0 = os.loadavg();
const t0 = performance.now();

// 1. library: Grad-CAM, Guided Grad-CAM, PyTorch
type LibRow = { forward_ms: number; gradcam_ms: number; ratio: number; guided_ratio: number; guided_ratio_1t?: number; speedup_vs_torch?: number; torch_gradcam_ms?: number };
const lib = lastJson<Record<string, LibRow>>(run('gradcam.ts', ['--runs', o.quick ? '4' : '8', '--models', 'resnet50,mobilenet_v2']));

// 2. the command line
type CliFormat = { marginal_ms: number; ratio: number; cold_ms: number; stages: Record<string, number>; cpu: Record<string, number>; marginal_cpu_ms?: number; sessions?: Record<string, { marginal_ms: number; ratio: number; cpu_ms: number; images: number; sessions: number }> };
type CliRow = { forward_ms: number; formats: Record<string, CliFormat> };
const cli = lastJson<Record<string, CliRow>>(run('cli.ts', ['--repeats', o.quick ? '2' : '3', '--images', '8', '--workers-images', o.quick ? '48' : '96', '--formats', 'png,webp']));

// 3. audit throughput vs the library's Grad-CAM throughput (batch 8), both timed in the audit's own run
// (bench/audit.ts: the library before and after the audit, the load printed); the default (--workers auto:
// what the compiled command decides for these images on this machine), one session and two sessions of
// one intra-op thread each in worker threads
type AuditRow = { ips: number; library_ips: number; ratio: number; load: string; sessions: number };
const audit: Record<string, AuditRow> = {};
const AUDIT_SETTINGS = ['auto', '1', '2'] as const;
for (const m of ['resnet50', 'mobilenet_v2']) {
  for (const workers of AUDIT_SETTINGS) {
    const images = m === 'resnet50' ? (o.quick ? 24 : 48) : (o.quick ? 64 : 128);
    const file = path.join(tmp, `audit-${m}-w${workers}.json`);
    run('audit.ts', ['--model', m, '--images', String(images), '--batches', '8', '--no-torch', '--workers', workers, '--json', file]);
    const a = JSON.parse(fs.readFileSync(file, 'utf8')) as { sessions: number; results: Record<string, { gradcam: { steady_ips: number }; library: { ips: number; ratio: number; load: string } }> };
    const r = a.results['8']!;
    audit[`${m} --workers ${workers}`] = { ips: r.gradcam.steady_ips, library_ips: r.library.ips, ratio: r.library.ratio, load: r.library.load, sessions: a.sessions };
  }
}

// 4. Score-CAM vs pytorch-grad-cam's code path (channel subsets, extrapolated to every channel)
const score: Record<string, { channels: number; ours_s: number; torch_s: number; ratio: number; ratio_batch32: number }> = {};
for (const [m, masks] of [['resnet50', o.quick ? 16 : 32], ['mobilenet_v2', o.quick ? 32 : 64], ['vgg16', o.quick ? 8 : 16]] as const) {
  run('family.ts', ['--model', m, '--masks', String(masks), '--scorecam-only']);
  const r = JSON.parse(fs.readFileSync(path.join(ROOT, '.tmp', 'bench_family', m, 'result.json'), 'utf8')) as { rows: { at2048: { ours: { ms: number }; torch?: { ms: number } }; ratio?: { wall: number } }[] };
  const [b16, b32] = r.rows;
  score[m] = { channels: masks, ours_s: b16!.at2048.ours.ms / 1000, torch_s: b16!.at2048.torch!.ms / 1000, ratio: b16!.ratio!.wall, ratio_batch32: b32!.ratio!.wall };
}

// 5. the browser
let web: number | undefined;
if (o.web) {
  const out = run('web.ts', ['--iterations', '3', '--warmup', '2']);
  const m = /browser \/ Node: Grad-CAM ([\d.]+)×/.exec(out);
  web = m ? Number(m[1]) : undefined;
}

const r2 = (v: number) => v.toFixed(2);
const ok = (v: number, goal: number, atMost: boolean) => ((atMost ? v <= goal : v >= goal) ? 'met' : 'missed');
const rows: [string, string, string, string][] = [];
const add = (what: string, value: number, goal: number | undefined, atMost: boolean, fmt = r2) => rows.push([what, fmt(value), goal === undefined ? '—' : `${atMost ? '≤' : '≥'} ${goal}`, goal === undefined ? '' : ok(value, goal, atMost)]);
// issue 27: WebP out against the goal, PNG beside it
add('CLI Grad-CAM per image ÷ ORT forward, resnet50 (500×375 JPEG in, WebP + JSON out, batch 1, one session: --workers 1, 8 more images)', cli['resnet50']!.formats['webp']!.ratio, 1.5, true);
add('CLI Grad-CAM per image ÷ ORT forward, resnet50, PNG + JSON out, one session', cli['resnet50']!.formats['png']!.ratio, undefined, true);
add('CLI Grad-CAM per image ÷ ORT forward, mobilenet_v2 (WebP + JSON out), one session', cli['mobilenet_v2']!.formats['webp']!.ratio, 3, true);
add('CLI Grad-CAM per image ÷ ORT forward, mobilenet_v2, PNG + JSON out, one session', cli['mobilenet_v2']!.formats['png']!.ratio, undefined, true);
// the same per extra image with worker sessions (bench/cli.ts --workers-images: 96 more images), the default and --workers 2
for (const m of ['resnet50', 'mobilenet_v2']) {
  for (const f of ['webp', 'png']) {
    for (const w of ['auto', '2']) {
      const x = cli[m]!.formats[f]!.sessions?.[w];
      if (x) add(`CLI Grad-CAM per extra image ÷ ORT forward, ${m}, ${f === 'webp' ? 'WebP' : 'PNG'} + JSON out, ${w === 'auto' ? `the default --workers auto (${x.sessions === 1 ? 'one session' : `${x.sessions} sessions`} for ${x.images + 1} images)` : '--workers 2'} (${x.images} more images; ${x.marginal_ms.toFixed(1)} ms, CPU ${x.cpu_ms.toFixed(1)} ms per image, one session's ${(cli[m]!.formats[f]!.marginal_cpu_ms ?? NaN).toFixed(1)})`, x.ratio, f === 'webp' ? (m === 'resnet50' ? 1.5 : 3) : undefined, true);
    }
  }
}
for (const m of ['resnet50', 'mobilenet_v2']) add(`CLI CPU ms per image outside the model run, ${m} (500×375 JPEG → WebP)`, cli[m]!.formats['webp']!.cpu['outside']!, 15, true, (v) => v.toFixed(1));
add('cold single-image CLI, resnet50, warm graph cache (s)', cli['resnet50']!.formats['png']!.cold_ms / 1000, 1.5, true);
add('library Grad-CAM ÷ forward, resnet50, batch 1', lib['resnet50 b1']!.ratio, 1.1, true);
add('library Grad-CAM ÷ forward, mobilenet_v2, batch 1', lib['mobilenet_v2 b1']!.ratio, 1.1, true);
add('library Grad-CAM ÷ forward, mobilenet_v2, batch 8', lib['mobilenet_v2 b8']!.ratio, 1.1, true);
add('Guided Grad-CAM ÷ forward, resnet50, batch 1', lib['resnet50 b1']!.guided_ratio, 2.5, true);
add('Guided Grad-CAM ÷ forward, mobilenet_v2, batch 1', lib['mobilenet_v2 b1']!.guided_ratio, 3, true);
// the same with one intra-op thread each: the graph's own work, without the backward's weaker scaling over threads
for (const m of ['resnet50', 'mobilenet_v2']) {
  const r1 = lib[`${m} b1`]!.guided_ratio_1t;
  if (r1 !== undefined) add(`the same, ${m}, one thread each`, r1, undefined, true);
}
for (const [m, goal] of [['resnet50', 0.8], ['mobilenet_v2', 0.5]] as const) {
  const images = m === 'resnet50' ? (o.quick ? 24 : 48) : (o.quick ? 64 : 128);
  for (const w of AUDIT_SETTINGS) {
    const a = audit[`${m} --workers ${w}`]!;
    const how = w === 'auto' ? `the default --workers auto (${images} images: ${a.sessions === 1 ? 'one session' : `${a.sessions} 1-thread sessions`})` : w === '1' ? '--workers 1 (one session)' : '--workers 2 (two 1-thread sessions)';
    add(`audit images/s ÷ library Grad-CAM images/s, ${m}, batch 8, ${how} (load ${a.load})`, a.ratio, goal, false);
  }
}
if (lib['resnet50 b1']!.speedup_vs_torch !== undefined) add('PyTorch hook Grad-CAM ÷ ours, resnet50, batch 1', lib['resnet50 b1']!.speedup_vs_torch!, 6, false);
if (lib['mobilenet_v2 b1']!.speedup_vs_torch !== undefined) add('PyTorch hook Grad-CAM ÷ ours, mobilenet_v2, batch 1', lib['mobilenet_v2 b1']!.speedup_vs_torch!, 30, false);
for (const m of ['resnet50', 'mobilenet_v2', 'vgg16']) add(`Score-CAM: pytorch-grad-cam ÷ ours, ${m} (batch 16 both)`, score[m]!.ratio, 2, false);
if (web !== undefined) add('browser ÷ Node, resnet50 Grad-CAM', web, 3, true);

const load1 = os.loadavg();
console.log(`\nmachine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}; load average ${load0[0]!.toFixed(1)} at the start, ${load1[0]!.toFixed(1)} at the end; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
console.log('\n| goal | measured | target | |');
console.log('|---|---|---|---|');
for (const [w, v, g, s] of rows) console.log(`| ${w} | ${v} | ${g} | ${s} |`);
console.log('\nCLI per image (500×375 JPEG): CPU ms per stage outside the model run (in-process, medians; the run in wall ms; outside = prepare + cam + render + encode + json + write):');
// prepare: the command's input step (decode + resize + normalise; the two parts timed on their own beside it)
const stageNames = ['prepare', 'decode', 'resize+normalise', 'cam', 'render', 'encode', 'json', 'write'];
console.log(`| model | out | ORT forward | CLI per extra image | ÷ forward | cold 1 image | run | ${stageNames.join(' | ')} | outside the run |`);
console.log(`|---|---|---|---|---|---|---|${stageNames.map(() => '---|').join('')}---|`);
for (const [m, c] of Object.entries(cli)) {
  for (const [f, x] of Object.entries(c.formats)) console.log(`| ${m} | ${f} | ${c.forward_ms.toFixed(1)} | ${x.marginal_ms.toFixed(1)} | ${r2(x.ratio)} | ${x.cold_ms.toFixed(0)} | ${(x.stages['run'] ?? NaN).toFixed(1)} | ${stageNames.map((s) => (x.cpu[s] ?? NaN).toFixed(1)).join(' | ')} | ${(x.cpu['outside'] ?? NaN).toFixed(1)} |`);
}
console.log('\nScore-CAM (extrapolated to all channels, batch 16 both sides):');
console.log('| model | channels scored | ours s | pytorch-grad-cam path s | ratio | ratio, ours at batch 32 |');
console.log('|---|---|---|---|---|---|');
for (const [m, s] of Object.entries(score)) console.log(`| ${m} | ${s.channels} | ${s.ours_s.toFixed(1)} | ${s.torch_s.toFixed(1)} | ${r2(s.ratio)} | ${r2(s.ratio_batch32)} |`);
const result = { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, load: [load0, load1] }, library: lib, cli, audit, scorecam: score, web, goals: rows };
if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(result, null, 1)}\n`);
console.log(JSON.stringify(result));
