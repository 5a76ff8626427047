// The library's front door, shaped like Captum's attribute(inputs, target): load a model once,
// then explain batches of N inputs × T targets in one forward and one N·T backward pass (split
// into several passes when the GPU's binding limit demands, ./batching.ts).
import { Session, type BackendName, type SessionOptions } from '../runtime/session.js';
import { defaultMemoryLimit, estimateExplain, estimateForward } from '../planner/budget.js';
import type { Model } from '../graph/ir.js';
import type { Plan } from '../planner/plan.js';
import { defaultLayer } from '../planner/layers.js';
import type { CpuTensor } from '../ops/op.js';
import { attributionPlan, gradientPlan } from '../planner/backward.js';
import { isGradientMethod, logitTensor, type GradientMethod, type Method } from './pipeline.js';
import { gradientSettings, lrpSettings, resolveOptions, type ExplainOptions } from './options.js';
import { ebContrastLayer, ebSaliencyLayer } from '../planner/excitation.js';
import { resolveTargets, sliceTarget, targetsPerInput } from './targets.js';
import { toExplanation, type Explanation } from './explanation.js';
import { baselineFor, noisyCopies, pathPoints } from './gradients.js';
import { combinedLayout, mergeRows } from './combined.js';
import { cpuAttr } from '../ops/shared/attribution.js';
import { explainBatch, type BatchRequest, type Combine } from './batch.js';
import { cpuPasses, gpuPasses } from './passes.js';
import { explainInPasses, samplesPerPass } from './batching.js';
import { scoreCamBatch, type ScoreCamRequest } from './scorecam.js';
import { InputError, OptionError } from '../errors.js';

// The public types and helpers keep their historical home here.
export { resolveTargets, type Target } from './targets.js';
export { RATIO_MIN, RATIO_MAX, type ExplainOptions } from './options.js';
export type { Explanation, TraceEntry } from './explanation.js';

export class Explainer {
  /** Overrides the device's storage-binding limit when splitting batches (tests use it). */
  bindingBudget?: number;

  private constructor(readonly session: Session) {}

  static async create(src: string | Uint8Array | Model, opts: SessionOptions = {}): Promise<Explainer> {
    return new Explainer(await Session.create(src, opts));
  }

  get backend(): BackendName {
    return this.session.backend;
  }

  /** The batch size fixed by the model's declared input shape, if it is static. */
  get fixedBatch(): number | undefined {
    const d = this.session.model.graph.inputs[0]?.shape?.[0];
    return typeof d === 'number' ? d : undefined;
  }

  /** Input shape expected for a batch of n (dynamic batch bound to n). */
  inputShape(n = 1): number[] {
    const inp = this.session.model.graph.inputs[0];
    return (inp.shape ?? []).map((d, i) => (typeof d === 'number' ? (i === 0 ? n : d) : i === 0 ? n : NaN));
  }

  /**
   * The plan for N×C×H×W inputs of this shape (one image input). LRP explains the graph with its
   * BatchNormalizations merged into the layers before them (Zennit's MergeBatchNorm canonizer,
   * src/graph/canonize.ts): its forward pass is the merged one, on both backends.
   */
  private planFor(shape: number[], method?: Method): Plan {
    const names = this.session.inputNames;
    if (names.length !== 1) throw new InputError(`explaining models with ${names.length} inputs is not supported (one image input expected)`);
    if (shape.length !== 4) throw new InputError(`expected an N×C×H×W input, got shape [${shape.join('×')}]`);
    return this.session.plan({ [names[0]]: shape }, { mergeBatchNorm: method === 'lrp' });
  }

  /** The layer a method starts from: the default or given layer; the model input for the gradient family. */
  private startFor(shape: number[], method: Method, layer?: string): { plan: Plan; layer: string } {
    if (method === 'eb' || method === 'ceb') {
      const plan = this.planFor(shape);
      const chosen = layer ?? ebSaliencyLayer(plan);
      if (!chosen) throw new OptionError(`no default layer for ${method} (the input of the last stage: a max-pool at the last convolution's size, or a tensor every path crosses before the last downsampling); give one with --layer`);
      return this.layerFor(shape, chosen);
    }
    if (!isGradientMethod(method) && method !== 'lrp' && method !== 'fullgrad') return this.layerFor(shape, layer);
    const plan = this.planFor(shape, method);
    return { plan, layer: plan.inputs[0].name };
  }

  /** cEB's contrast layer K: the given one or the classifier's input (through views), a 4-D or 2-D runtime tensor. */
  private contrastFor(plan: Plan, method: Method, given?: string): string | undefined {
    if (method !== 'ceb') {
      if (given !== undefined) throw new OptionError(`contrastLayer applies to method ceb only, not ${method}`);
      return undefined;
    }
    const k = given ?? ebContrastLayer(plan);
    if (!k) throw new OptionError('no default contrast layer for ceb (the input of the last Conv or Gemm, which is the model input here); give one with --contrast-layer');
    if (!plan.producer.has(k) || plan.producer.get(k)! < 0 || plan.consts.has(k)) throw new OptionError(`unknown contrast layer '${k}' (see aeq info)`);
    return k;
  }

  /** The layer explained by default (spec §1.3) for inputs of this shape. */
  layerFor(shape: number[], layer?: string): { plan: Plan; layer: string } {
    const plan = this.planFor(shape);
    const chosen = layer ?? defaultLayer(plan);
    if (!chosen) throw new OptionError('no default layer found (no 4-D Relu/Clip/Concat/Add output before the classifier); give one with --layer');
    const s = plan.shapes.get(chosen);
    if (!s || plan.consts.has(chosen) || !plan.producer.has(chosen) || plan.producer.get(chosen)! < 0) {
      const near = [...plan.shapes.keys()].filter((k) => plan.producer.has(k) && plan.shapes.get(k)!.length === 4).slice(-5);
      throw new OptionError(`unknown layer '${chosen}' (4-D tensors of this model include: ${near.map((k) => `'${k}'`).join(', ')}, …; see aeq info)`);
    }
    if (s.length !== 4) throw new OptionError(`layer '${chosen}' has shape [${s.join('×')}]; a 4-D N×C×H×W tensor is needed`);
    return { plan, layer: chosen };
  }

  /** The forward tensors an explanation reads (activations on both walks, the layer, the logits). */
  private keepSet(plan: Plan, layer: string, logit: string, method: Method): Set<string> {
    // The gradient family's `layer` is the model input: its gradient walk runs from the logit to it.
    // Score-CAM reads the layer and the logits only (its masked inputs run forward, no walk).
    const keep = new Set<string>([layer, logit, ...(method === 'scorecam' ? [] : gradientPlan(plan, layer, logit).needs)]);
    if (method === 'ae') for (const t of attributionPlan(plan, layer).needs) keep.add(t);
    for (const t of [...keep]) if (plan.consts.has(t)) keep.delete(t);
    return keep;
  }

  /** Run the forward pass on this backend and return the activations an explanation would read. */
  async forwardValues(input: CpuTensor, o: ExplainOptions = {}): Promise<Record<string, CpuTensor>> {
    const { method } = resolveOptions(o);
    const { plan, layer } = this.startFor(input.shape, method, o.layer);
    const name = this.session.inputNames[0];
    const keep = this.keepSet(plan, layer, logitTensor(plan), method);
    return this.session.run({ [name]: input }, { keep });
  }

  async explain(input: CpuTensor, o: ExplainOptions = {}): Promise<Explanation> {
    const { method } = resolveOptions(o);
    if (method === 'input-x-gradient' || method === 'ig' || method === 'smoothgrad') return this.explainCombined(input, o, method);
    const g = this.session.gpu;
    // Only the GPU has a binding limit; the diagnostics (forward, trace) always run in one pass.
    if (this.session.backend !== 'webgpu' || !g || o.forward || o.trace) return this.explainBatch(input, o);
    const { plan } = this.startFor(input.shape, method, o.layer);
    const fit = samplesPerPass(plan, this.bindingBudget ?? g.limits.maxStorageBufferBindingSize);
    return explainInPasses(input, o.target ?? 'top', fit, {
      pass: (x, target) => this.explainBatch(x, { ...o, target }),
      logits: (x) => this.forwardLogits(x, method),
    });
  }

  /** The logits that explanations start from (the input of a final Sigmoid/Softmax): a forward pass only. */
  logits(input: CpuTensor): Promise<CpuTensor> {
    return this.forwardLogits(input);
  }

  private async forwardLogits(input: CpuTensor, method?: Method): Promise<CpuTensor> {
    const plan = this.planFor(input.shape, method);
    const logit = logitTensor(plan);
    return (await this.session.run({ [this.session.inputNames[0]]: input }, { keep: new Set([logit]), variant: { mergeBatchNorm: method === 'lrp' } }))[logit];
  }

  private async explainBatch(input: CpuTensor, o: ExplainOptions, combine?: Combine): Promise<Explanation> {
    const { method, opts, score } = resolveOptions(o);
    if (method === 'input-x-gradient' || method === 'ig' || method === 'smoothgrad') throw new Error(`internal: ${method} runs through explainCombined`);
    const { composite, lrp } = lrpSettings(o, method);
    const { plan, layer } = this.startFor(input.shape, method, o.layer);
    const contrastLayer = this.contrastFor(plan, method, o.contrastLayer);
    const logit = logitTensor(plan);
    const keep = this.keepSet(plan, layer, logit, method);
    const target = o.target ?? 'top';
    const t = targetsPerInput(target);
    // Score-CAM walks nothing back: its own forward pass, then the masked inputs' (scoreChunk).
    const est = method === 'scorecam' ? estimateForward(plan, { keep }) : estimateExplain(plan, keep, t, method);
    this.session.checkMemory(est, `explaining ${input.shape[0]} input(s) × ${t} target(s) with ${method}`);
    const inputName = this.session.inputNames[0];
    if (method === 'scorecam') {
      if (o.forward || o.trace) throw new OptionError('the forward and trace options are not supported with scorecam (its masked inputs run forward, no walk)');
      const sreq: ScoreCamRequest = {
        plan, layer, logit, input, inputName, target, score,
        fixed: this.fixedBatch !== undefined,
        chunk: this.scoreChunk(input.shape, plan.shapes.get(layer)![1]),
        planFor: (m) => this.planFor([m, ...input.shape.slice(1)]),
      };
      return this.session.backend === 'cpu' ? scoreCamBatch(cpuPasses(), sreq) : scoreCamBatch(gpuPasses(this.session), sreq);
    }
    const req: BatchRequest = {
      plan, layer, logit, method, opts, input, inputName, keep, target,
      trace: !!o.trace,
      given: o.forward,
      ...(method === 'lrp' ? { composite, lrp } : {}),
      contrastLayer,
      combine,
    };
    return this.session.backend === 'cpu' ? explainBatch(cpuPasses(), req) : explainBatch(gpuPasses(this.session), req);
  }

  /**
   * Score-CAM's masked inputs per forward pass: the model's fixed batch, else all K channels' or as
   * many as fit the GPU's storage-binding limit and the memory budget (the forward estimate is
   * linear in the batch: weights plus a per-input part), at least 1.
   */
  scoreChunk(shape: number[], k: number): number {
    if (this.fixedBatch !== undefined) return this.fixedBatch;
    const est = (m: number) => estimateForward(this.planFor([m, ...shape.slice(1)])).bytes;
    const g = this.session.gpu;
    const fit = this.session.backend === 'webgpu' && g ? samplesPerPass(this.planFor(shape), this.bindingBudget ?? g.limits.maxStorageBufferBindingSize, 1) : k;
    const limit = this.session.maxMemory ?? defaultMemoryLimit();
    let m = Math.min(k, fit);
    if (m > 1 && est(m) > limit) {
      const one = est(1);
      const per = (est(m) - one) / (m - 1);
      m = Math.max(1, Math.min(m, Math.floor((limit - (one - per)) / per)));
    }
    return m;
  }

  /**
   * Input × gradient, Integrated Gradients and SmoothGrad: the gradients of K inputs per input
   * (the input itself; M path points; S noisy copies) × its T targets, resolved on the input, run
   * in calls of one pass each (./combined.ts), each reducing its samples on the backend (the mean
   * over K, times x or x − x₀) before the readback, identically for both backends.
   */
  private async explainCombined(input: CpuTensor, o: ExplainOptions, method: Exclude<GradientMethod, 'gradient' | 'guided-bp'>): Promise<Explanation> {
    const st = gradientSettings(o);
    if (o.forward && method !== 'input-x-gradient') throw new OptionError(`the forward option is not supported with ${method} (its inputs are path points or noisy copies)`);
    const n = input.shape[0];
    const target = o.target ?? 'top';
    const t = targetsPerInput(target);
    const per = input.data.length / n;
    let k = 1, batch = input, square = false, factor: Float32Array | undefined;
    if (method === 'input-x-gradient') factor = input.data;
    else if (method === 'ig') {
      const x0 = baselineFor(input, st.baseline);
      k = st.steps;
      batch = pathPoints(input, x0, k);
      factor = input.data.map((v, i) => v - x0[i]);
    } else {
      k = st.samples;
      batch = noisyCopies(input, k, st.noise, st.seed);
      square = st.magnitude;
    }
    const m = n * k, hw = per / input.shape[1];
    const g = this.session.gpu;
    const fit = this.session.backend === 'webgpu' && g
      ? samplesPerPass(this.planFor(input.shape), this.bindingBudget ?? g.limits.maxStorageBufferBindingSize) : Infinity;
    const lay = combinedLayout(m, k, t, fit, (tg) => this.gradientGroup(batch.shape, tg), this.fixedBatch, !!(o.forward || o.trace));
    const rows = k / lay.kk;
    // Input × gradient's one sample per input is the input itself: each pass resolves its inputs'
    // targets on its own forward. The path points and noisy copies need the inputs' logits first.
    const own = k === 1 && lay.tg === t && !lay.fixed;
    const pre = own ? undefined : await this.forwardLogits(input);
    const targets = pre && resolveTargets(target, pre);
    const logitParts: CpuTensor[] = [], targetParts: number[][] = [];
    const partial = new Float32Array(n * rows * t * per), heat = new Float32Array(n * rows * t * hw);
    let first: Explanation | undefined;
    for (let j0 = 0; j0 < t; j0 += lay.tg) {
      const tg = Math.min(lay.tg, t - j0);
      for (let a = 0; a < m; a += lay.size) {
        const real = Math.min(lay.size, m - a), size = lay.fixed ? lay.size : real;
        // Padding (a fixed batch) repeats the last sample; its rows are dropped.
        const src = (q: number) => Math.min(a + q, m - 1);
        const xs = new Float32Array(size * per);
        const lists: number[][] = [];
        for (let q = 0; q < size; q++) {
          xs.set(batch.data.subarray(src(q) * per, (src(q) + 1) * per), q * per);
          if (targets) lists.push(targets[Math.floor(src(q) / k)].slice(j0, j0 + tg));
        }
        const r = size / lay.kk;
        let f: CpuTensor | undefined;
        if (factor) {
          const fd = new Float32Array(r * per);
          for (let i = 0; i < r; i++) {
            const s = Math.floor(src(i * lay.kk) / k);
            fd.set(factor.subarray(s * per, (s + 1) * per), i * per);
          }
          f = { shape: [r, ...input.shape.slice(1)], data: fd };
        }
        const e = await this.explainBatch({ shape: [size, ...input.shape.slice(1)], data: xs },
          { ...o, method: 'gradient', target: targets ? { perInput: lists } : sliceTarget(target, a, size) }, { k: lay.kk, square, factor: f });
        first ??= e;
        if (own) {
          logitParts.push(e.logits);
          targetParts.push(...e.targets);
        }
        for (let i = 0; i < real / lay.kk; i++) {
          for (let j = 0; j < tg; j++) {
            const row = (a / lay.kk + i) * t + j0 + j, from = i * tg + j;
            partial.set(e.attribution!.data.subarray(from * per, (from + 1) * per), row * per);
            heat.set(e.heatmaps.data.subarray(from * hw, (from + 1) * hw), row * hw);
          }
        }
      }
    }
    const attribution = { shape: [n * t, ...input.shape.slice(1)], data: mergeRows(partial, n, rows, t, per) };
    const map = rows === 1 ? { shape: [n * t, 1, ...input.shape.slice(2)], data: heat } : cpuAttr.channelSum(attribution);
    const logits = pre ?? { shape: [n, first!.logits.shape[1]], data: Float32Array.from(logitParts.flatMap((l) => Array.from(l.data))) };
    return { ...toExplanation(method, logits, targets ?? targetParts, first!.layer, map, attribution), trace: first!.trace };
  }

  /**
   * Inputs per group when the gradient family's batch of m inputs × t targets runs: the model's
   * fixed batch, else all m, or as many as the memory budget allows (the estimate is linear in the
   * batch: weights plus a per-input part), at least 1.
   */
  gradientGroup(shape: number[], t: number): number {
    if (this.fixedBatch !== undefined) return this.fixedBatch;
    const m = shape[0];
    const est = (k: number) => {
      const { plan, layer } = this.startFor([k, ...shape.slice(1)], 'gradient');
      return estimateExplain(plan, this.keepSet(plan, layer, logitTensor(plan), 'gradient'), t, 'gradient').bytes;
    };
    const limit = this.session.maxMemory ?? defaultMemoryLimit();
    const whole = est(m);
    if (m === 1 || whole <= limit) return m;
    const one = est(1);
    const per = (whole - one) / (m - 1);
    return Math.max(1, Math.min(m, Math.floor((limit - (one - per)) / per)));
  }

  dispose(): void {
    this.session.dispose();
  }
}
