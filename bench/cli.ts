/**
 * The command line's cost per image (a script, not a test): `gradcam explain` on JPEG files, PNG + JSON
 * out, `--batch-size 1`, against a plain onnxruntime forward pass of the same model, in one run.
 *
 *   npx tsx bench/cli.ts [--models resnet50,mobilenet_v2] [--images 8] [--repeats 3] [--json FILE]
 *
 * - marginal: (time of a run on 1 + K images − time of a run on 1 image) / K, fresh processes, the two
 *   kinds interleaved; each pair is preceded by in-process forward passes (batch 1, medians), so that load
 *   drift on a shared machine hits both sides alike. Ratios are medians over the repeats.
 * - cold: the 1-image run's wall time (process start, model load, graph from the warm compile cache,
 *   session, first run, outputs).
 * - stages: the command's per-image work done in-process with the same library calls, timed one by one
 *   (medians): decode, resize + normalise, run, CAM, render, encode (the command compresses in the thread
 *   pool while the next image runs; timed here on this thread), JSON,
 *   write (staged file + fsync, as the command does).
 *
 * Needs bench/models/*.onnx (`/usr/bin/python3 scripts/fixtures/make_fixtures.py --bench`). The command
 * runs the compiled dist/ (bin/gradcam.js does when it is up to date; this script builds it when not).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { createNodeSession, loadExplainer, prepareInputs, readImageFile } from '../src/node.js';
import { explainMany } from '../src/cam/runner.js';
import { resizeRgb } from '../src/image/resize.js';
import { imageToTensor } from '../src/image/normalize.js';
import { encodePng } from '../src/image/png.js';
import { explanationJson, overlayPicture } from '../src/render/index.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: o } = parseArgs({ options: { models: { type: 'string', default: 'resnet50,mobilenet_v2' }, images: { type: 'string', default: '8' }, repeats: { type: 'string', default: '3' }, json: { type: 'string' } } });
const K = Number(o.images);
const REPEATS = Number(o.repeats);
const WORK = path.join(ROOT, '.tmp', 'bench-cli');
const BIN = path.join(ROOT, 'bin', 'gradcam.js');
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

/** dist/ up to date (bin/gradcam.js runs it then): build it when a source is newer. */
function ensureDist(): void {
  const stale = (dir: string): boolean => fs.readdirSync(dir, { withFileTypes: true }).some((e) => {
    const f = path.join(dir, e.name);
    if (e.isDirectory()) return stale(f);
    if (!e.name.endsWith('.ts')) return false;
    const out = path.join(ROOT, 'dist', path.relative(ROOT, f)).replace(/\.ts$/, '.js');
    return !fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(f).mtimeMs;
  });
  if (stale(path.join(ROOT, 'src'))) {
    console.error('building dist/ (npx tsc -p tsconfig.build.json) ...');
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  }
}

/** 1 + K JPEG files: the astronaut photo at 500×375 (ImageNet's typical size), quality 90. */
async function makeImages(): Promise<string[]> {
  const dir = path.join(WORK, 'images');
  fs.mkdirSync(dir, { recursive: true });
  const jpeg = await sharp(path.join(ROOT, 'demo', 'photos', 'astronaut.jpg')).resize(500, 375, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
  return Array.from({ length: K + 1 }, (_, i) => {
    const f = path.join(dir, `img${i}.jpg`);
    fs.writeFileSync(f, jpeg);
    return f;
  });
}

function cli(model: string, images: string[], out: string): number {
  fs.rmSync(out, { recursive: true, force: true });
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'explain', ...images, '--model', model, '--out', out, '--batch-size', '1', '--quiet'], { encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`gradcam explain failed: ${r.stderr}`);
  return ms;
}

export interface CliBench {
  forward_ms: number; marginal_ms: number; ratio: number; cold_ms: number; n_ms: number;
  stages: Record<string, number>;
}

async function benchModel(name: string, images: string[]): Promise<CliBench> {
  const model = path.join(ROOT, 'bench', 'models', `${name}.onnx`);
  const out = path.join(WORK, `out-${name}`);
  const plain = await createNodeSession(new Uint8Array(fs.readFileSync(model)));
  const x = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i));
  const forward = async (n: number) => {
    const t: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await plain.run({ input: { data: x, dims: [1, 3, 224, 224] } });
      t.push(performance.now() - t0);
    }
    return median(t);
  };
  await forward(3);
  cli(model, images.slice(0, 1), out); // the compile cache warm
  const fwd: number[] = [], marginal: number[] = [], ratio: number[] = [], cold: number[] = [], many: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const f = await forward(7);
    const one = cli(model, images.slice(0, 1), out);
    const all = cli(model, images, out);
    const f2 = await forward(7);
    const m = (all - one) / K;
    fwd.push((f + f2) / 2);
    marginal.push(m);
    ratio.push(m / ((f + f2) / 2));
    cold.push(one);
    many.push(all);
  }
  await plain.release();
  const stages = await stageBreakdown(model, images[0]!);
  return { forward_ms: median(fwd), marginal_ms: median(marginal), ratio: median(ratio), cold_ms: median(cold), n_ms: median(many), stages };
}

/** The command's per-image steps in-process (see the header), medians of 7 after 2 warm-ups. */
async function stageBreakdown(model: string, image: string): Promise<Record<string, number>> {
  const ex = await loadExplainer(model);
  const times: Record<string, number[]> = {};
  const dir = path.join(WORK, 'stage-out');
  fs.mkdirSync(dir, { recursive: true });
  try {
    for (let i = 0; i < 9; i++) {
      const t = async <T>(k: string, f: () => Promise<T> | T): Promise<T> => {
        const t0 = performance.now();
        const v = await f();
        if (i >= 2) (times[k] ??= []).push(performance.now() - t0);
        return v;
      };
      const img = await t('decode', () => readImageFile(image));
      const tensor = await t('resize+normalise', () => imageToTensor(resizeRgb(img, 224, 224), { preset: 'imagenet', layout: 'NCHW' }));
      const r = await explainMany(ex, tensor, [1, 3, 224, 224], { methods: ['gradcam'], layers: [['auto']] });
      if (i >= 2) {
        (times['run'] ??= []).push(r.timings.runMs);
        (times['cam'] ??= []).push(r.timings.camMs);
      }
      const e = r.results[0]!.explanations[0]!;
      // the overlay's picture is the first decode's (the command keeps it; no second decode)
      const pic = img;
      const ov = await t('render', () => overlayPicture(e, pic, { colormap: 'jet', alpha: 0.5, caption: true }));
      const png = await t('encode', () => encodePng(ov));
      const json = await t('json', () => new TextEncoder().encode(`${JSON.stringify(explanationJson(e, { input: image, model, timings: r.timings, files: ['x.png'] }), null, 2)}\n`));
      await t('write', async () => {
        for (const [f, b] of [['x.png', png], ['x.json', json]] as const) {
          const fh = await fs.promises.open(path.join(dir, f), 'w');
          await fh.writeFile(b);
          await fh.sync();
          await fh.close();
        }
      });
    }
    // prepareInputs as the command calls it (decode + resize + normalise), for the record
    await prepareInputs(ex, image, { preset: 'imagenet', picture: false });
  } finally {
    await ex.release();
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(median(v) * 100) / 100]));
}

export async function runCliBench(models: string[]): Promise<Record<string, CliBench>> {
  ensureDist();
  const images = await makeImages();
  const out: Record<string, CliBench> = {};
  for (const m of models) {
    console.error(`cli: ${m} ...`);
    out[m] = await benchModel(m, images);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runCliBench(o.models!.split(','));
  console.error(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, load ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
  console.error('| model | ORT forward ms | CLI ms per extra image | ÷ forward | cold 1 image ms | stages (ms per image) |');
  console.error('|---|---|---|---|---|---|');
  for (const [m, b] of Object.entries(r)) {
    console.error(`| ${m} | ${b.forward_ms.toFixed(1)} | ${b.marginal_ms.toFixed(1)} | ${b.ratio.toFixed(2)} | ${b.cold_ms.toFixed(0)} | ${Object.entries(b.stages).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')} |`);
  }
  if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(r, null, 1)}\n`);
  console.log(JSON.stringify(r));
}
