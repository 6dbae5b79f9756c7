/**
 * Keras layers as ONNX nodes (opset 17): the table of converters, one per layer class (Keras's aliases
 * included). Tensors between layers stay in Keras's channels-last layout (NHWC): the convolutions, pools
 * and resizes, which ONNX defines on NCHW, are wrapped in a pair of Transposes (ONNX Runtime folds the
 * pairs between consecutive ones). Each layer's output tensor is named by the layer's name, so that the
 * names users type (`--layer conv_pw_13_relu`) are the topology's; for a layer computed in NCHW that name
 * is its NCHW result and `<layer>/nhwc` the tensor the next layers read.
 *
 * The converters: conv.ts (convolutions, pools), dense-norm.ts (Dense, normalisations, activation
 * layers), shape.ts (data movement, merges); layer-call.ts (the LayerCall, the Emitter, config readers)
 * and activations.ts (the activations, the end of a layer) are what they share. A new layer class: its
 * converter in the file of its kind, and a line here.
 */
import type { Converter } from './layer-call.js';
import { conv2d, conv2dTranspose, depthwiseConv2d, globalPool, pool, separableConv2d } from './conv.js';
import { activationLayer, batchNorm, dense, eluLayer, layerNorm, leakyRelu, normalization, prelu, reluLayer, rescaling, softmaxLayer } from './dense-norm.js';
import { average, chain, concatenate, cropping, flatten, identity, permute, reshape, upSampling, zeroPadding } from './shape.js';

export { Emitter, type Dialect, type Dim, type LayerCall, type T } from './layer-call.js';
export { ACTIVATIONS } from './activations.js';

// ---------------------------------------------------------------- the table

export const CONVERTERS: Record<string, Converter> = {
  Conv2D: conv2d, Convolution2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d, SeparableConvolution2D: separableConv2d,
  Conv2DTranspose: conv2dTranspose, Convolution2DTranspose: conv2dTranspose,
  Dense: dense,
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  Normalization: normalization,
  Rescaling: rescaling,
  Activation: activationLayer,
  ReLU: reluLayer,
  LeakyReLU: leakyRelu,
  PReLU: prelu,
  ELU: eluLayer,
  Softmax: softmaxLayer,
  Dropout: identity, SpatialDropout2D: identity, GaussianNoise: identity, GaussianDropout: identity, AlphaDropout: identity,
  Flatten: flatten,
  Reshape: reshape,
  Permute: permute,
  GlobalAveragePooling2D: globalPool('ReduceMean'), GlobalAvgPool2D: globalPool('ReduceMean'),
  GlobalMaxPooling2D: globalPool('ReduceMax'), GlobalMaxPool2D: globalPool('ReduceMax'),
  MaxPooling2D: pool('MaxPool'), MaxPool2D: pool('MaxPool'),
  AveragePooling2D: pool('AveragePool'), AvgPool2D: pool('AveragePool'),
  ZeroPadding2D: zeroPadding,
  Cropping2D: cropping,
  UpSampling2D: upSampling,
  Add: chain('Add'),
  Subtract: chain('Sub'),
  Multiply: chain('Mul'),
  Maximum: chain('Max'),
  Minimum: chain('Min'),
  Average: average,
  Concatenate: concatenate,
};

/** The layer classes the importer reads (Keras's aliases included), for the README's list. */
export function supportedLayers(): string[] {
  return ['InputLayer', 'Sequential', 'Functional', 'Model', ...Object.keys(CONVERTERS)];
}

