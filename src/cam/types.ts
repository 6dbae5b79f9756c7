/** Shared types of the CAM methods: pure functions from activations and gradients to raw maps. */

/** A layer's activations A and gradients G, both [N, C, h, w] row-major. */
export interface LayerTensors {
  activations: Float32Array;
  gradients: Float32Array;
  dims: [number, number, number, number];
}

export interface CamMethod {
  /** Lower-case CLI name, e.g. `gradcam`. */
  name: string;
  description: string;
  /** Raw class-activation map per image, [N, h, w], before ReLU and scaling. */
  compute(t: LayerTensors): Float32Array;
}
