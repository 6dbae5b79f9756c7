/** Guided Backpropagation, Guided Grad-CAM, saliency and deconvnet: API, pictures and CLI files. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { explainGradients, pixelLayouts } from '../src/methods/gradient/explain.js';
import { deprocessGradient, gradientMagnitude } from '../src/image/gradient.js';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { FIXTURES, loadArray, loadMeta, modelBytes, relL2 } from './helpers/fixtures.js';

describe('gradient methods', () => {
  const meta = loadMeta('resnet_like');
  const ex = Explainer.fromBytes(modelBytes('resnet_like'), { createSession: createNodeSession });
  const input = loadArray('resnet_like', 'input.npy');
  after(() => ex.release());

  it('guided-backprop equals torch guided ReLU backward; saliency the plain gradient', async () => {
    const gb = await explainGradients(ex, input.data, input.shape, { method: 'guided-backprop', classes: meta.classes, rectifierOps: 'relu' });
    const sal = await explainGradients(ex, input.data, input.shape, { method: 'saliency', classes: meta.classes });
    const cat = (xs: { gradientInputLayout: Float32Array }[]) => Float32Array.from(xs.flatMap((x) => Array.from(x.gradientInputLayout)));
    assert.ok(relL2(cat(gb.explanations), loadArray('resnet_like', 'guided_input_grad.npy').data) <= 1e-4);
    assert.ok(relL2(cat(sal.explanations), loadArray('resnet_like', 'input_grad.npy').data) <= 1e-5);
  });

  it('guided-gradcam is guided backprop × the Grad-CAM map, per channel, from one run', async () => {
    const gb = await explainGradients(ex, input.data, input.shape, { method: 'guided-backprop', classes: meta.classes });
    const gg = await explainGradients(ex, input.data, input.shape, { method: 'guided-gradcam', classes: meta.classes });
    const ref = loadArray('resnet_like', 'last.gradcam.npy');
    gg.explanations.forEach((e, i) => {
      assert.equal(e.channels, 3);
      let maxErr = 0;
      let scale = 0;
      for (let p = 0; p < e.height * e.width; p++) {
        assert.ok(Math.abs(e.cam[p]! - ref.data[i * e.height * e.width + p]!) <= 1e-4);
        for (let c = 0; c < 3; c++) {
          const g = gb.explanations[i]!.gradient[p * 3 + c]!;
          scale = Math.max(scale, Math.abs(g));
          maxErr = Math.max(maxErr, Math.abs(e.gradient[p * 3 + c]! - g * e.cam[p]!));
        }
      }
      // two compiled graphs (input gradient alone, and with the layer's): equal to float32 precision only,
      // since ORT's kernels sum in an order that depends on the graph and the CPU's vector width
      assert.ok(maxErr <= 1e-5 * scale, `max err ${maxErr} (gradient scale ${scale})`);
    });
  });

  it('writes both layouts in one pixel-major pass: the same bits as the channel-by-channel pass', () => {
    // the reference: the pass that explainGradients used before (one channel at a time, × the map)
    const reference = (src: Float32Array, cam: Float32Array | undefined, C: number, P: number) => {
      const inLayout = new Float32Array(C * P);
      const hwc = new Float32Array(C * P);
      for (let c = 0; c < C; c++) {
        for (let p = 0; p < P; p++) {
          const v = cam ? src[c * P + p]! * cam[p]! : src[c * P + p]!;
          inLayout[c * P + p] = v;
          hwc[p * C + c] = v;
        }
      }
      return { inLayout, hwc };
    };
    const P = 37 * 29;
    const cam = Float32Array.from({ length: P }, (_, p) => (p % 7 === 0 ? 0 : Math.abs(Math.sin(p * 0.31))));
    const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
    for (const C of [1, 3, 4]) {
      // signed values across magnitudes, with zeros, −0 and subnormals
      const src = Float32Array.from({ length: C * P }, (_, i) => (i % 11 === 0 ? -0 : i % 13 === 0 ? 1e-40 : Math.sin(i * 0.73) * 10 ** ((i % 9) - 4)));
      for (const m of [cam, undefined]) {
        const ref = reference(src, m, C, P);
        const out = new Float32Array(C * P);
        assert.deepEqual(bits(pixelLayouts(src, m, C, P, out)), bits(ref.hwc), `C=${C} hwc`);
        assert.deepEqual(bits(out), bits(ref.inLayout), `C=${C} model layout`);
        // in place, as for one image (the run's own output buffer)
        const own = src.slice();
        assert.deepEqual(bits(pixelLayouts(own, m, C, P, own)), bits(ref.hwc), `C=${C} hwc, in place`);
        assert.deepEqual(bits(own), bits(ref.inLayout), `C=${C} model layout, in place`);
      }
    }
  });

  it('deconvnet passes only positive gradients through rectifiers, so it differs from guided', async () => {
    const dc = await explainGradients(ex, input.data, input.shape, { method: 'deconvnet', classes: meta.classes });
    const gb = await explainGradients(ex, input.data, input.shape, { method: 'guided-backprop', classes: meta.classes });
    assert.ok(relL2(dc.explanations[0]!.gradient, gb.explanations[0]!.gradient) > 0.05);
  });

  it('deprocesses gradients as pytorch-grad-cam does, and draws magnitudes', () => {
    const g = Float32Array.from([1, -1, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0]); // 2x2, 3 channels
    const img = deprocessGradient(g, 2, 2);
    // mean 0, std sqrt(4/12) → 1 / (0.57735 + 1e-5) · 0.1 + 0.5 = 0.67320 → 171; −1 → 0.3268 → 83; 0 → 127
    assert.deepEqual(Array.from(img.data.subarray(0, 6)), [171, 83, 171, 83, 127, 127]);
    const mag = gradientMagnitude(g, 2, 2);
    assert.deepEqual(Array.from(mag.data), [255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0]);
  });
});

describe('gradcam explain with gradient methods', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-guided-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const run = (...args: string[]) => spawnSync(process.execPath, [path.join(FIXTURES, '..', '..', 'bin', 'gradcam.js'), ...args], { encoding: 'utf8' });

  for (const [model, shape] of [['resnet_like', [3, 48, 48]], ['nhwc_input', [24, 40, 3]]] as const) {
    it(`writes the picture and the raw gradient in the input layout (${model})`, () => {
      const out = path.join(tmp, model);
      const r = run('explain', path.join(FIXTURES, model, 'input.npy'), '--model', path.join(FIXTURES, model, 'model.onnx'), '--method', 'guided-backprop', '--raw', '--out', out, '--quiet', '--guided-ops', 'relu', '--class', '3');
      assert.equal(r.status, 0, r.stderr);
      const npy = parseNpy(new Uint8Array(fs.readFileSync(path.join(out, 'input_0.guided-backprop.npy'))));
      assert.deepEqual(npy.shape, shape);
      const ref = loadArray(model, 'guided_input_grad.npy');
      const per = ref.data.length / 2;
      // image 0 explained for class 3, as in the fixture
      assert.ok(relL2(toFloat32(npy), ref.data.subarray(0, per)) <= 1e-4);
      assert.ok(fs.existsSync(path.join(out, 'input_0.guided-backprop.png')));
      const json = JSON.parse(fs.readFileSync(path.join(out, 'input_1.guided-backprop.json'), 'utf8'));
      assert.equal(json.class.index, 3);
    });
  }
});
