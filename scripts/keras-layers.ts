/**
 * Writes the Keras importer's layer and activation lists into README.md, between the markers
 * `<!-- keras-layers:start -->` and `<!-- keras-layers:end -->`, from the importer's own tables
 * (src/onnx/import/keras/layers.ts). Run `npx tsx scripts/keras-layers.ts` after adding a layer;
 * test/keras.test.ts fails while the README is stale.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ACTIVATIONS, supportedLayers } from '../src/onnx/import/keras/layers.js';
import { README, readmeSection, rewriteReadme, wrap } from './ops.js';

export const START = '<!-- keras-layers:start -->';
export const END = '<!-- keras-layers:end -->';

export function kerasLayersSection(width = 104): string {
  const layers = supportedLayers();
  const text = `Supported layers (${layers.length}, generated from the importer by \`npx tsx scripts/keras-layers.ts\`): ${layers.join(', ')}. `
    + `Activations: ${ACTIVATIONS.join(', ')}.`;
  return `${wrap(text, width).join('\n')}\n`;
}

export function readmeKerasSection(readme: string): string | undefined {
  return readmeSection(readme, START, END);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const before = fs.readFileSync(README, 'utf8');
  const after = rewriteReadme(before, START, END, kerasLayersSection());
  if (after === before) console.log('README.md: the Keras layer list is up to date');
  else {
    fs.writeFileSync(README, after);
    console.log(`README.md: wrote the Keras layer list (${supportedLayers().length} layers)`);
  }
}
