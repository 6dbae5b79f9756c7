// Preloaded with `node --import` by test/limits.test.ts: prints the process's peak resident set size
// (kB) on stderr at exit, as `gradcam-maxrss-kb=N`.
import fs from 'node:fs';

process.on('exit', () => fs.writeSync(2, `gradcam-maxrss-kb=${process.resourceUsage().maxRSS}\n`));
