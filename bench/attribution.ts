/**
 * Benchmark (a script, not a test): Integrated Gradients with 50 steps on resnet50 against 50 plain ORT
 * forwards of one image, and against the same IG in PyTorch on this machine (Captum's own
 * IntegratedGradients from the mirror, bench/torch_ig.py).
 *
 *   /usr/bin/python3 scripts/fixtures/make_fixtures.py --bench --models resnet50   # once: bench/models/resnet50.onnx
 *   npx tsx bench/attribution.ts [--runs 3] [--batches 17,26,51] [--no-torch]
 *
 * Our IG: explain() with integrated-gradients (50 Gauss–Legendre steps, black baseline): 1 forward for the
 * class + 51 input-gradient passes (the 50 steps and the baseline, for the completeness check) in runs of
 * --cam-batch inputs (each batch size in --batches; default: the memory budget's). Prints the ratios.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';

const { values: o } = parseArgs({ options: { runs: { type: 'string', default: '3' }, batches: { type: 'string', default: 'default,26,51' }, 'no-torch': { type: 'boolean', default: false } } });
const RUNS = Number(o.runs);
const DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'models');
const file = path.join(DIR, 'resnet50.onnx');
if (!fs.existsSync(file)) {
  console.error(`${file} is missing: run /usr/bin/python3 scripts/fixtures/make_fixtures.py --bench --models resnet50`);
  process.exit(2);
}
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const x = new Float32Array(3 * 224 * 224);
let s = 1;
for (let i = 0; i < x.length; i++) { s = (s * 1103515245 + 12345) % 2147483648; x[i] = s / 2147483648 * 2 - 1; }
const dims = [1, 3, 224, 224];
const bytes = new Uint8Array(fs.readFileSync(file));
const plain = await createNodeSession(bytes);
const ex = Explainer.fromBytes(bytes, { createSession: createNodeSession });

const forward50 = async () => { for (let k = 0; k < 50; k++) await plain.run({ input: { data: x, dims } }); };
const rows: { batch: string; igMs: number; fwdMs: number; ratio: number; delta: number; rssMb: number }[] = [];
for (const b of o.batches!.split(',')) {
  const opts = { method: 'integrated-gradients', methodOptions: { steps: 50 }, classes: 0, ...(b === 'default' ? {} : { batchSize: Number(b) }) };
  const first = await ex.explain(x, dims, opts); // warm-up: compile the gradient graph for this batch size
  await forward50();
  const ig: number[] = [];
  const fwd: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let t = performance.now();
    await ex.explain(x, dims, opts);
    ig.push(performance.now() - t);
    t = performance.now();
    await forward50();
    fwd.push(performance.now() - t);
  }
  const c = (first.explanations[0]!.extras as { completeness: { delta: number } }).completeness;
  rows.push({ batch: b, igMs: median(ig), fwdMs: median(fwd), ratio: median(ig) / median(fwd), delta: c.delta, rssMb: process.resourceUsage().maxRSS / 1024 });
}
await plain.release();
await ex.release();

let torchMs: number | undefined;
if (!o['no-torch']) {
  const py = spawnSync('/usr/bin/python3', [path.join(path.dirname(DIR), 'torch_ig.py'), '--runs', String(RUNS)], { encoding: 'utf8' });
  if (py.status !== 0) console.error(`torch baseline failed: ${py.stderr}`);
  else torchMs = (JSON.parse(py.stdout) as { ig_ms: number }).ig_ms;
}

console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, onnxruntime-node (CPU EP, default threads)`);
console.log('| --cam-batch | IG 50 steps ms | 50 ORT forwards ms | IG ÷ 50 forwards (goal ≤ 2.0) | PyTorch (Captum) IG ms | PyTorch ÷ ours (goal ≥ 3) | completeness delta | peak RSS MB |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.batch} | ${r.igMs.toFixed(0)} | ${r.fwdMs.toFixed(0)} | ${r.ratio.toFixed(2)} | ${torchMs?.toFixed(0) ?? ''} | ${torchMs ? (torchMs / r.igMs).toFixed(2) : ''} | ${r.delta.toExponential(2)} | ${r.rssMb.toFixed(0)} |`);
}
