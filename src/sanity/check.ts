/**
 * The model-parameter randomisation test (Adebayo et al., NeurIPS 2018), browser-safe: explain the
 * inputs with the trained model, then with models whose parameterised layers are re-initialised —
 * cascading (from the logits down, cumulatively: stage k has the top k layers randomised) and
 * independent (one layer at a time) — and measure how similar each map stays to the original.
 *
 * Similarities per method and stage (means over the images; see ../metrics/maps.ts for the map forms):
 * `spearman` — Spearman rank correlation of the signed maps; `spearman_abs` — of the displayed
 * magnitudes; `ssim` — SSIM of the displayed maps in [0, 1]; `hog` — Pearson correlation of their HOG
 * features. A map that stays similar after the whole model has been randomised cannot be explaining
 * what the model learned.
 *
 * Verdict per method: the mean `spearman_abs` over the cascading stages 1..L (the area under the
 * cascading curve, so a map that survives the randomisation of most of the model scores high even if
 * it changes once the first layer goes; without cascading, the mean over the independent stages).
 * Below the threshold (default 0.5) the method is "sensitive to the weights" (PASS); at or above it,
 * it is not (FAIL).
 */
import { Explainer } from '../explainer.js';
import type { ClassChoice } from '../types.js';
import type { SessionFactory, SessionOptions } from '../runtime/session.js';
import type { RgbImage } from '../image/types.js';
import { methodMaps, checkMethod, type MethodMap } from '../metrics/maps.js';
import { spearman, ssim, hogSimilarity, type MapSimilarity } from '../metrics/similarity.js';
import { edgeMap } from '../metrics/edges.js';
import { resizeRgb } from '../image/resize.js';
import { parameterizedLayers, randomizeLayers, shortLayerName, type InitKind, type ParamLayer } from './randomize.js';

export type SanityMode = 'cascading' | 'independent';
export const SANITY_MODES: readonly SanityMode[] = ['cascading', 'independent'];
export const DEFAULT_SANITY_METHODS = ['gradcam', 'guided-backprop', 'guided-gradcam', 'saliency'] as const;
export const DEFAULT_THRESHOLD = 0.5;

export interface SanityOptions {
  createSession: SessionFactory;
  sessionOptions?: SessionOptions;
  methods?: readonly string[];
  modes?: readonly SanityMode[];
  init?: InitKind;
  seed?: number;
  /** The class(es) to explain, resolved once on the trained model (default: its predicted class). */
  classes?: ClassChoice | ClassChoice[];
  /** The CAM layer (default 'auto', resolved once on the trained model). */
  layer?: string;
  output?: string;
  rectifierOps?: 'relu' | 'all';
  /** Randomise only the top `maxLayers` layers (default: all). */
  maxLayers?: number;
  /** The input pictures at model resolution, for the Sobel edge reference (optional). */
  pictures?: RgbImage[];
  threshold?: number;
  /** Called after each stage. */
  onStage?: (done: number, total: number, label: string) => void;
  /** Progress of Score-CAM / Ablation-CAM's passes within a stage (see FamilyOptions.onProgress). */
  onProgress?: (done: number, total: number, stage: string) => void;
}

export interface StageEntry extends MapSimilarity {
  mode: SanityMode;
  /** 0 = the trained model (cascading only); k = the k-th stage. */
  stage: number;
  /** The layer randomised at this stage (for cascading: the lowest one randomised so far); null for stage 0. */
  layer: string | null;
  /** Spearman correlation of the displayed map with the input's Sobel edge map (when pictures were given). */
  edges?: number;
  /** Standard deviations over the images (when there are several). */
  std?: MapSimilarity;
}

export interface SanityStage {
  mode: SanityMode;
  stage: number;
  layer: string | null;
  /** Per method, one map per image. */
  maps: Record<string, MethodMap[]>;
  /** Per method, one similarity per image. */
  similarity: Record<string, MapSimilarity[]>;
}

export interface Verdict {
  method: string;
  sensitive: boolean;
  /** The statistic compared with the threshold. */
  value: number;
  threshold: number;
  /** The first cascading stage at which spearman_abs fell below the threshold (null if never). */
  firstBelow: number | null;
  text: string;
}

export interface SanityResult {
  methods: string[];
  layers: ParamLayer[];
  /** The explained class per image. */
  classes: number[];
  camLayer: string;
  /** Per method, the trained model's map per image. */
  original: Record<string, MethodMap[]>;
  stages: SanityStage[];
  /** Per method, the table written as sanity.json. */
  table: Record<string, StageEntry[]>;
  verdicts: Verdict[];
  edges?: Float32Array[];
  init: InitKind;
  seed: number;
}

/** The four similarities of one map with the original map. */
export function compareMaps(a: MethodMap, original: MethodMap): MapSimilarity {
  const { height: h, width: w } = a;
  return {
    spearman: spearman(a.signed, original.signed),
    spearman_abs: spearman(a.magnitude, original.magnitude),
    ssim: ssim(a.display, original.display, h, w),
    hog: hogSimilarity(a.display, original.display, h, w),
  };
}

async function allMaps(explainer: Explainer, input: Float32Array, dims: number[], methods: readonly string[], opts: { classes: ClassChoice[]; layer: string; output?: string; rectifierOps?: 'relu' | 'all'; onProgress?: SanityOptions['onProgress'] }): Promise<Record<string, MethodMap[]>> {
  const out: Record<string, MethodMap[]> = {};
  for (const m of methods) out[m] = await methodMaps(explainer, input, dims, m, opts);
  return out;
}

const KEYS = ['spearman', 'spearman_abs', 'ssim', 'hog'] as const;

export async function sanityCheck(explainer: Explainer, input: Float32Array, dims: number[], opts: SanityOptions): Promise<SanityResult> {
  const methods = [...(opts.methods ?? DEFAULT_SANITY_METHODS)];
  if (methods.length === 0) throw new Error('no methods given');
  methods.forEach(checkMethod);
  const modes = [...(opts.modes ?? SANITY_MODES)];
  const init = opts.init ?? 'own';
  const seed = opts.seed ?? 0;
  const threshold = opts.threshold ?? DEFAULT_THRESHOLD;
  const n = dims[0]!;
  let layers = parameterizedLayers(explainer.model, opts.output);
  const modelLayers = layers.length;
  if (layers.length === 0) throw new Error(`${explainer.source}: found no parameterised layers (Conv, Gemm, MatMul, normalisation) with constant float32 weights on the score's path`);
  if (opts.maxLayers !== undefined) layers = layers.slice(0, Math.max(1, opts.maxLayers));

  // the trained model: fixes the class and the CAM layer for every stage
  const first = await methodMaps(explainer, input, dims, methods[0]!, { classes: opts.classes, layer: opts.layer, output: opts.output, rectifierOps: opts.rectifierOps, onProgress: opts.onProgress });
  const classes = first.map((m) => m.target.index);
  const camLayer = first[0]!.layer;
  const mapOpts = { classes: classes as ClassChoice[], layer: camLayer, output: opts.output, rectifierOps: opts.rectifierOps, onProgress: opts.onProgress };
  const original = await allMaps(explainer, input, dims, methods, mapOpts);
  const edges = opts.pictures?.map((p, i) => {
    const m = original[methods[0]!]![i]!;
    return edgeMap(p.width === m.width && p.height === m.height ? p : resizeRgb(p, m.width, m.height));
  });

  const ones = (): MapSimilarity[] => Array.from({ length: n }, () => ({ spearman: 1, spearman_abs: 1, ssim: 1, hog: 1 }));
  const stages: SanityStage[] = [];
  const plan: { mode: SanityMode; stage: number; layers: ParamLayer[]; layer: ParamLayer }[] = [];
  for (const mode of modes) {
    layers.forEach((l, k) => plan.push({ mode, stage: k + 1, layers: mode === 'cascading' ? layers.slice(0, k + 1) : [l], layer: l }));
  }
  if (modes.includes('cascading')) {
    stages.push({ mode: 'cascading', stage: 0, layer: null, maps: original, similarity: Object.fromEntries(methods.map((m) => [m, ones()])) });
  }
  let done = 0;
  for (const p of plan) {
    const model = randomizeLayers(explainer.model, p.layers, { init, seed });
    const ex = new Explainer(model, { createSession: opts.createSession, sessionOptions: opts.sessionOptions, labels: explainer.labels, source: `${explainer.source} (${p.mode} stage ${p.stage})` });
    try {
      const maps = await allMaps(ex, input, dims, methods, mapOpts);
      const similarity = Object.fromEntries(methods.map((m) => [m, maps[m]!.map((mm, i) => compareMaps(mm, original[m]![i]!))]));
      stages.push({ mode: p.mode, stage: p.stage, layer: p.layer.name, maps, similarity });
    } finally {
      await ex.release();
    }
    opts.onStage?.(++done, plan.length, `${p.mode} ${p.stage}/${layers.length}: ${shortLayerName(p.layer.name)}`);
  }

  const table = stageTable(methods, stages.map((st) => ({
    mode: st.mode, stage: st.stage, layer: st.layer,
    similarity: st.similarity,
    ...(edges ? { edges: Object.fromEntries(methods.map((m) => [m, st.maps[m]!.map((mm, i) => spearman(mm.magnitude, edges[i]!))])) } : {}),
  })));
  const verdicts = methods.map((m) => verdict(m, table[m]!, threshold, modelLayers));
  return { methods, layers, classes, camLayer, original, stages, table, verdicts, edges, init, seed };
}

/** One stage's similarities per method and image (and the maps' rank correlation with the edge maps). */
export interface StageSimilarity {
  mode: SanityMode;
  stage: number;
  layer: string | null;
  similarity: Record<string, MapSimilarity[]>;
  edges?: Record<string, number[]>;
}

/**
 * The table written as sanity.json: per method and stage, the means over the images (and their standard
 * deviations when there are several). A run over a folder (gradcam sanity on a dataset) builds it from
 * the images' stored rows, in batches; a run over files from sanityCheck's stages.
 */
export function stageTable(methods: readonly string[], stages: readonly StageSimilarity[]): Record<string, StageEntry[]> {
  const table: Record<string, StageEntry[]> = {};
  for (const m of methods) {
    table[m] = stages.map((s) => {
      const sims = s.similarity[m]!;
      const n = sims.length;
      const mean = Object.fromEntries(KEYS.map((k) => [k, sims.reduce((a, v) => a + v[k], 0) / n])) as unknown as MapSimilarity;
      const e: StageEntry = { mode: s.mode, stage: s.stage, layer: s.layer, ...mean };
      if (s.edges) e.edges = s.edges[m]!.reduce((a, v) => a + v, 0) / n;
      if (n > 1) e.std = Object.fromEntries(KEYS.map((k) => [k, Math.sqrt(sims.reduce((a, v) => a + (v[k] - mean[k]) ** 2, 0) / n)])) as unknown as MapSimilarity;
      return e;
    });
  }
  return table;
}

/** The one-line verdict of a method from its table (see the module comment); `numLayers`: the model's parameterised layers. */
export function verdict(method: string, rows: StageEntry[], threshold: number, numLayers: number): Verdict {
  const casc = rows.filter((r) => r.mode === 'cascading' && r.stage > 0);
  const indep = rows.filter((r) => r.mode === 'independent');
  const use = casc.length ? casc : indep;
  const value = use.reduce((a, r) => a + r.spearman_abs, 0) / Math.max(1, use.length);
  const basis = casc.length
    ? `over the ${casc.length} cascading stages${casc.length < numLayers ? '' : ` (up to all ${numLayers} layers randomised)`}`
    : `over ${indep.length} single-layer randomisations (independent)`;
  const below = casc.find((r) => r.spearman_abs < threshold);
  const firstBelow = below ? below.stage : null;
  const sensitive = value < threshold;
  const v = value.toFixed(2);
  const text = sensitive
    ? `${method}: PASS, sensitive to the weights: mean rank correlation of |map| with the original ${v} < ${threshold} ${basis}${firstBelow ? `; below ${threshold} from cascading stage ${firstBelow}` : ''}`
    : `${method}: FAIL, insensitive to the weights: mean rank correlation of |map| with the original ${v} >= ${threshold} ${basis}${firstBelow ? ` (first below ${threshold} at cascading stage ${firstBelow})` : ''}; the map reflects the input more than what the model learned`;
  return { method, sensitive, value, threshold, firstBelow, text };
}
