/**
 * Integrated Gradients with Captum's semantics and defaults (50 steps, Gauss–Legendre, the zero baseline
 * in input-tensor space): src/methods/path/integrated.ts. Baselines: `black` = zeros in the model's input
 * tensor (Captum's default; after mean/std normalisation that is the dataset's mean colour, black only
 * for models fed unnormalised pixels), `blur` = the input's Gaussian blur (11×11, σ 5 px, per channel:
 * src/image/planes.ts gaussianBlur, the faithfulness metrics' blur substrate), `uniform` = uniform noise
 * in the image's value range (--seed), `image` = a given tensor (ExplainOptions.baselineImage). The
 * completeness check goes to the JSON sidecar.
 */
import type { AttributionContext, AttributionMethod, MethodOptionValues } from '../types.js';
import { InputError } from '../../util/scores.js';
import { CAM_BATCH_OPTION, SEED_OPTION } from '../../cam/methods/common.js';
import { gaussianBlur } from '../../image/planes.js';
import { INTEGRATION_RULES, type IntegrationRule } from './approximation.js';
import { BASELINES, imageSource, integratedGradients, uniformBaseline, type BaselineKind } from './integrated.js';

export const IG_OPTIONS = [
  { key: 'steps', flag: 'ig-steps', type: 'integer', default: 50, min: 1, value: 'N', help: "integration points (Captum's n_steps)" },
  { key: 'integration', flag: 'integration', type: 'string', default: 'gausslegendre', choices: INTEGRATION_RULES, value: 'RULE', help: "Captum's rules: gausslegendre (its default) or riemann_left/right/middle/trapezoid (2 steps or more)" },
  {
    key: 'baseline', flag: 'ig-baseline', type: 'string', default: 'black', choices: BASELINES, value: 'B',
    help: "black: zeros in the model's input tensor (Captum's; after mean/std normalisation the mean colour), blur: the input's Gaussian blur (σ 5 px), uniform: uniform noise in the input's range (--seed), image: a given input tensor (the library's baselineImage)",
  },
] as const;

/** IG's baseline for image i (model layout). */
export function baselineFor(ctx: AttributionContext, x: Float32Array, i: number, kind: BaselineKind): Float32Array {
  if (kind === 'black') return new Float32Array(x.length);
  if (kind === 'uniform') return uniformBaseline(x, ctx.seed);
  if (kind === 'blur') return gaussianBlur({ data: x, dims: [1, ...ctx.dims.slice(1)], layout: ctx.layout });
  const b = ctx.baselineImage;
  const n = ctx.dims[0]!;
  if (!b) throw new InputError("baseline 'image' needs the baseline itself: the library's baselineImage (a Float32Array in the model's input layout)");
  if (b.length !== x.length && b.length !== n * x.length) throw new InputError(`the baseline image has ${b.length} values; it must be one image of ${x.length} ([${ctx.dims.slice(1).join(', ')}], the model's layout) or one per image (${n * x.length})`);
  return b.length === x.length ? b : b.subarray(i * x.length, (i + 1) * x.length);
}

export function igSettings(o: MethodOptionValues): { steps: number; rule: IntegrationRule; baseline: BaselineKind } {
  const steps = o.steps as number;
  const rule = o.integration as IntegrationRule;
  if (steps < 2 && rule !== 'gausslegendre') throw new InputError(`${rule} needs at least 2 steps (Captum's rule), got --ig-steps ${steps}`);
  return { steps, rule, baseline: o.baseline as BaselineKind };
}

export const integratedGradientsMethod: AttributionMethod = {
  name: 'integrated-gradients',
  kind: 'path',
  summary: 'Integrated Gradients: input gradients along the straight path from a baseline, × (input − baseline); Σ attributions ≈ F(x) − F(baseline)',
  citation: 'Sundararajan, Taly & Yan 2017, Axiomatic Attribution for Deep Networks (ICML); Captum IntegratedGradients (rules, defaults)',
  needs: { layer: false, layerGradient: false, inputGradient: true },
  batching: 'the steps of an image and its baseline (for F(baseline)) in as few runs of at most --cam-batch inputs as possible, of equal sizes',
  cost: 'steps + 1 forwards and backwards per image (+ 1 forward for the class)',
  options: [...IG_OPTIONS, CAM_BATCH_OPTION, SEED_OPTION],
  volumes: false,
  passes: (images, o) => images * ((o.steps as number) + 1),
  async attribute(ctx, o) {
    const { steps, rule, baseline } = igSettings(o);
    const n = ctx.dims[0]!;
    const size = ctx.input.length / n;
    const out = new Float32Array(ctx.input.length);
    const extras: Record<string, unknown>[] = [];
    const warnings: string[][] = [];
    for (let i = 0; i < n; i++) {
      const x = ctx.input.subarray(i * size, (i + 1) * size);
      const b = baselineFor(ctx, x, i, baseline);
      const r = await integratedGradients(imageSource(ctx, i), x, b, ctx.scores[i * ctx.numClasses + ctx.targets[i]!]!, steps, rule);
      out.set(r.attribution, i * size);
      extras.push({ baseline, steps, integration: rule, completeness: r.completeness });
      const c = r.completeness;
      warnings.push(Math.abs(c.delta) > 0.05 * Math.max(Math.abs(c.expected), 1e-6)
        ? [`Integrated Gradients has not converged: the attributions add up to ${c.sum.toPrecision(4)}, F(x) − F(baseline) is ${c.expected.toPrecision(4)}; give more --ig-steps`]
        : []);
    }
    return { attributions: out, extras, warnings };
  },
};
