/**
 * Benchmark (a script, not a test; issue 21 item 4): peak memory of `gradcam layers` and `gradcam explain`
 * on a 1024×1024 float32 segmenter with about 40 MB of weights (a U-Net: 5 levels, 32 → 512 channels,
 * skip connections by Concat, bilinear Resize up, seeded random weights), each run as a child process
 * whose peak RSS is read at its exit (test/helpers/maxrss.mjs). The goal: ≤ 2.5 GB each.
 *
 *   npx tsx bench/memory.ts [--size 1024] [--no-cache]
 *
 * Also the time and memory of a refusal: the same model with a Sin (no gradient rule) on its output.
 * The models and the input are written to bench/models/unet1024*.onnx and .npy (not committed) on first use.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Builder } from '../src/autodiff/builder.js';
import { encodeModel, makeValueInfo, type ModelProto } from '../src/onnx/model.js';
import { writeNpy } from '../src/image/npy.js';

const { values: o } = parseArgs({ options: { size: { type: 'string', default: '1024' }, 'no-cache': { type: 'boolean', default: false } } });
const S = Number(o.size);
const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const DIR = path.join(ROOT, 'bench', 'models');
const MODEL = path.join(DIR, `unet${S}.onnx`);
const INPUT = path.join(DIR, `unet${S}.npy`);
const REFUSED = path.join(DIR, `unet${S}-refused.onnx`);

let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;

/** `refused`: the same U-Net with a Sin (no gradient rule) on its output, which Grad-CAM must refuse. */
function unet(refused = false): { model: ModelProto; params: number } {
  const m: ModelProto = {
    ir_version: 8, opset_import: [{ domain: '', version: 17 }],
    graph: { node: [], initializer: [], input: [makeValueInfo('input', 1, [1, 3, S, S])], output: [makeValueInfo('masks', 1)] },
  };
  const b = new Builder(m, 'unet/');
  let params = 0;
  const conv = (x: string, cin: number, cout: number, k = 3) => {
    const n = cout * cin * k * k;
    params += n + cout;
    const scale = Math.sqrt(6 / (cin * k * k));
    const w = b.floats(Float32Array.from({ length: n }, () => rand() * scale), [cout, cin, k, k], 'w');
    const bias = b.floats(Float32Array.from({ length: cout }, () => rand() * 0.1), [cout], 'b');
    return b.op('Conv', [x, w, bias], { kernel_shape: [k, k], pads: k === 3 ? [1, 1, 1, 1] : [0, 0, 0, 0] });
  };
  const block = (x: string, cin: number, cout: number) => b.op('Relu', [conv(b.op('Relu', [conv(x, cin, cout)]), cout, cout)]);
  const widths = [32, 64, 128, 256, 512];
  const skips: string[] = [];
  let x = 'input';
  let c = 3;
  widths.forEach((w, i) => {
    if (i > 0) x = b.op('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
    x = block(x, c, w);
    c = w;
    skips.push(x);
  });
  x = block(x, 512, 512); // the bottleneck: about 40 MB of weights in all
  for (let i = widths.length - 2; i >= 0; i--) {
    const up = b.op('Resize', [x, '', b.floats([1, 1, 2, 2], [4], 'scales')], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
    x = block(b.op('Concat', [up, skips[i]!], { axis: 1 }), c + widths[i]!, widths[i]!);
    c = widths[i]!;
  }
  const head = conv(x, c, 2, 1);
  b.nodes.push({ name: 'masks', op_type: refused ? 'Sin' : 'Identity', domain: '', input: [head], output: ['masks'], attribute: [] });
  m.graph.node.push(...b.nodes);
  return { model: m, params };
}

if (!fs.existsSync(MODEL) || !fs.existsSync(INPUT) || !fs.existsSync(REFUSED)) {
  fs.mkdirSync(DIR, { recursive: true });
  const { model, params } = unet();
  fs.writeFileSync(MODEL, encodeModel(model));
  seed = 1;
  fs.writeFileSync(REFUSED, encodeModel(unet(true).model));
  fs.writeFileSync(INPUT, writeNpy(Float32Array.from({ length: 3 * S * S }, (_, i) => Math.sin(i * 0.001) * 0.5), [1, 3, S, S]));
  console.log(`wrote ${path.relative(ROOT, MODEL)}: ${(params / 1e6).toFixed(1)} M parameters (${(params * 4 / 2 ** 20).toFixed(0)} MiB)`);
}

const MAXRSS = path.join(ROOT, 'test', 'helpers', 'maxrss.mjs');
function measure(label: string, args: string[]): void {
  const t0 = performance.now();
  const env = { ...process.env, ...(o['no-cache'] ? { GRADCAM_CACHE: 'off' } : {}) };
  const r = spawnSync(process.execPath, ['--import', MAXRSS, path.join(ROOT, 'bin', 'gradcam.js'), ...args], { encoding: 'utf8', env, cwd: ROOT });
  const s = (performance.now() - t0) / 1000;
  const kb = Number(/gradcam-maxrss-kb=(\d+)/.exec(r.stderr)?.[1] ?? NaN);
  const err = r.stderr.replace(/gradcam-maxrss-kb=\d+\n?/, '').trim();
  console.log(`${label.padEnd(40)} exit ${r.status}  peak RSS ${(kb / 2 ** 20).toFixed(2)} GiB  ${s.toFixed(1)} s${err ? `\n  ${err.split('\n').slice(-3).join('\n  ')}` : ''}`);
}

const out = fs.mkdtempSync(path.join(DIR, 'out-'));
try {
  measure(`gradcam layers (${S}×${S})`, ['layers', '--model', MODEL]);
  measure(`gradcam explain gradcam (${S}×${S})`, ['explain', INPUT, '--model', MODEL, '--target', 'segmentation', '--class', '1', '--out', out, '--quiet']);
  measure(`refused: explain with Sin on the output`, ['explain', INPUT, '--model', REFUSED, '--target', 'segmentation', '--class', '1', '--out', out, '--quiet']);
} finally {
  fs.rmSync(out, { recursive: true, force: true });
}
