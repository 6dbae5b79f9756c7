/**
 * Writes the supported-op list into README.md, between the markers `<!-- ops:start -->` and
 * `<!-- ops:end -->`, from the gradient-rule registry (each rule file's descriptor), and the TF.js graph
 * importer's op list between `<!-- tfjs-graph-ops:start -->` and `<!-- tfjs-graph-ops:end -->`. Run
 * `npx tsx scripts/ops.ts` after adding a rule or an op; test/rules.test.ts and test/tfjs-graph.test.ts
 * fail while the README is stale.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OP_GRADIENTS, supportedOps } from '../src/autodiff/registry.js';
import { TFJS_FUSED_OPS, TFJS_GRAPH_OPS } from '../src/onnx/import/tfjs-graph.js';

export const OPS_START = '<!-- ops:start -->';
export const OPS_END = '<!-- ops:end -->';
export const README = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'README.md');

/** Greedy word wrap at `width` columns. */
export function wrap(text: string, width: number): string[] {
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
export function readmeSection(readme: string, start = OPS_START, end = OPS_END): string | undefined {
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) return undefined;
  return readme.slice(a + start.length, b).replace(/^\n/, '');
}

/** `readme` with `body` between the markers (by default the op list). */
export function rewriteReadme(readme: string, start = OPS_START, end = OPS_END, body = opsSection()): string {
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) throw new Error(`README.md has no ${start} ... ${end} section`);
  return `${readme.slice(0, a + start.length)}\n${body}${readme.slice(b)}`;
}

export const GRAPH_OPS_START = '<!-- tfjs-graph-ops:start -->';
export const GRAPH_OPS_END = '<!-- tfjs-graph-ops:end -->';

/** The TF.js graph importer's op list (src/onnx/import/tfjs-graph.ts), for the README's "TF.js graph models". */
export function graphOpsSection(width = 104): string {
  const text = `TF ops the graph-model importer reads (${TFJS_GRAPH_OPS.length}, generated from the importer by \`npx tsx scripts/ops.ts\`): ${TFJS_GRAPH_OPS.join(', ')}; fused into FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul: ${TFJS_FUSED_OPS.join(', ')}.`;
  return `${wrap(text, width).join('\n')}\n`;
}

/** The text between `start` and `end` in `readme`, or undefined when the markers are missing. */
export function sectionBetween(readme: string, start: string, end: string): string | undefined {
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) return undefined;
  return readme.slice(a + start.length, b).replace(/^\n/, '');
}

function rewriteGraphOps(readme: string): string {
  const a = readme.indexOf(GRAPH_OPS_START);
  const b = readme.indexOf(GRAPH_OPS_END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${GRAPH_OPS_START} ... ${GRAPH_OPS_END} section`);
  return `${readme.slice(0, a + GRAPH_OPS_START.length)}\n${graphOpsSection()}${readme.slice(b)}`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const before = fs.readFileSync(README, 'utf8');
  const after = rewriteGraphOps(rewriteReadme(before));
  if (after === before) console.log(`README.md: the op list is up to date (${supportedOps().length} ops)`);
  else {
    fs.writeFileSync(README, after);
    console.log(`README.md: wrote the op list (${supportedOps().length} ops)`);
  }
}
