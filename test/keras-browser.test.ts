/**
 * The Keras importer in headless Chromium (issue 22): bundled for the browser by Vite (h5wasm's wasm
 * inside), it imports the TF.js layers model, the Keras 3 .keras and the legacy .h5 fixtures from fetched
 * bytes to the very ONNX bytes that Node's import gives.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { build } from 'vite';
import { importKerasModel } from '../src/onnx/import/keras/index.js';
import { chromiumMissing, launchChromium, type Browser } from './helpers/browser.js';
import { folderFiles, KERAS_FIXTURES } from './helpers/keras.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const skip = chromiumMissing() ?? false;
const CASES = ['tm/model.json', 'tm/model.keras', 'functional/model.h5', 'keras3/model.keras'];

describe('keras import in headless Chromium', { skip }, () => {
  let out: string;
  let server: http.Server;
  let url: string;
  let browser: Browser;

  before(async () => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-keras-web-'));
    await build({
      configFile: false, logLevel: 'error', root: out,
      build: { outDir: path.join(out, 'dist'), emptyOutDir: true, minify: false, lib: { entry: path.join(ROOT, 'src/onnx/import/keras/index.ts'), formats: ['es'], fileName: 'keras' } },
    });
    fs.writeFileSync(path.join(out, 'dist', 'index.html'), '<!doctype html><title>keras</title>');
    server = http.createServer((req, res) => {
      const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const file = p.startsWith('/fixtures/') ? path.join(KERAS_FIXTURES, p.slice('/fixtures/'.length)) : path.join(out, 'dist', p);
      if (!file.startsWith(KERAS_FIXTURES) && !file.startsWith(out)) { res.writeHead(403).end(); return; }
      fs.readFile(file, (err, data) => {
        if (err) { res.writeHead(404).end(); return; }
        res.writeHead(200, { 'content-type': /\.m?js$/.test(file) ? 'text/javascript' : file.endsWith('.html') ? 'text/html' : 'application/octet-stream' }).end(data);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
    if (out) fs.rmSync(out, { recursive: true, force: true });
  });

  for (const entry of CASES) {
    it(`${entry}: the same ONNX bytes, labels and preprocessing as in Node`, async () => {
      const [dir, file] = entry.split('/') as [string, string];
      const node = await importKerasModel(folderFiles(path.join(KERAS_FIXTURES, dir)), file);
      const names = fs.readdirSync(path.join(KERAS_FIXTURES, dir));
      const page = await browser.context.newPage();
      try {
        await page.goto(`${url}/index.html`);
        // a string, not a function: tsx's transform would put its __name helper into the page
        const web = (await page.evaluate(`(async () => {
          const lib = await import('/keras.mjs');
          const names = ${JSON.stringify(names)};
          const files = { names, read: async (n) => { const r = await fetch('/fixtures/${dir}/' + n); return r.ok ? new Uint8Array(await r.arrayBuffer()) : undefined; } };
          const m = await lib.importKerasModel(files, ${JSON.stringify(file)});
          const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', m.onnx));
          return { sha: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''), labels: m.labels, preprocess: m.preprocess, format: m.format };
        })()`)) as { sha: string; labels?: string[]; preprocess?: unknown; format: string };
        assert.equal(web.sha, crypto.createHash('sha256').update(node.onnx).digest('hex'));
        assert.deepEqual(web.labels, node.labels);
        assert.deepEqual(web.preprocess, node.preprocess);
        assert.equal(web.format, node.format);
      } finally {
        await page.close();
      }
    });
  }
});
