/**
 * Score-CAM and Ablation-CAM on resnet50 (layer4, 2048 channels of 7×7), gradcam (onnxruntime-node) against
 * PyTorch computing them the way pytorch-grad-cam does (bench/torch_family.py), in the same run.
 *
 *   npx tsx bench/family.ts [--model resnet50|mobilenet_v2|vgg16] [--masks 64] [--ablate 32] [--runs 1] [--skip-torch] [--scorecam-only]
 *
 * Other models (--model): the same at their pytorch-grad-cam layer (features[-1]: mobilenet_v2 1280 × 7×7,
 * vgg16 512 × 7×7), extrapolated to all their channels.
 *
 * Needs bench/models/resnet50.onnx (`/usr/bin/python3 scripts/fixtures/make_fixtures.py --bench`).
 * Both sides score the same subset of channels (the first --masks for Score-CAM, the first --ablate for
 * Ablation-CAM) on the same input (written by the torch script) and the times are extrapolated linearly to
 * all 2048 channels (the per-channel forward passes dominate both); the maps are compared as a check that
 * both sides compute the same thing. gradcam's Ablation-CAM is timed on all 2048 channels too (its suffix
 * graph makes that cheap), and in the "full" graph mode (whole model per ablation, like pytorch-grad-cam).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Explainer, type ExplainOptions } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { parseNpy, toFloat32 } from '../src/image/npy.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const masks = opt('masks', 64);
const ablate = opt('ablate', 32);
const runs = opt('runs', 1);
const skipTorch = args.includes('--skip-torch');
const scoreOnly = args.includes('--scorecam-only');
const modelName = args.includes('--model') ? args[args.indexOf('--model') + 1]! : 'resnet50';
const outDir = path.join(ROOT, '.tmp', 'bench_family', modelName);
const modelPath = path.join(ROOT, 'bench', 'models', `${modelName}.onnx`);
if (!fs.existsSync(modelPath)) {
  console.error(`missing ${modelPath}: run /usr/bin/python3 scripts/fixtures/make_fixtures.py --bench`);
  process.exit(2);
}
const info = JSON.parse(fs.readFileSync(path.join(ROOT, 'bench', 'models', `${modelName}.json`), 'utf8')) as { layer: { tensor: string; shape: number[] } };
const C = info.layer.shape[0]!;

/** Wall time and process CPU time (all threads: onnxruntime's or torch's) in ms. */
interface Timing { ms: number; cpu_ms: number }

interface TorchResult {
  torch: string; threads: number; target: number; forward_ms: number; dead_channels: number; dead_in_masks: number;
  scorecam: Timing & { channels: number; batch: number };
  ablationcam: Timing & { channels: number; batch: number };
  ablationcam_suffix: Timing & { channels: number; batch: number };
}

let torch: TorchResult | undefined;
if (!skipTorch) {
  console.error(`torch: Score-CAM on ${masks} channels, Ablation-CAM on ${ablate} channels ...`);
  const r = spawnSync('/usr/bin/python3', [path.join(ROOT, 'bench', 'torch_family.py'), '--model', modelName, '--masks', String(masks), '--ablate', String(ablate), '--out-dir', outDir, ...(scoreOnly ? ['--scorecam-only'] : [])], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(r.stderr);
    process.exit(1);
  }
  torch = JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchResult;
}
const load = (f: string) => {
  const npy = parseNpy(new Uint8Array(fs.readFileSync(path.join(outDir, f))));
  return { data: toFloat32(npy), shape: npy.shape };
};
if (!fs.existsSync(path.join(outDir, 'input.npy'))) {
  console.error('no input: run once without --skip-torch');
  process.exit(2);
}
const input = load('input.npy');
const explainer = Explainer.fromBytes(new Uint8Array(fs.readFileSync(modelPath)), { createSession: createNodeSession, source: modelName });
const layer = info.layer.tensor;
const first = (n: number) => Array.from({ length: n }, (_, k) => k);

async function time(opts: ExplainOptions): Promise<Timing & { map: Float32Array }> {
  let best = { ms: Infinity, cpu_ms: Infinity };
  let map: Float32Array = new Float32Array(0);
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = await explainer.explain(input.data, input.shape, { layer, ...opts });
    const c = process.cpuUsage(c0);
    const t = { ms: performance.now() - t0, cpu_ms: (c.user + c.system) / 1000 };
    if (t.ms < best.ms) best = t;
    map = r.explanations[0]!.map;
  }
  return { ...best, map };
}

const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
// warm-up: sessions (forward with the layer, ablation suffix and full graphs) and the target class
const warm = await explainer.explain(input.data, input.shape, { layer, method: 'scorecam', channels: [0] });
const target = warm.explanations[0]!.target.index;
if (!scoreOnly) {
  await explainer.explain(input.data, input.shape, { layer, method: 'ablationcam', classes: target, channels: [0] });
  await explainer.explain(input.data, input.shape, { layer, method: 'ablationcam', classes: target, channels: [0], ablationMode: 'full' });
}
if (torch && torch.target !== target) console.error(`warning: torch explains class ${torch.target}, gradcam ${target}`);

const score16 = await time({ method: 'scorecam', classes: target, channels: first(masks), batchSize: 16 });
const score32 = await time({ method: 'scorecam', classes: target, channels: first(masks), batchSize: 32 });
const none = { ms: NaN, cpu_ms: NaN, map: new Float32Array(0) };
const ablSub = scoreOnly ? none : await time({ method: 'ablationcam', classes: target, channels: first(ablate) });
const ablAll = scoreOnly ? none : await time({ method: 'ablationcam', classes: target });
const ablFull = scoreOnly ? none : await time({ method: 'ablationcam', classes: target, channels: first(ablate), ablationMode: 'full', batchSize: 32 });
await explainer.release();

const fmt = (ms: number) => (ms >= 10000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);
const rows: { what: string; ours: Timing; oursChannels: number; torch?: Timing; torchChannels?: number; at2048: { ours: Timing; torch?: Timing }; ratio?: { wall: number; cpu: number }; note: string }[] = [];
const scale = (t: Timing, n: number): Timing => ({ ms: (t.ms / n) * C, cpu_ms: (t.cpu_ms / n) * C });
const line = (what: string, ours: Timing, oursN: number, tt: Timing | undefined, torchN: number | undefined, note = '') => {
  const o = scale(ours, oursN);
  const t = tt && torchN ? scale(tt, torchN) : undefined;
  const ratio = t ? { wall: t.ms / o.ms, cpu: t.cpu_ms / o.cpu_ms } : undefined;
  rows.push({ what, ours: { ms: ours.ms, cpu_ms: ours.cpu_ms }, oursChannels: oursN, torch: tt, torchChannels: torchN, at2048: { ours: o, torch: t }, ratio, note });
  console.log(`${what}\n  gradcam ${fmt(ours.ms)} wall, ${fmt(ours.cpu_ms)} cpu on ${oursN} ch → ${fmt(o.ms)} wall, ${fmt(o.cpu_ms)} cpu @${C}` +
    (t ? `\n  torch   ${fmt(tt!.ms)} wall, ${fmt(tt!.cpu_ms)} cpu on ${torchN} ch → ${fmt(t.ms)} wall, ${fmt(t.cpu_ms)} cpu @${C}\n  torch / gradcam: ×${ratio!.wall.toFixed(2)} wall, ×${ratio!.cpu.toFixed(2)} cpu` : '') + (note ? `\n  (${note})` : ''));
};
console.log(`${modelName} ${info.layer.tensor} [${info.layer.shape.join(', ')}], class ${target}, onnxruntime-node vs torch ${torch?.torch ?? '-'} (${torch?.threads ?? '?'} threads); torch forward 1×224² ${torch?.forward_ms ?? '?'} ms; load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
line('scorecam, batch 16 (pytorch-grad-cam\'s)', score16, masks, torch?.scorecam, torch?.scorecam.channels, torch ? `${torch.dead_in_masks} of the ${masks} masks are all-zero (dead channels, ${torch.dead_channels}/${C} overall): gradcam scores them once` : '');
line('scorecam, batch 32 (gradcam default)', score32, masks, torch?.scorecam, torch?.scorecam.channels);
if (!scoreOnly) line('ablationcam, full graph (mask in the whole model; like pytorch-grad-cam)', ablFull, ablate, torch?.ablationcam, torch?.ablationcam.channels);
if (!scoreOnly) line('ablationcam, suffix graph (default), subset incl. the first forward', ablSub, ablate, torch?.ablationcam, torch?.ablationcam.channels, 'torch: pytorch-grad-cam re-runs the whole model');
if (!scoreOnly) line(`ablationcam, suffix graph (default), all ${C} channels`, ablAll, C, torch?.ablationcam, torch?.ablationcam.channels, 'torch: pytorch-grad-cam, extrapolated from its subset');
if (!scoreOnly) line('ablationcam, suffix graph vs torch avgpool+fc only (not pytorch-grad-cam)', ablAll, C, torch?.ablationcam_suffix, torch?.ablationcam_suffix.channels, 'both run only the layers after layer4');
if (torch) {
  console.log(`maps vs torch (same channel subsets): scorecam max |Δ| ${maxAbs(score16.map, load('scorecam.npy').data).toExponential(2)}` + (scoreOnly ? '' : ', ' +
    `ablationcam max |Δ| ${maxAbs(ablSub.map, load('ablationcam.npy').data).toExponential(2)} (suffix), ${maxAbs(ablFull.map, load('ablationcam.npy').data).toExponential(2)} (full)`));
}
fs.writeFileSync(path.join(outDir, 'result.json'), `${JSON.stringify({ masks, ablate, target, torch, rows }, null, 2)}\n`);
