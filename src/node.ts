/**
 * Node entry: everything in index.ts plus model and image files, onnxruntime-node sessions.
 */
import { DEFAULT_PICTURE_SIDE, overlaySize } from './render/index.js';
export { DEFAULT_PICTURE_SIDE, overlaySize };

export * from './index.js';
export { createNodeSession, diskCompileCache, compileCacheDir } from './runtime/node.js';
export { readImageFile, readNpyFile, readRegularFile, FileReadError, writePng, DEFAULT_MAX_PIXELS, DEFAULT_MAX_DECODE_PIXELS } from './image/node.js';
export { writeFileAtomic } from './util/write-node.js';
export { readModelSource, nodeModelFiles, externalDataReader } from './dataset/model-files.js';
export * from './dataset/inputs.js';
