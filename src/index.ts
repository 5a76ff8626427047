// Public API of aeq.
export { Explainer, resolveTargets } from './explain/explainer.js';
export type { ExplainOptions, Explanation, Target, TraceEntry } from './explain/explainer.js';
export type { Method } from './explain/pipeline.js';
export { Session, resolveBackend } from './runtime/session.js';
export type { BackendName, SessionOptions } from './runtime/session.js';
export { loadModel, parseModel } from './io/onnx.js';
export { readNpy, writeNpy, parseNpy, encodeNpy } from './io/npy.js';
export { readImage, decodeImage, preprocess, loadImages, PRESETS } from './io/image.js';
export type { PreprocessOptions, PresetName, RgbImage, ImageBatch } from './io/image.js';
export { heatmapPng, overlayPng, seismic } from './io/heatmap.js';
export { planGraph, unsupportedOps } from './graph/plan.js';
export { defaultLayer } from './graph/layers.js';
export { DEFAULT_AE } from './rules/rule.js';
export type { AeOptions, ResidualMode } from './rules/rule.js';
export { supportedOps } from './kernels/registry.js';
export * from './errors.js';
export type { CpuTensor } from './kernels/op.js';
