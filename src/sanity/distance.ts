/**
 * The randomisation distance of a method's maps (the one number of the model-parameter randomisation
 * test that `gradcam evaluate` ranks by): 1 − |Spearman(|map| on the trained model, |map| on the model
 * with every parameterised layer re-initialised)| — the last stage of the cascading test in check.ts;
 * the absolute value as in Adebayo et al.'s figures, so that an anti-correlated map does not rank above
 * an unrelated one. 0: the map's ranking survived the destruction of the weights (it cannot be explaining
 * them); 1: no rank relation left.
 */
import { Explainer } from '../explainer.js';
import type { SessionFactory, SessionOptions } from '../runtime/session.js';
import { spearman } from '../metrics/similarity.js';
import { InputError } from '../util/scores.js';
import { methodMaps, type MapOptions, type MethodMap } from '../metrics/maps.js';
import { parameterizedLayers, randomizeLayers, type InitKind } from './randomize.js';

/** An explainer over the model with all its parameterised layers (on the score's path) re-initialised. */
export function randomisedExplainer(explainer: Explainer, opts: { createSession: SessionFactory; sessionOptions?: SessionOptions; output?: string; init?: InitKind; seed?: number }): Explainer {
  const layers = parameterizedLayers(explainer.model, opts.output);
  if (!layers.length) throw new InputError(`${explainer.source}: found no parameterised layers (Conv, Gemm, MatMul, normalisation) with constant float32 weights on the score's path; the randomisation distance needs some (leave it out with --metrics)`);
  const model = randomizeLayers(explainer.model, layers, { init: opts.init ?? 'own', seed: opts.seed ?? 0 });
  return new Explainer(model, { createSession: opts.createSession, sessionOptions: opts.sessionOptions, labels: explainer.labels, source: `${explainer.source} (all ${layers.length} layers randomised)` });
}

/** 1 − |Spearman rank correlation| of the two maps' magnitudes, in [0, 1]. */
export function randomisationDistance(trained: MethodMap, randomised: MethodMap): number {
  return 1 - Math.abs(spearman(randomised.magnitude, trained.magnitude));
}

/** The randomisation distance of each image's map: the method run again on `randomised` for the same classes (and CAM layer). */
export async function randomisationDistances(randomised: Explainer, input: Float32Array, dims: number[], trained: MethodMap[], opts: Omit<MapOptions, 'classes' | 'layer'> = {}): Promise<number[]> {
  const method = trained[0]!.method;
  const maps = await methodMaps(randomised, input, dims, method, { ...opts, classes: trained.map((m) => m.target.index), layer: trained[0]!.layer || undefined });
  return maps.map((m, i) => randomisationDistance(trained[i]!, m));
}
