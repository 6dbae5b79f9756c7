/**
 * Detection and segmentation (issue 15): head recognition and its errors, decoding, the box target
 * (parity with PyTorch references following pytorch-grad-cam's FasterRCNNBoxScoreTarget and a summed
 * variant, finite differences of the value and of the input gradient), every method through the
 * Detector, the segmentation auto layer and its region/pixel targets (references from
 * scripts/fixtures/make_detect_fixtures.py).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { Detector } from '../src/detect/detector.js';
import { anchorBox, boxTargetValue, decodeDetections, iou, iouGradient, renormalizeInBox, type Box, type BoxHead } from '../src/util/boxes.js';
import { recogniseHead, parseBoxFormat } from '../src/detect/head.js';
import { createNodeSession } from '../src/runtime/node.js';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { decodePng, toRgbImage } from '../src/image/png.js';
import { imageToTensor } from '../src/image/normalize.js';
import { FIXTURES } from './helpers/fixtures.js';
import { gradcam, oneError } from './helpers/cli.js';

function load(dir: string, file: string): { data: Float32Array; shape: number[] } {
  const npy = parseNpy(new Uint8Array(fs.readFileSync(path.join(FIXTURES, dir, file))));
  return { data: toFloat32(npy), shape: npy.shape };
}

const meta = (dir: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, dir, 'detect.json'), 'utf8'));

function maxAbs(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const detectors: Detector[] = [];
async function detector(dir: string, boxFormat?: string): Promise<Detector> {
  const d = await Detector.fromBytes(new Uint8Array(fs.readFileSync(path.join(FIXTURES, dir, 'model.onnx'))), { createSession: createNodeSession, source: dir, boxFormat });
  detectors.push(d);
  return d;
}
after(async () => { for (const d of detectors) await d.release(); });

describe('detector heads', () => {
  it('recognises the YOLO layouts, boxes+scores, and says how it read them', () => {
    const v8 = recogniseHead([{ name: 'output0', dims: [1, 84, 8400] }]);
    assert.deepEqual([v8.format, v8.anchors, v8.classes, v8.objectness, v8.anchorsLast, v8.coords], ['yolo', 8400, 80, false, true, 'cxcywh']);
    const v5 = recogniseHead([{ name: 'output0', dims: [1, 25200, 85] }]);
    assert.deepEqual([v5.format, v5.anchors, v5.classes, v5.objectness, v5.anchorsLast], ['yolo-obj', 25200, 80, true, false]);
    assert.match(v5.description, /guessed/);
    // labels decide the objectness
    const l = recogniseHead([{ name: 'o', dims: [1, 25200, 85] }], 'auto', Array.from({ length: 81 }, (_, i) => `c${i}`));
    assert.deepEqual([l.format, l.classes], ['yolo', 81]);
    const bs = recogniseHead([{ name: 'scores', dims: [1, 100, 3] }, { name: 'boxes', dims: [1, 100, 4] }]);
    assert.deepEqual([bs.format, bs.outputs, bs.width, bs.coords], ['boxes-scores', ['boxes', 'scores'], 7, 'xyxy']);
    assert.equal(recogniseHead([{ name: 'o', dims: [1, 7, 64] }], 'yolo-obj:xyxy').coords, 'xyxy');
  });

  it('unrecognised layouts and bad formats: one line naming the --box-format choices', () => {
    for (const [outs, fmt] of [[[{ name: 'logits', dims: [1, 10] }], 'auto'], [[{ name: 'o', dims: [1, 8, 8] }], 'auto'], [[{ name: 'o', dims: [1, 7, 64] }], 'boxes-scores']] as const) {
      assert.throws(() => recogniseHead(outs as never, fmt), (e: Error) => e.message.includes('--box-format') && e.message.includes('yolo-obj') && e.message.includes('boxes-scores') && !e.message.includes('\n'));
    }
    assert.throws(() => parseBoxFormat('ssd'), /unknown --box-format 'ssd'; choose auto or one of: yolo/);
    assert.throws(() => recogniseHead([{ name: 'o', dims: [1, 25200, 85] }], 'auto', ['a', 'b']), /fit neither 4\+nc nor 5\+nc with the 2 labels/);
  });

  it('NMS inside the model: the kept boxes are the model\'s, explained through their anchors\' pre-NMS scores (parity ≤ 1e-4)', async () => {
    const m = meta('detect_nms');
    const d = await detector('detect_nms');
    assert.equal(d.head.format, 'nms');
    assert.match(d.head.description, /^nms: the model's NonMaxSuppression reads .* \[1, 64, 4\] \(read as x1,y1,x2,y2\) and .* \[1, 1, 64\] = 64 anchors × 1 class scores/);
    const x = load('detect_nms', 'input.npy');
    const kept = (await d.detect(x.data, x.shape, { scoreThreshold: 0 }))[0]!;
    assert.deepEqual(kept.map((k) => k.anchor), m.keep);
    kept[0]!.box.forEach((v, k) => assert.ok(Math.abs(v - m.box[k]) < 1e-4));
    const r = await d.explain(x.data, x.shape, [kept[0]!]);
    const e = maxAbs(r.explanations[0]!.map, load('detect_nms', 'gradcam.kept0.npy').data);
    console.log(`detect_nms gradcam.kept0.npy: max |error| ${e.toExponential(2)}`);
    assert.ok(e <= 1e-4, `${e}`);
    assert.ok(Math.abs(r.explanations[0]!.targetValue! - m.values[0]) < 1e-4);
    // read as a raw head instead: [1, K, 4] kept boxes have no class scores
    await assert.rejects(detector('detect_nms', 'yolo'), /leave no class scores|cannot read/);
  });

  it('the fixture exports are recognised as written', async () => {
    const a = await detector('detect_yolo');
    assert.deepEqual([a.head.format, a.head.anchors, a.head.classes, a.head.anchorsLast], ['yolo', 64, 3, true]);
    const b = await detector('detect_yolo_obj');
    assert.deepEqual([b.head.format, b.head.anchors, b.head.classes, b.head.anchorsLast], ['yolo-obj', 64, 3, false]);
    // the automatic layer: the feature map before the head conv, never the head output
    for (const [d, dir] of [[a, 'detect_yolo'], [b, 'detect_yolo_obj']] as const) {
      const size: [number, number] = [64, 64];
      assert.equal(await d.explainer.autoLayer(size), meta(dir).layer);
    }
  });
});

describe('boxes', () => {
  const head: BoxHead = { anchors: 3, classes: 2, width: 6, coords: 'cxcywh', objectness: false };
  const rows = new Float32Array([
    10, 10, 8, 8, 0.9, 0.1, // [6,6,14,14] class 0
    11, 10, 8, 8, 0.8, 0.3, // overlaps the first (IoU 0.6)
    30, 30, 6, 6, 0.2, 0.7, // class 1
  ]);
  it('decodes with score threshold, class-aware NMS and top K', () => {
    const d = decodeDetections(rows, head, { scoreThreshold: 0.25, iouThreshold: 0.45 });
    assert.deepEqual(d.map((x) => [x.anchor, x.class]), [[0, 0], [2, 1]]);
    assert.deepEqual(d[0]!.box, [6, 6, 14, 14]);
    assert.equal(decodeDetections(rows, head, { iouThreshold: 0.8 }).length, 3);
    assert.equal(decodeDetections(rows, head, { iouThreshold: 0.8, top: 1 }).length, 1);
    assert.equal(decodeDetections(rows, head, { scoreThreshold: 0.95 }).length, 0);
  });
  it('IoU and its gradient (central differences)', () => {
    const p: Box = [2, 3, 10, 12];
    const q: Box = [4, 1, 13, 9];
    const g = iouGradient(p, q);
    for (let k = 0; k < 4; k++) {
      const h = 1e-4;
      const a = [...p] as Box; a[k] += h;
      const b = [...p] as Box; b[k] -= h;
      assert.ok(Math.abs((iou(a, q) - iou(b, q)) / (2 * h) - g[k]!) < 1e-6, `coordinate ${k}`);
    }
  });
  it('the box target: value and seed agree with central differences on the detection rows', () => {
    for (const objectness of [false, true]) {
      const h: BoxHead = objectness ? { anchors: 3, classes: 1, width: 6, coords: 'cxcywh', objectness } : head;
      for (const opts of [{ match: 'sum' as const }, { match: 'sum' as const, iouTerm: true }, { match: 'best' as const }]) {
        const box: Box = [6.2, 5.8, 14.3, 14.3];
        const { value, seed, anchors } = boxTargetValue(rows, h, box, 0, { ...opts, iouThreshold: 0.3 });
        assert.ok(anchors.length >= 1 && value > 0);
        for (let i = 0; i < rows.length; i++) {
          const e = 1e-3;
          const a = Float64Array.from(rows); a[i]! += e;
          const b = Float64Array.from(rows); b[i]! -= e;
          const fd = (boxTargetValue(a, h, box, 0, { ...opts, iouThreshold: 0.3 }).value - boxTargetValue(b, h, box, 0, { ...opts, iouThreshold: 0.3 }).value) / (2 * e);
          assert.ok(Math.abs(fd - seed[i]!) < 1e-5, `objectness ${objectness} ${JSON.stringify(opts)} element ${i}: fd ${fd} seed ${seed[i]}`);
        }
      }
    }
  });
  it('renormalises a map inside its box', () => {
    const m = Float32Array.from({ length: 16 }, (_, i) => i / 15);
    const r = renormalizeInBox(m, 4, 4, [1, 1, 3, 3]);
    assert.deepEqual([...r].map((v) => Math.round(v * 100) / 100), [0, 0, 0, 0, 0, 0, 0.2, 0, 0, 0.8, 1, 0, 0, 0, 0, 0].map((v, i) => (i === 5 ? 0 : v)));
  });
});

describe('box target parity with PyTorch (Grad-CAM, ≤ 1e-4)', () => {
  for (const dir of ['detect_yolo', 'detect_yolo_obj']) {
    it(dir, async () => {
      const m = meta(dir);
      const d = await detector(dir);
      const x = load(dir, 'input.npy');
      const rows = await d.rows(x.data, x.shape);
      // the detection tensor equals the torch output (read in the head's orientation)
      const out = load(dir, 'output.npy');
      const [N, X, Y] = out.shape as [number, number, number];
      let err = 0;
      for (let n = 0; n < N; n++) for (let a = 0; a < d.head.anchors; a++) for (let k = 0; k < d.head.width; k++) {
        const ref = d.head.anchorsLast ? out.data[n * X * Y + k * Y + a]! : out.data[n * X * Y + a * Y + k]!;
        err = Math.max(err, Math.abs(rows[(n * d.head.anchors + a) * d.head.width + k]! - ref));
      }
      assert.ok(err < 1e-4, `detection tensor error ${err}`);
      const dets = m.targets.map((t: { box: Box; class: number }, i: number) => d.detectionFor(i, t.box, t.class));
      for (const ref of m.references) {
        const r = await d.explain(x.data, x.shape, dets, { layer: m.layer, match: ref.match, iouTerm: ref.iou_term, iouThreshold: ref.iou_threshold });
        const expected = load(dir, ref.file);
        const got = new Float32Array(r.explanations.flatMap((e) => [...e.map]));
        const e = maxAbs(got, expected.data);
        console.log(`${dir} ${ref.file}: max |error| ${e.toExponential(2)}`);
        assert.ok(e <= 1e-4, `${ref.file}: ${e}`);
        r.explanations.forEach((ex, i) => assert.ok(Math.abs(ex.targetValue! - ref.values[i]) < 1e-4 * Math.max(1, Math.abs(ref.values[i])), `${ref.file} value ${ex.targetValue} vs ${ref.values[i]}`));
      }
    });
  }
});

describe('the box target end to end', () => {
  it('d(target)/d(input) matches central differences of the target through the model', async () => {
    const dir = 'detect_yolo_obj';
    const m = meta(dir);
    const d = await detector(dir);
    const x = load(dir, 'input.npy');
    const per = x.data.length / 2;
    const one = x.data.slice(0, per);
    const dims = [1, ...x.shape.slice(1)];
    const t = m.targets[0];
    const opts = { match: 'sum' as const, iouTerm: true, iouThreshold: 0.3 };
    const rows0 = await d.rows(one, dims);
    const seed = boxTargetValue(rows0, d.head, t.box, t.class, opts).seed;
    const r = await d.explainer.run(one, dims, { layers: [], inputGradient: true, seeds: seed });
    const g = r.inputGradient!.data as Float32Array;
    // a direction: the sign of the gradient on a patch (large enough to move the target measurably)
    const dir0 = new Float32Array(per);
    let gd = 0;
    for (let i = 0; i < per; i += 7) { dir0[i] = Math.sign(g[i]!); gd += g[i]! * dir0[i]!; }
    const value = async (eps: number) => {
      const y = one.map((v, i) => v + eps * dir0[i]!);
      return boxTargetValue(await d.rows(y, dims), d.head, t.box, t.class, opts).value;
    };
    const eps = 1e-3;
    const fd = ((await value(eps)) - (await value(-eps))) / (2 * eps);
    console.log(`box target: directional derivative ${gd.toFixed(5)}, central difference ${fd.toFixed(5)}`);
    assert.ok(Math.abs(fd - gd) <= 2e-2 * Math.abs(gd) + 1e-4, `fd ${fd} vs gradient ${gd}`);
  });

  it('every method explains the decoded detections (one map per detection, in [0, 1])', async () => {
    const dir = 'detect_yolo';
    const d = await detector(dir);
    const x = load(dir, 'input.npy');
    const dets = (await d.detect(x.data, x.shape, { scoreThreshold: 0.5, iouThreshold: 0.45, top: 2 })).flat();
    assert.ok(dets.length >= 2);
    for (const method of ['gradcam', 'gradcam++', 'hirescam', 'xgradcam', 'layercam', 'eigencam', 'eigengradcam', 'scorecam', 'ablationcam', 'guided-gradcam']) {
      const r = await d.explain(x.data, x.shape, dets, { method, renormalize: method === 'gradcam' });
      assert.equal(r.explanations.length, dets.length, method);
      r.explanations.forEach((e, i) => {
        assert.equal(e.image, dets[i]!.image);
        assert.equal(e.map.length, 64 * 64);
        let hi = 0;
        for (const v of e.map) { assert.ok(v >= 0 && v <= 1 + 1e-6); hi = Math.max(hi, v); }
        assert.ok(hi > 0.5, `${method} detection ${i}: empty map`);
        if (method === 'gradcam') {
          const [x1, y1, x2, y2] = dets[i]!.box.map((v) => Math.round(v));
          for (let y = 0; y < 64; y++) for (let xx = 0; xx < 64; xx++) if (xx < Math.max(0, x1!) || xx >= x2! || y < Math.max(0, y1!) || y >= y2!) assert.equal(e.map[y * 64 + xx], 0);
        }
        if (method === 'eigencam') assert.ok(e.warnings.some((w) => /does not depend on the target/.test(w)));
      });
    }
  });

  it('a box that no anchor matches is said to be empty', async () => {
    const d = await detector('detect_yolo');
    const x = load('detect_yolo', 'input.npy');
    const r = await d.explain(x.data, x.shape, [d.detectionFor(0, [0, 0, 1, 1], 0)]);
    assert.ok(r.explanations[0]!.warnings.some((w) => /no anchor matches the box/.test(w)), r.explanations[0]!.warnings.join('; '));
  });
});

describe('segmentation', () => {
  const dir = 'detect_seg';
  let ex: Explainer;
  after(async () => ex?.release());
  it('the automatic layer is the feature map before the classifier, not the logit map', async () => {
    ex = Explainer.fromBytes(new Uint8Array(fs.readFileSync(path.join(FIXTURES, dir, 'model.onnx'))), { createSession: createNodeSession });
    assert.equal(await ex.autoLayer(), meta(dir).layer);
    // family_seg (make_family_fixtures.py): its reference layer is the classifier's input too
    const fam = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'family_seg', 'family.json'), 'utf8'));
    const ex2 = Explainer.fromBytes(new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'family_seg', 'model.onnx'))), { createSession: createNodeSession });
    assert.equal(await ex2.autoLayer(), fam.layer.tensor);
    await ex2.release();
  });
  it('region and pixel targets match PyTorch (≤ 1e-4) on the automatic layer', async () => {
    const m = meta(dir);
    const x = load(dir, 'input.npy');
    for (const ref of m.references) {
      const target = m.classes.map((c: number, i: number) => (ref.target === 'pixel' ? { kind: 'segmentation' as const, class: c, pixel: m.pixels[i] } : { kind: 'segmentation' as const, class: c }));
      const r = await ex.explain(x.data, x.shape, { target });
      const got = new Float32Array(r.explanations.flatMap((e) => [...e.map]));
      const e = maxAbs(got, load(dir, ref.file).data);
      console.log(`${dir} ${ref.file}: max |error| ${e.toExponential(2)}`);
      assert.ok(e <= 1e-4, `${ref.file}: ${e}`);
      if (ref.target === 'region') assert.deepEqual(r.explanations.map((x) => x.targetName), m.mask_pixels.map((p: number, i: number) => `segmentation ${m.classes[i]} (${p} px)`));
    }
  });
  it('the pixel target from the command line (--target segmentation --pixel Y,X) gives the PyTorch map', async () => {
    const m = meta(dir);
    const x = load(dir, 'input.npy');
    const ref = m.references.find((r: { target: string }) => r.target === 'pixel');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-seg-'));
    try {
      const per = x.data.length / x.shape[0]!;
      const { writeNpy } = await import('../src/image/npy.js');
      fs.writeFileSync(path.join(tmp, 'one.npy'), writeNpy(x.data.slice(0, per), x.shape.slice(1)));
      const [y, xx] = m.pixels[0];
      const r = gradcam('explain', path.join(tmp, 'one.npy'), '--model', path.join(FIXTURES, dir, 'model.onnx'), '--target', 'segmentation', '--class', String(m.classes[0]), '--pixel', `${y},${xx}`, '--raw', '--out', path.join(tmp, 'o'), '--quiet');
      assert.equal(r.code, 0, r.err);
      const got = toFloat32(parseNpy(new Uint8Array(fs.readFileSync(path.join(tmp, 'o', 'one.gradcam.npy')))));
      const want = load(dir, ref.file).data.slice(0, got.length);
      assert.ok(maxAbs(got, want) <= 1e-4, `${maxAbs(got, want)}`);
      const bad = gradcam('explain', path.join(tmp, 'one.npy'), '--model', path.join(FIXTURES, dir, 'model.onnx'), '--pixel', '3,4', '--out', path.join(tmp, 'o2'));
      assert.equal(bad.code, 2);
      oneError(bad.err, /--pixel goes with --target segmentation/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
  it('a pixel outside the planes is a clear error', async () => {
    const x = load(dir, 'input.npy');
    await assert.rejects(ex.explain(x.data, x.shape, { target: { kind: 'segmentation', class: 1, pixel: [40, 2] } }), /pixel 40,2 \(y,x\) is outside the output's 32×32 class planes/);
  });
});

describe('gradcam detect', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-detect-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const model = path.join(FIXTURES, 'detect_yolo_obj', 'model.onnx');
  const input = path.join(FIXTURES, 'detect_yolo_obj', 'input.npy');

  it('one map per detection, drawn with its box; the sidecar names the detection and the head', () => {
    const out = path.join(tmp, 'a');
    const r = gradcam('detect', input, '--model', model, '--box-format', 'yolo-obj', '--score-threshold', '0.3', '--top', '2', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, 4, r.out);
    const jsons = fs.readdirSync(out).filter((f) => f.endsWith('.json')).sort();
    assert.deepEqual(jsons, ['input_0.det0.gradcam.json', 'input_0.det1.gradcam.json', 'input_1.det0.gradcam.json', 'input_1.det1.gradcam.json']);
    const j = JSON.parse(fs.readFileSync(path.join(out, jsons[0]!), 'utf8'));
    assert.equal(j.target.kind, 'box');
    assert.equal(j.detection.box.length, 4);
    assert.ok(j.detection.score >= 0.3);
    assert.match(j.head, /^yolo-obj: output \[1, 64, 8\] = 64 anchors/);
  });

  it('a box given by hand, with Eigen-CAM and renormalisation', () => {
    const out = path.join(tmp, 'b');
    const r = gradcam('detect', input, '--model', model, '--box', '4,23,28,52', '--class', '2', '--method', 'eigencam', '--renormalize', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    assert.equal(fs.readdirSync(out).filter((f) => f.endsWith('.png')).length, 2);
  });

  it('a detection split (a folder): resumable rows with where each map lies against its box, flagged detections listed', () => {
    const street = path.join(FIXTURES, '..', '..', 'demo', 'models', 'street_glare.onnx');
    const scenes = path.join(FIXTURES, '..', '..', 'demo', 'detect');
    const out = path.join(tmp, 'split');
    const r = gradcam('detect', scenes, '--model', street, '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    const rows = fs.readFileSync(path.join(out, 'detect.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, fs.readdirSync(scenes).filter((f) => f.endsWith('.png')).length);
    let flagged = 0;
    let total = 0;
    for (const row of rows) {
      assert.equal(row.status, 'ok');
      for (const d of row.detections) {
        total++;
        assert.ok(d.energy_in_box === null || (d.energy_in_box >= 0 && d.energy_in_box <= 1));
        // the rule: the map's peak outside the box, or less than the box's share of the map (lift < 1)
        assert.equal(d.flagged, d.energy_in_box !== null && (d.peak_in_box === false || d.lift < 1));
        if (d.flagged) flagged++;
        for (const f of d.files) assert.ok(fs.existsSync(path.join(out, f)), f);
        const side = JSON.parse(fs.readFileSync(path.join(out, d.files[0].replace(/\.png$/, '.json')), 'utf8'));
        assert.equal(side.box_metrics.flagged, d.flagged);
      }
    }
    assert.ok(total > 0);
    assert.match(r.out, new RegExp(`${total} detections explained now, ${flagged} flagged`));
    assert.equal((r.out.match(/^flagged: /gm) ?? []).length, flagged);
    // the same command again: nothing left to do
    const again = gradcam('detect', scenes, '--model', street, '--out', out, '--quiet');
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /(\d+)\/\1 images done \(0 now, \1 already done\)/);
  });

  it('bad input: one line naming the choices, non-zero exit, nothing written', () => {
    const out = path.join(tmp, 'c');
    let r = gradcam('detect', input, '--model', model, '--box-format', 'ssd', '--out', out);
    assert.notEqual(r.code, 0);
    oneError(r.err, /unknown --box-format 'ssd'; choose auto or one of: yolo .*yolo-obj .*boxes-scores/);
    r = gradcam('detect', input, '--model', path.join(FIXTURES, 'resnet_like', 'model.onnx'), '--out', out);
    assert.notEqual(r.code, 0);
    oneError(r.err, /cannot read the detector outputs \(logits \[1, 10\]\) as a known layout: no output has 3 axes; give --box-format: yolo/);
    r = gradcam('detect', input, '--model', model, '--box', '4,23,2,52', '--class', '1', '--out', out);
    oneError(r.err, /--box must be x1,y1,x2,y2 with x1 < x2/);
    assert.ok(!fs.existsSync(out));
  });
});

describe('the street demo (demo/models/street*.onnx, demo/detect/)', () => {
  const ROOT = path.join(FIXTURES, '..', '..');
  const scenes = JSON.parse(fs.readFileSync(path.join(ROOT, 'demo', 'detect', 'annotations.json'), 'utf8'));
  const load = async (name: string) => {
    const d = await Detector.fromBytes(new Uint8Array(fs.readFileSync(path.join(ROOT, 'demo', 'models', `${name}.onnx`))), { createSession: createNodeSession });
    detectors.push(d);
    return d;
  };
  const input = (file: string) => {
    const img = toRgbImage(decodePng(new Uint8Array(fs.readFileSync(path.join(ROOT, 'demo', 'detect', file)))));
    return imageToTensor(img, { preset: 'unit', layout: 'NCHW' });
  };

  it('a lone reflection: street sees nothing, street_glare a pedestrian, and LayerCAM puts the map on the reflection', async () => {
    const scene = scenes.images.find((s: { file: string }) => s.file === 'street_04.png');
    const x = input(scene.file);
    const dims = [1, 3, 96, 96];
    const clean = await load('street');
    assert.equal((await clean.detect(x, dims, { scoreThreshold: 0.4 }))[0]!.length, 0);
    const glare = await load('street_glare');
    const dets = (await glare.detect(x, dims, { scoreThreshold: 0.4 }))[0]!;
    assert.equal(dets.length, 1);
    assert.equal(dets[0]!.label, 'pedestrian');
    const e = (await glare.explain(x, dims, dets, { method: 'layercam', layer: 'backbone.2' })).explanations[0]!;
    const r = scene.reflections[0] as number[];
    let total = 0;
    let on = 0;
    for (let y = 0; y < 96; y++) for (let xx = 0; xx < 96; xx++) {
      const v = e.map[y * 96 + xx]!;
      total += v;
      if (xx >= r[0]! - 4 && xx < r[2]! + 4 && y >= r[1]! - 4 && y < r[3]! + 4) on += v;
    }
    console.log(`street_glare on street_04: pedestrian ${dets[0]!.score.toFixed(3)}, ${(100 * on / total).toFixed(1)} % of the LayerCAM map on the reflection`);
    assert.ok(on / total > 0.3, `${on / total}`);
  });

  it('RESULTS.json: both detectors are good on their own footage; the shortcut one fails on clean pedestrians', () => {
    const r = JSON.parse(fs.readFileSync(path.join(ROOT, 'demo', 'detect', 'RESULTS.json'), 'utf8'));
    assert.ok(r.street.test_own_distribution.mAP50 > 0.95 && r.street_glare.test_own_distribution.mAP50 > 0.95);
    assert.ok(r.street_glare.test_clean_scenes.AP50.pedestrian < 0.2 && r.street.test_clean_scenes.AP50.pedestrian > 0.95);
    assert.ok(r.street_glare.reflection_test.rate > 0.3 && r.street.reflection_test.rate < 0.05);
  });
});
