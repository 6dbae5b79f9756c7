/**
 * What every importer of another model format returns (issue 22): the model as ONNX, ready for the one
 * graph that gradcam compiles and explains, plus the facts its files state (labels, preprocessing).
 * Browser-safe: importers read files through ModelFiles, never through node:fs.
 */

/** The files of a model source, by path relative to its folder ('model.json', 'group1-shard1of2.bin', 'metadata.json'). */
export interface ModelFiles {
  /** Relative paths (POSIX separators) of every file present. */
  readonly names: readonly string[];
  /** The bytes of one file, or undefined when it is absent. */
  read(name: string): Promise<Uint8Array | undefined>;
}

/** How the model wants its pixels, as its files or its own layers say. Absent fields: not stated. */
export interface ImportedPreprocess {
  /** The model input's [H, W]. */
  size?: [number, number];
  /** torchvision-style Resize(N) of the shorter side before a centre crop of `crop` (hub preprocessor configs). */
  resize?: number;
  crop?: [number, number];
  /** Pixel values are divided by this before mean/std (255 → [0, 1]; 1 → raw 0..255). */
  divisor?: number;
  /** Per-channel mean and std in the tensor's channel order, applied after the divisor: (x / divisor - mean) / std. */
  mean?: number[];
  std?: number[];
  channelOrder?: 'RGB' | 'BGR';
  resample?: 'bilinear' | 'bicubic' | 'nearest';
}

export interface ImportedModel {
  /** A serialized ONNX ModelProto. */
  onnx: Uint8Array;
  /** Where it came from: 'onnx', 'tfjs-graph', 'tfjs-layers', 'keras', 'hub'. */
  format: string;
  /** Class labels, index order. */
  labels?: string[];
  preprocess?: ImportedPreprocess;
  /** One line each for the user: what was read, weights dequantised, the variant chosen. */
  notes: string[];
}
