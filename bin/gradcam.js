#!/usr/bin/env node
// The gradcam command. An installed package runs the compiled JavaScript in dist/. A source checkout
// runs dist/ too when it is up to date (every src/**/*.ts has its dist/src/**/*.js, written after the
// source's last change: `npm run build:lib` or any `npm test`), which saves tsx's transpiling at every
// start (about 0.9 s); otherwise it runs the TypeScript sources through tsx, so that edits take effect
// at once and a stale build never runs. GRADCAM_SOURCE=1 forces the sources. tsx is a dev dependency
// (a source checkout has it after `npm install`; an installed package has no src/ and does not need it).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'src', 'cli', 'main.ts');
const compiled = path.join(root, 'dist', 'src', 'cli', 'main.js');

/** Whether dist/src holds a compiled file, newer than its source, for every .ts file under src/. */
function distIsCurrent() {
  if (!existsSync(compiled)) return false;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!walk(file)) return false;
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const out = path.join(root, 'dist', path.relative(root, file)).replace(/\.ts$/, '.js');
        let t;
        try {
          t = statSync(out).mtimeMs;
        } catch {
          return false;
        }
        if (t < statSync(file).mtimeMs) return false;
      }
    }
    return true;
  };
  try {
    return walk(path.join(root, 'src'));
  } catch {
    return false;
  }
}

if (existsSync(source) && (process.env.GRADCAM_SOURCE === '1' || !distIsCurrent())) {
  // tsx is a dev dependency: an installed package has no src/ and never gets here
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write("gradcam: error: this checkout's sources are newer than its build (dist/) and tsx, a dev dependency, is not installed; run 'npm install' (then the sources run through tsx) or 'npm run build:lib'\n");
    process.exit(1);
  }
  register();
  const { runCli } = await import(pathToFileURL(source).href);
  await runCli(process.argv.slice(2));
} else {
  const { runCli } = await import(pathToFileURL(compiled).href);
  await runCli(process.argv.slice(2));
}
