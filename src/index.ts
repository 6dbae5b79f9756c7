/** Browser-safe library entry. */
export { Explainer, InputError, parseLabels, softmax, argmax } from './explainer.js';
export type { ClassChoice, ClassScore, ExplainOptions, ExplainResult, Explanation, ExplainerOptions, LayerInfo, Layout, RunOptions, RunResult } from './explainer.js';
export { GradientEngine } from './autodiff/engine.js';
export { compile, prepare, SEED_INPUT, USE_TOP_INPUT } from './autodiff/compiler.js';
export type { Compiled, GradientSpec, Prepared } from './autodiff/compiler.js';
export { GRADIENT_RULES, supportedOps } from './autodiff/registry.js';
export { GradError } from './autodiff/rule.js';
export type { GradRule, GradContext, Rectifier } from './autodiff/rule.js';
export { CAM_METHODS, camMethod, postprocess } from './cam/index.js';
export type { CamMethod, LayerTensors } from './cam/index.js';
export { decodeModel, encodeModel, ModelError } from './onnx/model.js';
export type { ModelProto } from './onnx/model.js';
export type { Session, SessionFactory, SessionOptions } from './runtime/session.js';
export * from './image/index.js';
export * from './metrics/index.js';
export * from './sanity/index.js';
