/**
 * Benchmark (a script, not a test): Grad-CAM through the compiled gradient graph vs a plain ORT forward
 * pass, compile time, and the same Grad-CAM in PyTorch (bench/torch_gradcam.py) — all in one run.
 *
 *   /usr/bin/python3 scripts/fixtures/make_fixtures.py --bench   # once: bench/models/*.onnx (random weights)
 *   /usr/bin/python3 scripts/fixtures/fullsize_transformers.py   # once, optional: vit_b_16_op17 and others
 *   npx tsx bench/gradcam.ts [--runs 10] [--no-torch] [--models resnet50,mobilenet_v2,vit_b_16_op17]
 *
 * vit_b_16_op17 is included by default when bench/models has it (Grad-CAM at the last block's ln_1, a
 * token layer [N, 197, 768] read as a 14×14 grid).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Explainer } from '../src/explainer.js';
import { explainGradients } from '../src/methods/gradient/explain.js';
import { createNodeSession } from '../src/runtime/node.js';
import type { SessionFactory } from '../src/runtime/session.js';
import { previousDepthwiseForm } from './guided-prev.js';

const { values: o } = parseArgs({ options: { runs: { type: 'string', default: '10' }, 'no-torch': { type: 'boolean', default: false }, models: { type: 'string' } } });
// peak RSS is read after each model's batch-8 run: resnet50 runs first, so its figure is resnet50's
const RUNS = Number(o.runs);
const DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'models');
const OPTIONAL = ['vit_b_16_op17'];

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Medians of interleaved runs (a, b, a, b, ...), so that load drift on a shared machine hits both alike. */
async function timePair(a: () => Promise<unknown>, b: () => Promise<unknown>, runs = RUNS): Promise<[number, number]> {
  await a(); // warm-up
  await b();
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    for (const [fn, t] of [[a, ta], [b, tb]] as const) {
      const t0 = performance.now();
      await fn();
      t.push(performance.now() - t0);
    }
  }
  return [median(ta), median(tb)];
}

/** Medians of interleaved runs of several functions (warm-up first), as timePair. */
async function timeAll(fns: (() => Promise<unknown>)[], runs = RUNS): Promise<number[]> {
  for (const f of fns) await f();
  const t: number[][] = fns.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [j, f] of fns.entries()) {
      const t0 = performance.now();
      await f();
      t[j]!.push(performance.now() - t0);
    }
  }
  return t.map(median);
}

function randomInput(n: number): Float32Array {
  const x = new Float32Array(n * 3 * 224 * 224);
  let s = 1;
  for (let i = 0; i < x.length; i++) { s = (s * 1103515245 + 12345) % 2147483648; x[i] = s / 2147483648 * 2 - 1; }
  return x;
}

const rows: Record<string, Record<string, number | string>> = {};
const models = o.models ? o.models.split(',') : ['resnet50', 'mobilenet_v2', ...OPTIONAL.filter((m) => fs.existsSync(path.join(DIR, `${m}.onnx`)))];
for (const name of models) {
  const file = path.join(DIR, `${name}.onnx`);
  if (!fs.existsSync(file)) {
    console.error(`${file} is missing: run /usr/bin/python3 scripts/fixtures/make_fixtures.py --bench`);
    process.exit(2);
  }
  const info = JSON.parse(fs.readFileSync(path.join(DIR, `${name}.json`), 'utf8')) as { layer: { tensor: string } };
  const bytes = new Uint8Array(fs.readFileSync(file));
  const plain = await createNodeSession(bytes);
  // compile: graph build (prepare + probe + backward) and session creation, first time for this model
  const ex = Explainer.fromBytes(bytes, { createSession: createNodeSession });
  const t0 = performance.now();
  const layer = await ex.autoLayer();
  const tAuto = performance.now() - t0;
  let hasPrev = false;
  const prevFactory: SessionFactory = (m, opts) => {
    const prev = previousDepthwiseForm(m);
    if (prev) hasPrev = true;
    return createNodeSession(prev ?? m, opts);
  };
  const exPrev = Explainer.fromBytes(bytes, { createSession: prevFactory });
  await explainGradients(exPrev, randomInput(1), [1, 3, 224, 224], { method: 'guided-gradcam', layer });
  if (layer !== info.layer.tensor) console.error(`note: auto layer ${layer} differs from the reference ${info.layer.tensor}`);
  for (const n of [1, 8]) {
    const x = randomInput(n);
    const dims = [n, 3, 224, 224];
    const first = performance.now();
    const r0 = await ex.explain(x, dims, { layer });
    const firstMs = performance.now() - first;
    const [fwd, cam] = await timePair(() => plain.run({ input: { data: x, dims } }), () => ex.explain(x, dims, { layer }), n === 1 ? 3 * RUNS : RUNS);
    // batch 1: also the graph as compiled before issue 27 (strided depthwise Conv gradients as grouped
    // ConvTransposes, bench/guided-prev.ts), interleaved with today's, where the model has such convs
    const withPrev = n === 1 && hasPrev;
    const [fwd2, guided, guidedPrev] = await timeAll([
      () => plain.run({ input: { data: x, dims } }),
      () => explainGradients(ex, x, dims, { method: 'guided-gradcam', layer }),
      ...(withPrev ? [() => explainGradients(exPrev, x, dims, { method: 'guided-gradcam', layer })] : []),
    ]) as [number, number, number?];
    // batch 1: the same pair with one intra-op thread each (the backward scales worse over two threads
    // than the forward: this ratio is the one the graph's work alone gives)
    let guided1t: number | undefined;
    if (n === 1) {
      const plain1 = await createNodeSession(bytes, { intraOpThreads: 1 });
      const ex1 = Explainer.fromBytes(bytes, { createSession: createNodeSession, sessionOptions: { intraOpThreads: 1 } });
      const [f1, g1] = await timeAll([() => plain1.run({ input: { data: x, dims } }), () => explainGradients(ex1, x, dims, { method: 'guided-gradcam', layer })]) as [number, number];
      guided1t = g1 / f1;
      await plain1.release();
      await ex1.release();
    }
    const rss = process.resourceUsage().maxRSS / 1024;
    rows[`${name} b${n}`] = {
      guided_gradcam_ms: guided, guided_ratio: guided / fwd2, peak_rss_mb: rss,
      ...(guided1t !== undefined ? { guided_ratio_1t: guided1t } : {}),
      ...(guidedPrev !== undefined ? { guided_prev_ms: guidedPrev, guided_prev_ratio: guidedPrev / fwd2 } : {}),
      forward_ms: fwd, gradcam_ms: cam, ratio: cam / fwd,
      compile_ms: n === 1 ? r0.timings.compileMs : NaN, session_ms: n === 1 ? r0.timings.sessionMs : NaN,
      first_call_ms: firstMs, auto_layer_ms: n === 1 ? tAuto : NaN,
    };
  }
  await plain.release();
  await ex.release();
  await exPrev.release();
}

if (!o['no-torch']) {
  const torchModels = models.filter((m) => !OPTIONAL.includes(m));
  const py = spawnSync('/usr/bin/python3', [path.join(path.dirname(DIR), 'torch_gradcam.py'), '--models', torchModels.join(','), '--batches', '1,8'], { encoding: 'utf8' });
  if (py.status !== 0) console.error(`torch baseline failed: ${py.stderr}`);
  else {
    const t = JSON.parse(py.stdout) as Record<string, Record<string, { gradcam_ms: number; forward_ms: number }>>;
    for (const name of models) for (const n of [1, 8]) {
      const row = rows[`${name} b${n}`]!;
      const ref = t[name]?.[String(n)];
      if (ref) Object.assign(row, { torch_gradcam_ms: ref.gradcam_ms, torch_forward_ms: ref.forward_ms, speedup_vs_torch: ref.gradcam_ms / (row.gradcam_ms as number) });
    }
  }
}

const fmt = (v: number | string | undefined) => (typeof v === 'number' ? (Number.isNaN(v) ? '' : v < 10 ? v.toFixed(2) : v.toFixed(0)) : v ?? '');
console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, onnxruntime-node (CPU EP, default threads)`);
console.log('| model | batch | ORT forward ms | Grad-CAM ms | Grad-CAM ÷ forward | compile ms (graph + session) | PyTorch Grad-CAM ms | speed-up vs PyTorch |');
console.log('|---|---|---|---|---|---|---|---|');
for (const [k, r] of Object.entries(rows)) {
  const [m, b] = k.split(' ');
  const compile = Number.isNaN(r.compile_ms as number) ? '' : `${fmt(r.compile_ms)} (${fmt(r.compile_ms as number - (r.session_ms as number))} + ${fmt(r.session_ms)})`;
  console.log(`| ${m} | ${b!.slice(1)} | ${fmt(r.forward_ms)} | ${fmt(r.gradcam_ms)} | ${fmt(r.ratio)} | ${compile} | ${fmt(r.torch_gradcam_ms)} | ${fmt(r.speedup_vs_torch)} |`);
}
console.log('\n| model | batch | Guided Grad-CAM ms | Guided Grad-CAM ÷ forward | the same, one thread each | before issue 27 ÷ forward (grouped ConvTranspose) | peak RSS so far (MB) |');
console.log('|---|---|---|---|---|---|---|');
for (const [k, r] of Object.entries(rows)) {
  const [m, b] = k.split(' ');
  console.log(`| ${m} | ${b!.slice(1)} | ${fmt(r.guided_gradcam_ms)} | ${fmt(r.guided_ratio)} | ${fmt(r.guided_ratio_1t)} | ${fmt(r.guided_prev_ratio)} | ${fmt(r.peak_rss_mb)} |`);
}
console.log(JSON.stringify(rows));
