/** The model-parameter randomisation test (browser-safe). */
export { sanityCheck, compareMaps, verdict, DEFAULT_SANITY_METHODS, DEFAULT_THRESHOLD, SANITY_MODES } from './check.js';
export type { SanityMode, SanityOptions, SanityResult, SanityStage, StageEntry, Verdict } from './check.js';
export { parameterizedLayers, randomizeLayers, shortLayerName, INIT_KINDS } from './randomize.js';
export type { InitKind, LayerParam, ParamLayer, RandomizeOptions } from './randomize.js';
export { sanityMontage, sanityCurvesSvg } from './render.js';
export type { MontageRenderOptions } from './render.js';
