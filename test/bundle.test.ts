/**
 * The browser-safe core (src/index.ts and everything it imports) bundles for the browser with Vite,
 * with no Node module imported by our code (web/vite.config.ts's guard fails the build otherwise).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { build } from 'vite';
import { noNodeImports } from '../web/vite.config.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');

test('src/index.ts bundles for the browser without Node modules', async () => {
  const out = await build({
    configFile: false, root: ROOT, logLevel: 'silent', plugins: [noNodeImports()],
    build: {
      write: false, minify: false, target: 'es2022',
      lib: { entry: path.join(ROOT, 'src', 'index.ts'), formats: ['es'], fileName: 'gradcam' },
      rollupOptions: { external: ['onnxruntime-web'] },
    },
  });
  const outputs = (Array.isArray(out) ? out : [out]) as { output: { type: string; code?: string; fileName: string }[] }[];
  const code = outputs.flatMap((o) => o.output).filter((c) => c.type === 'chunk').map((c) => c.code ?? '').join('\n');
  assert.ok(code.length > 10_000);
  assert.doesNotMatch(code, /from ["']node:|require\(["'](fs|path|zlib|buffer)["']\)/);
  for (const name of ['Explainer', 'createWebSessionFactory', 'overlay', 'encodePng', 'CAM_METHODS']) assert.match(code, new RegExp(`\\b${name}\\b`));
});
