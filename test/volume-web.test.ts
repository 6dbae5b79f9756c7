/**
 * The scan viewer (web/volume.html) in headless Chromium: the example (the medical demo's 3-D model on a
 * phantom CT NIfTI) is explained in the page and its map equals Node's for the same scan (≤ 1e-3); a
 * DICOM series goes in through the file input and is stacked; slices redraw with window/level; no
 * request leaves the page's origin.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { chromiumMissing, launchChromium, serveApp, type AppServer, type Browser } from './helpers/browser.js';
import { createNodeSession } from '../src/runtime/node.js';
import { Explainer } from '../src/explainer.js';
import { readNifti } from '../src/image/nifti.js';
import { scanToTensors } from '../src/image/volume.js';
import { mapAtScan } from '../src/render/index.js';
import { writeDicom } from '../scripts/medical/dicom-writer.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const MODEL = path.join(ROOT, 'demo', 'models', 'med3d.onnx');
const SCAN = path.join(ROOT, 'demo', 'medical', 'lesion-example.nii.gz');
const noChromium = chromiumMissing();
const skip = noChromium && !process.env.CI ? noChromium : !fs.existsSync(MODEL) || !fs.existsSync(SCAN) ? 'the medical demo model or example is missing' : false;

interface Shown { map: number[]; dims: number[]; method: string; text: string }

describe('scan viewer in headless Chromium', { skip }, () => {
  let app: AppServer;
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-vweb-'));

  before(async () => {
    app = await serveApp({ build: true });
    browser = await launchChromium();
    browser.context.on('request', (r) => requests.push(r.url()));
    page = await browser.context.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(`${app.url}volume.html`);
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const shown = () => page.evaluate(() => (window as unknown as { gradcamVolume: Shown | null }).gradcamVolume);

  test('the example: the map of the 3-D model equals Node\'s (≤ 1e-3), shown over the slices', async () => {
    await page.click('#example');
    await page.waitForFunction(() => (window as unknown as { gradcamVolume: unknown }).gradcamVolume !== null, null, { timeout: 120_000 });
    const got = (await shown())!;
    const vol = readNifti(new Uint8Array(fs.readFileSync(SCAN)), 'example');
    const ex = Explainer.fromBytes(new Uint8Array(fs.readFileSync(MODEL)), { createSession: createNodeSession });
    try {
      const [t] = scanToTensors(vol, { channels: 1, channelsFirst: true, grid: ex.inputGrid }, { intensity: 'window', window: [40, 400] }, 'example');
      const e = (await ex.explain(t!.tensor, t!.dims, { method: 'gradcam' })).explanations[0]!;
      const want = mapAtScan(e, vol.dims);
      assert.deepEqual(got.dims, vol.dims);
      let d = 0;
      for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(got.map[i]! - want[i]!));
      assert.ok(d <= 1e-3, `max |browser − node| ${d}`);
      assert.match(got.text, new RegExp(`gradcam: class ${e.target.index} '${e.target.label}' p=${e.target.probability.toFixed(3)}`));
    } finally {
      await ex.release();
    }
    // scrolling and window/level redraw the canvas
    const pixels = () => page.evaluate(() => { const c = document.getElementById('slice') as HTMLCanvasElement; return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data.slice(0, 4000)); });
    const a = await pixels();
    await page.fill('#level', '400');
    await page.dispatchEvent('#level', 'input');
    assert.notDeepEqual(await pixels(), a);
    await page.selectOption('#axis', 'sagittal');
    assert.equal(await page.getAttribute('#index', 'max'), '31');
  });

  test('a DICOM series through the file input is stacked into a volume', async () => {
    const files: string[] = [];
    for (let z = 0; z < 6; z++) {
      const f = path.join(tmp, `s${z}.dcm`);
      fs.writeFileSync(f, writeDicom({ rows: 8, cols: 10, pixels: new Array(80).fill(100 * z), position: [0, 0, 2 * z], orientation: [1, 0, 0, 0, 1, 0], instance: z + 1 }));
      files.push(f);
    }
    await page.setInputFiles('#files', files.reverse());
    await page.waitForFunction(() => /DICOM series of 6 slices, 10×8/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 30_000 });
    assert.ok(requests.every((u) => u.startsWith(app.url)), requests.filter((u) => !u.startsWith(app.url)).join('\n'));
  });
});
