/** onnxruntime-node backend (native CPU). Node only. */
import * as ort from 'onnxruntime-node';
import type { Session, SessionFactory, SessionOptions, TensorValue } from './session.js';

/**
 * An onnxruntime failure as one readable line: what gradcam was doing, then onnxruntime's own reason
 * without the C++ source location and function signature that native errors start with. Named
 * 'ModelError': it is about the model (or its input), not a bug of the caller.
 */
export class OrtError extends Error {
  constructor(what: string, cause: unknown) {
    super(`${what}: ${cleanOrtMessage(cause instanceof Error ? cause.message : String(cause))}`);
    this.name = 'ModelError';
  }
}

/** Strips `/onnxruntime_src/...cc:123 <signature>` prefixes and '[ONNXRuntimeError] : 1 : FAIL :' codes; one line. */
export function cleanOrtMessage(message: string): string {
  let m = message.replace(/\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*[A-Z_]+\s*:\s*/g, '');
  // "/path/file.cc:46 void ns::Func(args...) const Message" -> "Message"
  m = m.replace(/(?:\/[^\s:]*\/)?\b[\w-]+\.(?:cc|cpp|h):\d+\s+(?:[^()]*::[^()]*\((?:[^()]|\([^()]*\))*\)\s*(?:const\s*)?)?/g, '');
  m = m.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(' | ');
  return m.length > 600 ? `${m.slice(0, 599)}…` : m;
}

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
  let s: ort.InferenceSession;
  try {
    s = await ort.InferenceSession.create(model, so);
  } catch (e) {
    throw new OrtError('onnxruntime cannot load the model', e);
  }
  return {
    inputNames: s.inputNames,
    outputNames: s.outputNames,
    async run(feeds, fetch) {
      const f: Record<string, ort.Tensor> = {};
      for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor('float32', v.data, v.dims);
      let r: ort.InferenceSession.ReturnType;
      try {
        r = fetch ? await s.run(f, fetch) : await s.run(f);
      } catch (e) {
        throw new OrtError('onnxruntime failed to run the model', e);
      }
      const out: Record<string, TensorValue> = {};
      for (const [k, v] of Object.entries(r)) out[k] = { data: v.data as TensorValue['data'], dims: [...v.dims] };
      return out;
    },
    release: () => s.release(),
  };
};
