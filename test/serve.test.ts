/**
 * `gradcam serve` under bad requests: nothing a client sends stops the server (a NUL byte in the path
 * used to throw inside the request handler and kill the process), symbolic links cannot leave the
 * folder, folders redirect to their slash form, listen failures are one-line errors. 127.0.0.1 only,
 * a bounded number of requests, each with a timeout.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type http from 'node:http';
import { createStaticServer, listen } from '../src/cli/serve.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const BIN = path.join(ROOT, 'bin', 'gradcam.js');

let tmp: string;
let site: string;
let server: http.Server;
let base: string;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-serve-rel-'));
  site = path.join(tmp, 'site');
  fs.mkdirSync(path.join(site, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(site, 'index.html'), '<p>app</p>');
  fs.writeFileSync(path.join(site, 'sub', 'index.html'), '<p>sub</p>');
  fs.writeFileSync(path.join(tmp, 'secret.txt'), 'secret');
  fs.symlinkSync(path.join(tmp, 'secret.txt'), path.join(site, 'link.txt'));
  fs.symlinkSync(tmp, path.join(site, 'up'));
  fs.writeFileSync(path.join(site, '.env'), 'TOKEN=secret');
  fs.mkdirSync(path.join(site, '.git'));
  fs.writeFileSync(path.join(site, '.git', 'config'), '[core]');
  fs.mkdirSync(path.join(site, 'assets'));
  fs.writeFileSync(path.join(site, 'assets', '.hidden.js'), 'x');
  fs.writeFileSync(path.join(site, 'assets', 'a.js'), 'ok');
  fs.symlinkSync(path.join(site, '.env'), path.join(site, 'env.txt'));
  server = createStaticServer(site);
  ({ url: base } = await listen(server, 0, '127.0.0.1'));
});

after(async () => {
  await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** One raw HTTP/1.1 request (so that paths are sent exactly as written); resolves with the status. */
function raw(request: string): Promise<number> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), '127.0.0.1');
    let data = '';
    sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('timeout')); });
    sock.on('data', (d) => { data += d.toString('latin1'); });
    sock.on('error', reject);
    sock.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    sock.write(request);
  });
}

const get = (p: string) => raw(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);

describe('gradcam serve: bad requests', () => {
  it('answers a NUL byte, bad escapes and other odd paths with 4xx and keeps serving', async () => {
    const cases: [string, number][] = [
      ['/a%00b', 400], ['/%00', 400], ['/index.html%00.png', 400], ['/%E0%A4%A', 400], ['/%', 400],
      ['/../../etc/passwd', 404], ['/%2e%2e/%2e%2e/etc/passwd', 404], ['/..%2f..%2fsecret.txt', 403],
      ['/link.txt', 403], ['/up/secret.txt', 403], ['/' + 'a'.repeat(5000), 404], ['/nope', 404],
    ];
    for (const [p, status] of cases) assert.equal(await get(p), status, p);
    assert.equal(await raw('this is not http\r\n\r\n'), 400);
    assert.equal(await raw(`DELETE /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`), 405);
    const r = await fetch(`${base}index.html`, { signal: AbortSignal.timeout(5000) });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '<p>app</p>');
  });

  it('redirects a folder to its slash form and serves its index.html', async () => {
    const r = await fetch(`${base}sub`, { redirect: 'manual', signal: AbortSignal.timeout(5000) });
    assert.equal(r.status, 301);
    assert.equal(r.headers.get('location'), '/sub/');
    const s = await fetch(`${base}sub/`, { signal: AbortSignal.timeout(5000) });
    assert.equal(await s.text(), '<p>sub</p>');
  });

  it('never answers with a Location outside its own origin', async () => {
    const { port } = new URL(base);
    const head = (p: string) => new Promise<string>((resolve, reject) => {
      const sock = net.connect(Number(port), '127.0.0.1');
      let data = '';
      sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('timeout')); });
      sock.on('data', (d) => { data += d.toString('latin1'); });
      sock.on('error', reject);
      sock.on('close', () => resolve(data));
      sock.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    const redirects: [string, string][] = [
      ['/%2Fevil.example%2F..%2Fassets', '/assets/'], ['/%2F%2Fevil.example%2F..%2Fassets', '/assets/'], ['/%5Cevil.example%2F..%2Fassets', '/assets/'],
      ['/%2F%5Cevil.example%2F..%2Fsub', '/sub/'], ['/./%2Fsub', '/sub/'], ['/assets', '/assets/'], ['/a%20b%2F..%2Fsub', '/sub/'],
    ];
    for (const [p, want] of redirects) {
      const r = await head(p);
      assert.match(r, /^HTTP\/1\.1 301 /, `${p}: ${r.split('\r\n')[0]}`);
      const loc = /\r\nLocation: ([^\r]*)\r\n/i.exec(r)?.[1];
      assert.equal(loc, want, p);
      assert.equal(new URL(loc!, base).origin, new URL(base).origin, p);
    }
  });

  it('closes slow-header connections within its header timeout (50 connections, a header line every 2 s)', { timeout: 60_000 }, async (t) => {
    const timeoutMs = 4000;
    const slow = createStaticServer(site, { headersTimeoutMs: timeoutMs });
    const { url } = await listen(slow, 0, '127.0.0.1');
    const port = Number(new URL(url).port);
    const N = 50;
    try {
      const t0 = Date.now();
      const closed = await Promise.all(Array.from({ length: N }, (_, i) => new Promise<{ ms: number; status: string }>((resolve, reject) => {
        const sock = net.connect(port, '127.0.0.1');
        let data = '';
        let n = 0;
        const drip = setInterval(() => sock.write(`X-Slow-${n++}: ${i}\r\n`), 2000);
        const give = setTimeout(() => { clearInterval(drip); sock.destroy(); reject(new Error(`connection ${i} still open after 20 s`)); }, 20_000);
        sock.on('connect', () => sock.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n'));
        sock.on('data', (d) => { data += d.toString('latin1'); });
        sock.on('error', () => {});
        sock.on('close', () => { clearInterval(drip); clearTimeout(give); resolve({ ms: Date.now() - t0, status: data.split('\r\n')[0] ?? '' }); });
      })).concat([
        // meanwhile a normal request is answered
        (async () => {
          await new Promise((r) => setTimeout(r, 1000));
          const r = await fetch(`${url}index.html`, { signal: AbortSignal.timeout(5000) });
          assert.equal(r.status, 200);
          await r.text();
          return { ms: 0, status: 'normal' };
        })(),
      ]));
      const slowOnes = closed.filter((c) => c.status !== 'normal');
      assert.equal(slowOnes.length, N);
      const latest = Math.max(...slowOnes.map((c) => c.ms));
      t.diagnostic(`slow-header connections closed after ${Math.min(...slowOnes.map((c) => c.ms))}-${latest} ms (header timeout ${timeoutMs} ms)`);
      // within the deadline (checked once a second against the deadline less a second), plus 1 s of
      // slack for a loaded machine's timers; the old server (checked every 30 s) kept them past 20 s
      assert.ok(latest < timeoutMs + 1000, `the last slow connection closed after ${latest} ms (header timeout ${timeoutMs} ms)`);
      for (const c of slowOnes) assert.match(c.status, /^(HTTP\/1\.1 408|)/);
    } finally {
      await new Promise<void>((r) => { slow.close(() => r()); slow.closeAllConnections(); });
    }
  });

  it('survives a file that disappears between requests and many concurrent requests', async () => {
    fs.writeFileSync(path.join(site, 'gone.txt'), 'x');
    assert.equal(await get('/gone.txt'), 200);
    fs.unlinkSync(path.join(site, 'gone.txt'));
    assert.equal(await get('/gone.txt'), 404);
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => get(i % 2 ? '/a%00' : '/index.html')));
    assert.deepEqual([...new Set(all)].sort(), [200, 400]);
  });
});

describe('gradcam serve: dotfiles and the Host allow-list (DNS rebinding)', () => {
  const withHost = (p: string, host: string) => raw(`GET ${p} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);

  it('never serves a dotfile or anything in a dot folder, however the path is written', async () => {
    const cases = ['/.env', '/.git/config', '/.git/', '/.git', '/assets/.hidden.js', '/%2eenv', '/.%65nv', '/assets/%2Ehidden.js',
      '/sub/../.env', '/env.txt'];
    for (const p of cases) assert.equal(await get(p), 404, p);
    assert.equal(await get('/assets/a.js'), 200);
  });

  it('answers localhost, loopback and other address literals with any port, and refuses other names', async () => {
    const { port } = new URL(base);
    for (const h of [`127.0.0.1:${port}`, '127.0.0.1', `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`, '[::1]', `app.localhost:${port}`,
      'localhost:9000', '192.168.1.20:8080']) {
      assert.equal(await withHost('/index.html', h), 200, h);
    }
    for (const h of [`evil.example:${port}`, 'evil.example', `attacker.com:${port}`, `127.0.0.1.nip.io:${port}`, 'localhost.evil.example',
      '[::1', '[nothex]:80', 'a:b:c', `localhost:${port}@evil.example`]) {
      assert.equal(await withHost('/index.html', h), 403, h);
    }
    // the refusal names the way out
    const r = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(Number(port), '127.0.0.1');
      let data = '';
      sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('timeout')); });
      sock.on('data', (d) => { data += d; });
      sock.on('close', () => resolve(data));
      sock.write(`GET / HTTP/1.1\r\nHost: evil.example:${port}\r\nConnection: close\r\n\r\n`);
    });
    assert.match(r, /forbidden host 'evil\.example:\d+'.*--allow-host NAME/);
    assert.doesNotMatch(r, /<p>app<\/p>/);
    // HTTP/1.0 without a Host header is no browser
    assert.equal(await raw('GET /index.html HTTP/1.0\r\n\r\n'), 200);
  });

  it('allowHosts adds names; * allows any', async () => {
    for (const [allow, host, status] of [[['mybox.local'], 'mybox.local:8080', 200], [['mybox.local'], 'MyBox.Local.', 200],
      [['mybox.local'], 'other.local', 403], [['*'], 'anything.example', 200]] as [string[], string, number][]) {
      const s = createStaticServer(site, { allowHosts: allow });
      const { url } = await listen(s, 0, '127.0.0.1');
      try {
        const status2 = await new Promise<number>((resolve, reject) => {
          const sock = net.connect(Number(new URL(url).port), '127.0.0.1');
          let data = '';
          sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('timeout')); });
          sock.on('data', (d) => { data += d; });
          sock.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
          sock.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        });
        assert.equal(status2, status, `${allow} ${host}`);
      } finally {
        await new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); });
      }
    }
  });
});

describe('gradcam serve: the command', () => {
  function serve(args: string[], untilLine?: RegExp): Promise<{ code: number | null; out: string; err: string; kill: () => void }> {
    return new Promise((resolve) => {
      const p = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT });
      let out = '';
      let err = '';
      const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
      const kill = () => p.kill('SIGTERM');
      p.stdout.on('data', (d) => {
        out += d;
        if (untilLine?.test(out)) resolve({ code: null, out, err, kill });
      });
      p.stderr.on('data', (d) => { err += d; });
      p.on('close', (code) => { clearTimeout(timer); resolve({ code, out, err, kill }); });
    });
  }

  it('a request with a NUL byte does not stop the process', async () => {
    const s = await serve(['--dir', site, '--port', '0'], /at (http:\/\/127\.0\.0\.1:\d+\/)/);
    const url = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(s.out)![1]!;
    const port = Number(new URL(url).port);
    const status = await new Promise<number>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      let data = '';
      sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('timeout')); });
      sock.on('data', (d) => { data += d; });
      sock.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
      sock.write('GET /a%00b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    });
    assert.equal(status, 400);
    const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
    assert.equal(r.status, 200);
    s.kill();
  });

  it('bad options and a port in use are one-line errors with a non-zero exit', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = String((busy.address() as net.AddressInfo).port);
    try {
      const cases: [string[], RegExp][] = [
        [['--dir', site, '--port', port], new RegExp(`port ${port} is in use; choose another with --port N`)],
        [['--dir', site, '--port', ''], /--port needs a value \(port 0\.\.65535 \(default 8080; 0 picks a free one\)\), got ''/],
        [['--dir', site, '--port', '70000'], /--port must be a port number/],
        [['--dir', site, '--port', '0', '--host', '192.0.2.77'], /cannot listen on host '192\.0\.2\.77'.*--host H/],
        [['--dir', path.join(tmp, 'nope')], /--dir .*nope has no index\.html; give the folder of a built app/],
        [['--dir', site, '--port', '0', '--allow-host', ''], /--allow-host needs a value \(comma-separated host names .*\(e\.g\. mybox\.local\); '\*' allows any\)/],
        [['--dir', site, '--port', '0', '--allow-host', ','], /--allow-host must be comma-separated host names/],
        [['--dir', site, '--port', '0', '--allow-host', 'a b'], /--allow-host must be comma-separated host names/],
      ];
      for (const [args, re] of cases) {
        const r = await serve(args);
        assert.notEqual(r.code, 0, args.join(' '));
        assert.match(r.err, re);
        assert.equal(r.err.trim().split('\n').length, 1, r.err);
        assert.doesNotMatch(r.err, /\n\s+at /);
      }
    } finally {
      busy.close();
    }
  });
});
