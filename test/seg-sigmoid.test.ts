/**
 * One-plane sigmoid segmenters (issue 21, item 6): the region of `--target segmentation` is
 * output > threshold (0.5 after a final Sigmoid, 0 before it), the score is the pre-sigmoid logit, and a
 * class asked of a dense output without `--target segmentation` is one error, the same on every path.
 * References: scripts/fixtures/make_tv_detect_fixtures.py (seg_sigmoid: PyTorch autograd on the logit plane).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { scoreTensor } from '../src/autodiff/compiler.js';
import { createNodeSession } from '../src/runtime/node.js';
import { parseNpy, toFloat32, writeNpy } from '../src/image/npy.js';
import { FIXTURES, loadArray, maxAbsError } from './helpers/fixtures.js';
import { gradcam, oneError } from './helpers/cli.js';

const dir = 'seg_sigmoid';
const meta = JSON.parse(fs.readFileSync(path.join(FIXTURES, dir, 'detect.json'), 'utf8'));

const load = loadArray;
function maxAbs(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return maxAbsError(a, b);
}

const explainers: Explainer[] = [];
function explainer(d: string, file = 'model.onnx'): Explainer {
  const ex = Explainer.fromBytes(new Uint8Array(fs.readFileSync(path.join(FIXTURES, d, file))), { createSession: createNodeSession, source: `${d}/${file}` });
  explainers.push(ex);
  return ex;
}
after(async () => { for (const e of explainers) await e.release(); });

/** The dense-output error, whatever the path. */
const DENSE = /the output 'segmentation' is \[2, 3, 32, 32\], a map rather than \[batch, classes\]: a class alone would pick one of its 3072 values per image; explain a class over a region with --target segmentation --class C/;

describe('one-plane sigmoid segmenter', () => {
  const x = load(dir, 'input.npy');
  it('the score is the logit: the final Sigmoid is stripped from a one-plane output only', () => {
    const ex = explainer(dir);
    assert.notEqual(scoreTensor(ex.model, 'mask'), 'mask');
    const producer = ex.model.graph.node.find((n) => n.output.includes('mask'))!;
    assert.equal(producer.op_type, 'Sigmoid');
    assert.equal(scoreTensor(ex.model, 'mask'), producer.input[0]);
  });
  for (const ref of meta.references as { file: string; threshold: number; mask_pixels: number[]; values: number[] }[]) {
    it(`region sigmoid > ${ref.threshold}, logit score: Grad-CAM matches PyTorch (≤ 1e-4) at the automatic layer`, async () => {
      const ex = explainer(dir);
      assert.equal(await ex.autoLayer(), meta.layer);
      const threshold = ref.threshold === 0.5 ? undefined : ref.threshold;
      const r = await ex.explain(x.data, x.shape, { target: { kind: 'segmentation', threshold } });
      const got = new Float32Array(r.explanations.flatMap((e) => [...e.map]));
      const e = maxAbs(got, load(dir, ref.file).data);
      console.log(`${dir} ${ref.file}: max |error| ${e.toExponential(2)}`);
      assert.ok(e <= 1e-4, `${ref.file}: ${e}`);
      // the region's pixel count and the target's value (Σ logit over the region) are PyTorch's
      assert.deepEqual(r.explanations.map((z) => z.targetName), ref.mask_pixels.map((p) => `segmentation 0 (${p} px)`));
      r.explanations.forEach((z, i) => assert.ok(Math.abs(z.targetValue! - ref.values[i]!) <= 1e-3 * Math.abs(ref.values[i]!), `${z.targetValue} vs ${ref.values[i]}`));
    });
  }
  it('without the Sigmoid (logits.onnx) the default threshold is 0: the same region and map', async () => {
    const ex = explainer(dir, 'logits.onnx');
    assert.equal(scoreTensor(ex.model, 'mask'), 'mask');
    const ref = meta.references[0];
    const r = await ex.explain(x.data, x.shape, { target: { kind: 'segmentation' } });
    const got = new Float32Array(r.explanations.flatMap((e) => [...e.map]));
    assert.ok(maxAbs(got, load(dir, ref.file).data) <= 1e-4);
    assert.deepEqual(r.explanations.map((z) => z.targetName), ref.mask_pixels.map((p: number) => `segmentation 0 (${p} px)`));
  });
  it('a threshold outside (0, 1) after a Sigmoid, and a threshold on a multi-plane output, are clear errors', async () => {
    const ex = explainer(dir);
    await assert.rejects(ex.explain(x.data, x.shape, { target: { kind: 'segmentation', threshold: 1.5 } }), /the segmentation threshold applies to the output of the model's final Sigmoid: give one between 0 and 1 \(exclusive\), not 1.5/);
    const seg = explainer('detect_seg');
    const xs = load('detect_seg', 'input.npy');
    await assert.rejects(seg.explain(xs.data, xs.shape, { target: { kind: 'segmentation', threshold: 0.5 } }), /the segmentation threshold applies to one-plane outputs .*; this one has 3 class planes/);
  });
  it('the command line: --target segmentation --seg-threshold 0.7 writes the PyTorch map', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-segsig-'));
    try {
      const per = x.data.length / x.shape[0]!;
      fs.writeFileSync(path.join(tmp, 'one.npy'), writeNpy(x.data.slice(0, per), x.shape.slice(1)));
      const ref = meta.references.find((r: { threshold: number }) => r.threshold === 0.7);
      const r = gradcam('explain', path.join(tmp, 'one.npy'), '--model', path.join(FIXTURES, dir, 'model.onnx'), '--target', 'segmentation', '--seg-threshold', '0.7', '--raw', '--out', path.join(tmp, 'o'), '--quiet');
      assert.equal(r.code, 0, r.err);
      const got = toFloat32(parseNpy(new Uint8Array(fs.readFileSync(path.join(tmp, 'o', 'one.gradcam.npy')))));
      assert.ok(maxAbs(got, load(dir, ref.file).data.slice(0, got.length)) <= 1e-4);
      const bad = gradcam('explain', path.join(tmp, 'one.npy'), '--model', path.join(FIXTURES, dir, 'model.onnx'), '--seg-threshold', '0.7', '--out', path.join(tmp, 'o2'));
      assert.equal(bad.code, 2);
      oneError(bad.err, /--seg-threshold goes with --target segmentation/);
      // --class alone on the one-plane output: the dense-output error, nothing written
      const dense = gradcam('explain', path.join(tmp, 'one.npy'), '--model', path.join(FIXTURES, dir, 'model.onnx'), '--class', '0', '--out', path.join(tmp, 'o3'));
      assert.equal(dense.code, 1, dense.err);
      oneError(dense.err, /the output 'mask' is \[1, 1, 32, 32\], a map rather than \[batch, classes\].*--target segmentation --class C/);
      assert.ok(!fs.existsSync(path.join(tmp, 'o3')) || fs.readdirSync(path.join(tmp, 'o3')).length === 0);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('a class of a dense output without --target segmentation', () => {
  const x = load('detect_seg', 'input.npy');
  it('is the same error for Grad-CAM, HiResCAM, Eigen-CAM, the gradient methods, and the top class', async () => {
    const ex = explainer('detect_seg');
    for (const method of ['gradcam', 'hirescam', 'eigencam', 'guided-gradcam', 'saliency']) {
      await assert.rejects(ex.explain(x.data, x.shape, { method, classes: 2 }), DENSE, method);
    }
    await assert.rejects(ex.explain(x.data, x.shape, {}), DENSE, 'top class');
  });
  it('on the command line: explain and audit say it in one line', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-dense-'));
    try {
      const per = x.data.length / x.shape[0]!;
      fs.writeFileSync(path.join(tmp, 'one.npy'), writeNpy(x.data.slice(0, per), x.shape.slice(1)));
      const model = path.join(FIXTURES, 'detect_seg', 'model.onnx');
      const want = /the output 'segmentation' is \[1, 3, 32, 32\], a map rather than \[batch, classes\]: a class alone would pick one of its 3072 values per image; explain a class over a region with --target segmentation --class C/;
      for (const args of [['explain', '--class', '2'], ['explain', '--class', '2', '--method', 'eigencam'], ['explain', '--class', '2', '--method', 'guided-gradcam']]) {
        const r = gradcam(args[0]!, path.join(tmp, 'one.npy'), '--model', model, ...args.slice(1), '--out', path.join(tmp, 'o'), '--quiet');
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
        oneError(r.err, want);
      }
      const a = gradcam('audit', path.join(tmp, 'one.npy'), '--model', model, '--class', '2', '--out', path.join(tmp, 'audit'), '--quiet');
      assert.equal(a.code, 3, a.err); // the image is an error row, with the same message
      const rows = fs.readFileSync(path.join(tmp, 'audit', 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(rows.length, 1);
      assert.match(rows[0].error, want);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
