/**
 * The input side's cost per image (a script, not a test): decode and resize + normalise, in-process,
 * medians, for a 500×375 JPEG (ImageNet's typical size) and a 12-MP JPEG (4000×3000), into a 224×224
 * ImageNet input, with the exact decode (bit-exact with Pillow/torchvision) and --decode fast (JPEG
 * shrink-on-load where the photo is ≥ 3× what is needed).
 *
 *   npx tsx bench/input.ts [--repeats 15] [--json FILE]
 *
 * Rows: decode (openImageFile + decode: the file read once, header, pixels), resize+normalise
 * (modelInputTensor: Pillow's resize, the crop and the normalisation in one pass), and prepareInputs as
 * the commands call it (plain resize; `--resize 256`: Resize(256) + CenterCrop(224)), without a picture
 * (evaluate, or a run that reads pictures later) and with audit's fast picture (512 px). Wall times on
 * this thread (sharp decodes in libuv's pool, awaited).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { loadExplainer, prepareInputs } from '../src/node.js';
import { openImageFile } from '../src/image/node.js';
import { fastNeed } from '../src/dataset/inputs.js';
import { modelInputTensor, type ModelView } from '../src/image/resample.js';
import { resolveNormalization } from '../src/image/normalize.js';
import type { DecodeMode } from '../src/image/types.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: o } = parseArgs({ options: { repeats: { type: 'string', default: '15' }, json: { type: 'string' } } });
const N = Number(o.repeats);
const WORK = path.join(ROOT, '.tmp', 'bench-input');
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

async function ms(f: () => Promise<unknown> | unknown, n = N): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < n + 2; i++) {
    const t0 = performance.now();
    await f();
    if (i >= 2) t.push(performance.now() - t0);
  }
  return Math.round(median(t) * 100) / 100;
}

/** A stage of the input path on one file: what prepareInputs does for a 224 input (plain resize), timed piece by piece. */
async function stages(file: string, decode: DecodeMode, n: number): Promise<{ decode: number; resize_normalise: number; decoded: string }> {
  const spec = resolveNormalization({ preset: 'imagenet' });
  const view: ModelView = { resized: [224, 224], left: 0, top: 0, crop: [224, 224] };
  const fastTo = decode === 'fast' ? fastNeed(view.resized, undefined, 0) : undefined;
  const read = async () => (await openImageFile(file)).decode(fastTo ? { fastTo } : {});
  const img = await read();
  return {
    decode: await ms(read, n),
    resize_normalise: await ms(() => modelInputTensor(img, view, spec, 'NCHW'), n),
    decoded: `${img.width}×${img.height}`,
  };
}

export async function runInputBench(): Promise<Record<string, Record<string, number | string>>> {
  fs.mkdirSync(WORK, { recursive: true });
  const src = path.join(ROOT, 'demo', 'photos', 'astronaut.jpg');
  const files: Record<string, string> = {};
  for (const [name, w, h] of [['500x375', 500, 375], ['12MP', 4000, 3000]] as const) {
    files[name] = path.join(WORK, `${name}.jpg`);
    fs.writeFileSync(files[name]!, await sharp(src).resize(w, h, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer());
  }
  const ex = await loadExplainer(path.join(ROOT, 'bench', 'models', 'mobilenet_v2.onnx'));
  const out: Record<string, Record<string, number | string>> = {};
  try {
    for (const [name, file] of Object.entries(files)) {
      const n = name === '12MP' ? Math.max(3, Math.ceil(N / 3)) : N;
      for (const decode of ['exact', 'fast'] as const) {
        const s = await stages(file, decode, n);
        const prep = (opts: object) => ms(() => prepareInputs(ex, file, { preset: 'imagenet', decode, ...opts }), n);
        out[`${name} ${decode}`] = {
          decoded: s.decoded, decode: s.decode, 'resize+normalise': s.resize_normalise,
          'prepareInputs (no picture)': await prep({ picture: false }),
          'prepareInputs --resize 256 (no picture)': await prep({ picture: false, resize: 256 }),
          'prepareInputs (picture ≤ 512)': await prep({ maxSide: 512 }),
        };
      }
    }
  } finally {
    await ex.release();
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runInputBench();
  const cols = Object.keys(Object.values(r)[0]!);
  console.error(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, load ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
  console.error(`| JPEG, decode | ${cols.join(' | ')} |`);
  console.error(`|---|${cols.map(() => '---').join('|')}|`);
  for (const [k, v] of Object.entries(r)) console.error(`| ${k} | ${cols.map((c) => (typeof v[c] === 'number' ? (v[c] as number).toFixed(1) : v[c])).join(' | ')} |`);
  for (const name of ['500x375', '12MP']) {
    const e = r[`${name} exact`]!, f = r[`${name} fast`]!;
    console.error(`${name}: fast ÷ exact, prepareInputs without a picture: ${((f['prepareInputs (no picture)'] as number) / (e['prepareInputs (no picture)'] as number)).toFixed(2)}; with a 512 picture: ${((f['prepareInputs (picture ≤ 512)'] as number) / (e['prepareInputs (picture ≤ 512)'] as number)).toFixed(2)}`);
  }
  if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(r, null, 1)}\n`);
  console.log(JSON.stringify(r));
}
