/**
 * Plain forward runs for the faithfulness metrics: an ordinary onnxruntime session of the original
 * model (no gradient graph) that returns the class scores for batches of perturbed inputs.
 */
import type { Explainer } from '../explainer.js';
import { softmax } from '../explainer.js';
import { scoreTensor } from '../autodiff/compiler.js';
import { encodeModel, type ModelProto } from '../onnx/model.js';
import type { Session, SessionFactory, SessionOptions } from '../runtime/session.js';

/** Scores of a batch: `input` is `dims` = [N, ...] in the model's layout; returns logits [N, K] (row-major). */
export type Forward = (input: Float32Array, dims: readonly number[]) => Promise<Float32Array>;

export interface PlainForward {
  forward: Forward;
  /** Images per model call (the model's fixed batch size where it has one). */
  batchSize: number;
  release(): Promise<void>;
}

export interface PlainForwardOptions {
  /** The model output to score (default: the first). Where it is a Softmax, its input is returned. */
  output?: string;
  /** Images per model call (default 32). */
  batchSize?: number;
  sessionOptions?: SessionOptions;
}

/**
 * A plain session of the explainer's model, created with `createSession` (the same factory the
 * explainer uses, e.g. onnxruntime-node's), returning the differentiated score: the logits, or the
 * Softmax input where the model ends in Softmax.
 */
export async function plainForward(explainer: Explainer, createSession: SessionFactory, opts: PlainForwardOptions = {}): Promise<PlainForward> {
  const model: ModelProto = explainer.model;
  const output = opts.output ?? model.graph.output[0]!.name;
  if (!model.graph.output.some((o) => o.name === output)) throw new Error(`unknown output '${output}'; the model's outputs are: ${model.graph.output.map((o) => o.name).join(', ')}`);
  const score = scoreTensor(model, output);
  const withScore: ModelProto = score === output || model.graph.output.some((o) => o.name === score)
    ? model
    : { ...model, graph: { ...model.graph, output: [...model.graph.output, { name: score }] } };
  const session: Session = await createSession(encodeModel(withScore), opts.sessionOptions);
  const fixed = typeof explainer.inputDims[0] === 'number' ? explainer.inputDims[0] : undefined;
  const batchSize = fixed ?? Math.max(1, opts.batchSize ?? 32);
  const forward: Forward = async (input, dims) => {
    const n = dims[0]!;
    const per = input.length / n;
    const chunks: Float32Array[] = [];
    for (let s = 0; s < n; s += batchSize) {
      const m = Math.min(batchSize, n - s);
      const b = fixed ?? m;
      const data = new Float32Array(b * per);
      data.set(input.subarray(s * per, (s + m) * per));
      const r = await session.run({ [explainer.inputName]: { data, dims: [b, ...dims.slice(1)] } }, [score]);
      const out = r[score]!.data as Float32Array;
      chunks.push(out.subarray(0, (out.length / b) * m));
    }
    const all = new Float32Array(chunks.reduce((a, c) => a + c.length, 0));
    let o = 0;
    for (const c of chunks) { all.set(c, o); o += c.length; }
    return all;
  };
  return { forward, batchSize, release: () => session.release() };
}

/** Softmax probability of class `cls` for each of the `n` images. */
export async function classProbabilities(forward: Forward, input: Float32Array, dims: readonly number[], cls: number | number[]): Promise<number[]> {
  const n = dims[0]!;
  const logits = await forward(input, dims);
  const k = logits.length / n;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = Array.isArray(cls) ? cls[i]! : cls;
    out.push(softmax(logits.subarray(i * k, (i + 1) * k))[c]!);
  }
  return out;
}
