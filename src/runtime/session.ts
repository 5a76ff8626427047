// A loaded model bound to a backend: plans are cached per input shape, weights are uploaded once.
// Constant inputs are bound when the session is made, so a cached plan never outlives their values.
import { loadModel, parseModel } from '../io/onnx.js';
import type { Model } from '../graph/ir.js';
import { mergeBatchNorms, type Canonized } from '../graph/canonize.js';
import { planGraph, unsupportedOps, type Plan } from '../planner/plan.js';
import { bindConstants, type ConstantValue } from '../planner/constants.js';
import type { Shape } from '../graph/tensor.js';
import type { CpuTensor } from '../ops/op.js';
import { getGpu, type Gpu, type GpuTensor } from '../kernels/gpu/runtime.js';
import { GpuExecutor, checkFinite, runCpu, shapeKey, type RunOptions } from './executor.js';
import { GpuUnavailableError, OptionError, UnsupportedOperatorError } from '../errors.js';
import { checkGpuBuffers, checkLimit, defaultMemoryLimit, enforce, estimateForward, type Estimate } from '../planner/budget.js';

export type BackendName = 'webgpu' | 'cpu';
export interface SessionOptions {
  /** 'auto' (default) uses WebGPU when an adapter exists and says once when it falls back. */
  backend?: BackendName | 'auto';
  /**
   * Memory budget in bytes for one run or explanation, checked against the plan's estimate before
   * anything is allocated. Default: half the host's available memory at the time of the check.
   */
  maxMemory?: number;
  /**
   * Graph inputs given their values now, as plan-time constants (see src/planner/constants.ts):
   * integer and bool inputs that feed shape-like operands (Reshape's shape, Slice's ends, Pad's
   * pads…). The session is bound to these values; other values need another session.
   */
  constants?: Record<string, ConstantValue>;
}

let warnedFallback = false;

/** Pick the backend: 'auto' falls back to the CPU with one notice unless AEQ_REQUIRE_GPU=1. */
export async function resolveBackend(want: BackendName | 'auto' = 'auto'): Promise<{ backend: BackendName; gpu?: Gpu }> {
  if (want !== 'webgpu' && want !== 'cpu' && want !== 'auto') throw new OptionError(`unknown backend '${want}' (use webgpu, cpu or auto)`);
  if (want === 'cpu') return { backend: 'cpu' };
  try {
    return { backend: 'webgpu', gpu: await getGpu() };
  } catch (e) {
    if (want === 'webgpu' || process.env.AEQ_REQUIRE_GPU === '1') {
      throw e instanceof GpuUnavailableError ? e : new GpuUnavailableError(`WebGPU backend required but failed: ${(e as Error).message}`);
    }
    if (!warnedFallback) {
      warnedFallback = true;
      process.stderr.write(`aeq: ${(e as Error).message}; falling back to the CPU reference backend\n`);
    }
    return { backend: 'cpu' };
  }
}

/** Plan variants: `mergeBatchNorm` plans the graph with its BatchNormalizations merged into the layers before them (LRP). */
export interface PlanVariant {
  mergeBatchNorm?: boolean;
}

export class Session {
  private plans = new Map<string, Plan>();
  private weights = new Map<string, GpuTensor>();
  private canonized?: Canonized;

  /** Memory budget in bytes (undefined: half the host's available memory when checked). */
  maxMemory?: number;

  private constructor(readonly model: Model, readonly backend: BackendName, readonly gpu?: Gpu) {}

  /** Refuse work whose plan-time estimate exceeds the memory budget (BudgetError naming the peak). */
  checkMemory(e: Estimate, what: string): void {
    enforce(e, this.maxMemory ?? defaultMemoryLimit(), what, this.model.source);
  }

  static async create(src: string | Uint8Array | Model, opts: SessionOptions = {}): Promise<Session> {
    const loaded = typeof src === 'string' ? loadModel(src) : src instanceof Uint8Array ? parseModel(src, '<bytes>', null) : src;
    const model = opts.constants ? bindConstants(loaded, opts.constants) : loaded;
    const bad = unsupportedOps(model);
    if (bad.length) throw new UnsupportedOperatorError(bad);
    const maxMemory = checkLimit(opts.maxMemory, 'maxMemory');
    const { backend, gpu } = await resolveBackend(opts.backend);
    const s = new Session(model, backend, gpu);
    s.maxMemory = maxMemory;
    return s;
  }

  get inputNames(): string[] {
    return this.model.graph.inputs.map((i) => i.name);
  }

  get outputNames(): string[] {
    return this.model.graph.outputs.map((o) => o.name);
  }

  /** The model with every mergeable BatchNormalization merged into its Conv or Gemm (src/graph/canonize.ts), made once. */
  get bnMerged(): Canonized {
    return (this.canonized ??= mergeBatchNorms(this.model));
  }

  /**
   * The plan for these input shapes, cached; `mergeBatchNorm` plans the merged model (its new
   * weights have names of their own, so both plans share this session's uploaded weights).
   */
  plan(shapes: Record<string, Shape>, variant: PlanVariant = {}): Plan {
    const merge = !!variant.mergeBatchNorm && this.bnMerged.merged.length > 0;
    const key = `${shapeKey(shapes)}${merge ? '|bn-merged' : ''}`;
    let p = this.plans.get(key);
    if (!p) {
      p = planGraph(merge ? this.bnMerged.model : this.model, shapes);
      this.plans.set(key, p);
    }
    return p;
  }

  /** Run forward; returns graph outputs (and kept tensors) on the host. */
  async run(feeds: Record<string, CpuTensor>, opts: RunOptions & { variant?: PlanVariant } = {}): Promise<Record<string, CpuTensor>> {
    const shapes = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.shape]));
    const plan = this.plan(shapes, opts.variant);
    checkFinite(plan, feeds);
    this.checkMemory(estimateForward(plan, opts), 'the forward pass');
    if (this.backend === 'cpu') return Object.fromEntries(runCpu(plan, feeds, opts));
    const g = this.gpu!;
    const dev = this.runOnGpu(plan, feeds, opts);
    const out: Record<string, CpuTensor> = {};
    for (const [k, t] of dev.results) out[k] = { shape: t.shape, data: await g.read(t) };
    this.releaseAll(dev.results, dev.inputs);
    return out;
  }

  /** Record the forward pass on the GPU, leaving results on the device (the caller releases them). */
  runOnGpu(plan: Plan, feeds: Record<string, CpuTensor>, opts: RunOptions = {}): { inputs: Record<string, GpuTensor>; results: Map<string, GpuTensor> } {
    const g = this.gpu!;
    checkFinite(plan, feeds);
    checkGpuBuffers(plan, g.limits.maxBufferSize);
    const inputs: Record<string, GpuTensor> = {};
    for (const inp of plan.inputs) {
      const f = feeds[inp.name];
      if (!f) continue;
      inputs[inp.name] = g.upload(f.data, inp.shape, `input:${inp.name}`);
    }
    const exec = new GpuExecutor(g, plan, this.weights);
    return { inputs, results: exec.run(inputs, opts) };
  }

  /** Record the forward pass of inputs already on the device (they stay the caller's). */
  runOnDevice(plan: Plan, inputs: Record<string, GpuTensor>, opts: RunOptions = {}): Map<string, GpuTensor> {
    checkGpuBuffers(plan, this.gpu!.limits.maxBufferSize);
    return new GpuExecutor(this.gpu!, plan, this.weights).run(inputs, opts);
  }

  /** The device copy of a constant of the plan (weights stay uploaded for the session's life). */
  weightTensor(plan: Plan, name: string): GpuTensor {
    if (!plan.consts.has(name)) throw new Error(`internal: '${name}' is neither kept nor a constant`);
    return new GpuExecutor(this.gpu!, plan, this.weights).weight(name);
  }

  /** Release device tensors from runOnGpu (weights are kept). */
  releaseAll(results: Map<string, GpuTensor>, inputs: Record<string, GpuTensor>): void {
    const g = this.gpu!;
    const weightBufs = new Set([...this.weights.values()].map((w) => w.buffer));
    const seen = new Set<GPUBuffer>();
    for (const t of [...results.values(), ...Object.values(inputs)]) {
      if (weightBufs.has(t.buffer) || seen.has(t.buffer)) continue;
      seen.add(t.buffer);
      g.release(t);
    }
  }

  dispose(): void {
    if (this.gpu) for (const w of this.weights.values()) this.gpu.release(w);
    this.weights.clear();
    this.plans.clear();
  }
}
