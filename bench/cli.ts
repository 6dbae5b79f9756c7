/**
 * The command line's cost per image (a script, not a test): `gradcam explain` on JPEG files, a picture
 * (each of --formats: PNG and WebP by default) + JSON out, `--batch-size 1`, against a plain onnxruntime
 * forward pass of the same model, in one run.
 *
 *   npx tsx bench/cli.ts [--models resnet50,mobilenet_v2] [--formats png,webp] [--images 8] [--repeats 3]
 *                        [--workers-images 96] [--explain-args '...'] [--json FILE] [--stages-only]
 *
 * - marginal: (time of a run on 1 + K images − time of a run on 1 image) / K, fresh processes, the two
 *   kinds interleaved; each pair is preceded by in-process forward passes (batch 1, medians), so that load
 *   drift on a shared machine hits both sides alike. Ratios are medians over the repeats.
 * - cold: the 1-image run's wall time (process start, model load, graph from the warm compile cache,
 *   session, first run, outputs).
 * - stages: the command's per-image work done in-process with the same library calls, one by one
 *   (medians of 21 after 3 warm-ups: on a shared machine medians of 7 moved ±20% between runs), as wall
 *   ms and as CPU ms (process.cpuUsage: every thread of the process, so the thread pool's encoding and
 *   fsync count): decode, resize + normalise, run, CAM (its
 *   wall time: JavaScript on this thread), render, encode (the command encodes in the thread pool while
 *   the next image runs; awaited here), JSON, write (StagedOutputs as the command: temporary file, fsync,
 *   rename). `prepare` is the command's input step as it calls it (prepareInputs: decode, resize and
 *   normalise, the overlay's picture kept; `--decode` of --explain-args passed on), timed first in each
 *   round as the command meets it (after the previous image's run, render, encode and writes); `decode`
 *   and `resize+normalise` are its parts on the exact path (readImageFile; modelInputTensor to 224×224, the
 *   calls prepareInputs makes), timed on their own at the end of each round. `outside` is the CPU ms per
 *   image outside the model run: prepare + CAM + render + encode + JSON + write. process.cpuUsage counts
 *   onnxruntime's threads too: they stop spinning when a run returns (force_spinning_stop; measured from
 *   /proc/self/task/.../schedstat: 0.00 ms on the intra-op thread in the 20 ms after a resnet50 run), so
 *   they add nothing to the stages outside it.
 * - sessions: the marginal above is one session's (`--workers 1`); beside it, the marginal of
 *   --workers-images more images (default 96, so that a worker's start is spread as a long run spreads
 *   it and the figure is steady) with the default `--workers auto` (the 1-image run has one session, the
 *   long one what auto chooses: its workers' start counts) and with `--workers 2` (both runs start two
 *   workers, so their start cancels out), each ÷ the forward timed around it. 0: not measured.
 * - --explain-args: more options for the command (e.g. an input option), split on spaces.
 * - --stages-only: only the in-process stage loop (no command runs, no forward timing): its table alone.
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
import { modelInputTensor } from '../src/image/resample.js';
import { resolveNormalization } from '../src/image/normalize.js';
import { PICTURE_FORMATS, pictureExtension, type PictureFormat } from '../src/image/encode.js';
import { explanationJson, overlayPicture, pictureBytes } from '../src/render/index.js';
import { StagedOutputs } from '../src/util/write-node.js';
import { autoWorkers, machineCores } from '../src/dataset/pool.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: o } = parseArgs({ options: { models: { type: 'string', default: 'resnet50,mobilenet_v2' }, formats: { type: 'string', default: 'png,webp' }, images: { type: 'string', default: '8' }, 'workers-images': { type: 'string', default: '96' }, repeats: { type: 'string', default: '3' }, 'explain-args': { type: 'string', default: '' }, json: { type: 'string' }, 'stages-only': { type: 'boolean', default: false } } });
const FORMATS = o.formats!.split(',') as PictureFormat[];
for (const f of FORMATS) if (!(PICTURE_FORMATS as readonly string[]).includes(f)) throw new Error(`--formats: unknown '${f}' (valid: ${PICTURE_FORMATS.join(', ')})`);
const EXTRA = o['explain-args']!.split(' ').filter(Boolean);
/** prepareInputs' options as the command's (ImageNet preset, the picture kept); `--decode fast` passed on where given. */
const decodeAt = EXTRA.indexOf('--decode');
const PREPARE = { preset: 'imagenet', picture: true, ...(decodeAt >= 0 ? { decode: EXTRA[decodeAt + 1] } : {}) } as Parameters<typeof prepareInputs>[2];
const K = Number(o.images);
/** Images of the runs with worker sessions (--workers auto, 2); 0: none. */
const KW = Number(o['workers-images']);
/** The session settings timed beside one session's (--workers 1). */
export const SESSIONS = ['auto', '2'] as const;
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
  return Array.from({ length: Math.max(K, KW) + 1 }, (_, i) => {
    const f = path.join(dir, `img${i}.jpg`);
    fs.writeFileSync(f, jpeg);
    return f;
  });
}

/** GNU time, where present: the command's CPU time (every thread), which moves less with other jobs' load than its wall time. */
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
/** CPU ms of the last cli() run (NaN without /usr/bin/time). */
let lastCpuMs = NaN;

function cli(model: string, images: string[], out: string, format: PictureFormat, workers = '1'): number {
  fs.rmSync(out, { recursive: true, force: true });
  const args = [BIN, 'explain', ...images, '--model', model, '--out', out, '--batch-size', '1', '--quiet', '--format', format, '--workers', workers, ...EXTRA];
  const t0 = performance.now();
  const r = TIME ? spawnSync(TIME, ['-f', 'gradcam-cpu %U %S', process.execPath, ...args], { encoding: 'utf8' }) : spawnSync(process.execPath, args, { encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`gradcam explain failed: ${r.stderr}`);
  const m = /gradcam-cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  lastCpuMs = m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN;
  return ms;
}

/** One output format: the command's cost per extra image and cold, and its stages (wall and CPU ms per image). */
export interface CliFormat {
  marginal_ms: number; ratio: number; cold_ms: number; n_ms: number;
  /** Wall ms per stage (medians), the run included. */
  stages: Record<string, number>;
  /** CPU ms per stage outside the model run (medians), and `outside`: their sum. */
  cpu: Record<string, number>;
  /** CPU ms (all threads) per extra image with one session (NaN without /usr/bin/time). */
  marginal_cpu_ms?: number;
  /** Per extra image with worker sessions (SESSIONS: --workers auto and 2), over `images` more images: wall ms, ÷ forward, CPU ms. */
  sessions?: Record<string, { marginal_ms: number; ratio: number; cpu_ms: number; images: number; sessions: number }>;
}

export interface CliBench {
  forward_ms: number;
  formats: Record<string, CliFormat>;
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
  cli(model, images.slice(0, 1), out, FORMATS[0]!); // the compile cache warm
  const fwd: number[] = [];
  const per: Record<string, { marginal: number[]; ratio: number[]; cold: number[]; many: number[]; cpu: number[] }> = {};
  const sessions: Record<string, Record<string, { marginal: number[]; ratio: number[]; cpu: number[] }>> = {};
  for (let r = 0; r < REPEATS; r++) {
    for (const format of FORMATS) {
      const p = (per[format] ??= { marginal: [], ratio: [], cold: [], many: [], cpu: [] });
      const f = await forward(7);
      const one = cli(model, images.slice(0, 1), out, format);
      const oneCpu = lastCpuMs;
      const all = cli(model, images.slice(0, K + 1), out, format);
      p.cpu.push((lastCpuMs - oneCpu) / K);
      const f2 = await forward(7);
      const m = (all - one) / K;
      fwd.push((f + f2) / 2);
      p.marginal.push(m);
      p.ratio.push(m / ((f + f2) / 2));
      p.cold.push(one);
      p.many.push(all);
      for (const w of KW > 0 ? SESSIONS : []) {
        // 1 image and 1 + KW images with this setting, the forward timed around the pair
        const q = ((sessions[format] ??= {})[w] ??= { marginal: [], ratio: [], cpu: [] });
        const g = await forward(7);
        const m1 = cli(model, images.slice(0, 1), out, format, w);
        const c1 = lastCpuMs;
        const mk = cli(model, images.slice(0, KW + 1), out, format, w);
        q.cpu.push((lastCpuMs - c1) / KW);
        const g2 = await forward(7);
        q.marginal.push((mk - m1) / KW);
        q.ratio.push((mk - m1) / KW / ((g + g2) / 2));
      }
    }
  }
  await plain.release();
  const stages = await stageBreakdown(model, images[0]!);
  const formats: Record<string, CliFormat> = {};
  for (const f of FORMATS) {
    const p = per[f]!;
    const w = sessions[f] ? Object.fromEntries(Object.entries(sessions[f]!).map(([k, q]) => [k, { marginal_ms: median(q.marginal), ratio: median(q.ratio), cpu_ms: median(q.cpu), images: KW, sessions: k === 'auto' ? autoWorkers({ cores: machineCores(), images: KW + 1, compiled: true }) : Number(k) }])) : undefined;
    formats[f] = { marginal_ms: median(p.marginal), ratio: median(p.ratio), cold_ms: median(p.cold), n_ms: median(p.many), marginal_cpu_ms: median(p.cpu), ...stages[f]!, ...(w ? { sessions: w } : {}) };
  }
  return { forward_ms: median(fwd), formats };
}

/** The stages outside the model run, in the command's order. */
export const OUTSIDE = ['prepare', 'cam', 'render', 'encode', 'json', 'write'] as const;
/** prepare's parts, timed on their own (the exact path's library calls). */
export const PARTS = ['decode', 'resize+normalise'] as const;

/** The command's per-image steps in-process (see the header): per format, wall and CPU ms medians of 21 after 3 warm-ups. */
async function stageBreakdown(model: string, image: string): Promise<Record<string, { stages: Record<string, number>; cpu: Record<string, number> }>> {
  const ex = await loadExplainer(model);
  const wall: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  const dir = path.join(WORK, 'stage-out');
  fs.rmSync(dir, { recursive: true, force: true });
  const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  // one staged output per format for the whole loop, as one per command run (its folder made once, renames at the end)
  const stagedBy: Record<string, StagedOutputs> = {};
  try {
    for (let i = 0; i < 24; i++) {
      const t = async <T>(k: string, f: () => Promise<T> | T): Promise<T> => {
        const c0 = cpuMs();
        const t0 = performance.now();
        const v = await f();
        if (i >= 3) {
          (wall[k] ??= []).push(performance.now() - t0);
          (cpu[k] ??= []).push(cpuMs() - c0);
        }
        return v;
      };
      // the command's input step first, as the command meets it after the previous image's work:
      // prepareInputs with the overlay's picture kept (and the input options of --explain-args it knows)
      const [inp] = await t('prepare', () => prepareInputs(ex, image, PREPARE));
      const tensor = inp!.tensor;
      const r = await explainMany(ex, tensor, [1, 3, 224, 224], { methods: ['gradcam'], layers: [['auto']] });
      if (i >= 3) {
        (wall['run'] ??= []).push(r.timings.runMs);
        (wall['cam'] ??= []).push(r.timings.camMs);
        (cpu['cam'] ??= []).push(r.timings.camMs); // JavaScript on this thread: its wall time
      }
      const e = r.results[0]!.explanations[0]!;
      // the overlay's picture is the first decode's (the command keeps it; no second decode)
      const ov = await t('render', () => overlayPicture(e, inp!.image!, { colormap: 'jet', alpha: 0.5, caption: true }));
      for (const format of FORMATS) {
        const name = `x.gradcam${pictureExtension(format)}`;
        const bytes = await t(`encode ${format}`, () => pictureBytes(ov, format, true));
        const json = await t(`json ${format}`, () => new TextEncoder().encode(`${JSON.stringify(explanationJson(e, { input: image, model, timings: r.timings, files: [name] }), null, 2)}\n`));
        await t(`write ${format}`, async () => {
          // as the command: both files staged (written and fsync'ed in the thread pool), awaited here
          const staged = (stagedBy[format] ??= new StagedOutputs(dir));
          await staged.add(path.join(dir, `${i}${name}`), bytes);
          await staged.add(path.join(dir, `${i}-${format}.gradcam.json`), json);
          await staged['settle']();
        });
      }
      // prepare's parts on their own, last (so that they do not warm the caches for prepare): the very calls
      // prepareInputs makes on the exact path (openImageFile + decode; modelInputTensor's resize + normalise)
      const img = await t('decode', () => readImageFile(image));
      await t('resize+normalise', () => modelInputTensor(img, { resized: [224, 224], left: 0, top: 0, crop: [224, 224] }, resolveNormalization({ preset: 'imagenet' }), 'NCHW'));
    }
    for (const staged of Object.values(stagedBy)) await staged.commit();
  } finally {
    await ex.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const med = (v: number[] | undefined) => Math.round(median(v ?? [NaN]) * 100) / 100;
  const out: Record<string, { stages: Record<string, number>; cpu: Record<string, number> }> = {};
  for (const f of FORMATS) {
    const key = (k: string) => (k === 'encode' || k === 'json' || k === 'write' ? `${k} ${f}` : k);
    const stages = Object.fromEntries(['prepare', ...PARTS, 'run', 'cam', 'render', 'encode', 'json', 'write'].map((k) => [k, med(wall[key(k)])]));
    const c = Object.fromEntries([...OUTSIDE, ...PARTS].map((k) => [k, med(cpu[key(k)])]));
    c['outside'] = Math.round(OUTSIDE.reduce((sum, k) => sum + c[k]!, 0) * 100) / 100;
    out[f] = { stages, cpu: c };
  }
  return out;
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

if (import.meta.url === `file://${process.argv[1]}` && o['stages-only']) {
  // only the in-process stage loop (no command runs): CPU ms per stage outside the run
  const images = await makeImages();
  console.error(`| model | out | ${OUTSIDE.join(' | ')} | outside | ${PARTS.join(' | ')} | wall run | load |`);
  for (const m of o.models!.split(',')) {
    const st = await stageBreakdown(path.join(ROOT, 'bench', 'models', `${m}.onnx`), images[0]!);
    for (const [f, x] of Object.entries(st)) console.error(`| ${m} | ${f} | ${OUTSIDE.map((k) => x.cpu[k]!.toFixed(2)).join(' | ')} | **${x.cpu['outside']!.toFixed(2)}** | ${PARTS.map((k) => x.cpu[k]!.toFixed(2)).join(' | ')} | ${x.stages['run']!.toFixed(1)} | ${os.loadavg()[0]!.toFixed(1)} |`);
  }
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runCliBench(o.models!.split(','));
  console.error(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, load ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
  console.error(`| model | ORT forward ms | out | CLI ms per extra image | ÷ forward | cold 1 image ms | CPU ms per image outside the run: ${OUTSIDE.join(', ')} = sum (prepare's parts) | wall ms: run |`);
  console.error('|---|---|---|---|---|---|---|---|');
  for (const [m, b] of Object.entries(r)) {
    for (const [f, x] of Object.entries(b.formats)) {
      console.error(`| ${m} | ${b.forward_ms.toFixed(1)} | ${f} | ${x.marginal_ms.toFixed(1)} | ${x.ratio.toFixed(2)} | ${x.cold_ms.toFixed(0)} | ${OUTSIDE.map((k) => x.cpu[k]!.toFixed(1)).join(' + ')} = **${x.cpu['outside']!.toFixed(1)}** (${PARTS.map((k) => `${k} ${x.cpu[k]!.toFixed(1)}`).join(', ')}) | ${x.stages['run']!.toFixed(1)} |`);
    }
  }
  if (KW > 0) {
    console.error(`\nCLI per extra image by sessions (WebP/PNG + JSON out, batch 1; one session over ${K} more images, workers over ${KW}; wall ms (÷ the ORT forward timed around each pair), CPU ms of all threads):`);
    console.error(`| model | out | ORT forward ms | --workers 1 (one session) | ${SESSIONS.map((w) => `--workers ${w}${w === 'auto' ? ` (${autoWorkers({ cores: machineCores(), images: KW + 1, compiled: true })} for ${KW + 1} images)` : ''}`).join(' | ')} |`);
    console.error(`|---|---|---|---|${SESSIONS.map(() => '---|').join('')}`);
    for (const [m, b] of Object.entries(r)) {
      for (const [f, x] of Object.entries(b.formats)) console.error(`| ${m} | ${f} | ${b.forward_ms.toFixed(1)} | ${x.marginal_ms.toFixed(1)} ms (${x.ratio.toFixed(2)}), CPU ${x.marginal_cpu_ms!.toFixed(1)} | ${SESSIONS.map((w) => `${x.sessions![w]!.marginal_ms.toFixed(1)} ms (${x.sessions![w]!.ratio.toFixed(2)}), CPU ${x.sessions![w]!.cpu_ms.toFixed(1)}`).join(' | ')} |`);
    }
  }
  if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(r, null, 1)}\n`);
  console.log(JSON.stringify(r));
}
