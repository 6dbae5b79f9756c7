/** `gradcam layers`: list the candidate layers of a model, the auto choice marked. */
import { loadExplainer } from '../node.js';
import { CliError, usageError, parse, parseSize } from './common.js';

export const LAYERS_USAGE = `Usage: gradcam layers --model FILE [--size H[xW]] [--output NAME] [--json]

Lists the 4-D tensors the model's score depends on, in graph order: name, producing op and shape
at batch 1. '*' marks the automatic choice: the last one with spatial size > 1 before global
pooling / the classifier.`;

export async function runLayers(args: string[]): Promise<number> {
  const { values: o } = parse(args, {
    model: { type: 'string' }, size: { type: 'string' }, output: { type: 'string' }, json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  }, LAYERS_USAGE);
  if (o.help) {
    console.log(LAYERS_USAGE);
    return 0;
  }
  if (!o.model) throw usageError(`--model FILE is required`, LAYERS_USAGE);
  const explainer = await loadExplainer(o.model);
  try {
    const layers = await explainer.layers(parseSize(o.size), o.output);
    if (o.json) {
      console.log(JSON.stringify(layers, null, 2));
      return 0;
    }
    const w = Math.max(4, ...layers.map((l) => l.name.length));
    console.log(`  ${'name'.padEnd(w)}  ${'op'.padEnd(18)}  shape`);
    for (const l of layers) console.log(`${l.auto ? '*' : ' '} ${l.name.padEnd(w)}  ${l.op.padEnd(18)}  [${l.shape.join(', ')}]`);
    return 0;
  } finally {
    await explainer.release();
  }
}
