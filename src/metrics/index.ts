/** Metrics for explanations: similarity (sanity checks), faithfulness and localisation. Browser-safe. */
export { rankdata, pearson, spearman, ssim, hog, hogSimilarity } from './similarity.js';
export type { HogOptions, MapSimilarity, SsimOptions } from './similarity.js';
export { edgeMap, luminance, sobel } from './edges.js';
export { conjugateGradient, csrFromTriplets, csrMultiply } from './cg.js';
export type { CgOptions, CgResult, CsrMatrix } from './cg.js';
export { noisyLinearImpute } from './road.js';
export type { ImputeOptions } from './road.js';
export { auc, deletion, insertion, faithfulness, gaussianBlur, rankPixels, substrate, stepCount, FAITHFULNESS_METRICS } from './faithfulness.js';
export type { FaithfulnessMetric, FaithfulnessOptions, FaithfulnessResult, ImageInput, Substrate } from './faithfulness.js';
export { plainForward, classProbabilities } from './forward.js';
export type { Forward, PlainForward, PlainForwardOptions } from './forward.js';
export { boxIoU, boxMask, energyPointing, iou, largestSegmentBox, localisation, maskIoU, pointingGame, thresholdMap } from './localisation.js';
export type { Box, GroundTruth, LocalisationOptions, LocalisationResult } from './localisation.js';
export { parseAnnotations, findAnnotation, groundTruthFor, objectClass, rasterisePolygons, cocoCountsFromString, AnnotationError } from './annotations.js';
export type { AnnotatedObject, ImageAnnotation } from './annotations.js';
export { methodMaps, methodNames, displayGradient, percentile } from './maps.js';
export type { MethodMap, MapOptions } from './maps.js';
export { Rng, deriveSeed } from '../util/random.js';
