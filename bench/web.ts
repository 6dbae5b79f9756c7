/**
 * `npm run bench:web [-- --model FILE] [--iterations N]`: the same Grad-CAM (seeded random input,
 * automatic layer, predicted class) in the browser app (headless Chromium, onnxruntime-web wasm with
 * SIMD and threads, the model loaded through the page's file input) and in Node (onnxruntime-node,
 * native CPU), one after the other in one run. Prints the first call (graph compile + session + run)
 * and the steady-state time per Grad-CAM, and their ratio. `--threads N` gives both runtimes N threads.
 *
 * Default model: bench/models/resnet50.onnx (made by
 * `/usr/bin/python3 scripts/fixtures/make_fixtures.py --bench`; torchvision resnet50, random weights).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium, serveApp } from '../test/helpers/browser.js';
import { loadExplainer } from '../src/node.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: o } = parseArgs({ options: { model: { type: 'string' }, iterations: { type: 'string', default: '5' }, seed: { type: 'string', default: '1' }, threads: { type: 'string' } } });
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
  firstMs: { compile: number; session: number; run: number; total: number }; runsMs: number[];
}

function mulberry32(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const f = (v: number) => v.toFixed(0).padStart(7);

// ---------------------------------------------------------------- browser
console.log(`bench:web — ${path.basename(modelPath)}, Grad-CAM at the automatic layer, ${iterations} timed runs after the first call`);
console.log(`machine: ${os.cpus().length} logical cores (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const app = await serveApp({ build: !fs.existsSync(path.join(ROOT, 'web', 'dist', 'index.html')) });
const browser = await launchChromium();
let web: BenchOutput & { loadMs: number };
try {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(threads ? `${app.url}?threads=${threads}` : app.url);
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
  const out = await page.evaluate(([n, s]) => (window as unknown as { gradcam: { bench(n: number, s: number): Promise<BenchOutput> } }).gradcam.bench(n, s), [iterations, seed] as const);
  web = { ...out, loadMs };
} finally {
  await browser.close();
  await app.close();
}

// ---------------------------------------------------------------- node
const t0 = performance.now();
const ex = await loadExplainer(modelPath, threads ? { sessionOptions: { intraOpThreads: threads } } : {});
await ex.layers();
const nodeLoadMs = performance.now() - t0;
const dims = ex.imageDims();
const rand = mulberry32(seed);
const input = new Float32Array(dims.reduce((a, v) => a * v, 1));
for (let i = 0; i < input.length; i++) input[i] = rand() * 4 - 2;
const t1 = performance.now();
const first = await ex.explain(input, dims, { method: 'gradcam', layer: 'auto', classes: 'top' });
const nodeFirst = performance.now() - t1;
const nodeRuns: number[] = [];
for (let i = 0; i < iterations; i++) {
  const t = performance.now();
  await ex.explain(input, dims, { method: 'gradcam', layer: 'auto', classes: 'top' });
  nodeRuns.push(performance.now() - t);
}
await ex.release();

// ---------------------------------------------------------------- report
const wm = median(web.runsMs);
const nm = median(nodeRuns);
console.log(`input [${dims.join(', ')}], layer ${first.explanations[0]!.layers[0]} (browser: ${web.layer})`);
console.log('');
console.log('                                   model load   first call (compile / session / run)     Grad-CAM, median of runs');
console.log(`browser  onnxruntime-web ${`${web.backend}, ${web.threads} thr`.padEnd(14)} ${f(web.loadMs)} ms  ${f(web.firstMs.total)} ms (${web.firstMs.compile.toFixed(0)} / ${web.firstMs.session.toFixed(0)} / ${web.firstMs.run.toFixed(0)})      ${f(wm)} ms  [${web.runsMs.map((x) => x.toFixed(0)).join(', ')}]`);
console.log(`node     onnxruntime-node cpu           ${f(nodeLoadMs)} ms  ${f(nodeFirst)} ms (${first.timings.compileMs.toFixed(0)} / ${first.timings.sessionMs.toFixed(0)} / ${first.timings.runMs.toFixed(0)})      ${f(nm)} ms  [${nodeRuns.map((x) => x.toFixed(0)).join(', ')}]`);
console.log('');
console.log(`browser / node: Grad-CAM ${(wm / nm).toFixed(2)}×, first call ${(web.firstMs.total / nodeFirst).toFixed(2)}× (goal ≤ 3× for the Grad-CAM)`);
