/**
 * `npm run bench:web [-- --model FILE] [--iterations N]`: the same Grad-CAM (seeded random input,
 * automatic layer, predicted class) in the browser app (headless Chromium, onnxruntime-web wasm with
 * SIMD and threads, the model loaded through the page's file input) and in Node (onnxruntime-node,
 * native CPU), one after the other in one run. Prints the first call (graph compile + session + run)
 * and the steady-state time per Grad-CAM (after `--warmup N` untimed runs, default 3: the browser's wasm
 * tiers up from its baseline compiler while it runs), and their ratio. `--threads N` gives both runtimes N threads.
 *
 * Default model: bench/models/resnet50.onnx (made by
 * `/usr/bin/python3 scripts/fixtures/make_fixtures.py --bench`; torchvision resnet50, random weights).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium, serveApp } from '../test/helpers/browser.js';
import { loadExplainer, type Explainer } from '../src/node.js';
import { Rng } from '../src/util/random.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: o } = parseArgs({ options: { model: { type: 'string' }, iterations: { type: 'string', default: '5' }, seed: { type: 'string', default: '1' }, threads: { type: 'string' }, warmup: { type: 'string', default: '3' } } });
/** Untimed runs after the first call: the browser's wasm starts on its baseline compiler (Liftoff) and tiers up to optimised code while it runs. */
const warmup = Number(o.warmup);
/** Threads for both runtimes (default: each runtime's own choice, all cores). */
const threads = o.threads ? Number(o.threads) : undefined;
const modelPath = path.resolve(o.model ?? path.join(ROOT, 'bench', 'models', 'resnet50.onnx'));
const iterations = Number(o.iterations);
const seed = Number(o.seed);
if (!fs.existsSync(modelPath)) {
  console.error(`bench:web: ${modelPath} is missing; make it with /usr/bin/python3 scripts/fixtures/make_fixtures.py --bench`);
  process.exit(1);
}

interface BenchOutput {
  backend: string; threads: number; dims: number[]; layer: string;
  firstMs: { compile: number; session: number; run: number; total: number }; runsMs: number[]; sessionRunsMs: number[];
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

// ---------------------------------------------------------------- both, interleaved
// The browser and Node take turns (browser run, Node run, ...), so that both see the same load on a
// shared machine.
console.log(`bench:web — ${path.basename(modelPath)}, Grad-CAM at the automatic layer; browser and Node take turns: the first call, ${warmup} warm-up runs, ${iterations} timed runs each`);
console.log(`machine: ${os.cpus().length} logical cores (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const app = await serveApp({ build: !fs.existsSync(path.join(ROOT, 'web', 'dist', 'index.html')) });
const browser = await launchChromium();
let web: BenchOutput & { loadMs: number };
let browserVersion = '?';
let nodeLoadMs = 0;
let nodeFirst = 0;
let first: Awaited<ReturnType<Explainer['explain']>>;
let dims: number[] = [];
const nodeRuns: number[] = [];
const nodeSessionRuns: number[] = [];
try {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(threads ? `${app.url}?threads=${threads}` : app.url);
  browserVersion = await page.evaluate(() => /(?:Chrome|Chromium)\/([\d.]+)/.exec(navigator.userAgent)?.[1] ?? '?');
  await page.waitForFunction(() => (window as unknown as { gradcam: { ready: boolean } }).gradcam?.ready, null, { polling: 100, timeout: 120_000 });
  const name = path.basename(modelPath);
  const t0 = performance.now();
  await page.setInputFiles('#files', modelPath);
  await page.waitForFunction((n) => {
    const g = (window as unknown as { gradcam: { model?: { name: string }; busy: number; errors: string[] } }).gradcam;
    return g.errors.length > 0 || (g.model?.name === n && g.busy === 0);
  }, name, { polling: 100, timeout: 600_000 });
  const loadMs = performance.now() - t0;
  const errs = await page.evaluate(() => (window as unknown as { gradcam: { errors: string[] } }).gradcam.errors);
  if (errs.length) throw new Error(`the page reported: ${errs.join('; ')}`);
  // bench(0): one explain() call with the seeded input; the first compiles, later ones only run
  const webOnce = () => page.evaluate((s) => (window as unknown as { gradcam: { bench(n: number, s: number): Promise<BenchOutput> } }).gradcam.bench(0, s), seed);
  const firstWeb = await webOnce();

  const t1 = performance.now();
  const ex = await loadExplainer(modelPath, threads ? { sessionOptions: { intraOpThreads: threads } } : {});
  await ex.layers();
  nodeLoadMs = performance.now() - t1;
  dims = ex.imageDims();
  const rng = new Rng(seed);
  const rand = () => rng.next();
  const input = new Float32Array(dims.reduce((a, v) => a * v, 1));
  for (let i = 0; i < input.length; i++) input[i] = rand() * 4 - 2;
  const t2 = performance.now();
  first = await ex.explain(input, dims, { method: 'gradcam', layer: 'auto', classes: 'top' });
  nodeFirst = performance.now() - t2;

  for (let i = 0; i < warmup; i++) {
    await webOnce();
    await ex.explain(input, dims, { method: 'gradcam', layer: 'auto', classes: 'top' });
  }
  const runsMs: number[] = [];
  const sessionRunsMs: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const w = await webOnce();
    runsMs.push(w.firstMs.total);
    sessionRunsMs.push(w.firstMs.run);
    const t = performance.now();
    const r = await ex.explain(input, dims, { method: 'gradcam', layer: 'auto', classes: 'top' });
    nodeRuns.push(performance.now() - t);
    nodeSessionRuns.push(r.timings.runMs);
  }
  await ex.release();
  web = { ...firstWeb, runsMs, sessionRunsMs, loadMs };
} finally {
  await browser.close();
  await app.close();
}

// ---------------------------------------------------------------- report
const wm = median(web.runsMs);
const nm = median(nodeRuns);
console.log(`input [${dims.join(', ')}], layer ${first!.explanations[0]!.layers[0]} (browser: ${web!.layer})`);
console.log('');
const row = (name: string, load: number, fm: { total: number; compile: number; session: number; run: number }, runs: number[], sruns: number[]) =>
  `| ${name} | ${load.toFixed(0)} | ${fm.total.toFixed(0)} (${fm.compile.toFixed(0)} / ${fm.session.toFixed(0)} / ${fm.run.toFixed(0)}) | ${median(runs).toFixed(0)} | ${Math.min(...runs).toFixed(0)} | ${median(sruns).toFixed(0)} |`;
console.log('| runtime | model load + layers, ms | first Grad-CAM (compile / session / run), ms | Grad-CAM, median ms | fastest, ms | session.run, median ms |');
console.log('|---|---|---|---|---|---|');
console.log(row(`browser: onnxruntime-web ${web.backend}, ${web.threads} thread${web.threads > 1 ? 's' : ''} (Chromium ${browserVersion})`, web.loadMs, web.firstMs, web.runsMs, web.sessionRunsMs));
console.log(row(`Node: onnxruntime-node cpu${threads ? `, ${threads} thread${threads > 1 ? 's' : ''}` : ''}`, nodeLoadMs, { ...first.timings, compile: first.timings.compileMs, session: first.timings.sessionMs, run: first.timings.runMs, total: nodeFirst }, nodeRuns, nodeSessionRuns));
console.log('');
console.log(`runs: browser [${web.runsMs.map((x) => x.toFixed(0)).join(', ')}] ms, Node [${nodeRuns.map((x) => x.toFixed(0)).join(', ')}] ms`);
console.log(`browser / Node: Grad-CAM ${(wm / nm).toFixed(2)}× median (goal ≤ 3×), ${(Math.min(...web.runsMs) / Math.min(...nodeRuns)).toFixed(2)}× fastest run, session.run ${(median(web.sessionRunsMs) / median(nodeSessionRuns)).toFixed(2)}×, first call ${(web.firstMs.total / nodeFirst).toFixed(2)}×`);
