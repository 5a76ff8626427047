// The attribution pipeline runs on either backend through this one interface, so the pipeline
// itself is written once (src/explain/pipeline.ts) and the two backends can be compared step by step.
import type { CpuTensor } from '../ops/op.js';
import { cpuAttr, gpuAttr, type SumMode } from '../ops/shared/attribution.js';
import { cpuCam, gpuCam, type FullGradTerm, type MaskRange } from '../ops/shared/cam.js';
import type { Gpu, GpuTensor } from '../kernels/gpu/runtime.js';
import { applyRule, cpuRuleBackend, gpuRuleBackend, type Rule, type RuleCtx } from '../ops/rule.js';

export interface AttrBackend<T> {
  name: 'cpu' | 'webgpu';
  shape(t: T): number[];
  expand(x: T, t: number): T;
  oneHot(targets: number[], classes: number, shape: number[]): T;
  channelMean(x: T): T;
  scaleChannels(x: T, alpha: T): T;
  sampleSum(x: T, mode?: SumMode): T;
  divAbsSample(x: T, sums: T): T;
  cam(a: T, alpha: T): T;
  resizeBilinear(x: T, h: number, w: number): T;
  channelSum(x: T): T;
  /** The gradient family's mean over K consecutive samples per row (cpuAttr.sampleMean). */
  sampleMean(g: T, k: number, t: number, square: boolean, factor?: T): T;
  add(acc: T, v: T): T;
  scale(t: T, f: number): T;
  clone(t: T): T;
  release(t: T): void;
  storage(t: T): unknown;
  apply(rule: Rule, ctx: RuleCtx<T>, r: T): (T | undefined)[];
  read(t: T): Promise<CpuTensor>;
  /** A host array on the backend (small constants: Score-CAM's weights, FullGrad's biases). */
  upload(data: Float32Array, shape: number[]): T;
  // The CAM family (src/ops/shared/cam.ts).
  gradcamPlusPlusWeights(a: T, g: T): T;
  layerCam(a: T, g: T): T;
  upsampledMinMax(a: T, oh: number, ow: number): T;
  maskedInputs(a: T, x: T, minmax: T, r: MaskRange): T;
  normalisedSum(kind: FullGradTerm, g: T, v?: T): T;
}

export function cpuBackend(): AttrBackend<CpuTensor> {
  const rules = cpuRuleBackend();
  return {
    name: 'cpu',
    shape: (t) => t.shape,
    expand: (x, t) => cpuAttr.expand(x, t),
    oneHot: (targets, classes, shape) => ({ ...cpuAttr.oneHot(targets, classes), shape }),
    channelMean: (x) => cpuAttr.channelMean(x),
    scaleChannels: (x, a) => cpuAttr.scaleChannels(x, a),
    sampleSum: (x, mode) => ({ shape: [x.shape[0]], data: cpuAttr.sampleSum(x, mode) }),
    divAbsSample: (x, sums) => cpuAttr.divAbsSample(x, sums.data),
    cam: (a, alpha) => cpuAttr.cam(a, alpha),
    resizeBilinear: (x, h, w) => cpuAttr.resizeBilinear(x, h, w),
    channelSum: (x) => cpuAttr.channelSum(x),
    sampleMean: (x, k, t, sq, f) => cpuAttr.sampleMean(x, k, t, sq, f),
    add: (acc, v) => cpuAttr.accumulate(acc, v),
    scale: (t, f) => cpuAttr.scale(t, f),
    clone: (t) => ({ shape: t.shape, data: t.data.slice() }),
    release: () => {},
    storage: (t) => t.data.buffer,
    apply: (rule, ctx, r) => applyRule(rule, ctx, r, rules),
    read: async (t) => t,
    upload: (data, shape) => ({ shape, data }),
    gradcamPlusPlusWeights: (a, g) => cpuCam.gradcamPlusPlusWeights(a, g),
    layerCam: (a, g) => cpuCam.layerCam(a, g),
    upsampledMinMax: (a, oh, ow) => cpuCam.upsampledMinMax(a, oh, ow),
    maskedInputs: (a, x, mm, r) => cpuCam.maskedInputs(a, x, mm, r),
    normalisedSum: (kind, g, v) => cpuCam.normalisedSum(kind, g, v),
  };
}

export function gpuBackend(g: Gpu): AttrBackend<GpuTensor> {
  const rules = gpuRuleBackend(g);
  return {
    name: 'webgpu',
    shape: (t) => t.shape,
    expand: (x, t) => gpuAttr.expand(g, x, t),
    oneHot: (targets, classes, shape) => ({ ...gpuAttr.oneHot(g, targets, classes), shape }),
    channelMean: (x) => gpuAttr.channelMean(g, x),
    scaleChannels: (x, a) => gpuAttr.scaleChannels(g, x, a),
    sampleSum: (x, mode) => gpuAttr.sampleSum(g, x, mode),
    divAbsSample: (x, sums) => gpuAttr.divAbsSample(g, x, sums),
    cam: (a, alpha) => gpuAttr.cam(g, a, alpha),
    resizeBilinear: (x, h, w) => gpuAttr.resizeBilinear(g, x, h, w),
    channelSum: (x) => gpuAttr.channelSum(g, x),
    sampleMean: (x, k, t, sq, f) => gpuAttr.sampleMean(g, x, k, t, sq, f),
    add: (acc, v) => {
      gpuAttr.accumulate(g, acc, v);
      g.release(v);
      return acc;
    },
    scale: (t, f) => gpuAttr.scale(g, t, f),
    clone: (t) => {
      const c = g.alloc(t.shape, 'clone');
      g.copy(t, c);
      return c;
    },
    release: (t) => g.release(t),
    storage: (t) => t.buffer,
    apply: (rule, ctx, r) => applyRule(rule, ctx, r, rules),
    read: async (t) => ({ shape: t.shape, data: await g.read(t) }),
    upload: (data, shape) => g.upload(data, shape, 'cam-const'),
    gradcamPlusPlusWeights: (a, grad) => gpuCam.gradcamPlusPlusWeights(g, a, grad),
    layerCam: (a, grad) => gpuCam.layerCam(g, a, grad),
    upsampledMinMax: (a, oh, ow) => gpuCam.upsampledMinMax(g, a, oh, ow),
    maskedInputs: (a, x, mm, r) => gpuCam.maskedInputs(g, a, x, mm, r),
    normalisedSum: (kind, grad, v) => gpuCam.normalisedSum(g, kind, grad, v),
  };
}
