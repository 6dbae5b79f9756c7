/**
 * The browser app explains int8 models (issue 21, item 3) in headless Chromium: the quantised fixtures
 * (QDQ per channel, QOperator with onnxruntime's com.microsoft ops) go in through the file input with an
 * image, run in onnxruntime-web (wasm), and the map equals Node's for the same image.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { chromiumMissing, launchChromium, serveApp, type AppServer, type Browser } from './helpers/browser.js';
import { loadExplainer, prepareInputs } from '../src/node.js';
import { encodePng } from '../src/image/png.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const Q = path.join(ROOT, 'test', 'fixtures', 'quant', 'cnn');
const noChromium = chromiumMissing();
const skip = noChromium && !process.env.CI ? noChromium : false;

let app: AppServer;
let browser: Browser;
let page: Page;
let dir: string;

before(async () => {
  if (skip) return;
  if (noChromium) throw new Error(noChromium);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-web-quant-'));
  app = await serveApp({ build: true });
  browser = await launchChromium();
  page = await browser.context.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(app.url);
  await page.waitForFunction(() => (window as unknown as { gradcam: { ready: boolean } }).gradcam?.ready, null, { polling: 100, timeout: 120_000 });
});

after(async () => {
  await browser?.close();
  await app?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

for (const form of ['qdq_channel', 'qop']) {
  test(`an int8 model (${form}) through the file input: the map equals Node's`, { skip, timeout: 300_000 }, async () => {
    // blobs on a gradient: any size, the app resizes it to the model's 32×32 input like the CLI
    const W = 45, H = 40;
    const data = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      data[i] = (x * 5) & 255; data[i + 1] = (x - 12) ** 2 + (y - 25) ** 2 < 60 ? 240 : 30; data[i + 2] = (y * 6) & 255;
    }
    const img = path.join(dir, `${form}.png`);
    fs.writeFileSync(img, encodePng({ width: W, height: H, data }));
    const model = path.join(dir, `${form}.onnx`);
    fs.copyFileSync(path.join(Q, `${form}.onnx`), model);
    await page.setInputFiles('#files', [model, img]);
    await page.waitForFunction(`(() => { const g = window.gradcam; const l = g && g.last; return (g && g.errors.length) || (l && g.busy === 0 && l.imageName === '${form}.png'); })()`, null, { polling: 100, timeout: 120_000 });
    assert.deepEqual(await page.evaluate(() => (window as unknown as { gradcam: { errors: string[] } }).gradcam.errors), []);
    const got = await page.evaluate(() => {
      const l = (window as unknown as { gradcam: { last: { layer: string; classIndex: number; map: Float32Array } } }).gradcam.last;
      return { layer: l.layer, classIndex: l.classIndex, map: Array.from(l.map) };
    });
    const ex = await loadExplainer(model, { cache: false });
    try {
      const [inp] = await prepareInputs(ex, img);
      const e = (await ex.explain(inp!.tensor, inp!.dims, { classes: 'top' })).explanations[0]!;
      assert.equal(got.classIndex, e.target.index);
      assert.equal(got.layer, e.layers[0]);
      let d = 0;
      e.map.forEach((v, i) => { d = Math.max(d, Math.abs(v - got.map[i]!)); });
      console.log(`# ${form}: browser vs Node max |diff| ${d.toExponential(2)}`);
      assert.ok(d <= 1e-3, `max |browser - node| = ${d}`);
    } finally {
      await ex.release();
    }
  });
}
