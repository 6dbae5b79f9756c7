/**
 * Pixel-level methods (every kind but `cam`) through one entry: gradient methods by explainGradients (one
 * forward + backward run, the Grad-CAM map beside), path / noise / perturbation methods by their own
 * attribute() (src/methods/attribution.ts). The CLI, explain() and the metrics reach them all here.
 */
import type { ExplainerCore as Explainer } from '../explainer/core.js';
import type { ExplainOptions } from '../types.js';
import { explainGradients } from '../methods/gradient/explain.js';
import { explainAttribution, type AttributionResult } from './attribution.js';
import { getMethod, methodNames, resolveMethodOptions } from './index.js';
import type { AttributionContext } from './types.js';
import { InputError } from '../util/scores.js';

/** `explain`: explain() itself (what a noise method runs on its noisy copies). */
export async function explainPixels(ex: Explainer, input: Float32Array, dims: number[], opts: ExplainOptions & { method: string }, explain: AttributionContext['explain']): Promise<AttributionResult> {
  const m = getMethod(opts.method);
  if (m.kind === 'cam') throw new InputError(`${m.name} is a CAM method; pixel-level methods: ${methodNames('gradient', 'path', 'noise', 'perturbation').join(', ')}`);
  if (m.kind !== 'gradient') return explainAttribution(ex, m, input, dims, opts, explain);
  resolveMethodOptions(m, opts.methodOptions);
  const unsupported = (['target', 'topK', 'contrast', 'counterfactual', 'augSmooth', 'eigenSmooth'] as const).filter((k) => opts[k] !== undefined && opts[k] !== false);
  if (unsupported.length) throw new InputError(`${m.name} explains through the input gradient and takes none of: ${unsupported.join(', ')}`);
  if (Array.isArray(opts.layer) && opts.layer.length > 1) throw new InputError(`${m.name} shows the Grad-CAM map of one layer; give one layer`);
  const layer = Array.isArray(opts.layer) ? opts.layer[0] : opts.layer;
  const t0 = performance.now();
  const g = await explainGradients(ex, input, dims, { method: m.name, layer, layout: opts.layout, classes: opts.classes, output: opts.output, rectifierOps: opts.rectifierOps, seeds: opts.seeds, volumeResize: opts.volumeResize });
  return { explanations: g.explanations, timings: { compileMs: 0, sessionMs: 0, runMs: g.runMs, camMs: performance.now() - t0 - g.runMs } };
}
