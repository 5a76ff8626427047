// The explanation pipeline, written once for both backends:
//   forward (keeping what the walks read) → targets → gradient of the logit to the layer →
//   Grad-CAM weights α → Grad-CAM map, or R0 = A ⊙ α normalised and the AE walk to the input.
import type { Plan, Step } from '../planner/plan.js';
import { attributionPlan, gradientPlan } from '../planner/backward.js';
import { walk, type WalkSetup } from '../runtime/walk.js';
import { methodTable, opsWith } from '../ops/table.js';
import { firstConvs, residualAdds } from '../planner/topology.js';
import type { AeOptions, LrpOptions } from '../ops/rule.js';
import { DEFAULT_COMPOSITE, lrpMethod, type Composite } from '../ops/shared/composites.js';
import { classifierStep } from '../planner/excitation.js';
import type { AttrBackend } from './backend.js';
import { AeqError } from '../errors.js';
import { gradientCamMap, type CamMethod } from './cam.js';
import { biasTerms, fullGradMap } from './fullgrad.js';

/** The gradient family (baselines.md, reference Captum): input gradients, alone or combined on the host. */
export type GradientMethod = 'gradient' | 'input-x-gradient' | 'ig' | 'smoothgrad' | 'guided-bp';
export type Method = 'ae' | 'gradcam' | GradientMethod | CamMethod | 'lrp' | 'eb' | 'ceb';

export const GRADIENT_METHODS: readonly GradientMethod[] = ['gradient', 'input-x-gradient', 'ig', 'smoothgrad', 'guided-bp'];

export function isGradientMethod(m: Method): m is GradientMethod {
  return (GRADIENT_METHODS as readonly string[]).includes(m);
}

/** The methods the pipeline runs itself: one walk of the logit's gradient to the model input. */
export type InputGradientMethod = 'gradient' | 'guided-bp';

export interface PipelineRequest<T> {
  plan: Plan;
  /** ae, the gradient CAMs, eb and ceb start from (or walk to) `layer`; gradient, guided-bp, fullgrad and lrp walk to the model input. */
  method: 'ae' | 'gradcam' | InputGradientMethod | 'gradcam++' | 'layercam' | 'fullgrad' | 'lrp' | 'eb' | 'ceb';
  layer: string;
  logit: string;
  /** Targets per sample (the same count T for every sample). */
  targets: number[][];
  opts: AeOptions;
  /** Forward values (activations at the forward batch N, and weights). */
  forward: (name: string) => T;
  /** When set, receives a copy of every intermediate signal (for `aeq verify`). */
  trace?: { walk: 'gradient' | 'ae'; name: string; value: T }[];
  /** LRP: the composite (default epsilon-plus) and its options. */
  composite?: Composite;
  lrp?: LrpOptions;
  /** ceb: the contrast layer K. */
  contrastLayer?: string;
}

export interface PipelineResult<T> {
  /** (N·T)×C×H×W input attribution (AE), or input gradient (gradient, guided-bp). */
  attribution?: T;
  /** (N·T)×1×H×W heatmaps at the model input's resolution. */
  heatmap: T;
  /** (N·T)×C Grad-CAM channel weights (not for the input-gradient methods). */
  alpha?: T;
  /** (N·T)×1×h×w map at the layer, before upsampling (gradcam, gradcam++, layercam, eb, ceb). */
  layerMap?: T;
}

/** The tensor holding the pre-softmax logits: the graph output, or the input of a final Softmax/Sigmoid. */
export function logitTensor(plan: Plan): string {
  const through = new Set([...opsWith('scoreHead'), ...opsWith('identity')]);
  let name = plan.outputs[0].name;
  for (;;) {
    const i = plan.producer.get(name);
    const s = i === undefined || i < 0 ? undefined : plan.steps[i];
    if (!s || !through.has(s.node.opType)) return name;
    name = s.inputs[0]!;
  }
}

export function runPipeline<T>(be: AttrBackend<T>, req: PipelineRequest<T>): PipelineResult<T> {
  const { plan, layer } = req;
  const n = req.targets.length;
  const t = req.targets[0].length;
  const batch = n * t;
  const flat = req.targets.flat();
  const inputName = plan.inputs[0].name;
  const inShape = plan.shapes.get(inputName)!;

  // Forward values expanded to the backward batch, made once per tensor.
  const expanded = new Map<string, T>();
  const fwd = (name: string): T => {
    if (plan.consts.has(name) || t === 1) return req.forward(name);
    let v = expanded.get(name);
    if (!v) expanded.set(name, (v = be.expand(req.forward(name), t)));
    return v;
  };
  const walkBackend = {
    add: be.add, clone: be.clone, release: be.release, storage: be.storage, scale: be.scale,
    forward: fwd, apply: be.apply,
  };
  const residual = residualAdds(plan);
  const base = {
    plan, opts: req.opts, batch, modelInput: inputName,
    firstConv: firstConvs(plan),
    mainOperand: new Map<Step, number>([...residual].map(([s, r]) => [s, r.main])),
  };

  const logitShape = [batch, ...plan.shapes.get(req.logit)!.slice(1)];
  const classes = logitShape.slice(1).reduce((a, b) => a * b, 1);
  const seed = be.oneHot(flat, classes, logitShape);
  const tracer = (w: 'gradient' | 'ae') => (req.trace ? (name: string, v: unknown) => req.trace!.push({ walk: w, name, value: be.clone(v as T) }) : undefined);

  if (req.method === 'lrp') {
    // LRP (baselines.md): the composite's rules from a one-hot 1.0 at the logit to the model input.
    const name = lrpMethod(req.composite ?? DEFAULT_COMPOSITE);
    const setup: WalkSetup = { ...base, bp: gradientPlan(plan, inputName, req.logit), table: methodTable(name), scaleAt: new Map(), collect: new Set([inputName]), trace: tracer('gradient'), method: name, lrp: req.lrp };
    const attribution = walk(setup, walkBackend, req.logit, seed).get(inputName);
    if (!attribution) throw new AeqError(`no relevance of '${req.logit}' reaches the model input`);
    if (t !== 1) for (const v of expanded.values()) be.release(v);
    return { attribution, heatmap: be.channelSum(attribution) };
  }

  if (req.method === 'eb' || req.method === 'ceb') {
    const result = excitation(be, req, base, walkBackend, seed, inShape, tracer('gradient'));
    if (t !== 1) for (const v of expanded.values()) be.release(v);
    return result;
  }

  if (req.method === 'gradient' || req.method === 'guided-bp' || req.method === 'fullgrad') {
    // The gradient (or guided backpropagation) of the logit all the way to the model input;
    // FullGrad also collects it at every bias term's output on the way.
    const table = methodTable(req.method === 'guided-bp' ? 'guided' : 'gradient');
    const terms = req.method === 'fullgrad' ? biasTerms(plan) : [];
    const collect = new Set([inputName, ...terms.map((b) => b.output)]);
    const setup: WalkSetup = { ...base, bp: gradientPlan(plan, inputName, req.logit), table, scaleAt: new Map(), collect, trace: tracer('gradient') };
    const grads = walk(setup, walkBackend, req.logit, seed);
    const attribution = grads.get(inputName);
    if (!attribution) throw new AeqError(`the gradient of '${req.logit}' does not reach the model input`);
    const result = req.method === 'fullgrad'
      ? { heatmap: fullGradMap(be, grads, inputName, fwd(inputName), terms) }
      : { attribution, heatmap: be.channelSum(attribution) };
    if (t !== 1) for (const v of expanded.values()) be.release(v);
    return result;
  }

  // Stage one: gradient of the chosen logit at the layer.
  const gp = gradientPlan(plan, layer, req.logit);
  const gsetup: WalkSetup = { ...base, bp: gp, table: methodTable('gradient'), scaleAt: new Map(), collect: new Set([layer]), trace: tracer('gradient') };
  const grads = walk(gsetup, walkBackend, req.logit, seed);
  const dA = grads.get(layer);
  if (!dA) throw new AeqError(`the gradient of '${req.logit}' does not reach layer '${layer}'`);
  const A = fwd(layer);

  let result: PipelineResult<T>;
  if (req.method !== 'ae') {
    const { cam, alpha } = gradientCamMap(be, req.method, A, dA);
    result = { heatmap: be.resizeBilinear(cam, inShape[2], inShape[3]), alpha, layerMap: cam };
  } else {
    const alpha = be.channelMean(dA);
    be.release(dA);
    const r0raw = be.scaleChannels(A, alpha);
    const sums = be.sampleSum(r0raw);
    const r0 = be.divAbsSample(r0raw, sums);
    be.release(r0raw);
    be.release(sums);
    const ap = attributionPlan(plan, layer);
    const onWalk = new Set(ap.steps);
    const scaleAt = new Map<string, number>();
    if (req.opts.residual === 'main') for (const [s, r] of residual) if (onWalk.has(s)) scaleAt.set(r.fork, 2);
    const asetup: WalkSetup = { ...base, bp: ap, table: methodTable('ae'), scaleAt, collect: new Set([inputName]), trace: tracer('ae') };
    const rel = walk(asetup, walkBackend, layer, r0);
    const attribution = rel.get(inputName);
    if (!attribution) throw new AeqError(`no relevance reached the model input from layer '${layer}'`);
    result = { attribution, heatmap: be.channelSum(attribution), alpha };
  }
  if (t !== 1) for (const v of expanded.values()) be.release(v);
  return result;
}


type Base = Pick<WalkSetup, 'plan' | 'opts' | 'batch' | 'modelInput' | 'firstConv' | 'mainOperand'>;

/**
 * Excitation backprop (TorchRay) from the one-hot seed to the layer L; ceb first walks with the
 * classifier's weights negated to the contrast layer K, then walks to K again, subtracts, and goes
 * on from K to L (which needs every path from L to the logits to pass through K). The map is the
 * channel sum at L (ceb: its ReLU), upsampled to the input as the heatmap.
 */
function excitation<T>(
  be: AttrBackend<T>, req: PipelineRequest<T>, base: Base, wb: Parameters<typeof walk<T>>[1], seed: T, inShape: number[],
  trace: WalkSetup['trace'],
): PipelineResult<T> {
  const { plan, layer, logit } = req;
  const table = methodTable('eb');
  const run = (from: string, to: string, r: T, negated?: Step): T => {
    const bp = gradientPlan(plan, to, from);
    const got = walk({ ...base, bp, table, scaleAt: new Map(), collect: new Set([to]), trace, method: 'eb', negated }, wb, from, r).get(to);
    if (!got) throw new AeqError(`the excitation of '${from}' does not reach layer '${to}'`);
    return got;
  };
  let signal: T;
  if (req.method === 'eb') signal = run(logit, layer, seed);
  else {
    const k = req.contrastLayer!;
    const whole = gradientPlan(plan, layer, logit).steps.length;
    const upper = gradientPlan(plan, k, logit), lower = gradientPlan(plan, layer, k);
    if (upper.steps.length + lower.steps.length !== whole) {
      throw new AeqError(`contrast layer '${k}' must lie on every path from layer '${layer}' to the logits`);
    }
    const classifier = classifierStep(upper.steps);
    if (!classifier) throw new AeqError(`no Conv or Gemm between contrast layer '${k}' and the logits to negate`);
    const contrast = run(logit, k, be.clone(seed), classifier);
    const top = be.add(run(logit, k, seed), be.scale(contrast, -1));
    signal = run(k, layer, top);
  }
  const [b, c] = be.shape(signal);
  let map: T;
  if (req.method === 'eb') map = be.channelSum(signal);
  else {
    // ReLU of the channel sum: the CAM kernel with all channel weights 1 (B·C one-hot rows of one class).
    const ones = be.oneHot(new Array<number>(b * c).fill(0), 1, [b, c]);
    map = be.cam(signal, ones);
    be.release(ones);
  }
  be.release(signal);
  return { heatmap: be.resizeBilinear(map, inShape[2], inShape[3]), layerMap: map };
}
