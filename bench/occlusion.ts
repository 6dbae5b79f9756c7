/**
 * Benchmark (a script, not a test): Occlusion 16×16 / stride 8 on resnet50 (1 × 3 × 224 × 224: 27 × 27 =
 * 729 windows) ÷ the same number of plain ORT forward passes, run in the same batches through the same
 * session — what the method costs beyond its forwards (building the occluded copies, reading the scores,
 * accumulating the drops). Goal (issue 25): ≤ 1.1. Prints a JSON line with both times and the ratio.
 *
 *   /usr/bin/python3 scripts/fixtures/make_fixtures.py --bench   # once: bench/models/resnet50.onnx (random weights)
 *   npx tsx bench/occlusion.ts [--runs 1] [--window 16] [--stride 8] [--model resnet50]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { forwardModel } from '../src/cam/graph.js';
import { scoreTensor } from '../src/autodiff/compiler.js';
import { camBatchFromBudget } from '../src/cam/budget.js';
import { occlusionPasses } from '../src/methods/perturbation/occlusion.js';

const { values: o } = parseArgs({ options: { runs: { type: 'string', default: '1' }, window: { type: 'string', default: '16' }, stride: { type: 'string', default: '8' }, model: { type: 'string', default: 'resnet50' } } });
const file = path.join(path.dirname(new URL(import.meta.url).pathname), 'models', `${o.model}.onnx`);
if (!fs.existsSync(file)) {
  console.error(`${file} is missing: run /usr/bin/python3 scripts/fixtures/make_fixtures.py --bench`);
  process.exit(1);
}
const ex = Explainer.fromBytes(new Uint8Array(fs.readFileSync(file)), { createSession: createNodeSession });
const dims = [1, 3, 224, 224];
const input = new Float32Array(3 * 224 * 224);
let s = 1;
for (let i = 0; i < input.length; i++) { s = (s * 1103515245 + 12345) % 2147483648; input[i] = (s / 2147483648) * 2 - 1; }
const window = Number(o.window);
const stride = Number(o.stride);
const windows = occlusionPasses(224, 224, { window: [window, window], strides: [stride, stride] });
// the batches the method runs in (src/methods/attribution.ts: the memory budget of --cam-batch)
const batch = camBatchFromBudget(dims, dims);
const score = scoreTensor(ex.model, ex.model.graph.output[0]!.name);

/** `windows` plain forwards of the unoccluded image in runs of `batch`, through the session the method uses. */
async function forwards(): Promise<void> {
  const { session } = await ex.session(`forward|${JSON.stringify([score])}`, () => forwardModel(ex.model, [score]), [batch, ...dims.slice(1)]);
  for (let start = 0; start < windows; start += batch) {
    const count = Math.min(batch, windows - start);
    const data = new Float32Array(count * input.length);
    for (let q = 0; q < count; q++) data.set(input, q * input.length);
    await session.run({ [ex.inputName]: { data, dims: [count, ...dims.slice(1)] } }, [score]);
  }
}

async function occlusion(): Promise<void> {
  const r = await ex.explain(input, dims, { method: 'occlusion', methodOptions: { window: String(window), stride: String(stride) }, classes: [0] });
  if (r.explanations[0]!.warnings.length) console.error(r.explanations[0]!.warnings.join('\n'));
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
// warm-up (the session, its arena), then interleaved runs so that load drift on a shared machine hits both
await forwards();
const tf: number[] = [];
const to: number[] = [];
for (let i = 0; i < Number(o.runs); i++) {
  let t0 = performance.now();
  await forwards();
  tf.push(performance.now() - t0);
  t0 = performance.now();
  await occlusion();
  to.push(performance.now() - t0);
}
const [f, m] = [median(tf), median(to)];
console.log(JSON.stringify({ model: o.model, window, stride, windows, batch, forwards_ms: Math.round(f), occlusion_ms: Math.round(m), ratio: +(m / f).toFixed(3), goal: '<= 1.1' }));
await ex.release();
