/**
 * The browser app on a half-precision model (issue 21), in headless Chromium: a fully-float16 ViT
 * (float16 input, weights and logits; scripts/fixtures/make_precision_fixtures.py) goes in through the
 * file input; the page says it computes in float32, and its Grad-CAM and Eigen-CAM maps equal Node's on the
 * same model and lie within Pearson 0.99 of the float32 twin's.
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
import { pearson } from '../src/metrics/similarity.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const HALF_MODEL = path.join(ROOT, 'test', 'fixtures', 'precision', 'vit_tiny.fp16.io16.onnx');
const TWIN_MODEL = path.join(ROOT, 'test', 'fixtures', 'vit_tiny_op17', 'model.onnx');
const noChromium = chromiumMissing();
// in CI a missing browser is a failure (.ci/run installs it); elsewhere the browser tests are skipped
const skip = noChromium && !process.env.CI ? noChromium : false;

let app: AppServer;
let browser: Browser;
before(async () => {
  if (skip) return;
  app = await serveApp();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await app?.close();
});

interface Last { imageName: string; method: string; layer: string; classIndex: number; map: number[] }

async function waitLast(page: Page, pred: string): Promise<Last> {
  await page.waitForFunction(`(() => { const g = window.gradcam; const l = g && g.last; return (g && g.errors.length) || (l && g.busy === 0 && (${pred})); })()`, null, { polling: 100, timeout: 120_000 });
  assert.deepEqual(await page.evaluate(() => (window as unknown as { gradcam: { errors: string[] } }).gradcam.errors), []);
  return page.evaluate(() => {
    const l = (window as unknown as { gradcam: { last: Omit<Last, 'map'> & { map: Float32Array } } }).gradcam.last;
    return { ...l, map: Array.from(l.map) };
  });
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};

test('a float16 ViT through the file input: computed in float32, maps equal to Node\'s and near the float32 twin\'s', { skip, timeout: 300_000 }, async () => {
  const W = 50, H = 35;
  const data = new Uint8Array(W * H * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + ((i / 3) % W > 25 ? 90 : 0)) & 255;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-web-half-'));
  const img = path.join(dir, 'half-input.png');
  fs.writeFileSync(img, encodePng({ width: W, height: H, data }));
  const page = await browser.context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const node = await loadExplainer(HALF_MODEL);
  const twin = await loadExplainer(TWIN_MODEL);
  try {
    await page.goto(app.url);
    await page.waitForFunction(() => (window as unknown as { gradcam?: { busy: number } }).gradcam?.busy === 0, null, { polling: 100, timeout: 120_000 });
    await page.setInputFiles('#files', [HALF_MODEL, img]);
    const got = await waitLast(page, "l.imageName === 'half-input.png'");
    const model = await page.evaluate(() => (window as unknown as { gradcam: { model: { promoted: string[]; size: number[] } } }).gradcam.model);
    assert.deepEqual(model.promoted, ['float16']);
    assert.deepEqual(model.size, [32, 48]);
    assert.match(await page.textContent('#model-line') ?? '', /float16 weights computed in float32/);
    const [inp] = await prepareInputs(node, img);
    for (const method of ['gradcam', 'eigencam']) {
      let last = got;
      if (method !== 'gradcam') {
        await page.selectOption('#method', method);
        last = await waitLast(page, `l.method === '${method}'`);
      }
      const e = (await node.explain(inp!.tensor, inp!.dims, { method, classes: 'top' })).explanations[0]!;
      const t = (await twin.explain(inp!.tensor, inp!.dims, { method, classes: [e.target.index] })).explanations[0]!;
      assert.equal(last.classIndex, e.target.index);
      const d = maxAbs(last.map, e.map);
      const r = pearson(last.map, t.map);
      console.log(`# float16 ViT ${method}, browser vs Node: max |diff| ${d.toExponential(2)}; vs the float32 twin: Pearson ${r.toFixed(5)}, max |diff| ${maxAbs(last.map, t.map).toExponential(2)}`);
      assert.ok(d <= 1e-3, `browser vs Node: ${d}`);
      assert.ok(r >= 0.99, `browser vs the float32 twin: Pearson ${r}`);
    }
    assert.deepEqual(pageErrors, []);
  } finally {
    await node.release();
    await twin.release();
    await page.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
