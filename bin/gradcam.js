#!/usr/bin/env node
// The gradcam command. In a source checkout it runs the TypeScript sources through tsx (so edits take
// effect at once); an installed package runs the compiled JavaScript in dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'src', 'cli', 'main.ts');
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  const { runCli } = await import(pathToFileURL(source).href);
  await runCli(process.argv.slice(2));
} else {
  const { runCli } = await import(pathToFileURL(path.join(root, 'dist', 'src', 'cli', 'main.js')).href);
  await runCli(process.argv.slice(2));
}
