/** CAM methods by name: views of the method registry (src/methods/index.ts) restricted to kind `cam`. */
import { camMethods, getMethod, methodNames } from '../methods/index.js';
import { InputError } from '../util/scores.js';
import type { CamMethod } from './types.js';

/** The CAM methods (kind `cam`) by name, in the registry's order. */
export const CAM_METHODS: Readonly<Record<string, CamMethod>> = Object.fromEntries(camMethods().map((m) => [m.name, m]));

/** The CAM family beyond Grad-CAM, by name. */
export const FAMILY_METHODS: Readonly<Record<string, CamMethod>> = Object.fromEntries(camMethods().filter((m) => m.name !== 'gradcam').map((m) => [m.name, m]));

/** A CAM method by name: unknown names list every method; a method of another kind names the CAM methods. */
export function camMethod(name: string): CamMethod {
  const m = getMethod(name);
  if (m.kind !== 'cam') throw new InputError(`${m.name} is a ${m.kind} method, not a CAM method; CAM methods: ${methodNames('cam').join(', ')}`);
  return m;
}

export type { CamMethod, LayerTensors } from './types.js';
export { gradcamWeights, weightedSum } from './methods/gradcam.js';
export { postprocess, relu, scaleEach } from './pipeline.js';
