/**
 * torchvision's detector exports (issue 21, item 5): a [C, H, W] image input, NMS inside an If subgraph,
 * the pre-NMS head read back from the graph (detect/prenms.ts), the kept boxes explained as YOLO heads are
 * (parity with PyTorch autograd on the torch model's pre-NMS outputs, scripts/fixtures/make_tv_detect_fixtures.py),
 * the command line, and the one-line refusal of a two-stage detector.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Detector } from '../src/detect/detector.js';
import type { Box } from '../src/util/boxes.js';
import { Explainer } from '../src/explainer.js';
import { batchImageInput, unbatchedImageInput } from '../src/onnx/batch.js';
import { decodeModel, declaredDims } from '../src/onnx/model.js';
import { createNodeSession } from '../src/runtime/node.js';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { encodePng } from '../src/image/png.js';
import { FIXTURES, loadArray, maxAbsError } from './helpers/fixtures.js';
import { gradcam, oneError } from './helpers/cli.js';

const load = loadArray;
const meta = (dir: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, dir, 'detect.json'), 'utf8'));

function maxAbs(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return maxAbsError(a, b);
}

const detectors: Detector[] = [];
after(async () => { for (const d of detectors) await d.release(); });
async function detector(dir: string): Promise<Detector> {
  const d = await Detector.fromBytes(new Uint8Array(fs.readFileSync(path.join(FIXTURES, dir, 'model.onnx'))), { createSession: createNodeSession, source: dir });
  detectors.push(d);
  return d;
}

describe('a [C, H, W] image input', () => {
  it('is batched: [1, C, H, W] under the same name, the model reads it through a Squeeze', () => {
    const m = decodeModel(new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'tv_ssdlite', 'model.onnx'))));
    assert.equal(unbatchedImageInput(m), 'images');
    const b = batchImageInput(m);
    assert.deepEqual(declaredDims(b.graph.input.find((i) => i.name === 'images')!), [1, 3, 320, 320]);
    assert.equal(b.graph.node[0]!.op_type, 'Squeeze');
    assert.ok(!b.graph.node.slice(1).some((n) => n.input.includes('images')), 'no node but the Squeeze reads the batched input');
    const ex = new Explainer(m, { createSession: createNodeSession });
    assert.deepEqual(ex.inputDims, [1, 3, 320, 320]);
    assert.equal(ex.layout, 'NCHW');
    // a 4-D model is left as it is
    const four = decodeModel(new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'detect_yolo', 'model.onnx'))));
    assert.equal(batchImageInput(four), four);
  });
});

describe('a classifier with a [C, H, W] input (tv_unbatched)', () => {
  const m = meta('tv_unbatched');
  const x = load('tv_unbatched', 'input.npy');
  it('explains as a batch of one: the automatic layer and Grad-CAM match PyTorch (≤ 1e-4)', async () => {
    const ex = Explainer.fromBytes(new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'tv_unbatched', 'model.onnx'))), { createSession: createNodeSession });
    try {
      assert.equal(await ex.autoLayer(), m.layer);
      const r = await ex.explain(x.data, x.shape, { classes: m.class });
      const err = maxAbs(r.explanations[0]!.map, load('tv_unbatched', 'gradcam.class2.npy').data);
      console.log(`tv_unbatched: max |error| ${err.toExponential(2)}`);
      assert.ok(err <= 1e-4);
      assert.ok(Math.abs(r.explanations[0]!.target.logit - m.values[0]) <= 1e-4);
      // two images run one at a time (the model takes one)
      const two = new Float32Array([...x.data, ...x.data]);
      const r2 = await ex.explain(two, [2, ...x.shape.slice(1)], { classes: m.class });
      assert.ok(maxAbs(r2.explanations[1]!.map, r.explanations[0]!.map) <= 1e-6);
    } finally {
      await ex.release();
    }
  });
  it('gradcam explain takes it (an .npy [1, 3, H, W] or [3, H, W])', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-unbatched-'));
    try {
      const r = gradcam('explain', path.join(FIXTURES, 'tv_unbatched', 'input.npy'), '--model', path.join(FIXTURES, 'tv_unbatched', 'model.onnx'), '--class', '2', '--raw', '--out', tmp, '--quiet');
      assert.equal(r.code, 0, r.err);
      const got = toFloat32(parseNpy(new Uint8Array(fs.readFileSync(path.join(tmp, 'input.gradcam.npy')))));
      assert.ok(maxAbs(got, load('tv_unbatched', 'gradcam.class2.npy').data) <= 1e-4);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

const NAMES: Record<string, string> = { tv_ssdlite: 'SSDlite', tv_retinanet: 'RetinaNet', tv_fcos: 'FCOS' };
for (const dir of ['tv_ssdlite', 'tv_retinanet', 'tv_fcos']) {
  describe(`torchvision ${NAMES[dir]} (NMS inside an If subgraph)`, () => {
    const m = meta(dir);
    const x = load(dir, 'input.npy');
    it('the pre-NMS head is read back from the graph; the kept boxes are the model\'s', async () => {
      const d = await detector(dir);
      assert.equal(d.head.format, 'prenms');
      assert.equal(d.head.anchors, m.anchors);
      assert.equal(d.head.classes, m.classes);
      assert.match(d.head.description, { tv_ssdlite: /boxes \[3234, 4\].*per-class score columns/, tv_retinanet: /3 feature levels, boxes \[2400 \+ 600 \+ 150, 4\]/, tv_fcos: /3 feature levels, boxes \[400 \+ 100 \+ 25, 4\]/ }[dir]!);
      const dets = (await d.detect(x.data, x.shape, { scoreThreshold: 0 }))[0]!;
      assert.equal(dets.length, m.kept_count);
      for (const [k, want] of (m.kept as { box: number[]; class: number; score: number }[]).entries()) {
        assert.equal(dets[k]!.class, want.class);
        assert.ok(Math.abs(dets[k]!.score - want.score) <= 1e-5, `${dets[k]!.score} vs ${want.score}`);
        assert.ok(dets[k]!.box.every((v, j) => Math.abs(v - want.box[j]!) <= 1e-3), `${dets[k]!.box} vs ${want.box}`);
        assert.ok(dets[k]!.anchor >= 0, 'the kept box is tied to its anchor');
      }
      // the score threshold and top K apply to the model's own kept boxes
      const top = (await d.detect(x.data, x.shape, { top: 2 }))[0]!;
      assert.deepEqual(top.map((t) => t.score), dets.slice(0, 2).map((t) => t.score));
    });
    it('Grad-CAM of kept boxes matches PyTorch on the pre-NMS outputs (≤ 1e-4): summed and FasterRCNNBoxScoreTarget', async () => {
      const d = await detector(dir);
      const dets = (await d.detect(x.data, x.shape, { top: 2 }))[0]!;
      for (const ref of m.references as { file: string; detection: number; box: Box; match: 'sum' | 'best'; iou_term: boolean; values: number[] }[]) {
        // 'best' (its IoU term) is explained for the kept box shifted by 1 px: at the anchor's own box the IoU's gradient is a tie
        const r = await d.explain(x.data, x.shape, [{ ...dets[ref.detection]!, box: ref.box }], { layer: m.layer, match: ref.match, iouTerm: ref.iou_term, iouThreshold: 0.5 });
        const e = r.explanations[0]!;
        const err = maxAbs(e.map, load(dir, ref.file).data);
        console.log(`${dir} ${ref.file}: max |error| ${err.toExponential(2)}, target ${e.targetValue} (PyTorch ${ref.values[0]})`);
        assert.ok(err <= 1e-4, `${ref.file}: ${err}`);
        assert.ok(Math.abs(e.targetValue! - ref.values[0]!) <= 1e-4 * Math.max(1, Math.abs(ref.values[0]!)));
        assert.deepEqual(e.warnings, []);
      }
    });
  });
}

describe('torchvision detectors on the command line', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-tvdetect-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  it('gradcam detect img.png --model ssdlite.onnx writes each kept box\'s map and JSON; the .npy input gives the PyTorch map', () => {
    const m = meta('tv_ssdlite');
    const x = load('tv_ssdlite', 'input.npy');
    // the fixture's input as a picture (pixels / 255 is the model's input: torchvision detectors take [0, 1])
    const [H, W] = [x.shape[2]!, x.shape[3]!];
    const rgb = new Uint8Array(H * W * 3);
    for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) rgb[i * 3 + c] = Math.round(x.data[c * H * W + i]! * 255);
    fs.writeFileSync(path.join(tmp, 'street.png'), encodePng({ width: W, height: H, channels: 3, data: rgb }));
    const model = path.join(FIXTURES, 'tv_ssdlite', 'model.onnx');
    const r = gradcam('detect', path.join(tmp, 'street.png'), '--model', model, '--top', '2', '--layer', m.layer, '--out', path.join(tmp, 'png'), '--quiet');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /street\.png: detection 0: class 3 0\.9\d \[24\d\.\d, \d+\.\d, 28\d\.\d, 21\d\.\d\]/);
    for (const k of [0, 1]) {
      assert.ok(fs.statSync(path.join(tmp, 'png', `street.det${k}.gradcam.png`)).size > 1000);
      const j = JSON.parse(fs.readFileSync(path.join(tmp, 'png', `street.det${k}.gradcam.json`), 'utf8'));
      assert.match(j.head, /^prenms: NMS inside the model's subgraph/);
      assert.equal(j.detection.class, m.kept[k].class);
    }
    const n = gradcam('detect', path.join(FIXTURES, 'tv_ssdlite', 'input.npy'), '--model', model, '--top', '1', '--layer', m.layer, '--raw', '--out', path.join(tmp, 'npy'), '--quiet');
    assert.equal(n.code, 0, n.err);
    const got = toFloat32(parseNpy(new Uint8Array(fs.readFileSync(path.join(tmp, 'npy', 'input.det0.gradcam.npy')))));
    assert.ok(maxAbs(got, load('tv_ssdlite', 'gradcam.kept0.sum.npy').data) <= 1e-4);
  });
  it('a two-stage detector (Faster R-CNN) is refused in one line that says why and what works instead', async () => {
    const model = path.join(FIXTURES, 'tv_fasterrcnn', 'model.onnx');
    const r = gradcam('detect', path.join(FIXTURES, 'tv_fasterrcnn', 'input.npy'), '--model', model, '--out', path.join(tmp, 'frcnn'));
    assert.equal(r.code, 1, r.err);
    oneError(r.err, /is a two-stage detector \(Faster\/Mask\/Keypoint R-CNN: its boxes come from region proposals cropped by RoiAlign, whose gradient gradcam does not compute\), so its boxes cannot be explained; single-stage detectors work: torchvision's SSD\/SSDlite, RetinaNet and FCOS exports, YOLO exports, and any raw head of boxes and scores \(--box-format\)$/);
    assert.ok(!fs.existsSync(path.join(tmp, 'frcnn')));
    await assert.rejects(Detector.fromBytes(new Uint8Array(fs.readFileSync(model)), { createSession: createNodeSession, source: 'frcnn.onnx' }), /^InputError: frcnn\.onnx is a two-stage detector/);
  });
});

describe('gradcam explain on a detector with NMS inside', () => {
  it('is refused in one line naming gradcam detect (its outputs are kept boxes, not class scores)', () => {
    for (const dir of ['tv_retinanet', 'detect_nms']) {
      const r = gradcam('explain', path.join(FIXTURES, dir, 'input.npy'), '--model', path.join(FIXTURES, dir, 'model.onnx'), '--method', 'eigencam', '--out', path.join(os.tmpdir(), `gradcam-refused-${process.pid}`));
      assert.notEqual(r.code, 0, dir);
      const lines = r.err.trim().split('\n');
      assert.equal(lines.length, 1, r.err);
      assert.match(lines[0]!, /is a detector \(NonMaxSuppression in its graph\): its outputs are kept boxes, not class scores; explain its detections with 'gradcam detect'/);
      assert.ok(!fs.existsSync(path.join(os.tmpdir(), `gradcam-refused-${process.pid}`)), 'no partial output');
    }
  });
});
