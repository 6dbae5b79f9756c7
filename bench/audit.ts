/**
 * Audit throughput: images per second for `gradcam audit` (decode, resize, batched forward + backward in
 * onnxruntime-node, Grad-CAM, map-energy metrics, two PNG thumbnails, fsync'ed results) on resnet50,
 * at several batch sizes, against a PyTorch loop doing the same work (bench/torch_audit.py) in the same run.
 *
 *   npx tsx bench/audit.ts [--model resnet50|mobilenet_v2] [--images 500] [--torch-images K] [--batches 1,8,32] [--threads N] [--workers N] [--library-runs K] [--no-torch] [--json FILE]
 *
 * --torch-images K times the PyTorch loop on the first K images only (default: all), for machines where
 * 500 images of CPU PyTorch Grad-CAM per batch size would take too long; rates are per image either way
 * (all images are alike: 256x256 with one box).
 *
 * Needs bench/models/resnet50.onnx (`/usr/bin/python3 scripts/fixtures/make_fixtures.py --bench`).
 * The images (256x256 PNG scenes with one box each, listed in a CSV manifest) are generated once under
 * .tmp/bench-audit/. Every configuration starts from an empty output folder. Reported:
 *   e2e_ips    images / wall time of the whole run (model load, graph compile / session, all images)
 *   steady_ips images after the first batch / time after the first batch (excludes compile and warm-up)
 *   library    the library's Grad-CAM throughput at the same batch size and threads (Explainer.explain on a
 *              random batch, auto layer, median of --library-runs; timed before and after the audit, median
 *              of both sets), and audit steady_ips ÷ library images/s: the share of the model's speed the
 *              audit keeps (issue 27's goal: ≥ 0.8 resnet50, ≥ 0.5 mobilenet_v2), printed with the load
 *
 *   --workers N|auto   the audit's --workers (sessions in worker threads). Default auto, decided as the
 *                      installed (compiled) `gradcam audit` decides for these images and cores
 *                      (dataset/pool.ts autoWorkers; this script runs the sources, whose own auto would
 *                      wait for more images); printed with the sessions it gave
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { performance as nodePerformance, type EventLoopUtilization } from 'node:perf_hooks';
import { encodePng } from '../src/image/png.js';
import { listInputs } from '../src/dataset/listing.js';
import { runAudit } from '../src/audit/run.js';
import { autoWorkers, machineCores } from '../src/dataset/pool.js';
import { loadExplainer } from '../src/dataset/inputs.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const MODEL_NAME = process.argv.includes('--model') ? process.argv[process.argv.indexOf('--model') + 1]! : 'resnet50';
const MODEL = path.join(ROOT, 'bench', 'models', `${MODEL_NAME}.onnx`);
const WORK = path.join(ROOT, '.tmp', 'bench-audit');

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}
const N = Number(arg('images', '500'));
const BATCHES = arg('batches', '1,8,32')!.split(',').map(Number);
const THREADS = arg('threads') ? Number(arg('threads')) : undefined;
const TORCH = !process.argv.includes('--no-torch');
const TORCH_N = Number(arg('torch-images', String(N)));
const LIB_RUNS = Number(arg('library-runs', '6'));
const WORKERS_ARG = arg('workers', 'auto')!;
/** The sessions: --workers N, or auto's choice as the compiled command makes it. */
const WORKERS = WORKERS_ARG === 'auto' ? autoWorkers({ cores: machineCores(), images: N, threads: THREADS, compiled: true }) : Number(WORKERS_ARG);
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The library's Grad-CAM on a random batch of `batch` images: ms per batch, `runs` timed runs after a warm-up. */
async function libraryMs(batch: number, runs: number): Promise<{ ms: number[]; cpuMs: number[] }> {
  const ex = await loadExplainer(MODEL, { sessionOptions: { spinning: false, ...(THREADS ? { intraOpThreads: THREADS } : {}) } });
  try {
    const dims = [batch, 3, 224, 224];
    let s = 7;
    const x = Float32Array.from({ length: batch * 3 * 224 * 224 }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296) * 4 - 2);
    const layer = await ex.autoLayer();
    await ex.explain(x, dims, { layer });
    const ms: number[] = [];
    const cpuMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await ex.explain(x, dims, { layer });
      const c = process.cpuUsage(c0);
      ms.push(performance.now() - t0);
      cpuMs.push((c.user + c.system) / 1000);
    }
    return { ms, cpuMs };
  } finally {
    await ex.release();
  }
}

function makeData(n: number): string {
  const dir = path.join(WORK, `images-${n}`);
  const manifest = path.join(dir, 'manifest.csv');
  if (fs.existsSync(manifest)) return manifest;
  fs.mkdirSync(dir, { recursive: true });
  const lines = ['path,label,boxes'];
  let s = 12345;
  const r = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  for (let i = 0; i < n; i++) {
    const w = 256, h = 256;
    const px = new Uint8Array(w * h * 3);
    const f = [r() * 0.2, r() * 0.2, r() * 0.2];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = Math.round(127 + 90 * Math.sin(f[c]! * (x + 1.7 * y) + c) + 30 * (r() - 0.5));
    const bs = 40 + Math.floor(r() * 80);
    const x0 = Math.floor(r() * (w - bs)), y0 = Math.floor(r() * (h - bs));
    for (let y = y0; y < y0 + bs; y++) for (let x = x0; x < x0 + bs; x++) px.set([220, 30 + (x & 63), 40], (y * w + x) * 3);
    const name = `${String(i).padStart(4, '0')}.png`;
    fs.writeFileSync(path.join(dir, name), encodePng({ width: w, height: h, data: px }));
    lines.push(`${name},${i % 1000},${x0} ${y0} ${x0 + bs} ${y0 + bs}`);
  }
  fs.writeFileSync(manifest, `${lines.join('\n')}\n`);
  return manifest;
}

async function node(manifest: string, batch: number) {
  const out = path.join(WORK, `out-node-b${batch}`);
  fs.rmSync(out, { recursive: true, force: true });
  const t0 = performance.now();
  const items = await listInputs([manifest], { exclude: [out] });
  let first: { t: number; done: number; elu: EventLoopUtilization; cpu: NodeJS.CpuUsage } | undefined;
  const r = await runAudit(items, {
    model: MODEL, out, batchSize: batch, threads: THREADS, workers: WORKERS,
    onProgress: (p) => { if (!first) first = { t: performance.now(), done: p.processed, elu: nodePerformance.eventLoopUtilization(), cpu: process.cpuUsage() }; },
  });
  const t1 = performance.now();
  // steady part: this thread's busy time (the model run is synchronous on it, so it counts) and the
  // process's CPU time (every thread: the session's, libuv's pool, workers) per image
  const elu = nodePerformance.eventLoopUtilization(first!.elu);
  const cpu = process.cpuUsage(first!.cpu);
  const steadyN = N - first!.done;
  if (r.errors || r.done !== N) throw new Error(`node audit: ${r.done}/${N} done, ${r.errors} errors`);
  return {
    e2e_ips: round(N / ((t1 - t0) / 1000)),
    steady_ips: round((N - first!.done) / ((t1 - first!.t) / 1000)),
    wall_s: round((t1 - t0) / 1000),
    main_busy_ms_per_image: round(elu.active / steadyN),
    cpu_ms_per_image: round((cpu.user + cpu.system) / 1000 / steadyN),
  };
}

const round = (v: number) => Math.round(v * 100) / 100;

async function main() {
  if (!fs.existsSync(MODEL)) {
    console.error(`missing ${MODEL}: run /usr/bin/python3 scripts/fixtures/make_fixtures.py --bench (or link it from a checkout that has it)`);
    process.exit(2);
  }
  const manifest = makeData(N);
  console.error(`${N} images (PyTorch: ${TORCH ? TORCH_N : 0}) (256x256 PNG, one box each), ${MODEL_NAME}, batches ${BATCHES.join(', ')}, --workers ${WORKERS_ARG} (${WORKERS} session${WORKERS > 1 ? 's in worker threads' : ''}), ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const result: Record<string, Record<string, unknown>> = {};
  for (const b of BATCHES) {
    const before = await libraryMs(b, LIB_RUNS);
    const n = await node(manifest, b);
    const after = await libraryMs(b, LIB_RUNS);
    const libMs = median([...before.ms, ...after.ms]);
    const libCpu = median([...before.cpuMs, ...after.cpuMs]) / b;
    // cpu_ratio: the library's CPU time per image ÷ the audit's (all threads): what the ratio would be if
    // both kept the cores equally busy; it moves less with other jobs' load than the wall-clock ratio
    const library = { ms_per_batch: round(libMs), ips: round((b * 1000) / libMs), ratio: round(n.steady_ips / ((b * 1000) / libMs)), cpu_ms_per_image: round(libCpu), cpu_ratio: round(libCpu / n.cpu_ms_per_image), load: load() };
    console.error(`gradcam audit  batch ${String(b).padStart(2)}: ${n.e2e_ips} img/s end to end (${n.wall_s} s), ${n.steady_ips} img/s steady; library Grad-CAM ${library.ips} img/s (${library.ms_per_batch} ms per batch): audit ÷ library ${library.ratio} (load ${library.load})`);
    console.error(`               per image: main thread busy ${n.main_busy_ms_per_image} ms (model run ${round(libMs / b)} ms of it in the library), CPU ${n.cpu_ms_per_image} ms (all threads; the library's ${library.cpu_ms_per_image} ms: ÷ ${library.cpu_ratio})`);
    let t: Record<string, number> | undefined;
    if (TORCH) {
      const out = path.join(WORK, `out-torch-b${b}`);
      fs.rmSync(out, { recursive: true, force: true });
      const p = spawnSync('/usr/bin/python3', [path.join(ROOT, 'bench', 'torch_audit.py'), '--manifest', manifest, '--out', out, '--batch', String(b), '--limit', String(TORCH_N), ...(THREADS ? ['--threads', String(THREADS)] : [])], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (p.status !== 0) throw new Error(`torch_audit.py failed: ${p.stderr}`);
      t = JSON.parse(p.stdout.trim().split('\n').pop()!);
      console.error(`pytorch loop   batch ${String(b).padStart(2)}: ${t!['e2e_ips']} img/s end to end (${t!['images']} images, ${t!['wall_s']} s), ${t!['steady_ips']} img/s steady`);
    }
    result[String(b)] = { gradcam: n, library, torch: t ?? null, ratio_e2e: t ? round(n.e2e_ips / t['e2e_ips']!) : null, ratio_steady: t ? round(n.steady_ips / t['steady_ips']!) : null };
  }
  const json = JSON.stringify({ images: N, torch_images: TORCH ? TORCH_N : 0, model: MODEL_NAME, cores: os.cpus().length, threads: THREADS ?? 'default', workers: WORKERS_ARG, sessions: WORKERS, load: load(), results: result }, null, 1);
  const file = arg('json');
  if (file) fs.writeFileSync(file, `${json}\n`);
  console.log(json);
  console.error('\nbatch | gradcam img/s (e2e / steady) | pytorch img/s (e2e / steady) | ratio (e2e / steady)');
  for (const [b, r] of Object.entries(result)) {
    const g = r['gradcam'] as { e2e_ips: number; steady_ips: number };
    const t = r['torch'] as { e2e_ips: number; steady_ips: number } | null;
    console.error(`${b.padStart(5)} | ${g.e2e_ips} / ${g.steady_ips} | ${t ? `${t.e2e_ips} / ${t.steady_ips}` : '–'} | ${r['ratio_e2e'] ?? '–'} / ${r['ratio_steady'] ?? '–'}`);
  }
}

await main();
