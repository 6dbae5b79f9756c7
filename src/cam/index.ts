/** CAM methods by name. */
import { gradcam } from './methods/gradcam.js';
import { FAMILY_METHODS } from './family.js';
import type { CamMethod } from './types.js';

export const CAM_METHODS: Readonly<Record<string, CamMethod>> = { gradcam, ...FAMILY_METHODS };

export function camMethod(name: string, others: string[] = []): CamMethod {
  const m = CAM_METHODS[name.toLowerCase()];
  if (!m) throw new RangeError(`unknown method '${name}'; choose one of: ${[...Object.keys(CAM_METHODS), ...others].join(', ')}`);
  return m;
}

export type { CamMethod, LayerTensors } from './types.js';
export { gradcamWeights, weightedSum } from './methods/gradcam.js';
export { postprocess, relu, scaleEach } from './pipeline.js';
export { FAMILY_METHODS } from './family.js';
