/**
 * The browser and Node give a model the same input tensor for the same picture (issue 24): Node decodes
 * with sharp and prepares through prepareInputs; the browser decodes with our PNG decoder and prepares
 * through pictureTensor (src/image/picture.ts, what web/worker.ts calls). RGB, grey and RGBA 8-bit and
 * 16-bit grey and RGB PNGs, into a 3-channel model (NCHW and NHWC) and a one-channel model.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { loadExplainer, prepareInputs } from '../src/node.js';
import { decodePng, encodePng, toRgbImage } from '../src/image/png.js';
import { pictureTensor, pngSamples } from '../src/image/picture.js';
import { png16 } from '../scripts/medical/image16-writer.js';
import { FIXTURES } from './helpers/fixtures.js';
import { ROOT } from './helpers/cli.js';

/** Deterministic pixels (a 32-bit LCG). */
function lcg(n: number, seed: number, max: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 8) % (max + 1));
}

const W = 37;
const H = 29;
const PICTURES: Record<string, () => Uint8Array> = {
  'rgb8.png': () => encodePng({ width: W, height: H, channels: 3, data: Uint8Array.from(lcg(W * H * 3, 1, 255)) }),
  'grey8.png': () => encodePng({ width: W, height: H, channels: 1, data: Uint8Array.from(lcg(W * H, 2, 255)) }),
  'rgba8.png': () => encodePng({ width: W, height: H, channels: 4, data: Uint8Array.from(lcg(W * H * 4, 3, 255)) }),
  'grey16.png': () => png16(W, H, Uint16Array.from(lcg(W * H, 4, 65535))),
  'rgb16.png': () => png16(W, H, Uint16Array.from(lcg(W * H * 3, 5, 65535)), 3),
};

const MODELS: Record<string, string> = {
  'resnet_like (3 channels, NCHW)': path.join(FIXTURES, 'resnet_like', 'model.onnx'),
  'nhwc_input (3 channels, NHWC)': path.join(FIXTURES, 'nhwc_input', 'model.onnx'),
  'med2d (1 channel)': path.join(ROOT, 'demo', 'models', 'med2d.onnx'),
};

/** The browser's path: our decoder, then the one picture rule. */
function browserTensor(bytes: Uint8Array, ex: Explainer, size: [number, number]): Float32Array {
  const raw = decodePng(bytes);
  return pictureTensor({ samples: pngSamples(raw), rgb: toRgbImage(raw), colour: raw.channels >= 3, format: 'png' }, { channels: ex.channels, layout: ex.layout, size }, { preset: 'imagenet' });
}

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-parity-'));
  for (const [name, make] of Object.entries(PICTURES)) fs.writeFileSync(path.join(dir, name), make());
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the same input tensor in Node and in the browser', () => {
  for (const [label, file] of Object.entries(MODELS)) {
    it(`${label}: every picture`, async () => {
      const ex = await loadExplainer(file);
      try {
        for (const name of Object.keys(PICTURES)) {
          const [inp] = await prepareInputs(ex, path.join(dir, name), { preset: 'imagenet' });
          const size = (ex.layout === 'NCHW' ? inp!.dims.slice(2, 4) : inp!.dims.slice(1, 3)) as [number, number];
          const web = browserTensor(new Uint8Array(fs.readFileSync(path.join(dir, name))), ex, size);
          assert.equal(web.length, inp!.tensor.length, name);
          let worst = 0;
          for (let i = 0; i < web.length; i++) worst = Math.max(worst, Math.abs(web[i]! - inp!.tensor[i]!));
          assert.ok(worst <= 1e-6, `${label} ${name}: Node and the browser differ by ${worst}`);
        }
      } finally {
        await ex.release();
      }
    });
  }

  it('the one-channel rule: a grey picture is its values ÷ the bit depth; a colour one its luminance (PIL convert("L"))', async () => {
    const ex = await loadExplainer(MODELS['med2d (1 channel)']!);
    try {
      const size = ex.inputGrid as [number, number];
      const [h, w] = size;
      // pictures at the model's size (no resize): grey 8-bit, grey 16-bit, RGB 8-bit
      const grey = Uint8Array.from(lcg(w * h, 7, 255));
      const grey16 = Uint16Array.from(lcg(w * h, 8, 65535));
      const rgb = Uint8Array.from(lcg(w * h * 3, 9, 255));
      const cases: [Uint8Array, (p: number) => number][] = [
        [encodePng({ width: w, height: h, channels: 1, data: grey }), (p) => grey[p]! / 255],
        [png16(w, h, grey16), (p) => grey16[p]! / 65535],
        [encodePng({ width: w, height: h, channels: 3, data: rgb }), (p) => Math.floor((19595 * rgb[3 * p]! + 38470 * rgb[3 * p + 1]! + 7471 * rgb[3 * p + 2]! + 32768) / 65536) / 255],
      ];
      for (const [k, [bytes, want]] of cases.entries()) {
        const file = path.join(dir, `exact${k}.png`);
        fs.writeFileSync(file, bytes);
        const [inp] = await prepareInputs(ex, file, { preset: 'imagenet' });
        let worst = 0;
        for (let p = 0; p < w * h; p++) worst = Math.max(worst, Math.abs(inp!.tensor[p]! - want(p)));
        assert.ok(worst <= 1e-6, `case ${k}: ${worst}`);
        assert.deepEqual(browserTensor(bytes, ex, size), inp!.tensor);
      }
    } finally {
      await ex.release();
    }
  });
});
