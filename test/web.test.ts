/**
 * The browser app end to end, in headless Chromium (Debian's `chromium`, driven by playwright-core):
 * the page loads the demo model and examples, explains an example in one click, and its heat map equals
 * Node's for the same input; the layer grid (every CAM method) and the sanity check equal Node's
 * explainMany and sanityCheck, with progress; a failed run or a new model clears the old map; a model and an
 * image go in through the file input; downloads work; and no request leaves the page's own origin.
 * A fully-float16 ViT goes in through the file input too (issue 21: computed in float32, maps near its twin's).
 * The scan viewer (volume.html): the medical demo's 3-D model on its example NIfTI, the map equal to Node's,
 * and a DICOM series through the file input.
 * Screenshots are saved to test-artifacts/web/.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { chromiumMissing, launchChromium, serveApp, type AppServer, type Browser } from './helpers/browser.js';
import { createStaticServer, SERVE_HEADERS } from '../src/cli/serve.js';
import { createNodeSession, loadExplainer, prepareInputs } from '../src/node.js';
import { explainGradients, type GradientMethodName as GradientMethod } from '../src/methods/gradient/explain.js';
import { explainMany } from '../src/cam/runner.js';
import { sanityCheck } from '../src/sanity/index.js';
import { decodePng, encodePng } from '../src/image/png.js';
import { Explainer } from '../src/explainer.js';
import { readNifti } from '../src/image/nifti.js';
import { scanToTensors } from '../src/image/volume.js';
import { mapAtScan } from '../src/render/index.js';
import { writeDicom } from '../scripts/medical/dicom-writer.js';
import { png16 } from '../scripts/medical/image16-writer.js';
import { pearson } from '../src/metrics/similarity.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'web');
const DEMO_MODEL = path.join(ROOT, 'demo', 'models', 'where.onnx');
const DEMO_SCENE = path.join(ROOT, 'demo', 'scenes', '00_t-shirt-top.png');
const FIXTURE_MODEL = path.join(ROOT, 'test', 'fixtures', 'resnet_like', 'model.onnx');
const VIT_MODEL = path.join(ROOT, 'test', 'fixtures', 'vit_tiny_op17', 'model.onnx');
const HALF_VIT_MODEL = path.join(ROOT, 'test', 'fixtures', 'precision', 'vit_tiny.fp16.io16.onnx');
const TOL = 1e-3;

const noChromium = chromiumMissing();
// in CI a missing browser is a failure (.ci/run installs it); elsewhere the browser tests are skipped
const skipBrowser = noChromium && !process.env.CI ? noChromium : false;
const noDemo = fs.existsSync(DEMO_MODEL) && fs.existsSync(DEMO_SCENE) ? false : 'demo/models/where.onnx or demo/scenes/ is missing';

interface Last { imageName: string; method: string; layer: string; classIndex: number; width: number; height: number; map: number[]; kind: string }

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const idle = (page: Page) => page.waitForFunction(() => (window as unknown as { gradcam: { busy: number } }).gradcam?.busy === 0, null, { polling: 100, timeout: 120_000 });

async function errors(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { gradcam: { errors: string[] } }).gradcam.errors);
}

async function last(page: Page): Promise<Last> {
  return page.evaluate(() => {
    const l = (window as unknown as { gradcam: { last: Omit<Last, 'map'> & { map: Float32Array } } }).gradcam.last;
    return { ...l, map: Array.from(l.map) };
  });
}

/** The page's last pixel attribution ([H, W, C], as the worker sent it). */
async function pageGradient(page: Page): Promise<number[]> {
  return page.evaluate(() => Array.from((window as unknown as { gradcam: { last: { gradient: Float32Array } } }).gradcam.last.gradient));
}

/** The page's last result against Node's explanation of the same model and image (the top class): the same class and layer, the map within TOL. */
async function assertNodeMap(got: Last, model: string, img: string, label: string): Promise<void> {
  const ex = await loadExplainer(model);
  try {
    const [inp] = await prepareInputs(ex, img);
    const e = (await ex.explain(inp!.tensor, inp!.dims, { classes: 'top' })).explanations[0]!;
    assert.equal(got.classIndex, e.target.index);
    assert.equal(got.layer, e.layers[0]);
    const d = maxAbsDiff(got.map, e.map);
    console.log(`# ${label}, browser vs Node: max |diff| ${d.toExponential(2)}`);
    assert.ok(d <= TOL, `max |browser - node| = ${d}`);
  } finally {
    await ex.release();
  }
}

/** Node's explanations of the demo scene by the demo model, one per set of options: the references of the page's results. */
async function nodeExplanations(...runs: Parameters<Explainer['explain']>[2][]) {
  const ex = await loadExplainer(DEMO_MODEL);
  try {
    const [inp] = await prepareInputs(ex, DEMO_SCENE);
    const out = [];
    for (const o of runs) out.push((await ex.explain(inp!.tensor, inp!.dims, o)).explanations[0]!);
    return out;
  } finally {
    await ex.release();
  }
}

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) { d += (a[i]! - b[i]!) ** 2; n += b[i]! ** 2; }
  return Math.sqrt(d / Math.max(n, 1e-30));
}

/** The page's gradient picture data ([H, W, C]) for a gradient method vs Node's, as relative L2. */
async function gradientParity(page: Page, method: GradientMethod): Promise<number> {
  const g = await page.evaluate(() => Array.from((window as unknown as { gradcam: { last: { gradient: Float32Array } } }).gradcam.last.gradient));
  const ex = await loadExplainer(DEMO_MODEL);
  try {
    const [inp] = await prepareInputs(ex, DEMO_SCENE);
    const e = (await explainGradients(ex, inp!.tensor, inp!.dims, { method, classes: 'top' })).explanations[0]!;
    return relL2(g, e.gradient);
  } finally {
    await ex.release();
  }
}

/** Waits until the page is idle and `pred` (evaluated against `g` = window.gradcam) holds, or an error was shown. */
async function waitFor(page: Page, pred: string): Promise<void> {
  await page.waitForFunction(`(() => { const g = window.gradcam; return g && (g.errors.length || (g.busy === 0 && (${pred}))); })()`, null, { polling: 100, timeout: 180_000 });
}

/** A synthetic 50×35 picture for the ViT tests (any size: the app resizes it), written to a new temporary folder. */
function vitPicture(name: string): { dir: string; img: string } {
  const W = 50, H = 35;
  const data = new Uint8Array(W * H * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + ((i / 3) % W > 25 ? 90 : 0)) & 255;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-web-vit-'));
  const img = path.join(dir, name);
  fs.writeFileSync(img, encodePng({ width: W, height: H, data }));
  return { dir, img };
}

async function clearErrors(page: Page): Promise<void> {
  await page.evaluate(() => { (window as unknown as { gradcam: { errors: string[] } }).gradcam.errors.length = 0; });
}

interface ViewState { shown: boolean; caption: string; map: string | null; scores: string | null }

/**
 * Records the overlay's and the scores' state at every change of #overlay, #caption or #top5
 * (window.__views). A string, not a function: tsx's helpers (__name) do not exist in the page.
 */
async function recordViews(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    const w = window;
    const snap = () => {
      const o = document.getElementById('overlay');
      const top5 = document.getElementById('top5');
      w.__views.push({ shown: !o.hidden && o.width > 0, caption: document.getElementById('caption').textContent || '', map: o.dataset.for ?? null, scores: top5.dataset.for ?? null });
    };
    if (w.__observer) w.__observer.disconnect();
    w.__views = [];
    snap();
    w.__observer = new MutationObserver(snap);
    for (const id of ['overlay', 'caption', 'top5']) w.__observer.observe(document.getElementById(id), { attributes: true, childList: true, subtree: true, characterData: true });
  })()`);
}

async function recordedViews(page: Page): Promise<ViewState[]> {
  return page.evaluate(() => {
    const w = window as unknown as { __views: ViewState[]; __observer?: MutationObserver };
    w.__observer?.disconnect();
    return w.__views;
  });
}

async function waitLast(page: Page, pred: string): Promise<void> {
  // pred is evaluated against `l` = window.gradcam.last; errors end the wait early
  await page.waitForFunction(`(() => { const g = window.gradcam; const l = g && g.last; return (g && g.errors.length) || (l && g.busy === 0 && (${pred})); })()`, null, { polling: 100, timeout: 120_000 });
  assert.deepEqual(await errors(page), []);
}

describe('gradcam serve: static server', () => {
  test('sends the isolation headers, serves files, refuses paths outside and other methods', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-serve-'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>x</title>');
    fs.mkdirSync(path.join(dir, 'ort'));
    fs.writeFileSync(path.join(dir, 'ort', 'a.wasm'), new Uint8Array([0, 97, 115, 109]));
    const seen: string[] = [];
    const server = createStaticServer(dir, { onRequest: (m, p, s) => seen.push(`${m} ${p} ${s}`) });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const index = await fetch(`${base}/`);
      assert.equal(index.status, 200);
      assert.equal(index.headers.get('cross-origin-opener-policy'), 'same-origin');
      assert.equal(index.headers.get('cross-origin-embedder-policy'), 'require-corp');
      assert.match(index.headers.get('content-type') ?? '', /text\/html/);
      assert.match(index.headers.get('content-security-policy') ?? '', /connect-src 'self'/);
      const wasm = await fetch(`${base}/ort/a.wasm`);
      assert.equal(wasm.headers.get('content-type'), 'application/wasm');
      assert.equal((await wasm.arrayBuffer()).byteLength, 4);
      assert.equal((await fetch(`${base}/missing.js`)).status, 404);
      assert.equal((await fetch(`${base}/..%2f..%2fetc%2fpasswd`)).status, 403);
      assert.equal((await fetch(`${base}/`, { method: 'POST', body: 'x' })).status, 405);
      assert.deepEqual(Object.keys(SERVE_HEADERS).filter((k) => !index.headers.has(k)), []);
      assert.ok(seen.includes('GET / 200'));
    } finally {
      await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('`gradcam serve --port 0 --dir DIR` prints its address and serves with the headers until stopped', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-serve-cli-'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>app</title>');
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'gradcam.js'), 'serve', '--port', '0', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += String(d);
          const m = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
        setTimeout(() => reject(new Error(`no address printed: ${out}`)), 30_000);
      });
      const r = await fetch(url);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('cross-origin-embedder-policy'), 'require-corp');
      assert.match(await r.text(), /<title>app<\/title>/);
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('`gradcam serve` refuses a bad port and a folder without index.html', () => {
    const bad = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'gradcam.js'), 'serve', '--port', 'x'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--port must be a port number/);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-serve-empty-'));
    const none = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'gradcam.js'), 'serve', '--dir', empty], { encoding: 'utf8' });
    fs.rmSync(empty, { recursive: true, force: true });
    assert.equal(none.status, 2);
    assert.match(none.stderr, /has no index\.html/);
  });
});

describe('browser app in headless Chromium', { skip: skipBrowser }, () => {
  let app: AppServer;
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];

  before(async () => {
    if (noChromium) throw new Error(noChromium);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    app = await serveApp({ build: true });
    browser = await launchChromium();
    browser.context.on('request', (r) => requests.push(r.url()));
    page = await browser.context.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(app.url);
    await page.waitForFunction(() => (window as unknown as { gradcam: { ready: boolean } }).gradcam?.ready, null, { polling: 100, timeout: 120_000 });
  });

  // every test checks the errors its own steps show: one failing test does not fail the next ones
  beforeEach(async () => {
    if (page) await clearErrors(page);
  });

  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test('runs onnxruntime-web on wasm with threads (cross-origin isolated) and says images stay local', async () => {
    const rt = await page.evaluate(() => (window as unknown as { gradcam: { runtime: { backend: string; threads: number; crossOriginIsolated: boolean; simd: boolean } } }).gradcam.runtime);
    assert.equal(rt.backend, 'wasm');
    assert.equal(rt.crossOriginIsolated, true);
    assert.equal(rt.simd, true);
    assert.equal(rt.threads, await page.evaluate(() => navigator.hardwareConcurrency));
    assert.match(await page.textContent('#privacy') ?? '', /never leave this browser/);
    assert.deepEqual(await errors(page), []);
  });

  test('demo: "try it" explains an example in one click; the map equals Node\'s (≤ 1e-3)', { skip: noDemo }, async () => {
    const t0 = performance.now();
    await page.click('#try');
    await waitLast(page, "l.imageName === '00_t-shirt-top.png'");
    const browserMs = performance.now() - t0;
    const got = await last(page);
    const top = await page.evaluate(() => (window as unknown as { gradcam: { analysis: { top: { index: number; probability: number }[] } } }).gradcam.analysis.top);
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo.png'), fullPage: true });

    const ex = await loadExplainer(DEMO_MODEL);
    try {
      const [inp] = await prepareInputs(ex, DEMO_SCENE);
      const r = await ex.explain(inp!.tensor, inp!.dims, { classes: 'top' });
      const e = r.explanations[0]!;
      assert.equal(got.method, 'gradcam');
      assert.equal(got.layer, e.layers[0]);
      assert.equal(got.classIndex, e.target.index);
      assert.deepEqual([got.height, got.width], [e.height, e.width]);
      const d = maxAbsDiff(got.map, e.map);
      console.log(`# demo map, browser (wasm) vs Node (native): max |diff| ${d.toExponential(2)} over ${e.map.length} pixels; click to map ${browserMs.toFixed(0)} ms`);
      assert.ok(d <= TOL, `max |browser - node| = ${d}`);
      assert.equal(top[0]!.index, e.predicted.index);
      assert.ok(Math.abs(top[0]!.probability - e.predicted.probability) <= TOL);
    } finally {
      await ex.release();
    }
    assert.equal(await page.locator('#top5 li').count(), 5);
  });

  test('guided Grad-CAM beside the Grad-CAM map; the layer grid at the auto layer equals the single map', { skip: noDemo }, async () => {
    const camMap = (await last(page)).map;
    await page.selectOption('#method', 'guided-gradcam');
    await waitLast(page, "l.method === 'guided-gradcam'");
    const g = await last(page);
    assert.equal(g.kind, 'gradient');
    assert.ok(maxAbsDiff(g.map, camMap) <= 1e-6, 'guided-gradcam shows the same Grad-CAM map beside the guided picture');
    assert.equal(await page.isVisible('#gradient'), true);
    const rel = await gradientParity(page, 'guided-gradcam');
    console.log(`# guided Grad-CAM gradient, browser (wasm) vs Node: relative L2 ${rel.toExponential(2)}`);
    assert.ok(rel <= TOL, `relative L2 ${rel}`);

    await page.selectOption('#method', 'gradcam');
    await waitLast(page, "l.method === 'gradcam'");
    await page.selectOption('#grid-count', '4');
    await page.click('#grid-run');
    await waitFor(page, "g.grid && g.grid.method === 'gradcam'");
    assert.deepEqual(await errors(page), []);
    assert.equal(await page.locator('#grid figure').count(), 4);
    const autoName = (await last(page)).layer;
    const grid = await page.evaluate(() => (window as unknown as { gradcam: { grid: { cells: { layer: string; map: Float32Array }[] } } }).gradcam.grid.cells.map((c) => ({ layer: c.layer, map: Array.from(c.map) })));
    const autoCell = grid.find((c) => c.layer === autoName);
    assert.ok(autoCell, 'the grid ends with the automatic layer');
    assert.ok(maxAbsDiff(autoCell.map, camMap) <= 1e-5, 'the grid cell of the auto layer equals the single-layer map');
    const stages = await page.evaluate(() => (window as unknown as { gradcam: { stages: string[] } }).gradcam.stages);
    assert.ok(stages.some((x) => /^gradcam at 4 layers: compiling and running/.test(x)), 'the grid reports its step');
  });

  test('the attribution methods from the menu (integrated-gradients, fullgrad, noise-tunnel): their attributions equal Node\'s', { skip: noDemo }, async () => {
    for (const method of ['integrated-gradients', 'fullgrad', 'noise-tunnel']) {
      await page.selectOption('#method', method);
      await waitLast(page, `l.method === '${method}'`);
      assert.deepEqual(await errors(page), []);
      const got = await last(page);
      assert.equal(got.kind, 'gradient');
      const g = await pageGradient(page);
      const [e] = await nodeExplanations({ method, classes: 'top' });
      const rel = relL2(g, e!.gradient!);
      console.log(`# ${method}, browser (wasm) vs Node: relative L2 ${rel.toExponential(2)}`);
      assert.ok(rel <= TOL, `${method}: relative L2 ${rel}`);
    }
    await page.selectOption('#method', 'gradcam');
    await waitLast(page, "l.method === 'gradcam'");
  });

  test('the perturbation methods from the menu (occlusion, rise) with options set in the page\'s option fields: attributions and maps equal Node\'s (≤ 1e-4)', { skip: noDemo }, async () => {
    // the option fields are the registry descriptor's declarations; values as the CLI flags of the same names
    const cases: { method: string; fields: Record<string, string>; node: Record<string, unknown> }[] = [
      { method: 'occlusion', fields: { 'occlusion-window': '8', 'occlusion-stride': '8', 'occlusion-baseline': '-0.5' }, node: { methodOptions: { window: '8', stride: '8', baseline: -0.5 } } },
      { method: 'rise', fields: { 'rise-masks': '200', 'rise-cells': '4', 'rise-keep': '0.6', seed: '3' }, node: { methodOptions: { masks: 200, cells: 4, keep: 0.6 }, randomSeed: 3 } },
    ];
    for (const c of cases) {
      await page.selectOption('#method', c.method);
      await waitLast(page, `l.method === '${c.method}'`);
      const offered = await page.$$eval('#method-options [data-key]', (fs) => fs.map((f) => f.id));
      for (const flag of Object.keys(c.fields)) assert.ok(offered.includes(`opt-${flag}`), `${c.method}: no field for --${flag} among ${offered.join(', ')}`);
      // set every field, then one change event: one run with all of them; the old result is marked to wait for the new one
      await page.evaluate((fields) => {
        (window as unknown as { gradcam: { last: { stale?: boolean } } }).gradcam.last.stale = true;
        let f: HTMLInputElement | undefined;
        for (const [flag, v] of Object.entries(fields)) { f = document.getElementById(`opt-${flag}`) as HTMLInputElement; f.value = v; }
        f!.dispatchEvent(new Event('change'));
      }, c.fields);
      await waitLast(page, `l.method === '${c.method}' && !l.stale`);
      const got = await last(page);
      assert.equal(got.kind, 'gradient');
      const g = await pageGradient(page);
      // the defaults would give another attribution: the page's options reached the method
      const [e, d] = await nodeExplanations({ method: c.method, classes: 'top', ...c.node }, { method: c.method, classes: 'top' });
      const rel = relL2(g, e!.gradient!);
      const relMap = relL2(got.map, e!.map);
      console.log(`# ${c.method} (${JSON.stringify(c.fields)}), browser (wasm) vs Node: attribution relative L2 ${rel.toExponential(2)}, map ${relMap.toExponential(2)}; vs Node's defaults ${relL2(g, d!.gradient!).toExponential(2)}`);
      assert.ok(rel <= 1e-4, `${c.method}: attribution relative L2 ${rel}`);
      assert.ok(relMap <= 1e-4, `${c.method}: map relative L2 ${relMap}`);
      assert.ok(relL2(g, d!.gradient!) > 1e-2, `${c.method}: the page's result equals the defaults'`);
    }
    await page.selectOption('#method', 'gradcam');
    await waitLast(page, "l.method === 'gradcam'");
    assert.equal(await page.$$eval('#method-options [data-key]', (fs) => fs.length), 0, 'CAM methods show no option fields');
  });

  test('attribution pictures in the app (occlusion): Captum\'s signed red-white-green map, |a| and the top-k % as gradcam explain draws them, shown and downloaded', { skip: noDemo }, async () => {
    await page.selectOption('#method', 'occlusion');
    await waitLast(page, "l.method === 'occlusion'");
    assert.equal(await page.isVisible('#attribution-look'), true, 'the |a| and top % fields are offered for an attribution method');
    // the picture on the page (canvas RGBA) and the downloaded PNG (RGB): one renderer, the same pixels
    const shown = () => page.evaluate(() => {
      const c = document.getElementById('gradient') as HTMLCanvasElement;
      return { width: c.width, height: c.height, rgba: Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data) };
    });
    const download = async (sel: string) => { const [d] = await Promise.all([page.waitForEvent('download'), page.click(sel)]); return fs.readFileSync((await d.path())!); };
    // Captum's clipped colours (src/image/attribution.ts divergingColor(±1)): red (255, 0, 0) and green (0, 128, 0)
    const clipped = (rgb: (i: number) => number[], n: number) => { let k = 0; for (let i = 0; i < n; i++) { const [r, g, b] = rgb(i); if ((r === 255 && g === 0 && b === 0) || (r === 0 && g === 128 && b === 0)) k++; } return k; };
    const state = async () => {
      const c = await shown();
      const png = decodePng(await download('#dl-png'));
      assert.deepEqual([png.width, png.height, png.channels], [c.width, c.height, 3], 'the PNG is the picture shown');
      for (let i = 0; i < c.width * c.height; i++) for (let k = 0; k < 3; k++) if (png.data[i * 3 + k] !== c.rgba[i * 4 + k]) assert.fail(`pixel ${i}: the PNG differs from the page's picture`);
      const j = JSON.parse((await download('#dl-json')).toString('utf8'));
      return { pixels: c.rgba, j, clipped: clipped((i) => c.rgba.slice(i * 4, i * 4 + 3), c.width * c.height) };
    };
    const signed = await state();
    assert.equal(signed.j.attribution.picture, 'signed');
    assert.equal(signed.j.top_percent, 10);
    assert.equal(signed.j.occlusion.windows > 0, true, 'the sidecar carries the method\'s facts');
    assert.ok(signed.clipped > 0, 'the signed picture has Captum\'s clipped red or green pixels');
    await page.check('#abs');
    const abs = await state();
    assert.equal(abs.j.attribution.picture, 'abs');
    console.log(`# occlusion picture: ${signed.clipped} pixels in Captum's clipped red/green signed, ${abs.clipped} with |a|`);
    assert.ok(abs.clipped < signed.clipped, `|a| is drawn as a heat map, not red-white-green (${abs.clipped} vs ${signed.clipped} clipped pixels)`);
    await page.fill('#top-percent', '3');
    await page.dispatchEvent('#top-percent', 'change');
    const top3 = await state();
    assert.equal(top3.j.top_percent, 3);
    assert.notDeepEqual(top3.pixels, abs.pixels, 'the top-k panel follows top %');
    await page.fill('#top-percent', '150');
    await page.dispatchEvent('#top-percent', 'change');
    assert.match((await errors(page)).join('\n'), /top %: a number of percent in \[0, 100\], got '150'/);
    await page.evaluate(() => { (window as unknown as { gradcam: { errors: string[] } }).gradcam.errors.length = 0; });
    await page.fill('#top-percent', '');
    await page.uncheck('#abs');
    await page.selectOption('#method', 'gradcam');
    await waitLast(page, "l.method === 'gradcam'");
    assert.equal(await page.isVisible('#attribution-look'), false, 'CAM methods: no attribution picture fields');
  });

  test('layer grid: every CAM method of the menu runs through the shared pipeline, with progress; its maps equal Node\'s (≤ 1e-3)', { skip: noDemo }, async () => {
    const methods = await page.evaluate(() => (window as unknown as { gradcam: { model: { methods: { name: string; kind: string }[] } } }).gradcam.model.methods.filter((m) => m.kind === 'cam').map((m) => m.name));
    assert.ok(['scorecam', 'ablationcam', 'cam', 'eigencam', 'random'].every((m) => methods.includes(m)), methods.join(', '));
    await page.selectOption('#grid-count', '4');
    const ex = await loadExplainer(DEMO_MODEL);
    const worst: string[] = [];
    try {
      const [inp] = await prepareInputs(ex, DEMO_SCENE);
      for (const m of methods) {
        await page.selectOption('#method', m);
        await waitLast(page, `l.method === '${m}'`);
        await page.click('#grid-run');
        await waitFor(page, `g.grid && g.grid.method === '${m}'`);
        assert.deepEqual(await errors(page), [], `${m} in the grid`);
        const grid = await page.evaluate(() => {
          const g = (window as unknown as { gradcam: { grid: { target: { index: number }; cells: { layer: string; map?: Float32Array; error?: string }[] } } }).gradcam.grid;
          return { target: g.target.index, cells: g.cells.map((c) => ({ layer: c.layer, map: c.map ? Array.from(c.map) : null, error: c.error ?? null })) };
        });
        assert.equal(grid.cells.length, 4);
        assert.equal(await page.locator('#grid figure').count(), 4);
        let worstDiff = 0;
        for (const cell of grid.cells) {
          // Node, one layer at a time: the reference does not depend on the grouping of the layers
          let ref: Float32Array | Error;
          try {
            ref = (await explainMany(ex, inp!.tensor, inp!.dims, { methods: [m], layers: [cell.layer], classes: [grid.target] })).results[0]!.explanations[0]!.map;
          } catch (e) {
            ref = e as Error;
          }
          if (ref instanceof Error) {
            assert.equal(cell.map, null, `${m} at ${cell.layer}: Node fails (${ref.message}), the browser gives a map`);
            assert.equal(cell.error, ref.message);
          } else {
            assert.ok(cell.map, `${m} at ${cell.layer}: no map (${cell.error})`);
            const d = maxAbsDiff(cell.map, ref);
            assert.ok(d <= TOL, `${m} at ${cell.layer}: max |browser - node| = ${d}`);
            assert.ok(ref.some((v) => v > 0), `${m} at ${cell.layer}: Node's map is not all zero`);
            worstDiff = Math.max(worstDiff, d);
          }
        }
        worst.push(`${m} ${worstDiff.toExponential(1)}`);
      }
    } finally {
      await ex.release();
    }
    console.log(`# layer grid, 4 layers, browser vs Node (max |diff| per method): ${worst.join(', ')}`);
    const stages = await page.evaluate(() => (window as unknown as { gradcam: { stages: string[] } }).gradcam.stages);
    assert.ok(stages.some((x) => /^scorecam at 4 layers: model run \d+$/.test(x)), 'Score-CAM\'s passes are reported');
    await page.screenshot({ path: path.join(ARTIFACTS, 'grid.png'), fullPage: true });
    await page.selectOption('#method', 'gradcam');
    await waitLast(page, "l.method === 'gradcam'");
  });

  test('sanity check: the browser runs src/sanity\'s sanityCheck; its maps and similarities equal Node\'s', { skip: noDemo }, async () => {
    await page.selectOption('#sanity-steps', '2');
    await page.click('#sanity-run');
    await waitFor(page, 'g.sanity');
    assert.deepEqual(await errors(page), []);
    const s = await page.evaluate(() => {
      const x = (window as unknown as { gradcam: { sanity: { layer: string; classIndex: number; original: Float32Array; steps: { stage: number; layer: string; map: Float32Array; similarity: Record<string, number> }[]; verdict: string; sensitive: boolean; value: number } } }).gradcam.sanity;
      return { ...x, original: Array.from(x.original), steps: x.steps.map((t) => ({ ...t, map: Array.from(t.map) })) };
    });
    const ex = await loadExplainer(DEMO_MODEL);
    try {
      const [inp] = await prepareInputs(ex, DEMO_SCENE);
      const r = await sanityCheck(ex, inp!.tensor, inp!.dims, { createSession: createNodeSession, methods: ['gradcam'], modes: ['cascading'], maxLayers: 2, classes: 'top', layer: 'auto' });
      assert.equal(s.classIndex, r.classes[0]);
      assert.equal(s.layer, r.camLayer);
      assert.ok(maxAbsDiff(s.original, r.original['gradcam']![0]!.display) <= TOL);
      const stages = r.stages.filter((x) => x.stage > 0);
      assert.equal(s.steps.length, 2);
      let worst = 0;
      for (const [k, st] of s.steps.entries()) {
        const ref = stages[k]!;
        assert.equal(st.stage, ref.stage);
        assert.equal(st.layer, ref.layer);
        assert.ok(maxAbsDiff(st.map, ref.maps['gradcam']![0]!.display) <= TOL, `stage ${st.stage} map`);
        for (const key of ['spearman', 'spearman_abs', 'ssim', 'hog'] as const) {
          const d = Math.abs(st.similarity[key]! - ref.similarity['gradcam']![0]![key]);
          worst = Math.max(worst, d);
          assert.ok(d <= 1e-3, `stage ${st.stage} ${key}: browser ${st.similarity[key]}, Node ${ref.similarity['gradcam']![0]![key]}`);
        }
      }
      assert.ok(s.steps[1]!.similarity['spearman_abs']! < 0.9, 'randomising the top layers changes the map');
      const v = r.verdicts[0]!;
      assert.equal(s.sensitive, v.sensitive);
      assert.ok(Math.abs(s.value - v.value) <= 1e-3);
      console.log(`# sanity check, browser vs Node's sanityCheck: similarities within ${worst.toExponential(1)}; verdict ${v.text}`);
    } finally {
      await ex.release();
    }
    assert.match(await page.textContent('#sanity-verdict') ?? '', /^gradcam: (PASS|FAIL)/);
    assert.equal(await page.locator('#sanity figure').count(), 3);
    const stages = await page.evaluate(() => (window as unknown as { gradcam: { stages: string[] } }).gradcam.stages);
    assert.ok(stages.some((x) => /^sanity check: randomised cascading 2\/2: /.test(x)), 'the sanity check reports its steps');
    await page.screenshot({ path: path.join(ARTIFACTS, 'grid-sanity.png'), fullPage: true });
  });

  test('downloads: PNG and JSON of the explanation', { skip: noDemo }, async () => {
    const [png] = await Promise.all([page.waitForEvent('download'), page.click('#dl-png')]);
    const pngBytes = fs.readFileSync((await png.path())!);
    assert.deepEqual([...pngBytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    assert.match(png.suggestedFilename(), /^00_t-shirt-top\.gradcam\.png$/);
    const [json] = await Promise.all([page.waitForEvent('download'), page.click('#dl-json')]);
    const j = JSON.parse(fs.readFileSync((await json.path())!, 'utf8'));
    assert.equal(j.method, 'gradcam');
    assert.equal(j.input, '00_t-shirt-top.png');
    assert.equal(j.top5.length, 5);
    assert.equal(typeof j.class.probability, 'number');
    // render's sidecar (gradcam explain's fields), with the page's settings and the PNG's name
    for (const k of ['model', 'layer', 'layer_layout', 'target', 'class', 'predicted', 'explained_is_predicted', 'input_size', 'image_size', 'raw_map', 'timings_ms', 'warnings']) assert.ok(k in j, k);
    assert.deepEqual(j.target, { kind: 'logit', name: `logit ${j.class.index}`, value: j.class.logit });
    assert.equal(j.layer_layout.kind, 'nchw');
    assert.deepEqual(j.files, ['00_t-shirt-top.gradcam.png']);
  });

  test('a failed run clears the overlay, its caption and the downloads; the scores stay', { skip: noDemo }, async () => {
    const stem = await page.evaluate(() => (window as unknown as { gradcam: { model: { layers: { name: string }[] } } }).gradcam.model.layers[0]!.name);
    await page.selectOption('#layer', stem);
    await waitLast(page, `l.layer === '${stem}'`);
    assert.match(await page.textContent('#caption') ?? '', /^gradcam at /);
    // CAM needs the layer right before global pooling: at the stem it fails
    await page.selectOption('#method', 'cam');
    await waitFor(page, 'false');
    const errs = await errors(page);
    assert.equal(errs.length, 1);
    assert.match(errs[0]!, /^cam needs the layer to be followed by global average pooling/);
    assert.equal(await page.textContent('#caption'), '');
    assert.equal(await page.isVisible('#overlay'), false);
    assert.equal(await page.evaluate(() => (window as unknown as { gradcam: { last?: unknown } }).gradcam.last), undefined);
    assert.equal(await page.isDisabled('#dl-png'), true);
    assert.equal(await page.locator('#top5 li').count(), 5, 'the scores are still those of the image');
    await clearErrors(page);
    await page.selectOption('#method', 'gradcam');
    await waitLast(page, `l.method === 'gradcam' && l.layer === '${stem}'`);
    assert.equal(await page.isVisible('#overlay'), true);
    await page.selectOption('#layer', 'auto');
    await waitLast(page, `l.layer !== '${stem}'`);
  });

  test('choosing WebGPU where the browser has none says so and stays on wasm with the model loaded', async (t) => {
    const rt0 = await page.evaluate(() => (window as unknown as { gradcam: { runtime: { backend: string; webgpu: boolean } } }).gradcam.runtime);
    if (rt0.webgpu) {
      t.skip('this browser has a WebGPU adapter');
      return;
    }
    await page.selectOption('#backend', 'webgpu');
    await waitFor(page, 'false');
    assert.deepEqual(await errors(page), ['WebGPU is not available in this browser; still on the wasm backend']);
    assert.equal(await page.textContent('#error'), 'WebGPU is not available in this browser; still on the wasm backend');
    assert.equal(await page.inputValue('#backend'), 'wasm', 'the menu shows the backend that runs');
    assert.equal(await page.evaluate(() => (window as unknown as { gradcam: { runtime: { backend: string } } }).gradcam.runtime.backend), 'wasm');
    assert.match(await page.textContent('#backend option[value="webgpu"]') ?? '', /not available/);
    // the model is still there: explaining works
    await clearErrors(page);
    await page.selectOption('#method', 'hirescam');
    await waitLast(page, "l.method === 'hirescam'");
    await page.selectOption('#method', 'gradcam');
    await waitLast(page, "l.method === 'gradcam'");
  });

  test('a model and an image through the file input; the map equals Node\'s', async () => {
    // a synthetic picture (any size: the app resizes it to the model's 48×48 input like the CLI)
    const W = 61, H = 47;
    const data = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      data[i] = (x * 4) & 255; data[i + 1] = (y * 5) & 255; data[i + 2] = ((x - 30) ** 2 + (y - 20) ** 2 < 120 ? 230 : 40);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-web-'));
    const img = path.join(dir, 'synthetic.png');
    fs.writeFileSync(img, encodePng({ width: W, height: H, data }));
    try {
      await recordViews(page);
      await page.setInputFiles('#files', [FIXTURE_MODEL, img]);
      await waitLast(page, "l.imageName === 'synthetic.png'");
      // the demo's overlay went away when the new model came, before its first result; no map was ever shown beside other scores
      const views = await recordedViews(page);
      const old = views[0]!;
      assert.ok(old.shown && old.caption, 'the demo map is shown before');
      const firstNew = views.findIndex((v) => v.shown && v.caption !== old.caption);
      assert.ok(firstNew > 0, 'the new map is shown');
      const cleared = views.findIndex((v) => !v.shown && v.caption === '');
      assert.ok(cleared > 0 && cleared < firstNew, `the old overlay and caption are cleared before the new result (cleared at change ${cleared}, new map at ${firstNew} of ${views.length})`);
      assert.deepEqual(views.slice(cleared).filter((v) => v.shown && (v.caption === old.caption || v.map === old.map)), [], 'the old map never comes back');
      assert.deepEqual(views.filter((v) => v.shown && (v.map === null || v.map !== v.scores)), [], 'every shown map is tagged with the scores shown beside it');
      const model = await page.evaluate(() => (window as unknown as { gradcam: { model: { name: string; size: number[] } } }).gradcam.model);
      assert.equal(model.name, 'model.onnx');
      assert.deepEqual(model.size, [48, 48]);
      const got = await last(page);
      await page.screenshot({ path: path.join(ARTIFACTS, 'file-input.png'), fullPage: false });

      await assertNodeMap(got, FIXTURE_MODEL, img, 'dropped model map');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const name of ['p3_baseline.jpg', 'cmyk_pillow.jpg']) test(`${name}: a JPEG with a Display P3 profile / in CMYK through the file input: read as Node and Pillow read it, the map equals Node's`, async () => {
    // test/icc.test.ts: Node's decode equals Pillow's bit for bit; the page decodes with colorSpaceConversion 'none'
    const img = path.join(ROOT, 'test', 'fixtures', 'icc', name);
    await page.setInputFiles('#files', [FIXTURE_MODEL, img]);
    await waitLast(page, `l.imageName === '${name}'`);
    await assertNodeMap(await last(page), FIXTURE_MODEL, img, name);
  });

  test('a one-channel model and a 16-bit grey PNG through the file input: the input is Node\'s (src/image/picture.ts), so is the map', async () => {
    const W = 53, H = 41;
    const v = new Uint16Array(W * H);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) v[y * W + x] = ((x - 30) ** 2 + (y - 18) ** 2 < 90 ? 52000 : 9000) + x * 97 + y * 31;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-web-'));
    const img = path.join(dir, 'grey16.png');
    const med2d = path.join(ROOT, 'demo', 'models', 'med2d.onnx');
    fs.writeFileSync(img, png16(W, H, v));
    try {
      await page.setInputFiles('#files', [med2d, img]);
      await waitLast(page, "l.imageName === 'grey16.png'");
      await assertNodeMap(await last(page), med2d, img, 'one-channel model, 16-bit PNG');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a ViT (token layer, class + register tokens, 8×12 grid) through the file input: the layout is inferred and the map equals Node\'s', async () => {
    const { dir, img } = vitPicture('vit-input.png');
    try {
      await page.setInputFiles('#files', [VIT_MODEL, img]);
      await waitLast(page, "l.imageName === 'vit-input.png'");
      const model = await page.evaluate(() => (window as unknown as { gradcam: { model: { size: number[]; layers: { name: string; auto: boolean; layout: { kind: string; grid: number[]; prefix: number } }[] } } }).gradcam.model);
      assert.deepEqual(model.size, [32, 48]);
      const auto = model.layers.find((l) => l.auto)!;
      assert.deepEqual([auto.layout.kind, auto.layout.grid, auto.layout.prefix], ['tokens', [8, 12], 3]);
      const got = await last(page);
      assert.equal(got.layer, auto.name);
      const ex = await loadExplainer(VIT_MODEL);
      try {
        const [inp] = await prepareInputs(ex, img);
        const e = (await ex.explain(inp!.tensor, inp!.dims, { classes: 'top' })).explanations[0]!;
        assert.equal(got.classIndex, e.target.index);
        const d = maxAbsDiff(got.map, e.map);
        console.log(`# ViT map, browser vs Node: max |diff| ${d.toExponential(2)}`);
        assert.ok(d <= TOL, `max |browser - node| = ${d}`);
      } finally {
        await ex.release();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a fully-float16 ViT (issue 21) through the file input: computed in float32, its maps equal to Node\'s and near the float32 twin\'s', async () => {
    const { dir, img } = vitPicture('half-input.png');
    const node = await loadExplainer(HALF_VIT_MODEL);
    const twin = await loadExplainer(VIT_MODEL);
    try {
      await page.setInputFiles('#files', [HALF_VIT_MODEL, img]);
      await waitLast(page, "l.imageName === 'half-input.png'");
      const model = await page.evaluate(() => (window as unknown as { gradcam: { model: { promoted: string[]; size: number[] } } }).gradcam.model);
      assert.deepEqual(model.promoted, ['float16']);
      assert.deepEqual(model.size, [32, 48]);
      assert.match(await page.textContent('#model-line') ?? '', /float16 weights computed in float32/);
      const [inp] = await prepareInputs(node, img);
      for (const method of ['gradcam', 'eigencam']) {
        if (method !== 'gradcam') {
          await page.selectOption('#method', method);
          await waitLast(page, `l.method === '${method}'`);
        }
        const got = await last(page);
        const e = (await node.explain(inp!.tensor, inp!.dims, { method, classes: 'top' })).explanations[0]!;
        const t = (await twin.explain(inp!.tensor, inp!.dims, { method, classes: [e.target.index] })).explanations[0]!;
        assert.equal(got.classIndex, e.target.index);
        const d = maxAbsDiff(got.map, e.map);
        const r = pearson(got.map, t.map);
        console.log(`# float16 ViT ${method}, browser vs Node: max |diff| ${d.toExponential(2)}; vs the float32 twin: Pearson ${r.toFixed(5)}, max |diff| ${maxAbsDiff(got.map, t.map).toExponential(2)}`);
        assert.ok(d <= TOL, `max |browser - node| = ${d}`);
        assert.ok(r >= 0.99, `browser vs the float32 twin: Pearson ${r}`);
      }
      await page.selectOption('#method', 'gradcam');
      await waitLast(page, "l.method === 'gradcam'");
    } finally {
      await node.release();
      await twin.release();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('makes no request outside its own origin', () => {
    const origin = new URL(app.url).origin;
    const foreign = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:') && !u.startsWith('blob:'));
    assert.deepEqual(foreign, []);
    assert.ok(requests.length > 5);
    // and the server saw only the app's files
    assert.ok(app.requests.every((r) => / \/(|index\.html|assets\/[\w.-]+|ort\/[\w.-]+|demo\/[\w./-]+) 200$/.test(r)), app.requests.join('\n'));
  });
});

describe('WebGPU path (software WebGPU: SwiftShader) in headless Chromium', { skip: skipBrowser || noDemo }, () => {
  test('with a WebGPU adapter the app runs on WebGPU and its map equals Node\'s (≤ 1e-3)', async (t) => {
    const app = await serveApp({ build: false });
    const browser = await launchChromium([], { webgpu: true });
    try {
      const page = await browser.context.newPage();
      await page.goto(app.url);
      const adapter = await page.evaluate(async () => {
        const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
        return gpu ? (await gpu.requestAdapter()) !== null : false;
      });
      if (!adapter) {
        t.skip('this Chromium gives no software WebGPU adapter');
        return;
      }
      await page.waitForFunction(() => (window as unknown as { gradcam: { ready: boolean } }).gradcam?.ready, null, { polling: 100, timeout: 120_000 });
      const rt = await page.evaluate(() => (window as unknown as { gradcam: { runtime: { backend: string } } }).gradcam.runtime);
      assert.equal(rt.backend, 'webgpu');
      await page.click('#try');
      await waitLast(page, "l.imageName === '00_t-shirt-top.png'");
      const got = await last(page);
      assert.equal((await page.evaluate(() => (window as unknown as { gradcam: { runtime: { backend: string } } }).gradcam.runtime)).backend, 'webgpu', 'no fallback to wasm');
      const ex = await loadExplainer(DEMO_MODEL);
      try {
        const [inp] = await prepareInputs(ex, DEMO_SCENE);
        const e = (await ex.explain(inp!.tensor, inp!.dims, { classes: 'top' })).explanations[0]!;
        const d = maxAbsDiff(got.map, e.map);
        console.log(`# demo map, browser (WebGPU, SwiftShader) vs Node: max |diff| ${d.toExponential(2)}`);
        assert.ok(d <= TOL, `max |browser - node| = ${d}`);
      } finally {
        await ex.release();
      }
      // the backward graph of guided backprop (ConvTranspose, ReLU masks...) on WebGPU too
      await page.selectOption('#method', 'guided-backprop');
      await waitLast(page, "l.method === 'guided-backprop'");
      assert.equal((await page.evaluate(() => (window as unknown as { gradcam: { runtime: { backend: string } } }).gradcam.runtime)).backend, 'webgpu', 'no fallback to wasm');
      const rel = await gradientParity(page, 'guided-backprop');
      console.log(`# guided backprop, browser (WebGPU, SwiftShader) vs Node: relative L2 ${rel.toExponential(2)}`);
      assert.ok(rel <= TOL, `relative L2 ${rel}`);
    } finally {
      await browser.close();
      await app.close();
    }
  });
});

const MED_MODEL = path.join(ROOT, 'demo', 'models', 'med3d.onnx');
const MED_SCAN = path.join(ROOT, 'demo', 'medical', 'lesion-example.nii.gz');
const skipScans = skipBrowser || (!fs.existsSync(MED_MODEL) || !fs.existsSync(MED_SCAN) ? 'the medical demo model or example is missing' : false);

interface ShownVolume { map: number[]; dims: number[]; method: string; text: string }

// after the app's tests, which built web/dist: the scan viewer (web/volume.html) is served from that build
describe('scan viewer (volume.html) in headless Chromium', { skip: skipScans }, () => {
  let app: AppServer;
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-vweb-'));

  before(async () => {
    if (noChromium) throw new Error(noChromium);
    app = await serveApp({ build: false });
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

  const shown = () => page.evaluate(() => (window as unknown as { gradcamVolume: ShownVolume | null }).gradcamVolume);

  test('the example: the map of the 3-D model equals Node\'s (≤ 1e-3), shown over the slices', async () => {
    await page.click('#example');
    await page.waitForFunction(() => (window as unknown as { gradcamVolume: unknown }).gradcamVolume !== null, null, { timeout: 120_000 });
    const got = (await shown())!;
    const vol = readNifti(new Uint8Array(fs.readFileSync(MED_SCAN)), 'example');
    const ex = Explainer.fromBytes(new Uint8Array(fs.readFileSync(MED_MODEL)), { createSession: createNodeSession });
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
