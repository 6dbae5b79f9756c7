/**
 * Runs fuzz cases in one process (test/fuzz.test.ts starts it): `gradcam` in-process on each case's
 * command line, with stdout and stderr captured. Prints one JSON line per case on fd 1: {start: id}
 * before it, then {id, code, stderr, uncaught}. A crash of the process shows as a start without result.
 */
import fs from 'node:fs';
import { main } from '../../src/cli/main.js';
import type { FuzzCase } from './fuzz-cases.js';

const [casesFile, from] = process.argv.slice(2);
const cases = (JSON.parse(fs.readFileSync(casesFile!, 'utf8')) as FuzzCase[]).filter((c) => c.id >= Number(from ?? 0));
const say = (v: unknown) => fs.writeSync(1, `${JSON.stringify(v)}\n`);

let uncaught: string[] = [];
process.on('uncaughtException', (e) => uncaught.push(`uncaughtException: ${(e as Error)?.stack ?? String(e)}`));
process.on('unhandledRejection', (e) => uncaught.push(`unhandledRejection: ${(e as Error)?.stack ?? String(e)}`));

const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);
for (const c of cases) {
  say({ start: c.id });
  let stderr = '';
  uncaught = [];
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stderr.write;
  const t0 = performance.now();
  let code: number;
  try {
    code = await main(c.argv);
  } catch (e) {
    code = -1;
    uncaught.push(`main threw: ${(e as Error)?.stack ?? String(e)}`);
  }
  await new Promise((r) => setImmediate(r));
  process.stdout.write = realOut;
  process.stderr.write = realErr;
  say({ id: c.id, code, stderr, uncaught, ms: Math.round(performance.now() - t0) });
}
