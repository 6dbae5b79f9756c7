/** The CAM runner's sessions and passes: forward runs, and the CamContext that Score-CAM, Ablation-CAM and CAM run their extra passes through. */
import { camBatchFromBudget } from './budget.js';
import { InputError } from '../util/scores.js';
import { scoreTensor } from '../autodiff/compiler.js';
import type { ModelProto } from '../onnx/model.js';
import { runInChunks, type Session, type TensorValue } from '../runtime/session.js';
import { findClassifier, type Classifier } from './methods/cam.js';
import { ablationModel, forwardModel, type AblationGraph } from './graph.js';
import { channelMaskShape } from '../layout/describe.js';
import type { CamContext } from './types.js';
import type { Job, Row } from './job.js';

// sessions and passes

/** A session of the explainer's (made once per key and kept until its release()); the time to make it is counted. */
export async function session(job: Job, key: string, build: () => ModelProto, inputDims?: number[]): Promise<Session> {
  const r = await job.ex.session(key, build, inputDims);
  job.timings.sessionMs += r.createdMs;
  return r.session;
}

/** A run of the plain model with `outputs` exposed; returns `fetch`. */
export async function forward(job: Job, outputs: string[], data: Float32Array, dims: number[], fetch: string[]): Promise<Record<string, TensorValue>> {
  const s = await session(job, `forward|${JSON.stringify([...new Set(outputs)].sort())}`, () => forwardModel(job.ex.model, outputs), dims);
  const t0 = performance.now();
  const fixed = job.ex.inputDims[0];
  let r: Record<string, TensorValue>;
  if (typeof fixed === 'number' && fixed !== dims[0]) {
    // layer tensors are concatenated along their own batch axis (a sequence-first layer's is 1)
    const batchAxis: Record<string, number> = {};
    for (const l of new Set(job.groups.flat())) if (fetch.includes(l)) batchAxis[l] = (await job.ex.layerLayout(l, job.size, job.opts.output, job.opts.layout)).batchAxis;
    r = await runInChunks(s, { [job.ex.inputName]: { data, dims } }, fetch, dims[0]!, fixed, batchAxis);
  }
  else r = await s.run({ [job.ex.inputName]: { data, dims } }, fetch);
  job.timings.runMs += performance.now() - t0;
  return r;
}

export function context(
  job: Job, layer: string, rows: Row[], scores: Float32Array, S: number, input: Float32Array, dims: number[],
  fwd: Record<string, TensorValue> | undefined, abl: AblationGraph | undefined, layerDims: number[],
  classifiers: Map<string, Promise<Classifier>>, score: string, fwdOutputs: string[],
): CamContext {
  const { ex, opts } = job;
  const batchSize = opts.batchSize ?? camBatchFromBudget(dims, layerDims);
  let mode: 'suffix' | 'full' | undefined;
  return {
    layer, scores, scoreSize: S, input, inputDims: dims, layout: ex.layout, batchSize,
    rows: rows.map((r) => ({ image: r.image, value: (s) => r.target.value(s), seed: (s) => r.target.seed(s) })),
    scoreCamTopN: opts.scoreCamTopN, channels: opts.channels, randomSeed: opts.randomSeed ?? 0,
    forward: async (inputs, count) => {
      // the session of the first forward pass (same graph; only the score is fetched)
      const r = await forward(job, fwdOutputs, inputs, [count, ...dims.slice(1)], [score]);
      return r[score]!.data as Float32Array;
    },
    forwardMasked: async (image, masks, count) => {
      if (!abl) throw new Error('internal: no ablation graph');
      const C = layerDims[1]!;
      if (!mode) {
        const usable = abl.suffix && fwd && abl.feeds.every((t) => fwd[t] && fwd[t]!.data instanceof Float32Array && fwd[t]!.dims[0] === dims[0]);
        if (abl.suffix && !usable && opts.ablationMode === 'suffix') throw new InputError(`cannot cut the graph after '${layer}': the layers after it read tensors that are not per-image float tensors`);
        mode = usable ? 'suffix' : 'full';
      }
      const graph = mode === 'suffix' ? abl : ablationModel(ex.model, layer, score, ex.inputName, false);
      const s = await session(job, `ablation|${mode}|${layer}`, () => graph.model);
      // the mask [count, C] broadcast along the layer's own channel axis (tokens, channels-last...)
      const layout = await ex.layerLayout(layer, job.size, opts.output, opts.layout);
      const feeds: Record<string, { data: Float32Array; dims: number[] }> = { [graph.mask]: { data: masks, dims: channelMaskShape(layout, count, C) } };
      if (mode === 'suffix') {
        for (const t of graph.feeds) {
          const v = fwd![t]!;
          feeds[t] = { data: repeatRow(v.data as Float32Array, v.dims, image, count), dims: [count, ...v.dims.slice(1)] };
        }
      } else {
        feeds[ex.inputName] = { data: repeatRow(input, dims, image, count), dims: [count, ...dims.slice(1)] };
      }
      const t0 = performance.now();
      const r = await s.run(feeds, [score]);
      job.timings.runMs += performance.now() - t0;
      return r[score]!.data as Float32Array;
    },
    classifier: async () => {
      let c = classifiers.get(layer);
      if (!c) {
        const out = opts.output ?? ex.model.graph.output[0]!.name;
        c = ex.layerLayout(layer, job.size, opts.output, opts.layout).then((layout) => findClassifier(ex.model, layer, scoreTensor(ex.model, out), layerDims, ex.external, layout));
        classifiers.set(layer, c);
      }
      return c;
    },
  };
}

export function repeatRow(x: Float32Array, dims: number[], row: number, count: number): Float32Array {
  const per = dims.slice(1).reduce((a, v) => a * v, 1);
  const src = x.subarray(row * per, (row + 1) * per);
  const out = new Float32Array(count * per);
  for (let i = 0; i < count; i++) out.set(src, i * per);
  return out;
}
