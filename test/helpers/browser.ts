/**
 * Headless Chromium for the browser tests and the benchmark: Debian's `chromium` package (no browser
 * download), driven by playwright-core, with a fresh user-data dir; and the app served in-process by
 * `gradcam serve`'s static server on 127.0.0.1 with the cross-origin isolation headers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { chromium, type BrowserContext } from 'playwright-core';
import { buildWebApp, createStaticServer, ensureWebApp, webDist } from '../../src/cli/serve.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..');

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function chromiumMissing(): string | undefined {
  return fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install -y chromium)`;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Software WebGPU (SwiftShader's Vulkan) for testing the WebGPU path on machines without a GPU. */
export const SOFTWARE_WEBGPU_ARGS = [
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader',
];

/** Chromium with CHROMIUM_ARGS (with `webgpu`: without --disable-gpu, plus SOFTWARE_WEBGPU_ARGS). */
export async function launchChromium(extraArgs: string[] = [], opts: { webgpu?: boolean } = {}): Promise<Browser> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: opts.webgpu ? [...CHROMIUM_ARGS.filter((a) => a !== '--disable-gpu'), ...SOFTWARE_WEBGPU_ARGS, ...extraArgs] : [...CHROMIUM_ARGS, ...extraArgs],
    viewport: { width: 1280, height: 1000 },
    acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export interface AppServer {
  url: string;
  /** Every request the server answered: "GET /path 200". */
  requests: string[];
  server: http.Server;
  close(): Promise<void>;
}

/** The newest modification time of what the app is built from: web/ (without web/dist), src/, package.json. */
function newestSource(): number {
  let newest = fs.statSync(path.join(ROOT, 'package.json')).mtimeMs;
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (p !== webDist(ROOT)) walk(p);
      } else newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  walk(path.join(ROOT, 'web'));
  walk(path.join(ROOT, 'src'));
  return newest;
}

/**
 * The app built from the current sources, once however many test files ask at the same time: under a
 * lock (a directory, made atomically) it is built only where web/dist is older than a source. (Test files
 * run two at a time; each rebuilding web/dist in place emptied it while another's page was loading from
 * it, and that page waited for ever.)
 */
async function currentWebApp(): Promise<string> {
  const dist = webDist(ROOT);
  const lock = `${dist}.build-lock`;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    try {
      // a lock left by a killed test run (a build takes well under a minute) is taken over
      if (Date.now() - fs.statSync(lock).mtimeMs > 300_000) fs.rmdirSync(lock);
    } catch {
      // released meanwhile
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  try {
    const stamp = path.join(dist, 'index.html');
    const built = fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0;
    if (built <= newestSource()) await buildWebApp(ROOT);
    return dist;
  } finally {
    fs.rmdirSync(lock);
  }
}

/** The app built from the current sources (once per change, see currentWebApp; `build: false`: as it is, built only if missing), served on 127.0.0.1. */
export async function serveApp(opts: { build?: boolean } = {}): Promise<AppServer> {
  const dir = opts.build === false ? await ensureWebApp() : await currentWebApp();
  const requests: string[] = [];
  const server = createStaticServer(dir, { onRequest: (m, p, s) => requests.push(`${m} ${p} ${s}`) });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`, requests, server,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
