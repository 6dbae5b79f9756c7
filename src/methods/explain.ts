/**
 * explain(): every registered method through one call. The method's kind picks the path: pixel-level
 * kinds (gradient, path, noise, perturbation) through explainPixels; CAM methods through Grad-CAM's
 * in-graph maps (one run), the CAM runner (any other CAM method, target, top-k, smoothing) or, for 3-D
 * models, the volume path.
 */
import type { ExplainerCore as Explainer } from '../explainer/core.js';
import type { ExplainOptions, ExplainResult, Explanation, PixelExplanation } from '../types.js';
import { camMethod } from '../cam/index.js';
import { gradcam } from '../cam/methods/gradcam.js';
import { gradcamGraphMaps, graphMaps } from '../cam/methods/gradcam-graph.js';
import { explainFamily, needsFamily } from '../cam/runner.js';
import { postprocess, postprocessVolume } from '../cam/pipeline.js';
import { cancellationWarning, cancelled, cancelledFromScale, degenerateWarnings } from '../cam/degenerate.js';
import { gradientMagnitudeMap } from '../image/gradient.js';
import { InputError } from '../util/scores.js';
import { getMethod, METHODS, resolveMethodOptions } from './index.js';
import { explainPixels } from './pixels.js';
import type { AttributionContext } from './types.js';

/** `explain`: explain() itself, for methods that run others (noise methods). */
export async function explainWith(ex: Explainer, input: Float32Array, dims: number[], opts: ExplainOptions, explain: AttributionContext['explain']): Promise<ExplainResult> {
  const m = getMethod(opts.method ?? 'gradcam');
  if (m.kind !== 'cam') {
    // pixel-level methods: the map is the attribution's magnitude (pixelExplanation)
    const a = await explainPixels(ex, input, dims, { ...opts, method: m.name }, explain);
    return { explanations: a.explanations.map((e, i) => pixelExplanation(e, i)), timings: a.timings };
  }
  if (opts.methodOptions && Object.keys(opts.methodOptions).length) resolveMethodOptions(m, opts.methodOptions);
  if (opts.seeds) throw new InputError('seed rows are taken by the gradient methods (saliency, guided-backprop, deconvnet, guided-gradcam); CAM methods take a target');
  if (ex.volume) return explainVolume(ex, input, dims, opts);
  if (needsFamily(opts)) return explainFamily(ex, input, dims, opts);
  const method = camMethod(opts.method ?? 'gradcam');
  // Grad-CAM's maps come from the graph where the layer allows (one ORT run, no JavaScript per pixel)
  const r = await ex.run(input, dims, { layers: opts.layer === undefined ? ['auto'] : Array.isArray(opts.layer) ? opts.layer : [opts.layer], layout: opts.layout, classes: opts.classes, output: opts.output, ...(method === gradcam ? { post: gradcamGraphMaps } : {}) });
  const t1 = performance.now();
  const n = dims[0]!;
  const [H, W] = r.size;
  const g = graphMaps(r);
  const raws = g
    ? [{ raw: g.raw, h: g.h, w: g.w, noise: cancelledFromScale(g.raw, g.h * g.w, g.scale) }]
    : r.activations.map((a, j) => {
      const d = a.dims as [number, number, number, number];
      const raw = method.compute({ activations: a.data, gradients: r.gradients[j]!.data, dims: d });
      return { raw, h: d[2], w: d[3], noise: cancelled(a.data, r.gradients[j]!.data, d, raw) };
    });
  const post = g ? { maps: g.map, empty: Array.from(g.range, (v) => v === 0) } : postprocess(raws, n, H, W);
  const explanations: Explanation[] = [];
  for (let i = 0; i < n; i++) {
    const { target, predicted } = ex.scores(r, i);
    const warnings: string[] = [];
    if (post.empty[i]) warnings.push(`the map is all zero: nothing at layer ${r.layers.join(', ')} speaks for class ${target.index}${target.label ? ` (${target.label})` : ''}`);
    const r0 = raws[0]!;
    if (raws.some((x) => x.noise[i])) warnings.push(cancellationWarning(r.layers.join(', ')));
    else if (!post.empty[i]) warnings.push(...degenerateWarnings(r0.raw.subarray(i * r0.h * r0.w, (i + 1) * r0.h * r0.w), r0.h, r0.w, r.layers[0]!));
    explanations.push({
      method: method.name, layers: r.layers, layouts: r.layouts, target, predicted,
      map: n === 1 ? post.maps : post.maps.slice(i * H * W, (i + 1) * H * W), height: H, width: W,
      raw: r0.raw.slice(i * r0.h * r0.w, (i + 1) * r0.h * r0.w), rawHeight: r0.h, rawWidth: r0.w,
      warnings,
    });
  }
  const { compileMs, sessionMs, runMs } = r.timings;
  return { explanations, timings: { compileMs, sessionMs, runMs, camMs: performance.now() - t1 } };
}

/**
 * A 3-D model's CAM maps: the methods that need only A and G (Grad-CAM, Grad-CAM++, XGrad-CAM,
 * HiResCAM, LayerCAM, element-wise Grad-CAM, Eigen-CAM, EigenGrad-CAM) over [N, C, d, h, w] layers, with
 * weights pooled over all three grid axes (the methods see the grid flattened, which is all they need),
 * then `postprocessVolume`. Maps are [D, H, W].
 */
async function explainVolume(ex: Explainer, input: Float32Array, dims: number[], opts: ExplainOptions): Promise<ExplainResult> {
  const name = (opts.method ?? 'gradcam').toLowerCase();
  const method = camMethod(name);
  if (!method.volumes) throw new InputError(`method '${method.name}' does not explain 3-D models yet; for volumes choose one of: ${METHODS.filter((m) => m.volumes).map((m) => m.name).join(', ')}`);
  const unsupported = (['target', 'topK', 'contrast', 'counterfactual', 'augSmooth', 'eigenSmooth'] as const).filter((k) => opts[k] !== undefined && opts[k] !== false);
  if (unsupported.length) throw new InputError(`3-D models are explained for a class (--class) only; not supported for volumes yet: ${unsupported.join(', ')}`);
  const r = await ex.run(input, dims, { layers: opts.layer === undefined ? ['auto'] : Array.isArray(opts.layer) ? opts.layer : [opts.layer], layout: opts.layout, classes: opts.classes, output: opts.output });
  const t1 = performance.now();
  const n = dims[0]!;
  const [D, H, W] = r.grid as [number, number, number];
  const raws = r.activations.map((a, j) => {
    const [N, C, d, h, w] = a.dims as [number, number, number, number, number];
    const flat: [number, number, number, number] = [N, C, d * h, w];
    const raw = method.compute({ activations: a.data, gradients: r.gradients[j]!.data, dims: flat });
    return { raw, grid: [d, h, w] as [number, number, number], noise: cancelled(a.data, r.gradients[j]!.data, flat, raw) };
  });
  const post = postprocessVolume(raws, n, [D, H, W], opts.volumeResize ?? 'trilinear');
  const size = D * H * W;
  const explanations: Explanation[] = [];
  for (let i = 0; i < n; i++) {
    const { target, predicted } = ex.scores(r, i);
    const warnings: string[] = [];
    if (post.empty[i]) warnings.push(`the map is all zero: nothing at layer ${r.layers.join(', ')} speaks for class ${target.index}${target.label ? ` (${target.label})` : ''}`);
    if (raws.some((x) => x.noise[i])) warnings.push(cancellationWarning(r.layers.join(', ')));
    const r0 = raws[0]!;
    const cells = r0.grid[0] * r0.grid[1] * r0.grid[2];
    explanations.push({
      method: method.name, layers: r.layers, layouts: r.layouts, target, predicted,
      map: post.maps.slice(i * size, (i + 1) * size), height: H, width: W, depth: D,
      raw: r0.raw.slice(i * cells, (i + 1) * cells), rawDepth: r0.grid[0], rawHeight: r0.grid[1], rawWidth: r0.grid[2],
      warnings,
    });
  }
  const { compileMs, sessionMs, runMs } = r.timings;
  return { explanations, timings: { compileMs, sessionMs, runMs, camMs: performance.now() - t1 } };
}

/**
 * A pixel-level explanation as explain() gives it: the map is the attribution's magnitude per pixel (max
 * over channels of |a|, scaled to [0, 1]), the attribution itself is in `gradient` ([H, W, C]); `raw` is the
 * map shown beside (gradient methods: the Grad-CAM map of the layer).
 */
function pixelExplanation(e: PixelExplanation, i: number): Explanation {
  const { map, max: hi } = gradientMagnitudeMap(e.gradient, e.width, e.height * (e.depth ?? 1));
  const warnings = e.warnings ?? (hi > 0 ? [] : [`the input gradient is all zero: nothing in the picture moves the score of class ${e.target.index}`]);
  return {
    method: e.method, layers: e.layer ? [e.layer] : [], target: e.target, predicted: e.predicted, map, height: e.height, width: e.width,
    raw: e.cam, rawHeight: e.height, rawWidth: e.width, image: i, gradient: e.gradient, channels: e.channels,
    ...(e.depth !== undefined ? { depth: e.depth, rawDepth: e.depth } : {}), ...(e.extras ? { extras: e.extras } : {}),
    warnings,
  };
}
