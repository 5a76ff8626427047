// Runs a Plan on either backend. The GPU path records every step into one command stream, with
// buffers released right after their last reader is recorded (the pool reuses them for later
// steps) and no readback until the caller asks for a result.
import type { Plan } from '../planner/plan.js';
import type { Shape } from '../graph/tensor.js';
import { numel } from '../graph/tensor.js';
import type { Activation, CpuTensor } from '../ops/op.js';
import type { Gpu, GpuTensor } from '../kernels/gpu/runtime.js';
import { InputError } from '../errors.js';

export interface RunOptions {
  /** Tensors to keep alive after the run besides the graph outputs ('all' keeps every activation). */
  keep?: Set<string> | 'all';
}

/** Non-finite input values (NaN, ±Infinity) are refused before running, naming the input. */
export function checkFinite(plan: Plan, feeds: Record<string, CpuTensor>): void {
  for (const inp of plan.inputs) {
    const d = feeds[inp.name]?.data;
    if (!d) continue;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i])) {
        throw new InputError(`${plan.model.source}: input '${inp.name}' holds ${d[i]} at element ${i} of ${d.length}; non-finite inputs are refused`);
      }
    }
  }
}

function checkFeeds(plan: Plan, feeds: Record<string, CpuTensor>): void {
  for (const inp of plan.inputs) {
    const f = feeds[inp.name];
    if (!f) throw new InputError(`${plan.model.source}: missing input '${inp.name}'`);
    if (f.data.length !== numel(inp.shape)) {
      throw new InputError(`${plan.model.source}: input '${inp.name}' has ${f.data.length} values, expected ${numel(inp.shape)} for shape [${inp.shape.join('×')}]`);
    }
  }
}

/** Index of the last step reading each storage root; aliases share their source's storage. */
export function lifetimes(plan: Plan): { root: Map<string, string>; lastUse: Map<string, number> } {
  const root = new Map<string, string>();
  const lastUse = new Map<string, number>();
  const rootOf = (t: string) => root.get(t) ?? t;
  plan.steps.forEach((s, i) => {
    for (const t of s.inputs) if (t) lastUse.set(rootOf(t), i);
    if (s.alias !== undefined) {
      const src = s.inputs[s.alias]!;
      root.set(s.node.outputs[0], rootOf(src));
    }
  });
  return { root, lastUse };
}

export function runCpu(plan: Plan, feeds: Record<string, CpuTensor>, opts: RunOptions = {}): Map<string, CpuTensor> {
  checkFeeds(plan, feeds);
  checkFinite(plan, feeds);
  const env = new Map<string, CpuTensor>();
  for (const inp of plan.inputs) env.set(inp.name, { shape: inp.shape, data: feeds[inp.name].data });
  const get = (t: string): CpuTensor => {
    const v = env.get(t);
    if (v) return v;
    const c = plan.consts.get(t);
    if (!c) throw new Error(`internal: tensor '${t}' unavailable`);
    const ct = { shape: c.dims, data: c.data instanceof Float32Array ? c.data : Float32Array.from(c.data) };
    env.set(t, ct);
    return ct;
  };
  const { root, lastUse } = lifetimes(plan);
  const keep = opts.keep;
  const outputs = new Set(plan.outputs.map((o) => o.name));
  plan.steps.forEach((s, i) => {
    const ins = s.inputs.map((t) => (t ? get(t) : undefined));
    if (s.alias !== undefined) {
      env.set(s.node.outputs[0], { shape: s.outShapes[0], data: ins[s.alias]!.data });
    } else {
      const outs = s.spec.cpu(s.params, ins, s.outShapes);
      s.node.outputs.forEach((o, k) => o && env.set(o, { shape: s.outShapes[k], data: outs[k] }));
    }
    // Drop dead activations so large models fit in memory.
    if (keep !== 'all') {
      for (const t of s.inputs) {
        if (!t || plan.consts.has(t) || outputs.has(t) || keep?.has(t)) continue;
        if (lastUse.get(root.get(t) ?? t) === i) env.delete(t);
      }
    }
  });
  const res = new Map<string, CpuTensor>();
  for (const o of plan.outputs) res.set(o.name, get(o.name));
  if (keep === 'all') for (const [k, v] of env) res.set(k, v);
  else if (keep) for (const k of keep) res.set(k, get(k));
  return res;
}

/**
 * Producer → activation pairs the GPU runs as one dispatch (the producer's `gpuRelu`: the
 * activation in its store): producer step index → the index of the Relu, or Clip with constant
 * bounds, reading its output 0, and that activation. The pre-activation is still written when
 * anything else reads it (another step, a view of it, or the caller).
 */
export function reluFusions(plan: Plan): Map<number, { relu: number; shared: boolean; act: Activation }> {
  const { root } = lifetimes(plan);
  // Readers of each storage root (a view's readers read its source).
  const readers = new Map<string, number[]>();
  plan.steps.forEach((s, j) => new Set(s.inputs).forEach((t) => {
    if (!t) return;
    const r = root.get(t) ?? t;
    readers.set(r, [...(readers.get(r) ?? []), j]);
  }));
  const out = new Map<number, { relu: number; shared: boolean; act: Activation }>();
  plan.steps.forEach((s, i) => {
    if (!s.spec.gpuRelu || s.alias !== undefined || s.node.outputs.length !== 1) return;
    const z = s.node.outputs[0];
    for (const k of readers.get(z) ?? []) {
      const r = plan.steps[k];
      const act = r.inputs[0] === z && r.alias === undefined && (r.node.domain ?? '') in { '': 1, 'ai.onnx': 1 } ? fusable(r) : undefined;
      if (act) {
        out.set(i, { relu: k, shared: readers.get(z)!.some((o) => o !== k), act });
        return;
      }
    }
  });
  return out;
}

/** The activation a producer's store can apply for step `r`: Relu, or Clip whose bounds are constants. */
function fusable(r: Plan['steps'][number]): Activation | undefined {
  if (r.node.opType === 'Relu') return { op: 'relu' };
  if (r.node.opType !== 'Clip') return undefined;
  const p = r.params as { lo: number; hi: number; dynLo: boolean; dynHi: boolean };
  return p.dynLo || p.dynHi ? undefined : { op: 'clip', lo: p.lo, hi: p.hi };
}

export class GpuExecutor {
  constructor(private g: Gpu, private plan: Plan, private weights: Map<string, GpuTensor>) {}

  /** The device copy of a constant, uploaded on first use and kept for the session's life. */
  weight(t: string): GpuTensor {
    let w = this.weights.get(t);
    if (!w) {
      const c = this.plan.consts.get(t)!;
      const data = c.data instanceof Float32Array ? c.data : Float32Array.from(c.data);
      w = this.g.upload(data, c.dims, `weight:${t}`);
      w.constant = true;
      this.weights.set(t, w);
    }
    return w;
  }

  /** Record the whole forward pass. Returned tensors (outputs + kept) belong to the caller. */
  run(feeds: Record<string, GpuTensor>, opts: RunOptions = {}): Map<string, GpuTensor> {
    const { g, plan } = this;
    // Upload weights before recording anything (uploads must not overtake recorded work).
    for (const w of plan.weights) this.weight(w);
    const env = new Map<string, GpuTensor>();
    for (const inp of plan.inputs) env.set(inp.name, feeds[inp.name]);
    const { root, lastUse } = lifetimes(plan);
    const keep = opts.keep;
    const pinned = new Set<string>(plan.outputs.map((o) => root.get(o.name) ?? o.name));
    if (keep === 'all') plan.steps.forEach((s) => s.node.outputs.forEach((o) => o && pinned.add(root.get(o) ?? o)));
    else if (keep) for (const k of keep) pinned.add(root.get(k) ?? k);
    for (const inp of plan.inputs) pinned.add(inp.name); // owned by the caller
    const get = (t: string): GpuTensor => env.get(t) ?? (plan.consts.has(t) ? this.weight(t) : (() => { throw new Error(`internal: tensor '${t}' unavailable`); })());
    const fused = reluFusions(plan);
    const done = new Set<number>(); // Relu steps already run by their producer
    const never = new Set<string>(); // pre-activations nobody reads: never allocated
    plan.steps.forEach((s, i) => {
      const ins = done.has(i) ? [] : s.inputs.map((t) => (t ? get(t) : undefined));
      const f = fused.get(i);
      if (done.has(i)) {
        // Recorded with its producer; only the lifetimes below remain.
      } else if (f !== undefined) {
        const j = f.relu;
        const z = s.node.outputs[0], y = plan.steps[j].node.outputs[0];
        const keepZ = f.shared || pinned.has(z);
        const relu = g.alloc(plan.steps[j].outShapes[0], y);
        if (keepZ) {
          const zt = g.alloc(s.outShapes[0], z);
          s.spec.gpuRelu!(g, s.params, ins, relu, zt, f.act);
          env.set(z, zt);
        } else {
          s.spec.gpuRelu!(g, s.params, ins, relu, undefined, f.act);
          never.add(z);
        }
        env.set(y, relu);
        done.add(j);
      } else if (s.alias !== undefined) {
        env.set(s.node.outputs[0], { shape: s.outShapes[0], buffer: ins[s.alias]!.buffer });
      } else {
        const outs = s.outShapes.map((sh, k) => g.alloc(sh, s.node.outputs[k] || `${s.node.name}:${k}`));
        s.spec.gpu(g, s.params, ins, outs);
        s.node.outputs.forEach((o, k) => {
          if (o) env.set(o, outs[k]);
          else g.release(outs[k]);
        });
      }
      for (const t of new Set(s.inputs)) {
        if (!t || plan.consts.has(t) || never.has(t)) continue;
        const r = root.get(t) ?? t;
        if (lastUse.get(r) === i && !pinned.has(r)) g.release(env.get(r)!);
      }
      // Outputs nobody reads (e.g. an unused second output) are released at once.
      for (const o of s.node.outputs) {
        if (o && !lastUse.has(o) && !pinned.has(o) && s.alias === undefined && !never.has(o)) g.release(env.get(o)!);
      }
    });
    const res = new Map<string, GpuTensor>();
    const want = new Set<string>(plan.outputs.map((o) => o.name));
    if (keep === 'all') for (const k of env.keys()) want.add(k);
    else if (keep) for (const k of keep) want.add(k);
    for (const k of want) res.set(k, get(k));
    return res;
  }
}

export function shapeKey(shapes: Record<string, Shape>): string {
  return Object.entries(shapes).map(([k, v]) => `${k}:${v.join('x')}`).join(';');
}
