/**
 * Imported models in the browser app (issue 22), in headless Chromium: a TF.js graph model chosen as its
 * files (model.json + .bin shard, uint8-quantised weights), a Teachable Machine export (a TF.js layers
 * model, through the Keras topology importer) and a hub folder chosen as a folder (read in the page:
 * nothing is uploaded). The page's class and Grad-CAM map equal Node's on the same image (≤ 1e-3, as
 * test/web.test.ts), and Node's import equals TF.js itself (test/tfjs-graph.test.ts); the hub folder's labels
 * and normalisation come from its config files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { chromiumMissing, launchChromium, serveApp, type AppServer, type Browser } from './helpers/browser.js';
import { loadExplainer, prepareInputs } from '../src/node.js';
import { encodePng } from '../src/image/png.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const TFJS = path.join(ROOT, 'test', 'fixtures', 'tfjs', 'tfjs_graph_cnn_uint8');
const HUB = path.join(ROOT, 'test', 'fixtures', 'hub_vit');
const TM = path.join(ROOT, 'test', 'fixtures', 'keras', 'tm');
const TOL = 1e-3;
const noChromium = chromiumMissing();
const skipBrowser = noChromium && !process.env.CI ? noChromium : false;

interface Last { imageName: string; layer: string; classIndex: number; map: number[] }
type G = { gradcam: { errors: string[]; busy: number; ready: boolean; last?: Omit<Last, 'map'> & { map: Float32Array }; model?: { name: string; labels?: string[]; normalization?: string; notes?: string[] } } };

async function waitLast(page: Page, pred: string): Promise<void> {
  await page.waitForFunction(`(() => { const g = window.gradcam; const l = g && g.last; return (g && g.errors.length) || (l && g.busy === 0 && (${pred})); })()`, null, { polling: 100, timeout: 180_000 });
  assert.deepEqual(await page.evaluate(() => (window as unknown as G).gradcam.errors), []);
}
const last = (page: Page) => page.evaluate(() => { const l = (window as unknown as G).gradcam.last!; return { ...l, map: Array.from(l.map) }; });
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => { assert.equal(a.length, b.length); let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!)); return m; };

function syntheticPng(dir: string, name: string, W: number, H: number): string {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const i = (y * W + x) * 3;
    data[i] = (x * 5) & 255; data[i + 1] = (y * 7) & 255; data[i + 2] = (x - 20) ** 2 + (y - 12) ** 2 < 90 ? 220 : 30;
  }
  const f = path.join(dir, name);
  fs.writeFileSync(f, encodePng({ width: W, height: H, data }));
  return f;
}

describe('imported models in the browser app', { skip: skipBrowser }, () => {
  let app: AppServer;
  let browser: Browser;
  let page: Page;
  let dir: string;

  before(async () => {
    if (noChromium) throw new Error(noChromium);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-web-import-'));
    app = await serveApp({ build: true });
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(app.url);
    await page.waitForFunction(() => (window as unknown as G).gradcam?.ready, null, { polling: 100, timeout: 120_000 });
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a TF.js graph model (model.json + uint8-quantised shard) and an image through the file input: map and class equal Node\'s', async () => {
    const img = syntheticPng(dir, 'tfjs-input.png', 45, 31);
    await page.setInputFiles('#files', [path.join(TFJS, 'model.json'), path.join(TFJS, 'group1-shard1of1.bin'), img]);
    await waitLast(page, "l.imageName === 'tfjs-input.png'");
    const model = await page.evaluate(() => (window as unknown as G).gradcam.model!);
    assert.equal(model.name, 'model.json');
    assert.ok(model.notes?.some((n) => n.includes('dequantised') && n.includes('uint8')), JSON.stringify(model.notes));
    const norm = await page.evaluate(() => (document.getElementById('normalize') as HTMLSelectElement).value);
    const got = await last(page);
    const ex = await loadExplainer(path.join(TFJS, 'model.json'), { cache: false });
    try {
      const [inp] = await prepareInputs(ex, img, { preset: norm });
      const e = (await ex.explain(inp!.tensor, inp!.dims, { classes: 'top' })).explanations[0]!;
      assert.equal(got.classIndex, e.target.index);
      assert.equal(got.layer, e.layers[0]);
      const d = maxAbsDiff(got.map, e.map);
      console.log(`# TF.js graph model map, browser vs Node: max |diff| ${d.toExponential(2)}`);
      assert.ok(d <= TOL, `max |browser - node| = ${d}`);
    } finally {
      await ex.release();
    }
  });

  test('a Teachable Machine export (model.json + weights.bin + metadata.json) through the file input: its labels, its normalisation (÷ 127 − 1, no preset) applied as stated, map and class equal Node\'s', async () => {
    const img = syntheticPng(dir, 'tm-input.png', 40, 40); // square: the page's whole-image resize is the centre crop
    await page.setInputFiles('#files', [path.join(TM, 'model.json'), path.join(TM, 'weights.bin'), path.join(TM, 'metadata.json'), img]);
    await waitLast(page, "l.imageName === 'tm-input.png'");
    const model = await page.evaluate(() => (window as unknown as G).gradcam.model!);
    assert.deepEqual(model.labels, JSON.parse(fs.readFileSync(path.join(TM, 'metadata.json'), 'utf8')).labels);
    assert.equal(model.normalization, 'model');
    assert.equal(await page.evaluate(() => (document.getElementById('normalize') as HTMLSelectElement).value), 'model');
    const got = await last(page);
    const ex = await loadExplainer(path.join(TM, 'model.json'), { cache: false });
    try {
      const [inp] = await prepareInputs(ex, img, { mean: [1, 1, 1], std: [1, 1, 1], divisor: 127 });
      const e = (await ex.explain(inp!.tensor, inp!.dims, { classes: 'top' })).explanations[0]!;
      assert.equal(got.classIndex, e.target.index);
      assert.equal(got.layer, e.layers[0]);
      const d = maxAbsDiff(got.map, e.map);
      console.log(`# Teachable Machine model map, browser vs Node: max |diff| ${d.toExponential(2)}`);
      assert.ok(d <= TOL, `max |browser - node| = ${d}`);
    } finally {
      await ex.release();
    }
  });

  test('a hub folder through the folder input: labels from config.json, normalisation from preprocessor_config.json, map equal to Node\'s', async () => {
    await page.setInputFiles('#folder', HUB);
    await page.waitForFunction(() => { const g = (window as unknown as G).gradcam; return g.errors.length || (g.busy === 0 && g.model?.name === 'hub_vit/'); }, null, { polling: 100, timeout: 180_000 });
    assert.deepEqual(await page.evaluate(() => (window as unknown as G).gradcam.errors), []);
    const model = await page.evaluate(() => (window as unknown as G).gradcam.model!);
    assert.equal(model.labels?.[3], 'cat');
    assert.equal(model.normalization, 'symmetric'); // (x / 255 − 0.5) / 0.5 = x / 127.5 − 1
    assert.ok(model.notes?.some((n) => /ONNX variant 'default': onnx\/model\.onnx/.test(n)), JSON.stringify(model.notes));
    const img = syntheticPng(dir, 'hub-input.png', 50, 35);
    await page.setInputFiles('#files', [img]);
    await waitLast(page, "l.imageName === 'hub-input.png'");
    const got = await last(page);
    const ex = await loadExplainer(HUB, { cache: false });
    try {
      const [inp] = await prepareInputs(ex, img, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], divisor: 255 });
      const e = (await ex.explain(inp!.tensor, inp!.dims, { classes: 'top' })).explanations[0]!;
      assert.equal(got.classIndex, e.target.index);
      const d = maxAbsDiff(got.map, e.map);
      console.log(`# hub folder map, browser vs Node: max |diff| ${d.toExponential(2)}`);
      assert.ok(d <= TOL, `max |browser - node| = ${d}`);
    } finally {
      await ex.release();
    }
  });
});
