/**
 * Writes docs/METHODS.md from the method registry (src/methods/index.ts):
 *
 *   npx tsx scripts/methods-doc.ts
 *
 * test/methods.test.ts fails when the file is out of date.
 */
import fs from 'node:fs';
import path from 'node:path';
import { methodsMarkdown } from '../src/cli/methods.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');

const text = `# Methods

Every explanation method of gradcam, generated from the method registry (\`src/methods/index.ts\`) by
\`npx tsx scripts/methods-doc.ts\` (\`gradcam methods\` prints the same list). Kinds: \`cam\` (a layer's
activations × gradients, or forward passes over its channels), \`gradient\` (one input gradient, rectified or
not), \`path\` and \`noise\` (many input-gradient passes), \`perturbation\` (forward passes only). How to add one:
docs/ARCHITECTURE.md, "Where to add".

${methodsMarkdown()}
`;
fs.writeFileSync(path.join(ROOT, 'docs', 'METHODS.md'), text);
console.log(`docs/METHODS.md: ${text.split('\n').length} lines`);
