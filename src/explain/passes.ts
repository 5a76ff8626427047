// What one explanation pass needs from a backend: the AttrBackend the pipeline runs on (its `read`
// is the readback to the host), bundled with the forward pass that feeds it. The CPU and the GPU
// differ only here, so explainBatch (./batch.ts) is written once.
import type { Plan } from '../planner/plan.js';
import type { CpuTensor } from '../ops/op.js';
import type { GpuTensor } from '../kernels/gpu/runtime.js';
import { runCpu } from '../runtime/executor.js';
import type { Session } from '../runtime/session.js';
import { cpuBackend, gpuBackend, type AttrBackend } from './backend.js';
import { OptionError } from '../errors.js';

export interface ForwardRequest {
  plan: Plan;
  inputName: string;
  input: CpuTensor;
  /** The forward tensors the walks read (see Explainer.keepSet). */
  keep: Set<string>;
  /** Diagnostics (CPU only): forward values to use instead of running the forward pass. */
  given?: Record<string, CpuTensor>;
}

/** The forward values of one pass, on the backend, until released. */
export interface ForwardValues<T> {
  /** A kept activation, the input, or a weight. */
  value(name: string): T;
  /** Frees the pass's tensors (weights stay with the session). */
  release(): void;
}

export interface PassBackend<T> {
  attr: AttrBackend<T>;
  forward(req: ForwardRequest): ForwardValues<T>;
  /** The logits of a batch already on the backend (Score-CAM's masked inputs); `x` stays the caller's. */
  logitsOf(plan: Plan, inputName: string, x: T, logit: string): Promise<CpuTensor>;
}

export function cpuPasses(): PassBackend<CpuTensor> {
  return {
    attr: cpuBackend(),
    forward({ plan, inputName, input, keep, given }) {
      const fwd = given
        ? new Map(Object.entries(given).concat([[inputName, input]]))
        : runCpu(plan, { [inputName]: input }, { keep });
      for (const t of keep) if (!fwd.has(t)) throw new OptionError(`the forward values given lack '${t}'`);
      return {
        value: (t) => {
          const v = fwd.get(t);
          if (v) return v;
          const c = plan.consts.get(t);
          if (!c) throw new Error(`internal: forward value '${t}' not kept`);
          return { shape: c.dims, data: c.data instanceof Float32Array ? c.data : Float32Array.from(c.data) };
        },
        release: () => {},
      };
    },
    logitsOf: async (plan, inputName, x, logit) => runCpu(plan, { [inputName]: x }, { keep: new Set([logit]) }).get(logit)!,
  };
}

export function gpuPasses(session: Session): PassBackend<GpuTensor> {
  return {
    attr: gpuBackend(session.gpu!),
    forward({ plan, inputName, input, keep, given }) {
      // Another backend's activations only make sense as a reference walk's input (aeq verify).
      if (given) throw new OptionError('the forward option is supported on the CPU backend only');
      const dev = session.runOnGpu(plan, { [inputName]: input }, { keep });
      return {
        value: (t) => dev.results.get(t) ?? dev.inputs[t] ?? session.weightTensor(plan, t),
        release: () => session.releaseAll(dev.results, dev.inputs),
      };
    },
    async logitsOf(plan, inputName, x, logit) {
      const results = session.runOnDevice(plan, { [inputName]: x }, { keep: new Set([logit]) });
      try {
        return { shape: results.get(logit)!.shape, data: await session.gpu!.read(results.get(logit)!) };
      } finally {
        session.releaseAll(results, {});
      }
    },
  };
}
