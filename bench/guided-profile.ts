/**
 * Profile (a script, not a test): onnxruntime's per-node profile of a method's compiled gradient graph at
 * 1 and 2 intra-op threads, summed by op type, with each type's speed-up from 1 to 2 threads.
 *
 *   npx tsx bench/guided-profile.ts [--model mobilenet_v2] [--method guided-gradcam|gradcam|forward|saliency...] [--runs 20]
 *     [--threads 1,2] [--top 25] [--nodes 0]
 *
 * The graph is the one the library compiles (captured at its session factory) and runs with the library's
 * own session options; only profiling is added. Times are µs per run: each node's fastest run (--stat min,
 * the default: what it costs when no other process takes a core from it) or its median (--stat median),
 * as ORT records kernel times (a parallel kernel's time is its wall time).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { Explainer } from '../src/explainer.js';
import { explainGradients, type GradientMethodName } from '../src/methods/gradient/explain.js';
import { createNodeSession } from '../src/runtime/node.js';
import type { Session, SessionFactory } from '../src/runtime/session.js';

const { values: o } = parseArgs({ options: {
  model: { type: 'string', default: 'mobilenet_v2' }, method: { type: 'string', default: 'guided-gradcam' },
  runs: { type: 'string', default: '20' }, threads: { type: 'string', default: '1,2' }, top: { type: 'string', default: '25' },
  nodes: { type: 'string', default: '0' }, stat: { type: 'string', default: 'min' },
} });
const DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'models');
const STAT = o.stat;
if (STAT !== 'min' && STAT !== 'median') {
  console.error(`--stat ${STAT}: choose min or median`);
  process.exit(2);
}
const file = path.join(DIR, `${o.model}.onnx`);
if (!fs.existsSync(file)) {
  console.error(`${file} is missing: run /usr/bin/python3 scripts/fixtures/make_fixtures.py --bench`);
  process.exit(2);
}
const bytes = new Uint8Array(fs.readFileSync(file));

// capture the last session the library creates (the method's gradient graph) and its last run's feeds
let last: { model: Uint8Array; feeds?: Record<string, { data: Float32Array; dims: number[] }>; fetch?: string[] } | undefined;
const capture: SessionFactory = async (model, opts) => {
  const s = await createNodeSession(model, opts);
  const rec = { model };
  last = rec;
  const wrapped: Session = {
    ...s,
    run: (feeds, fetch) => { Object.assign(rec, { feeds, fetch }); return s.run(feeds, fetch); },
  };
  return wrapped;
};
const x = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i));
const ex = Explainer.fromBytes(bytes, { createSession: capture });
const layer = await ex.autoLayer();
// 'forward': the model itself; 'gradcam': the Grad-CAM graph; otherwise a gradient method's graph
if (o.method === 'gradcam') await ex.explain(x, [1, 3, 224, 224], { layer });
else if (o.method !== 'forward') await explainGradients(ex, x, [1, 3, 224, 224], { method: o.method as GradientMethodName, layer });
await ex.release();
const g = o.method === 'forward' ? { model: bytes, feeds: { input: { data: x, dims: [1, 3, 224, 224] } }, fetch: undefined } : last!;
if (!g.feeds) throw new Error('no run captured');

type Agg = Map<string, { us: number; n: number }>;
async function profile(threads: number): Promise<{ byOp: Agg; byNode: Agg; wall: number }> {
  const prefix = path.join(os.tmpdir(), `gradcam-prof-${process.pid}-${threads}`);
  const s = await ort.InferenceSession.create(g.model, {
    graphOptimizationLevel: 'all', executionProviders: ['cpu'], intraOpNumThreads: threads,
    extra: { session: { intra_op: { allow_spinning: '1' }, inter_op: { allow_spinning: '1' }, force_spinning_stop: '1' } },
    enableProfiling: true, profileFilePrefix: prefix,
  });
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(g.feeds!)) feeds[k] = new ort.Tensor('float32', v.data, v.dims);
  const runs = Number(o.runs);
  const walls: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    await (g.fetch ? s.run(feeds, g.fetch) : s.run(feeds));
    if (i >= 3) walls.push(performance.now() - t0);
  }
  s.endProfiling();
  await s.release();
  const file = fs.readdirSync(os.tmpdir()).map((f) => path.join(os.tmpdir(), f)).find((f) => f.startsWith(prefix))!;
  const ev = JSON.parse(fs.readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  fs.unlinkSync(file);
  // the run events in order: skip the warm-up runs' node events
  const runStarts = ev.map((e, i) => (e.cat === 'Session' && e.name === 'model_run' ? i : -1)).filter((i) => i >= 0);
  // per node: the fastest of its runs (what it costs when no other process takes a core from it)
  const perNode = new Map<string, { op: string; d: number[] }>();
  let k = 0;
  // node events precede their model_run event: count those after the 3rd model_run (the warm-up runs)
  for (let i = runStarts[2]! + 1; i < ev.length; i++) {
    const e = ev[i]!;
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    k++;
    const nn = e.name.replace(/_kernel_time$/, '');
    const r = perNode.get(nn) ?? { op: e.args?.op_name ?? '?', d: [] };
    r.d.push(e.dur);
    perNode.set(nn, r);
  }
  const byOp: Agg = new Map();
  const byNode: Agg = new Map();
  for (const [nn, r] of perNode) {
    const us = STAT === 'min' ? Math.min(...r.d) : r.d.slice().sort((a, b) => a - b)[Math.floor(r.d.length / 2)]!;
    const a = byOp.get(r.op) ?? { us: 0, n: 0 };
    a.us += us; a.n += 1;
    byOp.set(r.op, a);
    byNode.set(`${r.op} ${nn}`, { us, n: 1 });
  }
  if (!k) throw new Error('no node events in the profile');
  walls.sort((a, b) => a - b);
  return { byOp, byNode, wall: walls[STAT === 'min' ? 0 : Math.floor(walls.length / 2)]! };
}

const threads = o.threads.split(',').map(Number);
const res: Awaited<ReturnType<typeof profile>>[] = [];
for (const t of threads) res.push(await profile(t));
console.log(`${o.model} ${o.method}: ${os.cpus().length} × ${os.cpus()[0]?.model}, load ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
console.log(`wall ms per run (${STAT} of the runs): ${threads.map((t, i) => `${t} thr ${res[i]!.wall.toFixed(2)}`).join(', ')}`);
const total = (a: Agg) => [...a.values()].reduce((s, v) => s + v.us, 0);
console.log(`sum of kernel ms (each node's ${STAT}): ${threads.map((t, i) => `${t} thr ${(total(res[i]!.byOp) / 1000).toFixed(2)}`).join(', ')}`);
const show = (key: 'byOp' | 'byNode', n: number) => {
  const ref = res[0]![key];
  const names = [...ref.keys()].sort((a, b) => ref.get(b)!.us - ref.get(a)!.us).slice(0, n);
  console.log(`| ${key === 'byOp' ? 'op' : 'node'} | count | ${threads.map((t) => `${t} thr µs`).join(' | ')} | speed-up ${threads[0]}→${threads.at(-1)} |`);
  for (const nm of names) {
    const v = res.map((r) => r[key].get(nm)?.us ?? 0);
    console.log(`| ${nm} | ${ref.get(nm)!.n.toFixed(0)} | ${v.map((u) => u.toFixed(0)).join(' | ')} | ${(v[0]! / v.at(-1)!).toFixed(2)} |`);
  }
};
show('byOp', Number(o.top));
if (Number(o.nodes)) show('byNode', Number(o.nodes));

