/** Running the `gradcam` command in tests: its path, a synchronous run, and the one-line error check. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { TestHooks } from '../../src/util/test-hooks.js';

export const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'gradcam.js');

/** `gradcam ...args` from the repository root, with extra environment variables and a time limit. */
export function runGradcam(args: string[], env: Record<string, string> = {}, timeout = 120_000) {
  return spawnGradcam(args, { env: { ...process.env, ...env }, timeout });
}

/** The node arguments of `gradcam ...args` run with test hooks (src/util/test-hooks.ts: pauses, a write fault). */
export function hookedArgs(hooks: TestHooks, args: string[]): string[] {
  return ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'gradcam-hooked.ts'), JSON.stringify(hooks), ...args];
}

/** `gradcam ...args` with test hooks, synchronously, from the repository root. */
export function runHooked(args: string[], hooks: TestHooks, timeout = 120_000) {
  const r = spawnSync(process.execPath, hookedArgs(hooks, args), { encoding: 'utf8', cwd: ROOT, timeout });
  return { code: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

/** `gradcam ...args` from the repository root (no time limit). */
export function gradcam(...args: string[]) {
  return spawnGradcam(args, {});
}

function spawnGradcam(args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number }) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, ...opts });
  return { code: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

/** One `gradcam: error:` line and nothing else on stderr, matching `re`, not an internal error. */
export function oneError(err: string, re: RegExp): void {
  const lines = err.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, err);
  assert.match(lines[0]!, /^gradcam: error: /);
  assert.doesNotMatch(lines[0]!, /internal error/);
  assert.match(lines[0]!, re);
}
