/**
 * The Explainer: loads a model once, finds its input layout, labels and candidate layers, caches
 * compiled gradient graphs per (layers, output, input size), and explains batches of input tensors with
 * any registered method. Browser-safe: the runtime is injected as a SessionFactory.
 *
 * The model side (input, layers, the gradient run, classes, sessions) is src/explainer/ (ExplainerCore),
 * which knows no method; this class adds explain(), the method registry's dispatch (src/methods/explain.ts).
 * In the layer order it belongs to the methods layer.
 */
import { decodeModel, type ModelProto } from './onnx/model.js';
import { InputError, argmax, softmax } from './util/scores.js';
import type { ExplainerOptions, ExplainOptions, ExplainResult } from './types.js';
import { ExplainerCore } from './explainer/core.js';
import { findMethod, readsGradients } from './methods/index.js';
import { explainWith } from './methods/explain.js';

export { InputError, argmax, softmax };
export { parseLabels } from './explainer/classes.js';
export { ExplainerCore } from './explainer/core.js';
export type { ClassChoice, ClassScore, ExplainerOptions, ExplainOptions, ExplainResult, Explanation, ImportedFacts, LayerInfo, Layout, RunOptions, RunResult } from './types.js';

export class Explainer extends ExplainerCore {
  constructor(model: ModelProto, options: ExplainerOptions) {
    super(model, options);
  }

  static fromBytes(bytes: Uint8Array, options: ExplainerOptions): Explainer {
    return new Explainer(decodeModel(bytes, options.source ?? 'model'), options);
  }

  /**
   * Explains a batch: `input` is [N, ...] in the model's layout. On a quantised (int8) model, every
   * explanation whose method reads gradients carries `gradientNote` (the straight-through estimate).
   */
  async explain(input: Float32Array, dims: number[], options?: ExplainOptions | null): Promise<ExplainResult> {
    // everything the call needs is read here, synchronously: a caller that changes its array right
    // after calling gets the explanation of what it passed. null options are no options.
    this.assertLive();
    if (!(input instanceof Float32Array)) throw new InputError(`the input must be a Float32Array, got ${input === null ? 'null' : typeof input === 'object' ? (input as object).constructor?.name ?? 'an object' : typeof input}`);
    if (!Array.isArray(dims)) throw new InputError('dims must be an array of numbers (the input\'s shape)');
    input = input.slice();
    dims = [...dims];
    const opts: ExplainOptions = options ?? {};
    if (dims[0] === 0) {
      // a batch of no images: nothing to run (onnxruntime would print a warning about an empty tensor)
      this.checkGrid(input, dims);
      return { explanations: [], timings: { compileMs: 0, sessionMs: 0, runMs: 0, camMs: 0 } };
    }
    const r = await explainWith(this, input, dims, opts, (x, d, o) => this.explain(x, d, o));
    const note = this.gradientNote;
    if (note) {
      const m = findMethod(opts.method ?? 'gradcam');
      if (!m || readsGradients(m)) for (const e of r.explanations) e.gradientNote = note;
    }
    return r;
  }
}
