/**
 * The JSON sidecars of explanations (browser-safe; re-exported by render/index.ts): the same fields
 * whatever the method or option.
 */
import type { ClassScore, Explanation, PixelExplanation } from '../types.js';
import type { LayerLayout } from '../layout/describe.js';

export function classJson(c: ClassScore): { index: number; label: string | null; logit: number; probability: number | null } {
  return { index: c.index, label: c.label ?? null, logit: c.logit, probability: Number.isFinite(c.probability) ? c.probability : null };
}

/** The layers' layouts for the JSON sidecars (one object for one layer, else a list). */
export function layoutJson(layouts: LayerLayout[] | undefined): unknown {
  if (!layouts) return undefined;
  const one = (l: LayerLayout) => ({ kind: l.kind, grid: l.grid, channels: l.channels, prefix_tokens: l.prefix, suffix_tokens: l.suffix, ...(l.override ? { given: true } : {}) });
  return layouts.length === 1 ? one(layouts[0]!) : layouts.map(one);
}

const round = (v: number) => Math.round(v * 100) / 100;
function range(a: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return [lo, hi];
}

/** What every sidecar says about the run, beside the explanation. */
export interface SidecarContext {
  input: string;
  model: string;
  timings: { compileMs: number; sessionMs: number; runMs: number; camMs: number };
  imageSize?: [number, number];
  options?: Record<string, unknown>;
  files: string[];
}

/** The JSON sidecar of one CAM explanation: the same fields whatever the method or option. */
export function explanationJson(e: Explanation, ctx: SidecarContext): Record<string, unknown> {
  const [lo, hi] = range(e.raw);
  return {
    input: ctx.input, model: ctx.model, method: e.method,
    layer: e.layers.length === 1 ? e.layers[0] : e.layers, layer_layout: layoutJson(e.layouts),
    target: { kind: e.targetKind ?? 'logit', name: e.targetName ?? `logit ${e.target.index}`, value: e.targetValue ?? e.target.logit },
    class: e.target.index >= 0 ? classJson(e.target) : null, predicted: classJson(e.predicted),
    explained_is_predicted: e.target.index === e.predicted.index,
    ...(e.rank !== undefined ? { rank: e.rank } : {}),
    ...(e.gradientNote ? { gradient: e.gradientNote } : {}),
    ...(ctx.options ?? {}),
    input_size: e.depth !== undefined ? [e.depth, e.height, e.width] : [e.height, e.width], ...(ctx.imageSize ? { image_size: ctx.imageSize } : {}),
    raw_map: { shape: e.rawDepth !== undefined ? [e.rawDepth, e.rawHeight, e.rawWidth] : [e.rawHeight, e.rawWidth], min: lo, max: hi },
    timings_ms: { compile: round(ctx.timings.compileMs), session: round(ctx.timings.sessionMs), run: round(ctx.timings.runMs), cam: round(ctx.timings.camMs) },
    warnings: e.warnings, files: ctx.files,
  };
}

/** The JSON sidecar of a pixel-level explanation (gradient, path, noise and perturbation methods); `extras` at the top level. */
export function gradientJson(e: PixelExplanation, ctx: SidecarContext & { rectifierOps?: string }): Record<string, unknown> {
  return {
    input: ctx.input, model: ctx.model, method: e.method, layer: e.layer || null, ...(ctx.rectifierOps ? { rectifier_ops: ctx.rectifierOps } : {}),
    ...(ctx.options && Object.keys(ctx.options).length ? { options: ctx.options } : {}), ...(e.extras ?? {}),
    target: e.scoreKind === 'probability' ? { kind: 'probability', name: `probability ${e.target.index}`, value: e.target.probability } : { kind: 'logit', name: `logit ${e.target.index}`, value: e.target.logit },
    class: classJson(e.target), predicted: classJson(e.predicted), explained_is_predicted: e.target.index === e.predicted.index,
    ...(e.gradientNote ? { gradient: e.gradientNote } : {}),
    input_size: [e.height, e.width], ...(ctx.imageSize ? { image_size: ctx.imageSize } : {}),
    timings_ms: { run: round(ctx.timings.runMs) }, ...(e.warnings?.length ? { warnings: e.warnings } : {}), files: ctx.files,
  };
}
