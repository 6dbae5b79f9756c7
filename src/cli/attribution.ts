/**
 * `gradcam explain` with the attribution methods (integrated-gradients, input-x-gradient, fullgrad) and
 * the noise tunnel over saliency, guided-backprop, deconvnet, input-x-gradient, integrated-gradients and
 * gradcam: their options, read and checked before any model run.
 */
import fs from 'node:fs';
import { group, usageError, type CommandSpec } from './spec.js';
import { INTEGRATION_RULES } from '../attribution/approximation.js';
import { NOISE_TYPES, NOISE_DEFAULTS, type AttributionOptions } from '../attribution/core.js';
import { ATTRIBUTION_METHODS, NOISE_METHODS, isAttributionMethod } from '../attribution/explain.js';
import { parseNpy, toFloat32 } from '../image/npy.js';
import { InputError } from '../util/scores.js';

export const ATTRIBUTION_METHOD_NAMES = Object.keys(ATTRIBUTION_METHODS);

export const ATTRIBUTION = group('Attribution methods (integrated-gradients, input-x-gradient, fullgrad) and noise tunnels', {
  steps: { type: 'string', value: 'N', number: { integer: true, min: 1 }, help: "integrated-gradients: integration points (default 50, Captum's n_steps)" },
  integration: {
    type: 'string', value: 'RULE', choices: INTEGRATION_RULES,
    help: `integrated-gradients: ${INTEGRATION_RULES.join(', ')} (default gausslegendre, Captum's; Riemann rules need 2 steps or more)`,
  },
  baseline: {
    type: 'string', value: 'B|FILE',
    help: "integrated-gradients: black (default: zeros in the model's input tensor, Captum's; after mean/std normalisation that is the mean colour, not black pixels), blur (the input's Gaussian blur, σ 5 px), uniform (uniform noise in the input's range, --seed), or a .npy model-input tensor ([C,H,W] or [1,C,H,W] in the model's layout)",
  },
  noise: { type: 'string', value: 'TYPE', choices: NOISE_TYPES, help: `a noise tunnel around --method (${NOISE_METHODS.join(', ')}): ${NOISE_TYPES.join(', ')} (Captum's NoiseTunnel; seeded by --seed)` },
  'noise-samples': { type: 'string', value: 'N', number: { integer: true, min: 1 }, help: `noisy copies per image (default ${NOISE_DEFAULTS.samples}, Captum's nt_samples)` },
  'noise-sigma': { type: 'string', value: 'F', number: { min: 0 }, help: `noise σ as a fraction of each image's input range, max − min of its model-input tensor (default ${NOISE_DEFAULTS.sigma})` },
});

export interface AttributionSettings extends AttributionOptions {
  method: string;
}

type Given = { values: Record<string, unknown>; given: Set<string> };

/**
 * The attribution run of `methodNames` and the options, or undefined when none of it applies. Refuses
 * (usage errors) the options without their method and methods given with others.
 */
export function readAttribution(spec: CommandSpec, p: Given, methodNames: string[]): AttributionSettings | undefined {
  const o = p.values;
  const mine = Object.keys(ATTRIBUTION.options).filter((k) => p.given.has(k));
  const names = methodNames.map((m) => m.toLowerCase());
  const attribution = names.some(isAttributionMethod) || p.given.has('noise');
  const goes = (keys: string[], what: string) => {
    if (keys.length) throw usageError(spec, `${keys.map((k) => `--${k}`).join(', ')} go${keys.length === 1 ? 'es' : ''} with ${what}`);
  };
  if (!attribution) {
    goes(mine.filter((k) => k.startsWith('noise-')), `--noise ${NOISE_TYPES.join('|')}`);
    goes(mine, '--method integrated-gradients');
    return undefined;
  }
  if (names.length !== 1) throw usageError(spec, `${names.find(isAttributionMethod) ?? '--noise'} is given alone: one --method per run (not --methods)`);
  const method = names[0]!;
  if (p.given.has('noise') && !(NOISE_METHODS as readonly string[]).includes(method)) throw usageError(spec, `--noise wraps one of: ${NOISE_METHODS.join(', ')}; not ${method}`);
  if (method !== 'integrated-gradients') goes(['steps', 'integration', 'baseline'].filter((k) => p.given.has(k)), '--method integrated-gradients');
  if (!p.given.has('noise')) goes(['noise-samples', 'noise-sigma'].filter((k) => p.given.has(k)), `--noise ${NOISE_TYPES.join('|')}`);
  const steps = o.steps as number | undefined;
  const integration = o.integration as AttributionSettings['integration'];
  if (steps !== undefined && steps < 2 && integration && integration !== 'gausslegendre') throw usageError(spec, `--integration ${integration} needs --steps 2 or more`);
  const b = o.baseline as string | undefined;
  let baseline: AttributionSettings['baseline'];
  if (b === undefined || b === 'black' || b === 'blur' || b === 'uniform') baseline = b;
  else if (/\.npy$/i.test(b)) baseline = readBaseline(b);
  else throw usageError(spec, `--baseline takes black, blur, uniform or a .npy file; got '${b}'`);
  return {
    method, steps, integration, baseline,
    noise: o.noise as AttributionSettings['noise'], noiseSamples: o['noise-samples'] as number | undefined, noiseSigma: o['noise-sigma'] as number | undefined,
  };
}

function readBaseline(file: string): Float32Array {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    throw new InputError(`--baseline ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return toFloat32(parseNpy(bytes));
  } catch (e) {
    throw new InputError(`--baseline ${file}: ${(e as Error).message}`);
  }
}

/** The sidecar's record of the options (beside the explanation's own `attribution` facts). */
export function attributionJson(a: AttributionSettings): Record<string, unknown> {
  return { attribution_method: a.method, ...(a.noise ? { noise_tunnel: a.noise } : {}) };
}
