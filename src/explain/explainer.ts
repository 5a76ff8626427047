// The library's front door, shaped like Captum's attribute(inputs, target): load a model once,
// then explain batches of N inputs × T targets in one forward and one N·T backward pass.
import { Session, type BackendName, type SessionOptions } from '../runtime/session.js';
import { estimateExplain } from '../planner/budget.js';
import type { Model } from '../graph/ir.js';
import type { Plan } from '../planner/plan.js';
import { defaultLayer } from '../planner/layers.js';
import { runCpu } from '../runtime/executor.js';
import { numel } from '../graph/tensor.js';
import type { CpuTensor } from '../ops/op.js';
import type { GpuTensor } from '../kernels/gpu/runtime.js';
import { attributionPlan, gradientPlan } from '../planner/backward.js';
import { DEFAULT_AE, type AeOptions, type ResidualMode } from '../ops/rule.js';
import { cpuBackend, gpuBackend } from './backend.js';
import { logitTensor, runPipeline, type Method } from './pipeline.js';
import { AeqError, InputError, OptionError } from '../errors.js';

/**
 * 'top' (the top class per input), a class index, a list of classes (the same T for every input),
 * { top: k }, or { perInput: lists } with one list of T classes per input (T equal across inputs) —
 * e.g. each image's ground-truth labels in an evaluation.
 */
export type Target = 'top' | number | number[] | { top: number } | { perInput: number[][] };

export interface ExplainOptions {
  method?: Method;
  target?: Target;
  ratio?: number;
  layer?: string;
  terms?: Partial<Pick<AeOptions, 'contrib' | 'shift' | 'activated' | 'inactivated'>>;
  residual?: ResidualMode;
  /** Diagnostics: also return every intermediate signal of both walks (used by `aeq verify`). */
  trace?: boolean;
  /**
   * Diagnostics (CPU backend): use these forward values — from another backend's
   * `forwardValues()` — instead of running the forward pass, so that two backends' backward passes
   * can be compared on identical activations (the rules' exact-zero and arg-max decisions are
   * discontinuous in the activations; last-bit forward differences can flip them).
   */
  forward?: Record<string, CpuTensor>;
}

export interface TraceEntry {
  walk: 'gradient' | 'ae';
  /** The tensor whose incoming signal this is. */
  name: string;
  value: CpuTensor;
}

export interface Explanation {
  method: Method;
  /** N×classes logits of the forward pass. */
  logits: CpuTensor;
  /** targets[n] = the T classes explained for input n. */
  targets: number[][];
  /** (N·T)×C×H×W input attribution, ordered sample-major (AE only). */
  attribution?: CpuTensor;
  /** (N·T)×H×W channel-summed heatmaps (AE) or upsampled Grad-CAM maps. */
  heatmaps: CpuTensor;
  /** The explained layer (tensor name). */
  layer: string;
  /** With `trace`: the signal at every tensor of both walks, in visiting order. */
  trace?: TraceEntry[];
}

/** AE is defined for ratio ≥ 1; the upper bound keeps ratio·P (Σ P = 1) far from float32's range. */
export const RATIO_MIN = 1;
export const RATIO_MAX = 1000;

function resolveOptions(o: ExplainOptions): { method: Method; opts: AeOptions } {
  const method = o.method ?? 'ae';
  if (method !== 'ae' && method !== 'gradcam') throw new OptionError(`unknown method '${method}' (use ae or gradcam)`);
  const ratio = o.ratio ?? DEFAULT_AE.ratio;
  if (typeof ratio !== 'number' || !Number.isFinite(ratio)) throw new OptionError(`ratio must be a finite number, got '${ratio}'`);
  if (!(ratio >= RATIO_MIN && ratio <= RATIO_MAX)) {
    throw new OptionError(`ratio must be a number from ${RATIO_MIN} to ${RATIO_MAX} (AE's degree of evidence; the paper uses 1–2), got '${ratio}'`);
  }
  const residual = o.residual ?? DEFAULT_AE.residual;
  if (residual !== 'main' && residual !== 'proportional') throw new OptionError(`residual must be 'main' or 'proportional', got '${residual}'`);
  return { method, opts: { ...DEFAULT_AE, ...o.terms, ratio, residual } };
}

function topK(row: Float32Array, k: number): number[] {
  return Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
}

export function resolveTargets(target: Target, logits: CpuTensor): number[][] {
  const n = logits.shape[0];
  const classes = numel(logits.shape) / n;
  const row = (i: number) => logits.data.subarray(i * classes, (i + 1) * classes);
  const check = (c: number) => {
    if (!Number.isInteger(c) || c < 0 || c >= classes) throw new OptionError(`target ${c} is out of range: the model has ${classes} classes (0–${classes - 1})`);
    return c;
  };
  if (target === 'top') return Array.from({ length: n }, (_, i) => topK(row(i), 1));
  if (typeof target === 'number') return Array.from({ length: n }, () => [check(target)]);
  if (Array.isArray(target)) {
    if (!target.length) throw new OptionError('target list is empty');
    target.forEach(check);
    return Array.from({ length: n }, () => [...target]);
  }
  if (typeof target === 'object' && target && 'perInput' in target) {
    const lists = target.perInput;
    if (!Array.isArray(lists) || lists.length !== n) throw new OptionError(`perInput targets: ${Array.isArray(lists) ? lists.length : 'no'} lists for ${n} inputs`);
    const t = lists[0]?.length ?? 0;
    if (!t || lists.some((l) => !Array.isArray(l) || l.length !== t)) throw new OptionError('perInput targets: every input needs the same number (≥ 1) of targets');
    return lists.map((l) => l.map(check));
  }
  if (typeof target === 'object' && target && 'top' in target && Number.isInteger(target.top) && target.top >= 1) {
    if (target.top > classes) throw new OptionError(`top ${target.top} exceeds the model's ${classes} classes`);
    return Array.from({ length: n }, (_, i) => topK(row(i), target.top));
  }
  throw new OptionError(`invalid target ${JSON.stringify(target)} (use 'top', a class index, a list of indices or { top: k })`);
}

/** Targets per input (T) of a target option. */
function targetsPerInput(t: Target | undefined): number {
  if (Array.isArray(t)) return t.length;
  if (typeof t === 'object' && t) return 'perInput' in t ? (t.perInput[0]?.length ?? 1) : t.top;
  return 1;
}

/** The target option for inputs i … i+m−1 of a batch (only per-input lists depend on the input). */
function sliceTarget(t: Target, i: number, m: number): Target {
  return typeof t === 'object' && !Array.isArray(t) && 'perInput' in t ? { perInput: t.perInput.slice(i, i + m) } : t;
}

function concatTensors(ts: CpuTensor[]): CpuTensor {
  const data = new Float32Array(ts.reduce((a, t) => a + t.data.length, 0));
  let off = 0;
  for (const t of ts) {
    data.set(t.data, off);
    off += t.data.length;
  }
  return { shape: [ts.reduce((a, t) => a + t.shape[0], 0), ...ts[0].shape.slice(1)], data };
}

/** Explanations of consecutive parts of a batch, joined in order. */
function concatParts(parts: Explanation[]): Explanation {
  const first = parts[0];
  return {
    method: first.method,
    layer: first.layer,
    logits: concatTensors(parts.map((p) => p.logits)),
    targets: parts.flatMap((p) => p.targets),
    heatmaps: concatTensors(parts.map((p) => p.heatmaps)),
    attribution: first.attribution ? concatTensors(parts.map((p) => p.attribution!)) : undefined,
  };
}

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

  /** The layer explained by default (spec §1.3) for inputs of this shape. */
  layerFor(shape: number[], layer?: string): { plan: Plan; layer: string } {
    const names = this.session.inputNames;
    if (names.length !== 1) throw new InputError(`explaining models with ${names.length} inputs is not supported (one image input expected)`);
    if (shape.length !== 4) throw new InputError(`expected an N×C×H×W input, got shape [${shape.join('×')}]`);
    const plan = this.session.plan({ [names[0]]: shape });
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
    const keep = new Set<string>([layer, logit, ...gradientPlan(plan, layer, logit).needs]);
    if (method === 'ae') for (const t of attributionPlan(plan, layer).needs) keep.add(t);
    for (const t of [...keep]) if (plan.consts.has(t)) keep.delete(t);
    return keep;
  }

  /** Run the forward pass on this backend and return the activations an explanation would read. */
  async forwardValues(input: CpuTensor, o: ExplainOptions = {}): Promise<Record<string, CpuTensor>> {
    const { method } = resolveOptions(o);
    const { plan, layer } = this.layerFor(input.shape, o.layer);
    const name = this.session.inputNames[0];
    const keep = this.keepSet(plan, layer, logitTensor(plan), method);
    return this.session.run({ [name]: input }, { keep });
  }

  /**
   * Inputs per pass so that the largest backward tensor (AE's conv sections hold 4 floats per
   * output element) fits the GPU's storage-binding limit; larger batches are split into passes.
   */
  /** Backward samples (input × target) per pass that fit the storage-binding limit. */
  private samplesPerPass(plan: Plan): number {
    const g = this.session.gpu;
    if (!g) return Infinity;
    let perSample = 0;
    for (const s of plan.steps) for (const sh of s.outShapes) perSample = Math.max(perSample, numel(sh) / Math.max(1, sh[0]));
    return Math.max(1, Math.floor((this.bindingBudget ?? g.limits.maxStorageBufferBindingSize) / (perSample * 4 * 4)));
  }

  async explain(input: CpuTensor, o: ExplainOptions = {}): Promise<Explanation> {
    const n = input.shape[0];
    if (this.session.backend === 'webgpu' && !o.forward && !o.trace) {
      const { plan } = this.layerFor(input.shape, o.layer);
      const t = targetsPerInput(o.target);
      const fit = this.samplesPerPass(plan);
      if (t > fit) return this.explainPerTargetGroup(input, o, fit);
      const k = Math.max(1, Math.floor(fit / t));
      if (k < n) return this.explainInChunks(input, o, k);
    }
    return this.explainBatch(input, o);
  }

  /** The logits that explanations start from (the input of a final Sigmoid/Softmax): a forward pass only. */
  async logits(input: CpuTensor): Promise<CpuTensor> {
    const { plan } = this.layerFor(input.shape);
    const logit = logitTensor(plan);
    return (await this.session.run({ [this.session.inputNames[0]]: input }, { keep: new Set([logit]) }))[logit];
  }

  /** One input at a time, its targets in groups of `g` (when even one input's T targets do not fit). */
  private async explainPerTargetGroup(input: CpuTensor, o: ExplainOptions, g: number): Promise<Explanation> {
    const n = input.shape[0];
    const per = numel(input.shape) / n;
    const name = this.session.inputNames[0];
    const parts: Explanation[] = [];
    for (let i = 0; i < n; i++) {
      const x = { shape: [1, ...input.shape.slice(1)], data: input.data.subarray(i * per, (i + 1) * per) };
      const { plan } = this.layerFor(x.shape, o.layer);
      const logit = logitTensor(plan);
      const logits = (await this.session.run({ [name]: x }, { keep: new Set([logit]) }))[logit];
      const list = resolveTargets(sliceTarget(o.target ?? 'top', i, 1), logits)[0];
      const groups: Explanation[] = [];
      for (let j = 0; j < list.length; j += g) groups.push(await this.explainBatch(x, { ...o, target: list.slice(j, j + g) }));
      // The groups share one input: one row of logits, the targets' maps in order.
      parts.push({ ...concatParts(groups), logits: groups[0].logits, targets: [list] });
    }
    return concatParts(parts);
  }

  private async explainInChunks(input: CpuTensor, o: ExplainOptions, k: number): Promise<Explanation> {
    const n = input.shape[0];
    const per = numel(input.shape) / n;
    const parts: Explanation[] = [];
    for (let i = 0; i < n; i += k) {
      const m = Math.min(k, n - i);
      const x = { shape: [m, ...input.shape.slice(1)], data: input.data.subarray(i * per, (i + m) * per) };
      parts.push(await this.explainBatch(x, { ...o, target: sliceTarget(o.target ?? 'top', i, m) }));
    }
    return concatParts(parts);
  }

  private async explainBatch(input: CpuTensor, o: ExplainOptions = {}): Promise<Explanation> {
    const { method, opts } = resolveOptions(o);
    const { plan, layer } = this.layerFor(input.shape, o.layer);
    const name = this.session.inputNames[0];
    const logit = logitTensor(plan);
    const keep = this.keepSet(plan, layer, logit, method);
    const target = o.target ?? 'top';
    const t = targetsPerInput(target);
    this.session.checkMemory(estimateExplain(plan, keep, t, method), `explaining ${input.shape[0]} input(s) × ${t} target(s) with ${method}`);
    if (o.forward && this.session.backend !== 'cpu') throw new OptionError('the forward option is supported on the CPU backend only');

    if (this.session.backend === 'cpu') {
      const fwd = o.forward
        ? new Map(Object.entries(o.forward).concat([[name, input]]))
        : runCpu(plan, { [name]: input }, { keep });
      for (const t of keep) if (!fwd.has(t)) throw new OptionError(`the forward values given lack '${t}'`);
      const logits = fwd.get(logit)!;
      const targets = resolveTargets(target, logits);
      const get = (t: string): CpuTensor => {
        const v = fwd.get(t);
        if (v) return v;
        const c = plan.consts.get(t);
        if (!c) throw new Error(`internal: forward value '${t}' not kept`);
        return { shape: c.dims, data: c.data instanceof Float32Array ? c.data : Float32Array.from(c.data) };
      };
      const trace = o.trace ? [] as TraceEntry[] : undefined;
      const r = runPipeline(cpuBackend(), { plan, method, layer, logit, targets, opts, forward: get, trace });
      return { ...this.finish(method, logits, targets, layer, r.heatmap, r.attribution), trace };
    }

    const g = this.session.gpu!;
    const dev = this.session.runOnGpu(plan, { [name]: input }, { keep });
    try {
      const logitsDev = dev.results.get(logit)!;
      const logits = { shape: logitsDev.shape, data: await g.read(logitsDev) };
      const targets = resolveTargets(target, logits);
      const get = (t: string): GpuTensor => dev.results.get(t) ?? dev.inputs[t] ?? this.session.weightTensor(plan, t);
      const be = gpuBackend(g);
      const devTrace = o.trace ? [] as { walk: 'gradient' | 'ae'; name: string; value: GpuTensor }[] : undefined;
      const r = runPipeline(be, { plan, method, layer, logit, targets, opts, forward: get, trace: devTrace });
      const heat = await be.read(r.heatmap);
      let trace: TraceEntry[] | undefined;
      if (devTrace) {
        trace = [];
        for (const e of devTrace) {
          trace.push({ walk: e.walk, name: e.name, value: await be.read(e.value) });
          be.release(e.value);
        }
      }
      const attr = r.attribution ? await be.read(r.attribution) : undefined;
      be.release(r.heatmap);
      be.release(r.alpha);
      if (r.attribution) be.release(r.attribution);
      return { ...this.finish(method, logits, targets, layer, heat, attr), trace };
    } finally {
      this.session.releaseAll(dev.results, dev.inputs);
    }
  }

  private finish(method: Method, logits: CpuTensor, targets: number[][], layer: string, heat: CpuTensor, attribution?: CpuTensor): Explanation {
    const [b, , h, w] = heat.shape;
    const heatmaps = { shape: [b, h, w], data: heat.data };
    for (const v of [heatmaps.data, attribution?.data]) {
      if (v && !v.every(Number.isFinite)) throw new AeqError(`non-finite values in the ${method} result (layer '${layer}'): the model overflows float32 on this input`);
    }
    const n = logits.shape[0];
    return { method, logits: { shape: [n, numel(logits.shape) / n], data: logits.data }, targets, attribution, heatmaps, layer };
  }

  dispose(): void {
    this.session.dispose();
  }
}
