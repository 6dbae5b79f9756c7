/** Metrics on constructed cases with known answers: similarity, ROAD imputation, faithfulness, localisation, annotations. */
import { describe, it, after, before } from 'node:test';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { rankdata, pearson, spearman, ssim, hog, hogSimilarity } from '../src/metrics/similarity.js';
import { sobel } from '../src/metrics/edges.js';
import { conjugateGradient, csrFromTriplets, gridMultigrid } from '../src/metrics/cg.js';
import { linearImpute, noisyLinearImpute } from '../src/metrics/road.js';
import { auc, faithfulness, deletion, insertion, gaussianBlur, rankPixels, type ImageInput } from '../src/metrics/faithfulness.js';
import type { Forward } from '../src/metrics/forward.js';
import { plainForward } from '../src/metrics/forward.js';
import { boxIoU, boxMask, energyPointing, localisation, maskIoU, pointingGame, largestSegmentBox, type Box } from '../src/metrics/localisation.js';
import { parseAnnotations, findAnnotation, groundTruthFor, cocoCountsFromString } from '../src/metrics/annotations.js';
import { methodMaps } from '../src/metrics/maps.js';
import { Explainer } from '../src/explainer.js';
import { decodeModel, encodeModel } from '../src/onnx/model.js';
import { createNodeSession } from '../src/runtime/node.js';
import { runEvaluate } from '../src/cli/evaluate.js';
import { FIXTURES, loadArray, modelBytes } from './helpers/fixtures.js';

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tol ${tol})`);

/** Two smooth test maps, the same formulas as the scikit-image goldens below. */
function waves(H: number, W: number) {
  const a = new Float64Array(H * W);
  const b = new Float64Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    a[y * W + x] = 0.5 + 0.5 * Math.sin(x * 0.3) * Math.cos(y * 0.2);
    b[y * W + x] = 0.5 + 0.5 * Math.sin(x * 0.3 + 0.5) * Math.cos(y * 0.25);
  }
  return { a, b };
}

describe('similarity', () => {
  it('ranks ties by their average rank and correlates ranks (scipy spearmanr)', () => {
    assert.deepEqual(Array.from(rankdata([10, 20, 20, 30, 5])), [2, 3.5, 3.5, 5, 1]);
    close(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1, 1e-12);
    close(spearman([1, 2, 3, 4], [1, 4, 9, 16]), 1, 1e-12, 'monotone, not linear');
    close(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1, 1e-12);
    const { a, b } = waves(32, 40);
    // scipy.stats.spearmanr(round(a * 4) / 4, b) = 0.6162840337141209 (with ties)
    close(spearman(a.map((v) => Math.round(v * 4) / 4), b), 0.6162840337141209, 1e-12);
  });

  it('identical maps give Spearman 1, Pearson 1, SSIM 1 and HOG correlation 1', () => {
    const { a } = waves(32, 40);
    assert.equal(spearman(a, a), 1);
    close(pearson(a, a), 1, 1e-12);
    close(ssim(a, a, 32, 40), 1, 1e-12);
    close(hogSimilarity(a, a, 32, 40), 1, 1e-12);
    // constant maps: identical → 1, otherwise no shared ordering → 0
    const zero = new Float64Array(a.length);
    assert.equal(spearman(zero, zero), 1);
    assert.equal(spearman(zero, a), 0);
    close(ssim(zero, zero, 32, 40), 1, 1e-12);
  });

  it('SSIM and HOG match scikit-image 0.19 (structural_similarity(data_range=1), hog(L2-Hys, 8 px cells, 3x3 blocks))', () => {
    const { a, b } = waves(32, 40);
    close(ssim(a, b, 32, 40), 0.5120366007179868, 1e-12, 'ssim');
    const h = hog(a, 32, 40);
    assert.equal(h.length, 486);
    [0.0968493, 0.03101083, 0.02078925, 0.06190109, 0.12308726].forEach((v, i) => close(h[i]!, v, 1e-7, `hog[${i}]`));
    close(hogSimilarity(a, b, 32, 40), 0.530626092796295, 1e-7, 'hog correlation'); // scikit-image's HOG is float32
  });

  it('Sobel edges of a vertical step lie on the step', () => {
    const img = new Float32Array(8 * 8);
    for (let y = 0; y < 8; y++) for (let x = 4; x < 8; x++) img[y * 8 + x] = 1;
    const e = sobel(img, 8, 8);
    assert.equal(e[3 * 8 + 3], 1);
    assert.equal(e[3 * 8 + 4], 1);
    assert.equal(e[3 * 8 + 0], 0);
    assert.equal(e[3 * 8 + 7], 0);
  });
});

describe('conjugate gradients and ROAD imputation', () => {
  it('CG (Jacobi and multigrid preconditioned) solves a small SPD system exactly', () => {
    // 1-D Laplacian with Dirichlet ends, n = 300: A x = b with x_i = sin(i)
    const n = 300;
    const rows: number[] = [], cols: number[] = [], vals: number[] = [];
    for (let i = 0; i < n; i++) {
      rows.push(i); cols.push(i); vals.push(2.5);
      if (i > 0) { rows.push(i); cols.push(i - 1); vals.push(-1); }
      if (i < n - 1) { rows.push(i); cols.push(i + 1); vals.push(-1); }
    }
    rows.push(0); cols.push(0); vals.push(0.5); // a duplicate entry, summed
    const a = csrFromTriplets(n, rows, cols, vals);
    const want = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
    const b = new Float64Array(n);
    for (let i = 0; i < n; i++) b[i] = (i === 0 ? 3 : 2.5) * want[i]! - (i > 0 ? want[i - 1]! : 0) - (i < n - 1 ? want[i + 1]! : 0);
    const r1 = conjugateGradient(a, b, { tol: 1e-12 });
    assert.ok(r1.converged);
    want.forEach((v, i) => close(r1.x[i]!, v, 1e-9));
    const mg = gridMultigrid(a, new Int32Array(n), Int32Array.from({ length: n }, (_, i) => i));
    const r2 = conjugateGradient(a, b, { tol: 1e-12, preconditioner: mg });
    want.forEach((v, i) => close(r2.x[i]!, v, 1e-9));
    assert.ok(r2.iterations < r1.iterations, `multigrid ${r2.iterations} vs Jacobi ${r1.iterations} iterations`);
  });

  it('a removed pixel becomes the weighted mean of its neighbours (1/6 direct, 1/12 diagonal)', () => {
    const img = Float32Array.from([1, 2, 3, 4, 0, 6, 7, 8, 9]);
    const remove = Uint8Array.from([0, 0, 0, 0, 1, 0, 0, 0, 0]);
    const [out] = noisyLinearImpute([img], 3, 3, remove, { noise: 0 });
    const want = (2 + 4 + 6 + 8) / 6 + (1 + 3 + 7 + 9) / 12;
    close(out![4]!, want, 1e-9);
    assert.equal(out![0], 1);
  });

  it('linear imputation reproduces a linear ramp in a large interior hole exactly', () => {
    const h = 40, w = 48;
    const ramp = Float32Array.from({ length: h * w }, (_, p) => 0.02 * (p % w) - 0.03 * Math.floor(p / w) + 0.5);
    const remove = new Uint8Array(h * w);
    for (let y = 3; y < 37; y++) for (let x = 2; x < 45; x++) remove[y * w + x] = 1;
    const [out] = linearImpute([ramp], h, w, remove, 1e-10);
    let err = 0;
    for (let p = 0; p < h * w; p++) err = Math.max(err, Math.abs(out![p]! - ramp[p]!));
    assert.ok(err < 1e-6, `max error ${err}`);
  });

  it('matches a dense solve of the same system on a random mask; noise is seeded', () => {
    const h = 9, w = 11;
    let s = 7;
    const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
    const img = Float32Array.from({ length: h * w }, rnd);
    const remove = Uint8Array.from({ length: h * w }, () => (rnd() < 0.5 ? 1 : 0));
    const [out] = linearImpute([img], h, w, remove, 1e-12);
    // dense Gauss–Seidel to convergence on the same equations: x_i = Σ w_n x_n / Σ w_n
    const x = Float64Array.from(img, (v, p) => (remove[p] ? 0 : v));
    const N = [[-1, -1, 1 / 12], [-1, 0, 1 / 6], [-1, 1, 1 / 12], [0, -1, 1 / 6], [0, 1, 1 / 6], [1, -1, 1 / 12], [1, 0, 1 / 6], [1, 1, 1 / 12]];
    for (let it = 0; it < 5000; it++) {
      for (let p = 0; p < h * w; p++) {
        if (!remove[p]) continue;
        const y = Math.floor(p / w), xx = p % w;
        let num = 0, den = 0;
        for (const [dy, dx, wt] of N) { const yy = y + dy!, xq = xx + dx!; if (yy < 0 || yy >= h || xq < 0 || xq >= w) continue; num += wt! * x[yy * w + xq]!; den += wt!; }
        x[p] = num / den;
      }
    }
    for (let p = 0; p < h * w; p++) close(out![p]!, x[p]!, 1e-6, `pixel ${p}`);
    const n1 = noisyLinearImpute([img], h, w, remove, { seed: 3 })[0]!;
    const n2 = noisyLinearImpute([img], h, w, remove, { seed: 3 })[0]!;
    assert.deepEqual(n1, n2);
    let dev = 0;
    for (let p = 0; p < h * w; p++) dev = Math.max(dev, Math.abs(n1[p]! - out![p]!));
    assert.ok(dev > 0 && dev < 0.06, `noise ${dev}`);
  });
});

/**
 * A toy model on 4×4 single-channel images: the probability of class 0 is 0.1 + 0.8 × (the fraction of
 * the four "important" pixels that are still 1), returned as logits [log p, log(1 − p)].
 */
const IMPORTANT = [5, 6, 9, 10];
const toy: Forward = async (input, dims) => {
  const n = dims[0]!;
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    let k = 0;
    for (const p of IMPORTANT) k += Math.max(0, Math.min(1, input[i * 16 + p]!));
    const prob = 0.1 + (0.8 * k) / 4;
    out[i * 2] = Math.log(prob);
    out[i * 2 + 1] = Math.log(1 - prob);
  }
  return out;
};
const toyImage: ImageInput = { data: Float32Array.from({ length: 16 }, (_, p) => (IMPORTANT.includes(p) ? 1 : 0.5)), dims: [1, 1, 4, 4], layout: 'NCHW' };

describe('faithfulness', () => {
  const perfect = Float32Array.from({ length: 16 }, (_, p) => (IMPORTANT.includes(p) ? 1 : 0));
  const reverse = Float32Array.from(perfect, (v) => 1 - v);

  it('trapezoid AUC over [0, 1]', () => {
    close(auc([1, 1]), 1, 1e-12);
    close(auc([1, 0]), 0.5, 1e-12);
    close(auc([0, 1, 1, 0]), 2 / 3, 1e-12);
  });

  it('deletion AUC of the perfect ordering on the toy model is 0.2, and the worst ordering is worse', async () => {
    // one pixel per step: curve 0.9, 0.7, 0.5, 0.3, 0.1 then 0.1 ×12 → (2.0 + 1.2) / 16
    const d = await deletion(toy, toyImage, perfect, 0, { steps: 16 });
    assert.equal(d.curve.length, 17);
    close(d.curve[0]!, 0.9, 1e-6);
    close(d.curve[4]!, 0.1, 1e-6);
    close(d.auc, 0.2, 1e-6);
    const worst = await deletion(toy, toyImage, reverse, 0, { steps: 16 });
    close(worst.auc, (12 * 0.9 + 2.0) / 16, 1e-6); // 0.9 for 12 steps, then the same fall
    assert.ok(worst.auc > d.auc);
  });

  it('insertion AUC of the perfect ordering from a zero substrate is 0.8; from a blur it is higher than the worst ordering', async () => {
    const ins = await insertion(toy, toyImage, perfect, 0, { steps: 16, insertionSubstrate: 'zero' });
    close(ins.auc, 0.8, 1e-6);
    const good = await insertion(toy, toyImage, perfect, 0, { steps: 8 });
    const bad = await insertion(toy, toyImage, reverse, 0, { steps: 8 });
    assert.ok(good.auc > bad.auc);
  });

  it('Average Drop and Increase in Confidence follow the Grad-CAM++ definitions', async () => {
    // image × perfect map keeps the important pixels: O = Y → drop 0, no increase
    const r1 = await faithfulness(toy, toyImage, perfect, 0, { metrics: ['average_drop'] });
    close(r1.probability, 0.9, 1e-6);
    close(r1.average_drop!.drop, 0, 1e-6);
    assert.equal(r1.average_drop!.increase, 0);
    // a half-strength map on the important pixels: O = 0.1 + 0.8 × 0.5 = 0.5 → drop (0.9 − 0.5) / 0.9
    const half = Float32Array.from(perfect, (v, p) => (p === 0 ? 1 : v * 0.5));
    const r2 = await faithfulness(toy, toyImage, half, 0, { metrics: ['average_drop'] });
    close(r2.average_drop!.drop, (0.4 / 0.9) * 100, 1e-4);
    // class 1 (probability 0.1) gains when the important pixels are dimmed
    const r3 = await faithfulness(toy, toyImage, reverse, 1, { metrics: ['average_drop'] });
    assert.equal(r3.average_drop!.increase, 100);
  });

  it('ROAD: removing the important pixels first hurts, removing them last does not', async () => {
    const r = await faithfulness(toy, toyImage, perfect, 0, { metrics: ['road'], roadFractions: [0.25, 0.5], roadNoise: 0 });
    // MoRF 25 % removes exactly the 4 important pixels; their neighbours (0.5 and 1) fill them below 1
    assert.ok(r.road!.morf[0]! < 0.9 - 0.1);
    close(r.road!.lerf[0]!, 0.9, 1e-6);
    assert.ok(r.road!.morf_mean < r.road!.lerf_mean);
  });

  it('ranks pixels largest first, ties in raster order; blurs a constant image to itself inside', () => {
    assert.deepEqual(Array.from(rankPixels([0.1, 0.5, 0.5, 0.9])), [3, 1, 2, 0]);
    const img: ImageInput = { data: new Float32Array(3 * 24 * 24).fill(2), dims: [1, 3, 24, 24], layout: 'NCHW' };
    const b = gaussianBlur(img);
    close(b[12 * 24 + 12]!, 2, 1e-6);
    assert.ok(b[0]! < 2); // zero padding at the border, as RISE
  });

  describe('on a real model (plain forward session, batched)', () => {
    const ex = Explainer.fromBytes(modelBytes('resnet_like'), { createSession: createNodeSession });
    after(() => ex.release());
    it('models with a fixed batch size of 1: maps and forward runs one image at a time', async () => {
      const m = decodeModel(modelBytes('resnet_like'));
      for (const io of [m.graph.input[0]!, m.graph.output[0]!]) io.type!.tensor_type!.shape!.dim![0] = { dim_value: 1 };
      const fixed = Explainer.fromBytes(encodeModel(m), { createSession: createNodeSession });
      try {
        const input = loadArray('resnet_like', 'input.npy');
        const a = await methodMaps(fixed, input.data, input.shape, 'gradcam', { classes: [3, 7] });
        const b = await methodMaps(ex, input.data, input.shape, 'gradcam', { classes: [3, 7] });
        assert.equal(a.length, 2);
        a.forEach((x, i) => assert.ok(x.display.every((v, p) => Math.abs(v - b[i]!.display[p]!) < 1e-5)));
        const fwd = await plainForward(fixed, createNodeSession);
        try {
          assert.equal(fwd.batchSize, 1);
          const logits = await fwd.forward(input.data, input.shape);
          assert.equal(logits.length, 20);
        } finally {
          await fwd.release();
        }
      } finally {
        await fixed.release();
      }
    });

    it('deletion starts at the model probability and ends near the substrate; insertion ends at it', async () => {
      const input = loadArray('resnet_like', 'input.npy');
      const one = input.data.slice(0, input.data.length / 2);
      const [m] = await methodMaps(ex, one, [1, 3, 48, 48], 'gradcam', { classes: 3 });
      const fwd = await plainForward(ex, createNodeSession, { batchSize: 7 });
      try {
        const r = await faithfulness(fwd.forward, { data: one, dims: [1, 3, 48, 48], layout: 'NCHW' }, m!.magnitude, 3, { steps: 10, roadFractions: [0.5], chunk: 9 });
        close(r.probability, m!.target.probability, 1e-5, 'probability');
        close(r.deletion!.curve[0]!, m!.target.probability, 1e-5);
        close(r.insertion!.curve[10]!, m!.target.probability, 1e-5);
        for (const v of [r.deletion!.auc, r.insertion!.auc, r.road!.morf_mean, r.road!.lerf_mean]) assert.ok(v >= 0 && v <= 1);
      } finally {
        await fwd.release();
      }
    });
  });
});

describe('localisation', () => {
  const H = 20, W = 30;
  const box: Box = [5, 4, 15, 12];
  const region = boxMask([box], H, W);
  const inside = new Float32Array(H * W);
  for (let y = 6; y < 10; y++) for (let x = 8; x < 12; x++) inside[y * W + x] = 1 - 0.01 * (Math.abs(y - 8) + Math.abs(x - 10));

  it('a map concentrated inside the box is a pointing hit with all its energy inside', () => {
    assert.ok(pointingGame(inside, region, W));
    close(energyPointing(inside, region), 1, 1e-12);
    const outside = new Float32Array(H * W);
    outside[2 * W + 25] = 1;
    assert.equal(pointingGame(outside, region, W), false);
    assert.equal(pointingGame(outside, region, W, 15), true, 'within 15 px of the box');
    assert.equal(pointingGame(new Float32Array(H * W), region, W), false, 'a constant map points nowhere');
  });

  it('box pixels are those whose centres lie inside [x0, x1) × [y0, y1)', () => {
    let n = 0;
    region.forEach((v) => (n += v));
    assert.equal(n, 10 * 8);
    assert.equal(region[4 * W + 5], 1);
    assert.equal(region[11 * W + 14], 1);
    assert.equal(region[12 * W + 14], 0);
  });

  it('IoU: the box itself as a map gives 1; the largest segment decides', () => {
    const map = Float32Array.from(region);
    close(boxIoU(map, H, W, [box]), 1, 1e-12);
    close(maskIoU(map, region), 1, 1e-12);
    const two = new Float32Array(H * W);
    for (let y = 0; y < 4; y++) for (let x = 20; x < 24; x++) two[y * W + x] = 1; // 16 px blob
    for (let y = 4; y < 12; y++) for (let x = 5; x < 10; x++) two[y * W + x] = 1; // 40 px blob, half the box
    assert.deepEqual(largestSegmentBox(Uint8Array.from(two), H, W), [5, 4, 10, 12]);
    close(boxIoU(two, H, W, [box]), 0.5, 1e-12);
    const l = localisation(inside, H, W, { boxes: [box], region });
    assert.equal(l.pointing, true);
    close(l.iou, 16 / 80, 1e-12);
  });
});

describe('annotations', () => {
  it('reads the demo form: boxes and row-major RLE masks, scaled to the map', () => {
    const doc = {
      image_size: [4, 4],
      images: [{ file: 'a.png', class: 2, label: 'Pullover', box: [1, 1, 3, 3], mask_rle: { size: [4, 4], order: 'row-major', counts: [5, 2, 2, 2, 5] } }],
    };
    const [a] = parseAnnotations(doc);
    assert.equal(a!.objects[0]!.class, 2);
    assert.deepEqual(Array.from(a!.objects[0]!.mask!.data), [0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
    assert.equal(findAnnotation([a!], '/some/dir/a.png'), a);
    const g = groundTruthFor(a!, 8, 8, 2);
    assert.equal(g.matched, 'class');
    assert.deepEqual(g.boxes, [[2, 2, 6, 6]]);
    let n = 0;
    g.region.forEach((v) => (n += v));
    assert.equal(n, 16);
    assert.equal(groundTruthFor(a!, 8, 8, 5).matched, 'all');
  });

  it('reads COCO: bbox [x, y, w, h], polygons, and compressed RLE strings (column-major)', () => {
    assert.deepEqual(cocoCountsFromString('1231'), [1, 2, 3, 3]);
    assert.deepEqual(cocoCountsFromString('151M'), [1, 5, 1, 2]); // a negative difference
    const doc = {
      images: [{ id: 7, file_name: 'x/b.jpg', width: 3, height: 3 }, { id: 8, file_name: 'c.jpg', width: 10, height: 10 }],
      categories: [{ id: 1, name: 'Bag' }],
      annotations: [
        { image_id: 7, category_id: 1, bbox: [0, 0, 3, 3], segmentation: { size: [3, 3], counts: '1231' } },
        { image_id: 8, category_id: 1, bbox: [2, 2, 4, 4], segmentation: [[2, 2, 6, 2, 6, 6, 2, 6]] },
      ],
    };
    const anns = parseAnnotations(doc);
    const b = findAnnotation(anns, 'b.jpg')!;
    // column-major: pixels 1, 2 (column 0, rows 1-2) and 6, 7, 8 (column 2)
    assert.deepEqual(Array.from(b.objects[0]!.mask!.data), [0, 0, 1, 1, 0, 1, 1, 0, 1]);
    assert.equal(b.objects[0]!.label, 'Bag');
    const c = findAnnotation(anns, 'c.jpg')!;
    let n = 0;
    c.objects[0]!.mask!.data.forEach((v) => (n += v));
    assert.equal(n, 16);
    assert.deepEqual(c.objects[0]!.box, [2, 2, 6, 6]);
    const labels = ['T-shirt', 'Bag'];
    assert.equal(groundTruthFor(c, 10, 10, 1, labels).matched, 'class');
  });

  it('rejects malformed boxes with a message naming the file', () => {
    assert.throws(() => parseAnnotations({ images: [{ file: 'q.png', box: [5, 5, 2, 2] }] }), /q\.png: box \[5, 5, 2, 2\] is empty/);
    assert.throws(() => parseAnnotations({ images: [{ file: 'q.png' }] }), /q\.png: no box or mask/);
  });
});

describe('gradcam evaluate (CLI)', () => {
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-eval-')); });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const bin = path.join(FIXTURES, '..', '..', 'bin', 'gradcam.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  const model = path.join(FIXTURES, 'resnet_like', 'model.onnx');
  const npy = path.join(FIXTURES, 'resnet_like', 'input.npy');

  it('evaluate writes per-image CSV/JSONL and a summary with localisation from annotations', () => {
    const out = path.join(tmp, 'eval');
    const ann = path.join(tmp, 'ann.json');
    fs.writeFileSync(ann, JSON.stringify({ images: [{ file: 'input.npy', class: 3, box: [8, 8, 40, 40] }] }));
    const r = run('evaluate', npy, '--model', model, '--methods', 'gradcam,guided-backprop', '--annotations', ann, '--steps', '5', '--road-fractions', '0.5', '--out', out, '--quiet');
    assert.equal(r.status, 0, r.stderr);
    const csv = fs.readFileSync(path.join(out, 'evaluate.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, 1 + 2 * 2);
    assert.match(csv[0]!, /^image,method,class,label,probability,predicted,gt_class,correct,deletion,insertion,average_drop,increase_confidence,road_morf,road_lerf,randomisation,pointing,pointing_tol,energy,iou,mask_iou,region$/);
    const rows = fs.readFileSync(path.join(out, 'evaluate.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows[0].class, 3, 'the annotated class is explained');
    assert.equal(rows[0].curves.deletion.length, 6);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).summary;
    assert.equal(summary.gradcam.deletion.n, 2);
    assert.match(r.stdout, /\| gradcam \| \d\.\d{3} ± \d\.\d{3} \|/);
  });

  it('bad options and inputs give clear errors', async () => {
    await assert.rejects(runEvaluate([npy, '--model', model, '--metrics', 'localisation']), /the localisation metrics need --annotations FILE/);
    await assert.rejects(runEvaluate([npy, '--model', model, '--metrics', 'speed']), /unknown metric 'speed'/);
    await assert.rejects(runEvaluate([npy, '--model', model, '--deletion-substrate', 'noise']), /unknown --deletion-substrate 'noise'; choose one of: zero, mean, blur/);
    await assert.rejects(runEvaluate([path.join(tmp, 'missing.png'), '--model', model]), /input not found: .*missing\.png/);
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, '{"images": [{"file": "a.png", "box": [1, 2]}]}');
    await assert.rejects(runEvaluate([npy, '--model', model, '--annotations', bad]), /a box must be \[x0, y0, x1, y1\]/);
  });
});
