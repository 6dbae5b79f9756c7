/**
 * The browser detection page (web/detect.html) end to end in headless Chromium: the demo detector's
 * boxes are those of Node's Detector, and a click on one gives the map that Node computes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { chromiumMissing, launchChromium, serveApp, type AppServer, type Browser } from './helpers/browser.js';
import { Detector } from '../src/detect/detector.js';
import { createNodeSession } from '../src/runtime/node.js';
import { decodePng, encodePng, toRgbImage } from '../src/image/png.js';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { imageToTensor } from '../src/image/normalize.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const MODEL = path.join(ROOT, 'demo', 'models', 'street_glare.onnx');
const SCENE = path.join(ROOT, 'demo', 'detect', 'street_02.png');
const skip = chromiumMissing() ?? (fs.existsSync(MODEL) && fs.existsSync(SCENE) ? false : 'the street demo is missing');

let app: AppServer;
let browser: Browser;
before(async () => {
  if (chromiumMissing()) return;
  app = await serveApp();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await app?.close();
});

/**
 * The page's detections equal Node's on the same input (class, box within 1e-3), and the map of the first
 * one, clicked in the page, equals Node's within 1e-4. Returns Node's map.
 */
async function sameAsNode(page: Page, det: Detector, x: Float32Array, dims: number[], dets: { box: number[]; class: number }[]): Promise<Float32Array> {
  const node = (await det.detect(x, dims, { scoreThreshold: 0.4, iouThreshold: 0.45 }))[0]!;
  assert.ok(node.length >= 1);
  assert.equal(dets.length, node.length);
  dets.forEach((d, i) => {
    assert.equal(d.class, node[i]!.class);
    d.box.forEach((v, k) => assert.ok(Math.abs(v - node[i]!.box[k]!) < 1e-3));
  });
  await page.click('#dets li');
  await page.waitForFunction(() => (window as unknown as { gradcamDetect: { heat?: unknown } }).gradcamDetect.heat !== undefined, null, { timeout: 120_000 });
  const heat = await page.evaluate(() => Array.from((window as unknown as { gradcamDetect: { heat: { map: Float32Array } } }).gradcamDetect.heat.map));
  const ref = (await det.explain(x, dims, [node[0]!])).explanations[0]!.map;
  let err = 0;
  for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(heat[i]! - ref[i]!));
  assert.ok(err < 1e-4, `browser vs Node map: ${err}`);
  return ref;
}

test('detect page: the demo detector\'s boxes, and a clicked box explained as in Node', { skip, timeout: 300_000 }, async () => {
  const page: Page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${app.url}detect.html`);
  await page.click('#demo');
  await page.waitForFunction(() => /detection\(s\)/.test((window as unknown as { gradcamDetect: { status: string } }).gradcamDetect.status ?? ''), null, { timeout: 120_000 });
  const dets = await page.evaluate(() => (window as unknown as { gradcamDetect: { detections: { box: number[]; class: number }[] } }).gradcamDetect.detections);
  const det = await Detector.fromBytes(new Uint8Array(fs.readFileSync(MODEL)), { createSession: createNodeSession });
  try {
    const img = toRgbImage(decodePng(new Uint8Array(fs.readFileSync(SCENE))));
    const dims = det.explainer.imageDims();
    const x = imageToTensor(img, { preset: 'unit', layout: 'NCHW' });
    await sameAsNode(page, det, x, dims, dets);
    assert.deepEqual(errors, []);
  } finally {
    await det.release();
  }
});

test('detect page: a torchvision RetinaNet export ([3, H, W] input, NMS in an If subgraph) gives Node\'s boxes and map', { skip: chromiumMissing() ?? false, timeout: 300_000 }, async () => {
  const dir = path.join(ROOT, 'test', 'fixtures', 'tv_retinanet');
  const model = path.join(dir, 'model.onnx');
  // the fixture's input as a PNG (the page reads pictures as pixels / 255)
  const npy = parseNpy(new Uint8Array(fs.readFileSync(path.join(dir, 'input.npy'))));
  const data = toFloat32(npy);
  const [H, W] = [npy.shape[2]!, npy.shape[3]!];
  const rgb = new Uint8Array(H * W * 3);
  for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) rgb[i * 3 + c] = Math.round(data[c * H * W + i]! * 255);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-webtv-'));
  const png = path.join(tmp, 'scene.png');
  fs.writeFileSync(png, encodePng({ width: W, height: H, channels: 3, data: rgb }));
  const page: Page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const det = await Detector.fromBytes(new Uint8Array(fs.readFileSync(model)), { createSession: createNodeSession });
  try {
    await page.goto(`${app.url}detect.html`);
    await page.setInputFiles('#model', model);
    await page.waitForFunction(() => /prenms/.test((window as unknown as { gradcamDetect: { status: string } }).gradcamDetect.status ?? ''), null, { timeout: 120_000 });
    await page.setInputFiles('#image', png);
    await page.waitForFunction(() => /detection\(s\)/.test((window as unknown as { gradcamDetect: { status: string } }).gradcamDetect.status ?? ''), null, { timeout: 120_000 });
    const dets = await page.evaluate(() => (window as unknown as { gradcamDetect: { detections: { box: number[]; class: number }[] } }).gradcamDetect.detections);
    const x = imageToTensor(toRgbImage(decodePng(new Uint8Array(fs.readFileSync(png)))), { preset: 'unit', layout: 'NCHW' });
    const dims = det.explainer.imageDims();
    const ref = await sameAsNode(page, det, x, dims, dets);
    const peak = ref.reduce((m, v) => Math.max(m, v), 0);
    assert.ok(peak > 0.99, `a map that says something: peak ${peak}`);
    assert.deepEqual(errors, []);
  } finally {
    await det.release();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
