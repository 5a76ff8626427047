// The library's front door, shaped like Captum's attribute(inputs, target): load a model once,
// then explain batches of N inputs × T targets in one forward and one N·T backward pass (split
// into several passes when the GPU's binding limit demands, ./batching.ts).
import { Session, type BackendName, type SessionOptions } from '../runtime/session.js';
import { estimateExplain } from '../planner/budget.js';
import type { Model } from '../graph/ir.js';
import type { Plan } from '../planner/plan.js';
import { defaultLayer } from '../planner/layers.js';
import type { CpuTensor } from '../ops/op.js';
import { attributionPlan, gradientPlan } from '../planner/backward.js';
import { logitTensor, type Method } from './pipeline.js';
import { resolveOptions, type ExplainOptions } from './options.js';
import { targetsPerInput } from './targets.js';
import type { Explanation } from './explanation.js';
import { explainBatch, type BatchRequest } from './batch.js';
import { cpuPasses, gpuPasses } from './passes.js';
import { explainInPasses, samplesPerPass } from './batching.js';
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

  async explain(input: CpuTensor, o: ExplainOptions = {}): Promise<Explanation> {
    const g = this.session.gpu;
    // Only the GPU has a binding limit; the diagnostics (forward, trace) always run in one pass.
    if (this.session.backend !== 'webgpu' || !g || o.forward || o.trace) return this.explainBatch(input, o);
    const { plan } = this.layerFor(input.shape, o.layer);
    const fit = samplesPerPass(plan, this.bindingBudget ?? g.limits.maxStorageBufferBindingSize);
    return explainInPasses(input, o.target ?? 'top', fit, {
      pass: (x, target) => this.explainBatch(x, { ...o, target }),
      logits: (x) => this.forwardLogits(x, o.layer),
    });
  }

  /** The logits that explanations start from (the input of a final Sigmoid/Softmax): a forward pass only. */
  logits(input: CpuTensor): Promise<CpuTensor> {
    return this.forwardLogits(input);
  }

  private async forwardLogits(input: CpuTensor, layer?: string): Promise<CpuTensor> {
    const { plan } = this.layerFor(input.shape, layer);
    const logit = logitTensor(plan);
    return (await this.session.run({ [this.session.inputNames[0]]: input }, { keep: new Set([logit]) }))[logit];
  }

  private async explainBatch(input: CpuTensor, o: ExplainOptions): Promise<Explanation> {
    const { method, opts } = resolveOptions(o);
    const { plan, layer } = this.layerFor(input.shape, o.layer);
    const logit = logitTensor(plan);
    const keep = this.keepSet(plan, layer, logit, method);
    const target = o.target ?? 'top';
    const t = targetsPerInput(target);
    this.session.checkMemory(estimateExplain(plan, keep, t, method), `explaining ${input.shape[0]} input(s) × ${t} target(s) with ${method}`);
    const req: BatchRequest = {
      plan, layer, logit, method, opts, input,
      inputName: this.session.inputNames[0],
      keep,
      target,
      trace: !!o.trace,
      given: o.forward,
    };
    return this.session.backend === 'cpu' ? explainBatch(cpuPasses(), req) : explainBatch(gpuPasses(this.session), req);
  }

  dispose(): void {
    this.session.dispose();
  }
}
