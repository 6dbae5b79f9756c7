/** CAM methods by name (kind `cam`; the method registry, src/methods/index.ts, lists them first). */
import { CAM_METHOD_LIST } from './methods/index.js';
import { InputError } from '../util/scores.js';
import type { CamMethod } from './types.js';

/** The CAM methods by name, in menu order. */
export const CAM_METHODS: Readonly<Record<string, CamMethod>> = Object.fromEntries(CAM_METHOD_LIST.map((m) => [m.name, m]));

/** The CAM family beyond Grad-CAM, by name. */
export const FAMILY_METHODS: Readonly<Record<string, CamMethod>> = Object.fromEntries(CAM_METHOD_LIST.filter((m) => m.name !== 'gradcam').map((m) => [m.name, m]));

/** A CAM method by name (case-insensitive); other names: an InputError naming the CAM methods (and `others`, the rest of the registry). */
export function camMethod(name: string, others: readonly string[] = []): CamMethod {
  const m = CAM_METHODS[name.toLowerCase()];
  if (m) return m;
  if (others.includes(name.toLowerCase())) throw new InputError(`${name.toLowerCase()} is not a CAM method; CAM methods: ${Object.keys(CAM_METHODS).join(', ')}`);
  throw new InputError(`unknown method '${name}'; choose one of: ${[...Object.keys(CAM_METHODS), ...others].join(', ')}`);
}

export type { CamMethod, LayerTensors } from './types.js';
export { gradcamWeights, weightedSum } from './methods/gradcam.js';
export { postprocess, relu, scaleEach } from './pipeline.js';
