/**
 * Full-size transformer check (a script, not a test: the models are 100–330 MB and are made locally).
 * For torchvision vit_b_16, swin_t and convnext_tiny at opsets 13 and 17 (random seeded weights, made by
 * scripts/fixtures/fullsize_transformers.py into bench/models/), runs the `gradcam` CLI with no layout
 * option — at the automatic layer and at each named layer — and compares its maps with
 * pytorch-grad-cam's (made with the reshape_transforms its documentation gives).
 *
 *   /usr/bin/python3 scripts/fixtures/fullsize_transformers.py     # once, ~4 min, 1.1 GB
 *   npx tsx scripts/fullsize_check.ts [--models vit_b_16,swin_t,convnext_tiny] [--opsets 13,17]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { parseNpy, toFloat32 } from '../src/image/npy.js';

const { values: o } = parseArgs({ options: { models: { type: 'string', default: 'vit_b_16,swin_t,convnext_tiny' }, opsets: { type: 'string', default: '13,17' } } });
const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const DIR = path.join(ROOT, 'bench', 'models');
const CLI = path.join(ROOT, 'bin', 'gradcam.js');

interface Layer { key: string; tensor: string; auto: boolean; layout: string; grid: number[]; prefix: number; gradcam: string; gradcam_raw: string }
interface Meta { onnx: string; input: string; class: number; layers: Layer[] }

const load = (f: string) => toFloat32(parseNpy(new Uint8Array(fs.readFileSync(f))));
function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
function maxRel(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); s = Math.max(s, Math.abs(b[i]!)); }
  return d / (s || 1);
}

const rows: string[] = [];
let failed = 0;
for (const model of o.models!.split(',')) {
  for (const opset of o.opsets!.split(',')) {
    const metaFile = path.join(DIR, `${model}_op${opset}.json`);
    if (!fs.existsSync(metaFile)) {
      console.error(`${metaFile} is missing: run /usr/bin/python3 scripts/fixtures/fullsize_transformers.py`);
      process.exit(2);
    }
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as Meta;
    const runs: { layer: Layer; arg?: string }[] = [
      { layer: meta.layers.find((l) => l.auto)! },
      ...meta.layers.map((l) => ({ layer: l, arg: l.tensor })),
    ];
    for (const { layer, arg } of runs) {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-fullsize-'));
      const args = ['explain', path.join(DIR, meta.input), '--model', path.join(DIR, meta.onnx), '--class', String(meta.class), '--raw', '--out', out, '--quiet'];
      if (arg) args.push('--layer', arg);
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      const seconds = (performance.now() - t0) / 1000;
      const stem = path.basename(meta.input, '.npy');
      if (r.status !== 0) {
        failed++;
        rows.push(`| ${model} | ${opset} | ${arg ? layer.key : `auto`} | failed: ${r.stderr.trim().split('\n').pop()} | | | |`);
        continue;
      }
      const json = JSON.parse(fs.readFileSync(path.join(out, `${stem}.gradcam.json`), 'utf8')) as { layer: string; layer_layout: { kind: string; grid: number[]; prefix_tokens: number }; warnings: string[] };
      const map = load(path.join(out, `${stem}.gradcam.npy`));
      const raw = load(path.join(out, `${stem}.gradcam.raw.npy`));
      const em = maxAbs(map, load(path.join(DIR, layer.gradcam)));
      const er = maxRel(raw, load(path.join(DIR, layer.gradcam_raw)));
      const lay = json.layer_layout;
      const sameLayer = json.layer === layer.tensor;
      const ok = sameLayer && em <= 1e-4 && er <= 1e-4 && lay.kind === layer.layout && lay.grid.join('x') === layer.grid.join('x');
      if (!ok) failed++;
      rows.push(`| ${model} | ${opset} | ${arg ? layer.key : `auto → ${layer.key}${sameLayer ? '' : ` (got ${json.layer})`}`} | ${lay.kind} ${lay.grid.join('×')}${lay.prefix_tokens ? ` +${lay.prefix_tokens}` : ''} | ${em.toExponential(1)} | ${er.toExponential(1)} | ${seconds.toFixed(1)} s${json.warnings.length ? `; ${json.warnings.join('; ')}` : ''} |`);
      fs.rmSync(out, { recursive: true, force: true });
    }
  }
}
console.log('| model | opset | layer | inferred layout | map max abs error vs pytorch-grad-cam | raw map rel error | CLI wall time |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
if (failed) {
  console.error(`${failed} check(s) failed`);
  process.exitCode = 1;
}
