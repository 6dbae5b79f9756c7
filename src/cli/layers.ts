/** `gradcam layers`: list the candidate layers of a model, the auto choice marked. */
import { loadExplainer } from '../node.js';
import { parseSize } from './common.js';
import { command, group, helpText, num, parseCommand, pick, MODEL } from './spec.js';
import { layoutLabel } from '../layout/describe.js';

export const LAYERS = command({
  name: 'layers',
  synopsis: '--model FILE [--size H[xW]] [--output NAME] [--all] [--json]',
  summary: 'list candidate layers (auto choice marked)',
  description: `Lists the tensors the model's score depends on that can be explained, in graph order: name,
producing op, shape at batch 1, and the layout gradcam inferred from the graph — nchw, nhwc
(channels-last), tokens ([N, L, C] with L = P prefix tokens + h·w), tokens-first ([L, N, C]) — with
the grid h×w and the number of prefix tokens (+P). '*' marks the automatic choice (the input of the
last node that mixes grid positions, walked back past projections: a CNN's last block, a ViT's last
norm1, Swin's final norm, ConvNeXt's last stage).`,
  groups: [
    pick(MODEL, ['model', 'variant', 'output', 'size', 'max-input']),
    group('Listing', {
      all: { type: 'boolean', default: false, help: 'also list the tensors whose layout is unknown or whose grid is 1×1, with the reason' },
      json: { type: 'boolean', default: false, help: 'print JSON instead of a table' },
    }),
  ],
  required: ['model'],
});

export async function runLayers(args: string[]): Promise<number> {
  const { values: o } = parseCommand(LAYERS, args);
  if (o.help) {
    console.log(helpText(LAYERS));
    return 0;
  }
  const size = parseSize(o.size);
  const explainer = await loadExplainer(o.model!, { size, maxInputPixels: num(o['max-input']), variant: o.variant });
  try {
    if (!o.json) for (const n of explainer.imported?.notes ?? []) process.stderr.write(`gradcam: ${n}\n`);
    const layers = o.all ? await explainer.allTensors(size, o.output) : await explainer.layers(size, o.output);
    if (o.json) {
      console.log(JSON.stringify(layers.map((l) => ({
        name: l.name, op: l.op, shape: l.shape, auto: l.auto,
        layout: l.layout.kind, grid: l.layout.grid, channels: l.layout.channels, prefix_tokens: l.layout.prefix, suffix_tokens: l.layout.suffix,
        ...(l.layout.reason ? { reason: l.layout.reason } : {}),
      })), null, 2));
      return 0;
    }
    const w = Math.max(4, ...layers.map((l) => l.name.length));
    const shapes = layers.map((l) => `[${l.shape.join(', ')}]`);
    const sw = Math.max(5, ...shapes.map((s) => s.length));
    console.log(`  ${'name'.padEnd(w)}  ${'op'.padEnd(18)}  ${'shape'.padEnd(sw)}  layout`);
    layers.forEach((l, k) => {
      const lay = l.layout.kind === 'unknown' ? `unknown (${l.layout.reason})` : layoutLabel(l.layout);
      console.log(`${l.auto ? '*' : ' '} ${l.name.padEnd(w)}  ${l.op.padEnd(18)}  ${shapes[k]!.padEnd(sw)}  ${lay}`);
    });
    return 0;
  } finally {
    await explainer.release();
  }
}
