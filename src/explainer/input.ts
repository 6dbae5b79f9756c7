/**
 * The Explainer's input side: the model as gradcam runs it (external data inlined, half precision promoted,
 * a one-image input batched), its single image input, layout (channels first or last), 2-D or 3-D grid,
 * labels, and the checks of a batch's shape. Browser-safe.
 */
import { realInputs } from '../autodiff/compiler.js';
import { GradientEngine } from '../runtime/engine.js';
import { promoteToFloat32 } from '../onnx/precision.js';
import { batchImageInput } from '../onnx/batch.js';
import { declaredDims, inlineExternalData, metadata, ModelError, type ModelProto } from '../onnx/model.js';
import type { ExternalDataReader } from '../onnx/tensor.js';
import { InputError } from '../util/scores.js';
import type { ExplainerOptions, ImportedFacts, Layout } from '../types.js';
import { parseLabels } from './classes.js';

export class ExplainerBase {
  readonly inputName: string;
  readonly inputDims: (number | string | null)[];
  /** Channels first (NCHW, and NCDHW for volumes) or last (NHWC, NDHWC). */
  readonly layout: Layout;
  /** A 3-D model: its input is [N, C, D, H, W] (or channels last) and its maps are volumes [D, H, W]. */
  readonly volume: boolean;
  readonly labels?: string[];
  readonly source: string;
  /** Set for models imported from TF.js, Keras or a hub folder (ExplainerOptions.imported). */
  readonly imported?: ImportedFacts;
  protected readonly engine: GradientEngine;
  /**
   * The model as gradcam runs it: a float16 / bfloat16 model promoted to float32 (`promoteToFloat32`:
   * forward and backward in float32 on the model's own half-rounded weights), with a batched [1, C, H, W]
   * input where it takes one [C, H, W] image (onnx/batch.ts); otherwise the model itself.
   */
  readonly model: ModelProto;
  /** The half-precision types the model was stored in (empty for a float32 model); it runs in float32. */
  readonly promoted: ('float16' | 'bfloat16')[];

  constructor(original: ModelProto, protected readonly options: ExplainerOptions) {
    this.source = options.source ?? 'model';
    if (options.imported) this.imported = options.imported;
    inlineExternalData(original, options.external, this.source);
    const { model, promoted } = promoteToFloat32(batchImageInput(original));
    this.model = model;
    this.promoted = promoted;
    const inputs = realInputs(model);
    if (inputs.length !== 1) {
      throw new ModelError(`${this.source}: models with ${inputs.length} inputs are not supported (${inputs.join(', ')}); gradcam explains single-input image models`);
    }
    this.inputName = inputs[0]!;
    const vi = model.graph.input.find((i) => i.name === this.inputName)!;
    const dims = declaredDims(vi);
    if (!dims || (dims.length !== 4 && dims.length !== 5)) {
      throw new ModelError(`${this.source}: input '${this.inputName}' has shape [${(dims ?? []).join(', ')}]; an image model needs a 4-D input (NCHW or NHWC; or one [C, H, W] image, as torchvision exports detectors), a volume model a 5-D one (NCDHW or NDHWC)`);
    }
    this.inputDims = dims;
    this.volume = dims.length === 5;
    const last = dims[dims.length - 1];
    this.layout = last === 3 || last === 1 ? (dims[1] === 3 || dims[1] === 1 ? 'NCHW' : 'NHWC') : 'NCHW';
    this.labels = options.labels ?? parseLabels(metadata(model)['labels']);
    this.engine = new GradientEngine(model, options.createSession, options.sessionOptions, options.external, options.cache);
  }

  get channels(): number {
    const c = this.layout === 'NCHW' ? this.inputDims[1] : this.inputDims[this.inputDims.length - 1];
    return typeof c === 'number' ? c : 3;
  }

  /** The model's fixed input size [H, W] (of a volume model: its last two axes), or null where it is dynamic. */
  get inputSize(): [number | null, number | null] {
    const g = this.inputGrid;
    return [g[g.length - 2]!, g[g.length - 1]!];
  }

  /** The model's fixed grid: [H, W], or [D, H, W] for a volume model; null where dynamic. */
  get inputGrid(): (number | null)[] {
    const d = this.inputDims;
    const g = this.layout === 'NCHW' ? d.slice(2) : d.slice(1, -1);
    return g.map((v) => (typeof v === 'number' ? v : null));
  }

  /** Input dims for one image (or volume) at the given size (required where the model's size is dynamic). */
  imageDims(size?: readonly number[]): number[] {
    const fixed = this.inputGrid;
    if (size && size.length !== fixed.length && fixed.some((v) => v === null)) {
      throw new InputError(`${this.source}: a size of ${size.length} values given for a model whose input grid has ${fixed.length} axes (${fixed.length === 3 ? 'D×H×W' : 'H×W'})`);
    }
    const g = fixed.map((v, k) => v ?? size?.[k]);
    if (g.some((v) => v == null)) {
      throw new InputError(`${this.source}: input '${this.inputName}' has a dynamic ${this.volume ? 'depth/height/width' : 'height/width'} [${this.inputDims.join(', ')}]; give the size to use (--size ${this.volume ? 'DxHxW' : 'H[xW]'})`);
    }
    return this.layout === 'NCHW' ? [1, this.channels, ...(g as number[])] : [1, ...(g as number[]), this.channels];
  }

  /** Checks a batch's dims against a 2-D model's input; returns the spatial size [H, W]. */
  checkInput(input: Float32Array, dims: number[]): [number, number] {
    if (this.volume) throw new InputError(`${this.source} takes volumes [N, C, D, H, W]; this step explains 2-D images only`);
    return this.checkGrid(input, dims) as [number, number];
  }

  /** Checks a batch's dims against the model input; returns its grid ([H, W], or [D, H, W] for volumes). */
  checkGrid(input: Float32Array, dims: number[]): number[] {
    const layout = this.volume ? (this.layout === 'NCHW' ? 'NCDHW' : 'NDHWC') : this.layout;
    const bad = () => new InputError(`input shape [${dims.join(', ')}] does not match the model's input '${this.inputName}' [${this.inputDims.map((d) => d ?? '?').join(', ')}] (${layout})`);
    if (dims.length !== this.inputDims.length) throw bad();
    const grid = this.layout === 'NCHW' ? dims.slice(2) : dims.slice(1, -1);
    const expected = this.imageDims(grid);
    if (dims.slice(1).some((d, i) => d !== expected[i + 1])) throw bad();
    if (input.length !== dims.reduce((a, v) => a * v, 1)) throw new InputError(`input has ${input.length} values, expected ${dims.join('×')}`);
    return grid;
  }

  get external(): ExternalDataReader | undefined {
    return this.options.external;
  }
}
