/** onnxruntime-node backend (native CPU). Node only. */
import * as ort from 'onnxruntime-node';
import type { Session, SessionFactory, SessionOptions, TensorValue } from './session.js';

export const createNodeSession: SessionFactory = async (model: Uint8Array, options: SessionOptions = {}): Promise<Session> => {
  const spin = options.spinning ? '1' : '0';
  const so: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: options.optimization ?? 'all',
    executionProviders: ['cpu'],
    // ORT's worker threads spin after each run by default; gradcam alternates sessions (the gradient
    // graph, a plain forward graph, probes), and a spinning idle pool halves the next session's speed
    // on a small machine (resnet50: 85 ms instead of 44 ms per run here). Spinning buys nothing for one.
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
  };
  if (options.intraOpThreads) so.intraOpNumThreads = options.intraOpThreads;
  const s = await ort.InferenceSession.create(model, so);
  return {
    inputNames: s.inputNames,
    outputNames: s.outputNames,
    async run(feeds, fetch) {
      const f: Record<string, ort.Tensor> = {};
      for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor('float32', v.data, v.dims);
      const r = fetch ? await s.run(f, fetch) : await s.run(f);
      const out: Record<string, TensorValue> = {};
      for (const [k, v] of Object.entries(r)) out[k] = { data: v.data as TensorValue['data'], dims: [...v.dims] };
      return out;
    },
    release: () => s.release(),
  };
};
