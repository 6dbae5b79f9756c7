/**
 * FullGrad (Srinivas & Fleuret 2019) with pytorch-grad-cam's semantics (pytorch_grad_cam/fullgrad_cam.py):
 *   |x · ∂y/∂x|, each input channel min-max scaled (scale_cam_image: (m − min) / (1e-7 + max)) and resized
 *   to the input size, plus for every layer with a 2-D bias Σ_c of |b_c · ∂y/∂z_c| scaled per channel and
 *   resized; the sum min-max scaled once more (aggregate_multi_layers). No ReLU: every term is ≥ 0.
 *
 * What counts as a bias in an ONNX graph (pytorch-grad-cam takes nn.Conv2d and nn.BatchNorm2d modules
 * with a bias, `layer_with_2D_bias`; a BatchNorm's bias is β − μ·γ/√(σ² + ε), the official code's):
 * - a Conv with a 4-D weight (2-D kernel) and a constant bias input: z is its output, b its bias. An
 *   exporter's Conv+BatchNorm fusion (torch.onnx in eval mode) leaves one Conv whose bias is the folded
 *   β − μ·γ/√(σ² + ε) (+ the conv's own bias scaled by γ/√(σ² + ε)) and whose output is the BatchNorm's:
 *   for a conv without bias before a BatchNorm (ResNets, most CNNs) this is exactly pytorch-grad-cam's
 *   BatchNorm term; a conv with its own bias before a BatchNorm gives pytorch-grad-cam two terms
 *   (conv and BatchNorm) where the fused graph has one;
 * - a BatchNormalization of a 4-D tensor with constant parameters: z its output, b = B − mean·scale/√(var + ε);
 * - not: Gemm / MatMul + Add (nn.Linear is not a 2-D bias for pytorch-grad-cam either), a bias added by
 *   a separate Add (TF-style graphs), LayerNorm, a bias that is not a constant.
 * Layers whose map has one cell contribute nothing (a one-value map scales to 0) and are skipped.
 */
import { GraphIndex, attrFloat, type ModelProto } from '../../onnx/model.js';
import { resizeBilinear } from '../../image/resize.js';

export interface BiasLayer {
  /** The tensor whose gradient is taken (the Conv's or BatchNormalization's output). */
  tensor: string;
  op: 'Conv' | 'BatchNormalization';
  bias: Float32Array;
}

function floats(index: GraphIndex, name: string | undefined): Float64Array | undefined {
  if (!name) return undefined;
  const t = index.constant(name);
  if (!t || (t.dtype !== 'float32' && t.dtype !== 'float64')) return undefined;
  return Float64Array.from(t.data as Float32Array);
}

/** The bias-carrying outputs of the model, in graph order. */
export function biasLayers(model: ModelProto): BiasLayer[] {
  const index = new GraphIndex(model);
  const out: BiasLayer[] = [];
  for (const n of model.graph.node) {
    if (n.domain && n.domain !== 'ai.onnx') continue;
    if (n.op_type === 'Conv') {
      const w = index.constant(n.input[1] ?? '');
      const b = floats(index, n.input[2]);
      if (w && w.dims.length === 4 && b) out.push({ tensor: n.output[0]!, op: 'Conv', bias: Float32Array.from(b) });
    } else if (n.op_type === 'BatchNormalization') {
      const [scale, shift, mean, variance] = [1, 2, 3, 4].map((k) => floats(index, n.input[k]));
      if (!scale || !shift || !mean || !variance) continue;
      const eps = attrFloat(n, 'epsilon', 1e-5);
      out.push({ tensor: n.output[0]!, op: 'BatchNormalization', bias: Float32Array.from(shift, (b, c) => b - (mean[c]! * scale[c]!) / Math.sqrt(variance[c]! + eps)) });
    }
  }
  return out;
}

/** scale_cam_image on one map, in place: (m − min) / (1e-7 + max(m − min)), float32 as numpy's. */
function scaleMap(m: Float32Array | Float64Array): void {
  let lo = Infinity;
  for (const v of m) if (v < lo) lo = v;
  let hi = -Infinity;
  for (let i = 0; i < m.length; i++) { m[i] = m[i]! - lo; if (m[i]! > hi) hi = m[i]!; }
  const d = 1e-7 + hi;
  for (let i = 0; i < m.length; i++) m[i] = m[i]! / d;
}

export interface FullGradTerm {
  /** ∂y/∂z of one image, [C, h, w]. */
  gradient: Float32Array;
  bias: Float32Array;
  h: number;
  w: number;
}

/**
 * The FullGrad map [H, W] in [0, 1] of one image: `input` and `inputGradient` as [C, H, W] planes, the
 * bias terms at their layers' grids. Resizing is linear, so each layer's channel maps are summed at the
 * layer's grid and resized once (pytorch-grad-cam resizes every channel, then sums: the same up to rounding).
 */
export function fullGradMap(input: Float32Array, inputGradient: Float32Array, channels: number, H: number, W: number, terms: readonly FullGradTerm[]): Float32Array {
  const P = H * W;
  const acc = new Float64Array(P);
  const plane = new Float64Array(P);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < P; p++) plane[p] = Math.abs(input[c * P + p]! * inputGradient[c * P + p]!);
    scaleMap(plane);
    for (let p = 0; p < P; p++) acc[p] = acc[p]! + plane[p]!;
  }
  for (const t of terms) {
    const hw = t.h * t.w;
    if (hw <= 1) continue;
    const C = t.bias.length;
    const sum = new Float64Array(hw);
    const m = new Float64Array(hw);
    for (let c = 0; c < C; c++) {
      const b = t.bias[c]!;
      for (let p = 0; p < hw; p++) m[p] = Math.abs(b * t.gradient[c * hw + p]!);
      scaleMap(m);
      for (let p = 0; p < hw; p++) sum[p] = sum[p]! + m[p]!;
    }
    const up = t.h === H && t.w === W ? Float32Array.from(sum) : resizeBilinear(Float32Array.from(sum), t.h, t.w, H, W);
    for (let p = 0; p < P; p++) acc[p] = acc[p]! + up[p]!;
  }
  scaleMap(acc);
  return Float32Array.from(acc);
}
