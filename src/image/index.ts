/** Browser-safe image utilities. Node-only file I/O lives in ./node.js. */
export type { RgbImage } from './types.js';
export { assertRgbImage, createRgbImage } from './types.js';
export { parseNpy, toFloat32, writeNpy, NPY_DTYPES } from './npy.js';
export type { NpyArray, NpyData, NpyDtype, NpyWritable } from './npy.js';
export { resizeBilinear, resizeBatch, resizeRgb, resizeShortSide, shortSideSize, centerCrop, centerCropOffsets, enlargeNearest } from './resize.js';
export { resizeCrop, resizeCropPlan, cutRegion, boxInView, maskInView } from './view.js';
export type { ImageRegion, ResizeCrop, ResizeCropPlan } from './view.js';
export type { ResizeRgbOptions } from './resize.js';
export { imageToTensor, imagesToBatch, tensorToRgb, resolveNormalization, NORMALIZE_PRESETS } from './normalize.js';
export type { ChannelOrder, ImageToTensorOptions, NormalizeOptions, NormalizePreset, NormalizeSpec, TensorLayout } from './normalize.js';
export { applyColormap, colormapTable, quantizeLevel, COLORMAPS } from './colormap.js';
export type { ColormapName } from './colormap.js';
export { overlay, heatmapImage, grayscaleImage } from './overlay.js';
export type { OverlayOptions } from './overlay.js';
export { encodePng, decodePng, toRgbImage, crc32 } from './png.js';
export type { EncodePngOptions, RawImage } from './png.js';
export { montage, drawText, measureText, glyphPixel, GLYPH_WIDTH, GLYPH_HEIGHT } from './montage.js';
export type { MontageOptions, Rgb } from './montage.js';
