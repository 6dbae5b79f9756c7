/**
 * THE method registry: every method of every kind, one descriptor each (in its own file), in the order
 * menus list them. The CLI's --method choices and help, `gradcam methods`, the web app's menu, the docs'
 * table and the test over all methods are all derived from METHODS.
 *
 * To add a method: write its descriptor in its own file (kind `cam`: a CamMethod in src/cam/methods/, listed
 * in src/cam/methods/index.ts;
 * `gradient`: a GradientMethod in src/methods/gradient/; `path` / `noise` / `perturbation`: an
 * AttributionMethod in src/methods/<kind>/) and add it to METHODS below (CAM methods: to CAM_METHOD_LIST). Its options (descriptor
 * `options`) become CLI flags of `explain` by themselves.
 */
import { CAM_METHOD_LIST } from '../cam/methods/index.js';
import { saliency } from './gradient/saliency.js';
import { guidedBackprop } from './gradient/guided-backprop.js';
import { deconvnet } from './gradient/deconvnet.js';
import { guidedGradcam } from './gradient/guided-gradcam.js';
import { occlusionMethod } from './perturbation/occlusion.js';
import { riseMethod } from './perturbation/rise.js';
import { integratedGradientsMethod } from './path/integrated-gradients.js';
import { inputXGradient } from './path/input-x-gradient.js';
import { fullgrad } from './path/fullgrad.js';
import { noiseTunnel } from './noise/noise-tunnel.js';
import type { CamMethod } from '../cam/types.js';
import type { AttributionMethod, GradientMethod, MethodKind, MethodOption, MethodOptionValue, MethodOptionValues } from './types.js';
import { InputError } from '../util/scores.js';

export type MethodDescriptor = CamMethod | GradientMethod | AttributionMethod;

/** Every method, menus' order: CAM methods, gradient methods, path / noise methods, perturbation methods. */
export const METHODS: readonly MethodDescriptor[] = [
  // kind 'cam': src/cam/methods/index.ts (the CAM runner looks them up there, below the registry)
  ...CAM_METHOD_LIST,
  // kind 'gradient'
  saliency, guidedBackprop, deconvnet, guidedGradcam,
  // kinds 'path' and 'noise'
  integratedGradientsMethod, inputXGradient, fullgrad, noiseTunnel,
  // kind 'perturbation'
  occlusionMethod, riseMethod,
];

const BY_NAME = new Map<string, MethodDescriptor>();
for (const m of METHODS) {
  if (BY_NAME.has(m.name)) throw new Error(`method registry: two methods named '${m.name}'`);
  BY_NAME.set(m.name, m);
}
checkOptions();

/** The names of every method, or of those of the given kinds. */
export function methodNames(...kinds: MethodKind[]): string[] {
  return METHODS.filter((m) => !kinds.length || kinds.includes(m.kind)).map((m) => m.name);
}

/** A method by name (case-insensitive), or undefined. */
export function findMethod(name: string): MethodDescriptor | undefined {
  return BY_NAME.get(name.toLowerCase());
}

/** A method by name (case-insensitive); unknown names: an InputError listing every method. */
export function getMethod(name: string): MethodDescriptor {
  const m = findMethod(name);
  if (!m) throw new InputError(`unknown method '${name}'; choose one of: ${methodNames().join(', ')}`);
  return m;
}

/** Whether a method gives pixel-level attributions (every kind but `cam`): drawn as a gradient picture. */
export function isPixelMethod(name: string): boolean {
  const m = findMethod(name);
  return !!m && m.kind !== 'cam';
}

/** The CAM methods (kind `cam`). */
export function camMethods(): CamMethod[] {
  return METHODS.filter((m): m is CamMethod => m.kind === 'cam');
}

/** Whether a method reads gradients (a quantised model's explanation then carries the straight-through note). */
export function readsGradients(m: MethodDescriptor): boolean {
  return m.needs.layerGradient || m.needs.inputGradient || !!m.needs.biasGradients;
}

/** Every distinct option of the methods not declared by the commands themselves (`shared`), by flag: the CLI's method flags. */
export function methodOptionFlags(): MethodOption[] {
  const seen = new Map<string, MethodOption>();
  for (const m of METHODS) for (const o of m.options) if (!o.shared && !seen.has(o.flag)) seen.set(o.flag, o);
  return [...seen.values()];
}

/** The methods that take an option (by flag). */
export function methodsTaking(flag: string): string[] {
  return METHODS.filter((m) => m.options.some((o) => o.flag === flag)).map((m) => m.name);
}

/**
 * A method's own options (not `shared`): `given` checked against its declarations (unknown keys, types,
 * bounds, choices: an InputError naming the valid ones), defaults filled in.
 */
export function resolveMethodOptions(m: MethodDescriptor, given: Readonly<Record<string, MethodOptionValue>> | undefined): MethodOptionValues {
  const own = m.options.filter((o) => !o.shared);
  const out: Record<string, MethodOptionValue> = {};
  for (const k of Object.keys(given ?? {})) {
    if (!own.some((o) => o.key === k)) {
      throw new InputError(`method '${m.name}' takes no option '${k}'${own.length ? `; its options: ${own.map((o) => o.key).join(', ')}` : ''}`);
    }
  }
  for (const o of own) {
    const v = given?.[o.key] ?? o.default;
    if (v === undefined) continue;
    out[o.key] = checkValue(m.name, o, v);
  }
  return out;
}

/** One option value checked against its declaration (type, bounds, choices): an InputError naming the valid ones. */
export function checkValue(method: string, o: MethodOption, v: MethodOptionValue): MethodOptionValue {
  const bad = (what: string) => new InputError(`${method}: --${o.flag} ${what}, got ${JSON.stringify(v)}`);
  if (o.type === 'boolean') {
    if (typeof v !== 'boolean') throw bad('is true or false');
    return v;
  }
  if (o.type === 'string') {
    if (typeof v !== 'string') throw bad('is a string');
    if (o.choices && !o.choices.includes(v)) throw bad(`must be one of ${o.choices.join(', ')}`);
    return v;
  }
  const x = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof x !== 'number' || !Number.isFinite(x)) throw bad(`must be a ${o.type === 'integer' ? 'whole ' : ''}number`);
  if (o.type === 'integer' && !Number.isInteger(x)) throw bad('must be a whole number');
  if ((o.min !== undefined && x < o.min) || (o.max !== undefined && x > o.max)) throw bad(`must lie in [${o.min ?? '-∞'}, ${o.max ?? '∞'}]`);
  return x;
}

/** Two methods that declare the same flag must mean the same by it (one CLI flag, one meaning). */
function checkOptions(): void {
  const byFlag = new Map<string, { o: MethodOption; method: string }>();
  for (const m of METHODS) {
    for (const o of m.options) {
      const prev = byFlag.get(o.flag);
      if (!prev) { byFlag.set(o.flag, { o, method: m.name }); continue; }
      if (prev.o.key !== o.key || prev.o.type !== o.type || !!prev.o.shared !== !!o.shared) {
        throw new Error(`method registry: --${o.flag} is declared differently by ${prev.method} and ${m.name}`);
      }
    }
  }
}

export type { AttributionContext, Attribution, AttributionMethod, GradientMethod, MethodInfo, MethodKind, MethodNeeds, MethodOption, MethodOptionValues } from './types.js';
export type { CamMethod } from '../cam/types.js';
