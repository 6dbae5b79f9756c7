/**
 * Pauses and faults a test asks of a run (a kill part-way, a race window, a full disk), passed by the
 * test: `runCli(argv, hooks)` (test/helpers/gradcam-hooked.ts runs the command with them) or
 * `setTestHooks(hooks)` in a test's own process. Never read from the environment; a normal run has none.
 */
export interface TestHooks {
  /** audit, evaluate: a pause (ms) after each stored batch of rows, so that a test can interrupt a run part-way. */
  batchPauseMs?: number;
  /** audit: a pause (ms) inside the folder's lock, just before the final rewrite of results.jsonl. */
  rewritePauseMs?: number;
  /** The results store: a pause (ms) between judging a lock dead and taking it over (a race window). */
  lockPauseMs?: number;
  /** The audit's writes to files whose name contains `name` fail with `code` (ENOSPC: a full disk), after `skip` such writes succeeded. */
  writeFault?: { code: string; name: string; skip?: number };
}

let hooks: Readonly<TestHooks> = {};

export function setTestHooks(h: TestHooks): void {
  hooks = { ...h };
}

export function testHooks(): Readonly<TestHooks> {
  return hooks;
}
