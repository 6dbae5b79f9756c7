/**
 * Writes the supported-op list into README.md, between the markers `<!-- ops:start -->` and
 * `<!-- ops:end -->`, from the gradient-rule registry (each rule file's descriptor). Run
 * `npx tsx scripts/ops.ts` after adding a rule; test/rules.test.ts fails while the README is stale.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OP_GRADIENTS, supportedOps } from '../src/autodiff/registry.js';

export const OPS_START = '<!-- ops:start -->';
export const OPS_END = '<!-- ops:end -->';
export const README = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'README.md');

/** Greedy word wrap at `width` columns. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) { lines.push(line); line = word; }
    else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** The README section between the markers (markers excluded), ending in a newline. */
export function opsSection(width = 104): string {
  const ops = supportedOps().map((op) => {
    const { note, domain } = OP_GRADIENTS[op]!;
    const name = domain ? `${domain}.${op}` : op;
    return note ? `${name} (${note})` : name;
  });
  const text = `Supported ops on the gradient path (${ops.length}, generated from the rule registry by \`npx tsx scripts/ops.ts\`): ${ops.join(', ')}.`;
  return `${wrap(text, width).join('\n')}\n`;
}

/** The text between the markers in `readme`, or undefined when the markers are missing. */
export function readmeSection(readme: string): string | undefined {
  const a = readme.indexOf(OPS_START);
  const b = readme.indexOf(OPS_END);
  if (a < 0 || b < a) return undefined;
  return readme.slice(a + OPS_START.length, b).replace(/^\n/, '');
}

export function rewriteReadme(readme: string): string {
  const a = readme.indexOf(OPS_START);
  const b = readme.indexOf(OPS_END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${OPS_START} ... ${OPS_END} section`);
  return `${readme.slice(0, a + OPS_START.length)}\n${opsSection()}${readme.slice(b)}`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const before = fs.readFileSync(README, 'utf8');
  const after = rewriteReadme(before);
  if (after === before) console.log(`README.md: the op list is up to date (${supportedOps().length} ops)`);
  else {
    fs.writeFileSync(README, after);
    console.log(`README.md: wrote the op list (${supportedOps().length} ops)`);
  }
}
