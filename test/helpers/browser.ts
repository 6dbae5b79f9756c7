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
import { createStaticServer, ensureWebApp } from '../../src/cli/serve.js';

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

/** Builds the app (always, so that tests see the current sources) and serves it on 127.0.0.1. */
export async function serveApp(opts: { build?: boolean } = {}): Promise<AppServer> {
  const dir = await ensureWebApp({ force: opts.build ?? true });
  const requests: string[] = [];
  const server = createStaticServer(dir, { onRequest: (m, p, s) => requests.push(`${m} ${p} ${s}`) });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`, requests, server,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
