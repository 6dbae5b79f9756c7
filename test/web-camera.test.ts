/**
 * The app's Camera mode (issue 26) in headless Chromium with a fake camera (a .y4m clip of two demo
 * scenes): the live stream is explained frame by frame with the demo model, one frame in flight, and the
 * page's map for the frame it sent equals Node's for the same pixels (the `gradcam video` path: resize to
 * the model input, normalise, explain) within 1e-3; a dropped video file is explained the same way; the
 * overlay is recorded (MediaRecorder) with its rows.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { chromiumMissing, launchChromium, serveApp, type AppServer, type Browser } from './helpers/browser.js';
import { loadExplainer } from '../src/node.js';
import { resizeRgb } from '../src/image/resize.js';
import { imageToTensor } from '../src/image/normalize.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const DEMO_MODEL = path.join(ROOT, 'demo', 'models', 'where.onnx');
const SCENES = ['00_t-shirt-top.png', '07_sneaker.png'].map((f) => path.join(ROOT, 'demo', 'scenes', f));
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-camera-'));
const Y4M = path.join(TMP, 'camera.y4m');
const WEBM = path.join(TMP, 'dropped.webm');
const noChromium = chromiumMissing();
const skip = noChromium && !process.env.CI ? noChromium : false;

interface Cam { running: boolean; source: string | null; explained: number; dropped: number; fps: number; rows: { class: { index: number }; drift: { flags: string[] } }[] }
const cam = (page: Page) => page.evaluate(() => {
  const c = (window as unknown as { gradcam: { camera: Cam } }).gradcam.camera;
  return { running: c.running, source: c.source, explained: c.explained, dropped: c.dropped, fps: c.fps, rows: c.rows };
});
/** The last frame the page sent and the map it got back. */
const lastFrame = (page: Page) => page.evaluate(() => {
  const l = (window as unknown as { gradcam: { camera: { last: { rgb: { width: number; height: number; data: Uint8Array }; map: Float32Array; width: number; height: number; target: number } } } }).gradcam.camera.last;
  return { w: l.rgb.width, h: l.rgb.height, rgb: Array.from(l.rgb.data), map: Array.from(l.map), mw: l.width, mh: l.height, target: l.target };
});

/** The page's map for the last frame it sent against Node's for the same pixels (resize, normalise, explain): within 1e-3. */
async function sameAsNode(page: Page): Promise<Awaited<ReturnType<typeof lastFrame>>> {
  const f = await lastFrame(page);
  const normalize = await page.$eval('#normalize', (s) => (s as HTMLSelectElement).value);
  const ex = await loadExplainer(DEMO_MODEL);
  try {
    const dims = ex.imageDims();
    const [h, w] = [dims[2]!, dims[3]!];
    assert.notEqual(normalize, 'model'); // the demo model names a preset
    const norm = { preset: normalize };
    const t = imageToTensor(resizeRgb({ width: f.w, height: f.h, data: Uint8Array.from(f.rgb) }, w, h), { ...norm, layout: ex.layout });
    const r = await ex.explain(t, dims, { classes: 'top' });
    const e = r.explanations[0]!;
    assert.deepEqual([f.mw, f.mh, f.target], [e.width, e.height, e.target.index]);
    let worst = 0;
    for (let i = 0; i < f.map.length; i++) worst = Math.max(worst, Math.abs(f.map[i]! - e.map[i]!));
    assert.ok(worst < 1e-3, `page vs Node: ${worst}`);
    assert.ok(Math.max(...f.map) > 0.99, 'a map, not zeros');
  } finally {
    await ex.release();
  }
  return f;
}

describe('web app: Camera mode', { skip }, () => {
  let server: AppServer;
  let browser: Browser;
  let page: Page;
  before(async () => {
    // two scenes, 10 frames each, as the fake camera's clip (Chromium loops it) and as a dropped WebM
    const list = path.join(TMP, 'list.txt');
    fs.writeFileSync(list, SCENES.map((s) => `file '${s}'\nduration 1`).join('\n') + `\nfile '${SCENES[1]}'\n`);
    for (const [out, codec] of [[Y4M, ['-pix_fmt', 'yuv420p']], [WEBM, ['-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-deadline', 'realtime']]] as const) {
      const r = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', list, '-vf', 'fps=10', ...codec, out]);
      assert.equal(r.status, 0, String(r.stderr));
    }
    server = await serveApp();
    browser = await launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${Y4M}`]);
    page = await browser.context.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => (window as unknown as { gradcam: { ready: boolean } }).gradcam?.ready === true, null, { timeout: 120_000 });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('explains the fake camera frame by frame, one frame in flight; its map equals Node\'s within 1e-3', async () => {
    await page.click('#camera-start');
    await page.waitForFunction(() => (window as unknown as { gradcam: { camera: Cam } }).gradcam.camera.explained >= 4, null, { polling: 100, timeout: 120_000 });
    const c = await cam(page);
    assert.equal(c.source, 'camera');
    assert.ok(c.fps > 0);
    assert.match(await page.textContent('#camera-stats') ?? '', /frames\/s explained · \d+ explained · \d+ dropped/);
    const f = await sameAsNode(page);
    // the canvas shows the overlay at the frame's size
    assert.deepEqual(await page.$eval('#camera-canvas', (cv) => [(cv as HTMLCanvasElement).width, (cv as HTMLCanvasElement).height]), [f.w, f.h]);
  });

  it('records the overlay and its rows', async () => {
    await page.click('#camera-record');
    const before = (await cam(page)).explained;
    await page.waitForFunction((n) => (window as unknown as { gradcam: { camera: Cam } }).gradcam.camera.explained >= n + 2, before, { polling: 100, timeout: 60_000 });
    await page.click('#camera-record');
    await page.waitForSelector('#camera-downloads a[download="frames.jsonl"]', { timeout: 30_000 });
    const sizes = await page.$$eval('#camera-downloads a', async (as) => Promise.all(as.map(async (a) => [(a as HTMLAnchorElement).download, (await (await fetch((a as HTMLAnchorElement).href)).blob()).size] as const)));
    const m = new Map(sizes);
    assert.ok(m.get('overlay.webm')! > 500, JSON.stringify(sizes));
    assert.ok(m.get('frames.jsonl')! > 100, JSON.stringify(sizes));
    await page.click('#camera-stop');
    assert.equal((await cam(page)).running, false);
  });

  it('explains a dropped video file the same way', async () => {
    await page.setInputFiles('#camera-file', WEBM);
    await page.waitForFunction(() => { const c = (window as unknown as { gradcam: { camera: Cam } }).gradcam.camera; return c.source === 'file' && c.explained >= 3; }, null, { polling: 100, timeout: 60_000 })
      .catch(async (e) => { throw new Error(`${(e as Error).message}: ${JSON.stringify(await cam(page))} ${JSON.stringify(await page.evaluate(() => (window as unknown as { gradcam: { errors: string[] } }).gradcam.errors))}`); });
    const c = await cam(page);
    assert.ok(c.rows.every((r) => Number.isInteger(r.class.index)));
    await sameAsNode(page);
    // the file ends (2 s): the mode stops by itself
    await page.waitForFunction(() => !(window as unknown as { gradcam: { camera: Cam } }).gradcam.camera.running, null, { polling: 100, timeout: 30_000 });
  });
});
