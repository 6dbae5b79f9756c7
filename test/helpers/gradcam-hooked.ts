/**
 * `gradcam` with test hooks (src/util/test-hooks.ts), for tests that interrupt a run part-way, widen a
 * race window or fake a full disk: `node --import tsx test/helpers/gradcam-hooked.ts '<hooks JSON>' <args...>`.
 */
import { runCli } from '../../src/cli/main.js';

const [hooks, ...args] = process.argv.slice(2);
await runCli(args, JSON.parse(hooks!));
