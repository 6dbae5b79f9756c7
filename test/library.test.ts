/**
 * The README's library example, run as a user would: its code block written to a file inside the
 * clone and run with plain node, importing `gradcam/node` (the package's own name, resolved to dist/,
 * which `npm install` builds through the `prepare` script and `npm test` rebuilds in `pretest`).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');

it('the README library example runs after npm install', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Library'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'the Library section has a js code block');
  assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'src', 'node.js')), 'dist/ is missing: run npm install (prepare) or npm run build:lib');
  const file = path.join(ROOT, `.library-example-${process.pid}.mjs`);
  fs.writeFileSync(file, `${code}\nconsole.log(JSON.stringify({ index: e.target.index, layers: e.layers, n: e.map.length, max: Math.max(...e.map) }));\n`);
  try {
    const r = spawnSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const last = JSON.parse(r.stdout.trim().split('\n').pop()!) as { index: number; layers: string[]; n: number; max: number };
    assert.equal(last.n, 128 * 128);
    assert.ok(last.max > 0.99 && last.layers.length === 1);
    assert.ok(Number.isInteger(last.index));
  } finally {
    fs.rmSync(file, { force: true });
  }
});
