/** The CAM runner's rows: each image's targets resolved (top-k, contrast, counterfactual, non-linear targets scored first). */
import type { ClassChoice } from '../types.js';
import { InputError, argmax } from '../util/scores.js';
import { onePlaneSigmoid, scoreTensor } from '../autodiff/compiler.js';
import * as T from './targets.js';
import type { TargetSpec } from '../types.js';
import type { Job, Row } from './job.js';
import type { ManyOptions } from './job.js';
import { forward } from './passes.js';

// targets

export interface ImageSpec {
  spec: TargetSpec;
  choice: ClassChoice;
}

export function targetSpecs(opts: ManyOptions, n: number): ImageSpec[] {
  const targets = opts.target === undefined ? Array(n).fill({ kind: 'logit' }) : Array.isArray(opts.target) ? opts.target : Array(n).fill(opts.target);
  if (targets.length !== n) throw new InputError(`${targets.length} targets given for ${n} images`);
  const classes = Array.isArray(opts.classes) ? opts.classes : Array(n).fill(opts.classes ?? 'top');
  if (classes.length !== n) throw new InputError(`${classes.length} class choices given for ${n} images`);
  return targets.map((spec: TargetSpec, i: number) => ({ spec, choice: ('class' in spec && spec.class !== undefined ? spec.class : classes[i]) as ClassChoice }));
}

export function needsScoresFirst(spec: TargetSpec, choice: ClassChoice, opts: ManyOptions): boolean {
  const cls = 'class' in spec && spec.class !== undefined ? spec.class : choice;
  switch (spec.kind) {
    case 'logit': return opts.topK !== undefined || cls === 'top' || opts.contrast === 'top';
    case 'softmax': case 'similarity': return true;
    case 'segmentation': return (!spec.mask && !spec.pixel) || cls === 'top';
    case 'box': return true;
    default: return false;
  }
}

export async function resolveRows(job: Job, specs: ImageSpec[], scores: Float32Array | undefined, shape: number[], n: number): Promise<Row[]> {
  const { ex, opts } = job;
  const S = shape.reduce((a, v) => a * v, 1);
  const rows: Row[] = [];
  const refCache = new Map<unknown, Float32Array>();
  for (let i = 0; i < n; i++) {
    const { spec, choice } = specs[i]!;
    const s = scores?.subarray(i * S, (i + 1) * S);
    const cls = ('class' in spec && spec.class !== undefined ? spec.class : choice) as ClassChoice;
    const kindName = spec.kind;
    if ((opts.topK !== undefined || opts.contrast !== undefined) && kindName !== 'logit' && kindName !== 'softmax') {
      throw new InputError(`${opts.topK !== undefined ? '--top-k' : '--contrast'} works with the logit and softmax targets, not ${kindName}`);
    }
    let list: T.ResolvedTarget[];
    switch (spec.kind) {
      case 'logit': case 'softmax': {
        if (T.isDenseOutput([n, ...shape])) throw T.denseClassError(job.opts.output ?? ex.model.graph.output[0]!.name, [n, ...shape]);
        if (shape.length !== 1) throw new InputError(`the ${spec.kind} target needs a [batch, classes] output; this one is [batch, ${shape.join(', ')}] (use --target element or segmentation)`);
        const K = shape[0]!;
        const make = (c: number) => (spec.kind === 'logit' ? T.logitTarget(c, K) : T.softmaxTarget(c, K));
        const classes = opts.topK !== undefined ? T.topK(s!, Math.min(opts.topK, K)) : [cls === 'top' ? argmax(s!) : ex.classIndex(cls, K)];
        list = classes.map((c) => {
          let t = make(c);
          if (opts.contrast !== undefined) t = T.contrastTarget(t, make(opts.contrast === 'top' ? argmax(s!) : ex.classIndex(opts.contrast, K)));
          return t;
        });
        break;
      }
      case 'binary': case 'regression': {
        const idx = spec.index ?? (typeof cls === 'number' ? cls : /^\d+$/.test(String(cls)) ? Number(cls) : 0);
        const i0 = T.flatIndex(idx, shape);
        const neg = spec.kind === 'binary' && !!spec.negative;
        const name = spec.kind === 'binary' ? `binary ${neg ? 'negative' : 'positive'}${S > 1 ? ` (output ${i0})` : ''}` : `regression output ${i0}`;
        list = [T.elementTarget(spec.kind, i0, S, neg ? -1 : 1, name)];
        break;
      }
      case 'element':
        list = [T.elementTarget('element', T.flatIndex(spec.index, shape), S, 1, `output element [${Array.isArray(spec.index) ? spec.index.join(', ') : spec.index}]`)];
        break;
      case 'segmentation': {
        // a one-plane [batch, h, w] output is read as [batch, 1, h, w]
        const planes = shape.length === 2 ? [1, ...shape] : shape;
        if (planes.length !== 3) throw new InputError(`the segmentation target needs a [batch, classes, h, w] output (or a one-plane [batch, h, w] one); this one is [batch, ${shape.join(', ')}]`);
        const one = planes[0] === 1;
        if (spec.threshold !== undefined && !one) throw new InputError(`the segmentation threshold applies to one-plane outputs ([batch, 1, h, w] or [batch, h, w]); this one has ${planes[0]} class planes, whose region is each pixel's arg-max class`);
        const c = cls === 'top' ? T.dominantClass(s!, planes) : typeof cls === 'number' || /^\d+$/.test(String(cls)) ? Number(cls) : ex.classIndex(cls, planes[0]!);
        const region = () => (one ? T.thresholdMask(s!, onePlaneSigmoid(ex.model, job.opts.output ?? ex.model.graph.output[0]!.name), spec.threshold) : T.argmaxMask(s!, c, planes));
        list = [T.segmentationTarget(c, spec.mask ?? (spec.pixel ? T.pixelMask(spec.pixel, planes) : region()), planes)];
        break;
      }
      case 'box': {
        const D = spec.head.width;
        if (shape.length !== 2 || shape[0] !== spec.head.anchors || shape[1] !== D) throw new InputError(`the box target needs the detection tensor [batch, ${spec.head.anchors}, ${D}]; this output is [batch, ${shape.join(', ')}] (explain detectors through src/detect's Detector or \`gradcam detect\`)`);
        list = [T.boxTarget(spec.head, spec.box, spec.class, spec, job.size[1])];
        break;
      }
      case 'similarity': {
        let ref = spec.reference;
        if (!ref && spec.referenceInput) {
          ref = refCache.get(spec.referenceInput);
          if (!ref) {
            const out = job.opts.output ?? ex.model.graph.output[0]!.name;
            const sc = scoreTensor(ex.model, out);
            const r = await forward(job, [sc], spec.referenceInput.data, spec.referenceInput.dims, [sc]);
            ref = (r[sc]!.data as Float32Array).slice(0, S);
            refCache.set(spec.referenceInput, ref);
          }
        }
        if (!ref) throw new InputError('the similarity target needs a reference embedding or a reference input');
        if (ref.length !== S) throw new InputError(`the reference embedding has ${ref.length} values; the model's output has ${S} per image`);
        list = [T.similarityTarget(ref)];
        break;
      }
    }
    if (opts.counterfactual) list = list.map((t) => T.negatedTarget(t));
    list.forEach((target, k) => rows.push({ image: i, rank: k + 1, target }));
  }
  return rows;
}

/** The score tensor's shape without batch, from a one-image probe when no pass has run yet. */
export async function scoreShape(job: Job, score: string, dims: number[]): Promise<number[]> {
  const one = new Float32Array(dims.slice(1).reduce((a, v) => a * v, 1));
  const r = await forward(job, [score], one, [1, ...dims.slice(1)], [score]);
  return r[score]!.dims.slice(1);
}

// ---------------------------------------------------------------------------------------------------
