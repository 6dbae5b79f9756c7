/**
 * `gradcam serve`: a small static server for the browser app (web/dist), with the cross-origin isolation
 * headers (COOP same-origin, COEP require-corp) that wasm threads need. Node only.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, oneLine } from './common.js';
import { command, group, helpText, parseCommand } from './spec.js';

export const SERVE = command({
  name: 'serve',
  synopsis: '[--port N] [--host H] [--dir DIR] [--build] [--allow-host NAMES]',
  summary: 'the browser app (nothing leaves your computer)',
  description: `Serves the browser app: explain an ONNX model with Grad-CAM in your browser, images and models stay on
your computer. Open the printed address in Chrome, Edge or Firefox.`,
  groups: [group('Options', {
    port: { type: 'string', value: 'N', default: '8080', help: 'port 0..65535 (default 8080; 0 picks a free one)' },
    host: { type: 'string', value: 'H', default: '127.0.0.1', help: 'address to listen on (default 127.0.0.1, this computer only)' },
    dir: { type: 'string', value: 'DIR', help: "serve this folder instead of the package's built app (web/dist)" },
    build: { type: 'boolean', default: false, help: "rebuild the app first (it is built on first use when web/dist is missing; needs the development dependencies, i.e. a checkout after 'npm install')" },
    'allow-host': { type: 'string', value: 'NAMES', help: "comma-separated host names that requests may address besides localhost and IP addresses (e.g. mybox.local); '*' allows any. Other names are refused (403), so that a web page cannot reach the server through a DNS name that points at it (DNS rebinding)" },
  })],
  notes: `Files and folders whose name starts with '.' are never served, nor anything outside the folder.
'npm run build:web' builds the same static files (web/dist) for any web server; send the headers
Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp for threads.`,
});

/** Headers on every response: isolation (threads), no third-party content, no caching surprises. */
export const SERVE_HEADERS: Record<string, string> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy': "default-src 'self'; script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval'; worker-src 'self' blob:; connect-src 'self' blob: data:; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; form-action 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.wasm': 'application/wasm',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon', '.onnx': 'application/octet-stream', '.map': 'application/json; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
};

/** The package's root folder (holding package.json and web/), from this file's place in src/ or dist/src/. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'web'))) return dir;
    dir = path.dirname(dir);
  }
  throw new CliError('cannot find the gradcam package folder (with web/)');
}

export function webDist(root = packageRoot()): string {
  return path.join(root, 'web', 'dist');
}

/** Builds the app with Vite into web/dist (Vite is a development dependency). */
export async function buildWebApp(root = packageRoot(), log: (s: string) => void = () => {}): Promise<string> {
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new CliError(`the browser app is not built (${webDist(root)} is missing) and Vite is not installed; in a checkout run 'npm install && npm run build:web'`, 1);
  }
  log('gradcam: building the browser app (web/dist)…');
  await vite.build({ configFile: path.join(root, 'web', 'vite.config.ts'), logLevel: 'warn' });
  return webDist(root);
}

/** web/dist, built first when missing (or when `force`). */
export async function ensureWebApp(opts: { force?: boolean; log?: (s: string) => void } = {}): Promise<string> {
  const root = packageRoot();
  const dist = webDist(root);
  if (opts.force || !fs.existsSync(path.join(dist, 'index.html'))) await buildWebApp(root, opts.log);
  return dist;
}

export interface StaticServerOptions {
  /** Called for every request with its method, path and status (tests record what the page fetched). */
  onRequest?: (method: string, urlPath: string, status: number) => void;
  /**
   * Host names (without port, lower case) that a request's Host header may name besides `localhost` and
   * IP address literals; `'*'` among them allows any name.
   */
  allowHosts?: string[];
  /** A request's headers must arrive within this many milliseconds of its first byte (default 20 s); then 408 and the connection is closed. */
  headersTimeoutMs?: number;
}

/**
 * Whether a request's Host header is acceptable: absent (HTTP/1.0), `localhost` (or a `.localhost` name,
 * which browsers resolve to loopback themselves), an IPv4 or bracketed IPv6 literal, or one of `allow`
 * (`'*'`: any). Any port is accepted: a tunnel or port forward (ssh -L 9000:localhost:8080) changes it,
 * and a DNS-rebinding page can only send its own host *name*, never an address literal. This is the
 * check that stops a page on evil.example, whose name was rebound to 127.0.0.1, from reading the app.
 */
export function hostAllowed(host: string | undefined, allow: readonly string[] = []): boolean {
  if (host === undefined) return true;
  const h = host.trim().toLowerCase();
  const v6 = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h);
  if (v6) return net.isIPv6(v6[1]!);
  const m = /^([^:]+)(?::\d{1,5})?$/.exec(h);
  if (!m) return false;
  const name = m[1]!.replace(/\.$/, '');
  if (net.isIPv4(name)) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return allow.includes('*') || allow.includes(name);
}

/** The same-origin URL path of `folder` (a folder under `root`) with a trailing slash: `/a/b%20c/`. */
export function folderLocation(root: string, folder: string): string {
  const segs = path.relative(root, folder).split(path.sep).filter((x) => x !== '' && x !== '.' && x !== '..');
  return `/${segs.map(encodeURIComponent).join('/')}${segs.length ? '/' : ''}`;
}

/** Whether a decoded URL path (or a path relative to the root) names a dotfile or a dot folder. */
function hasDotSegment(p: string): boolean {
  return p.split(/[\\/]/).some((seg) => seg.startsWith('.'));
}

/**
 * A static file server for `dir` with SERVE_HEADERS; GET and HEAD only, nothing outside `dir` (symbolic
 * links included). No request can stop it: a bad one gets a 4xx answer, a failure a 500, and the server
 * goes on.
 */
export function createStaticServer(dir: string, opts: StaticServerOptions = {}): http.Server {
  const root = path.resolve(dir);
  const allowHosts = (opts.allowHosts ?? []).map((h) => h.trim().toLowerCase().replace(/\.$/, '')).filter(Boolean);
  let realRoot: string | undefined;
  const headersTimeout = opts.headersTimeoutMs ?? 20_000;
  // a client that sends its headers slowly (or never) does not hold a connection for ever: Node checks
  // the header deadline every connectionsCheckingInterval (30 s by default, which let 50-200 slow
  // connections live 40-58 s past a 20 s deadline). Checked every `tick`, against the deadline less
  // one tick, each such connection is closed (408) within headersTimeout.
  const tick = Math.max(1, Math.min(1000, Math.floor(headersTimeout / 4)));
  const server = http.createServer({ headersTimeout: headersTimeout - tick, requestTimeout: Math.max(60_000, headersTimeout), connectionsCheckingInterval: tick }, (req, res) => {
    const method = req.method ?? 'GET';
    let urlPath = '/';
    const done = (status: number) => opts.onRequest?.(method, urlPath, status);
    const fail = (status: number, msg: string) => {
      if (res.headersSent) {
        res.destroy();
        return done(status);
      }
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(method === 'HEAD' ? undefined : `${msg}\n`);
      done(status);
    };
    try {
      for (const [k, v] of Object.entries(SERVE_HEADERS)) res.setHeader(k, v);
      try {
        urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
      } catch {
        return fail(400, 'bad request');
      }
      if (urlPath.includes('\0')) return fail(400, 'bad request');
      if (!hostAllowed(req.headers.host, allowHosts)) {
        return fail(403, `forbidden host '${oneLine(String(req.headers.host), 200)}': this server answers to localhost and IP addresses; allow a name with 'gradcam serve --allow-host NAME'`);
      }
      if (method !== 'GET' && method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        return fail(405, 'method not allowed');
      }
      const file = path.resolve(root, `.${urlPath}`);
      if (file !== root && !file.startsWith(root + path.sep)) return fail(403, 'forbidden');
      // dotfiles (.env, .git/...) are never served, nor what lies in dot folders
      if (hasDotSegment(path.relative(root, file))) return fail(404, 'not found');
      serveFile(file, urlPath);
    } catch {
      fail(500, 'internal error');
    }

    function serveFile(file: string, url: string): void {
      fs.promises.realpath(file).then(async (real) => {
        realRoot ??= await fs.promises.realpath(root);
        if (real !== realRoot && !real.startsWith(realRoot + path.sep)) return fail(403, 'forbidden');
        if (hasDotSegment(path.relative(realRoot, real))) return fail(404, 'not found');
        let st = await fs.promises.stat(real);
        if (st.isDirectory()) {
          if (!url.endsWith('/')) {
            // relative links in the folder's index.html resolve against the folder. The Location is
            // made from the folder's place under the root, never from the request's text: a path such
            // as /%2Fevil.example%2F..%2Fassets must not become //evil.example/../assets/, which a
            // browser reads as another host. It is always one '/' and then path segments: same origin.
            res.writeHead(301, { Location: folderLocation(root, file) });
            res.end();
            return done(301);
          }
          real = path.join(real, 'index.html');
          st = await fs.promises.stat(real).catch(() => st);
          if (!st.isFile()) return fail(404, 'not found');
        } else if (!st.isFile()) {
          return fail(404, 'not found');
        }
        res.writeHead(200, { 'Content-Type': MIME[path.extname(real).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': st.size });
        if (method === 'HEAD') {
          res.end();
          return done(200);
        }
        const stream = fs.createReadStream(real);
        stream.on('error', () => res.destroy());
        res.on('finish', () => done(200));
        stream.pipe(res);
      }).catch((e: NodeJS.ErrnoException) => {
        if (e?.code === 'ENOENT' || e?.code === 'ENOTDIR' || e?.code === 'ENAMETOOLONG') fail(404, 'not found');
        else if (e?.code === 'EACCES' || e?.code === 'EPERM') fail(403, 'forbidden');
        else fail(500, 'internal error');
      });
    }
  });
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

/** Starts the server; resolves with it and its address once listening. */
export function listen(server: http.Server, port: number, host: string): Promise<{ server: http.Server; url: string }> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new CliError(`port ${port} is in use; choose another with --port N (0 picks a free one)`, 1));
      else if (e.code === 'EACCES') reject(new CliError(`no permission to listen on port ${port}; choose a port above 1023 with --port N (0 picks a free one)`, 1));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') reject(new CliError(`cannot listen on host '${host}': not an address of this computer; choose one with --host H (default 127.0.0.1)`, 1));
      else reject(new CliError(`cannot listen on ${host}:${port}: ${e.message}`, 1));
    });
    server.listen(port, host, () => {
      const a = server.address();
      const p = typeof a === 'object' && a ? a.port : port;
      const h = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
      resolve({ server, url: `http://${h}:${p}/` });
    });
  });
}

export async function runServe(args: string[]): Promise<number> {
  const { values: o } = parseCommand(SERVE, args);
  if (o.help) {
    console.log(helpText(SERVE));
    return 0;
  }
  const port = /^\d{1,5}$/.test(o.port!) ? Number(o.port) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be a port number 0..65535, got '${o.port}'`);
  let dir: string;
  if (o.dir) {
    dir = path.resolve(o.dir);
    if (!fs.existsSync(path.join(dir, 'index.html'))) throw new CliError(`--dir ${o.dir} has no index.html; give the folder of a built app (npm run build:web makes web/dist)`);
  } else {
    dir = await ensureWebApp({ force: o.build, log: (s) => process.stderr.write(`${s}\n`) });
  }
  const allowHosts = o['allow-host'] === undefined ? [] : o['allow-host'].split(',').map((h) => h.trim()).filter(Boolean);
  if (o['allow-host'] !== undefined && (allowHosts.length === 0 || allowHosts.some((h) => h !== '*' && !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.?$/i.test(h)))) {
    throw new CliError(`--allow-host must be comma-separated host names (or '*'), got '${o['allow-host']}'`);
  }
  // a name given to --host is one the user means to use
  if (!net.isIP(o.host!)) allowHosts.push(o.host!);
  const { server, url } = await listen(createStaticServer(dir, { allowHosts }), port, o.host!);
  console.log(`gradcam: serving ${path.relative(process.cwd(), dir) || '.'} at ${url}  (Ctrl+C to stop)`);
  console.log('Images and models stay in your browser: the app uploads nothing.');
  await new Promise<void>((resolve) => {
    const stop = () => {
      server.close(() => resolve());
      server.closeAllConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
