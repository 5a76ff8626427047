// Memory budgets, checked at plan time before any buffer is allocated: an estimate of the bytes a
// plan holds at its peak (weights, inputs and the live activations, given the plan's liveness),
// plus, for explanations, the backward walks' N·T signals; compared with a limit derived from the
// host's free memory (or --max-memory).
import { freemem } from 'node:os';
import { BudgetError, OptionError, printable } from '../errors.js';
import { numel } from '../graph/tensor.js';
import type { Plan } from './plan.js';

/** Fraction of the host's available memory a run may plan to use by default. */
export const HOST_FRACTION = 0.5;

/** The default limit: half the host's available memory (a cgroup limit included where set). */
export function defaultMemoryLimit(): number {
  let avail = freemem();
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  if (constrained && constrained > 0 && Number.isFinite(constrained)) avail = Math.min(avail, Math.max(0, constrained - process.memoryUsage().rss));
  return Math.floor(avail * HOST_FRACTION);
}

export function checkLimit(bytes: number | undefined, where = 'memory limit'): number | undefined {
  if (bytes === undefined) return undefined;
  if (typeof bytes !== 'number' || !(bytes >= 1) || !Number.isFinite(bytes)) throw new OptionError(`${where} must be a positive number of bytes, got ${bytes}`);
  return bytes;
}

export function fmtBytes(b: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) {
    b /= 1024;
    i++;
  }
  return `${i === 0 ? b.toFixed(0) : b.toFixed(1)} ${u[i]}`;
}

export interface Estimate {
  /** Total bytes at the peak. */
  bytes: number;
  weights: number;
  /** Live activations (and inputs) at the peak step. */
  activations: number;
  /** The step at the peak and its largest output, for the message. */
  peak: { node: string; opType: string; tensor: string; bytes: number } | null;
  /** Bytes added for the backward walks (explanations). */
  backward: number;
}

/**
 * Peak bytes of a forward pass: weights (float32 on both backends) + inputs + every activation
 * alive at the worst step (outputs and kept tensors stay alive to the end). `keepAll` keeps every
 * activation (as `aeq verify` does).
 */
export function estimateForward(plan: Plan, opts: { keep?: Set<string> | 'all' } = {}): Estimate {
  let weights = 0;
  for (const w of plan.weights) weights += numel(plan.consts.get(w)!.dims) * 4;
  const bytesOf = (t: string) => numel(plan.shapes.get(t) ?? []) * 4;
  // Storage roots: aliases (views) share their source's buffer.
  const root = new Map<string, string>();
  const rootOf = (t: string) => root.get(t) ?? t;
  const lastUse = new Map<string, number>();
  plan.steps.forEach((s, i) => {
    for (const t of s.inputs) if (t) lastUse.set(rootOf(t), i);
    if (s.alias !== undefined && s.inputs[s.alias]) root.set(s.node.outputs[0], rootOf(s.inputs[s.alias]!));
  });
  const pinned = new Set<string>(plan.outputs.map((o) => rootOf(o.name)));
  if (opts.keep === 'all') plan.steps.forEach((s) => s.node.outputs.forEach((o) => o && pinned.add(rootOf(o))));
  else if (opts.keep) for (const k of opts.keep) pinned.add(rootOf(k));
  let live = 0;
  for (const inp of plan.inputs) live += numel(inp.shape) * 4;
  let peakBytes = live;
  let peak: Estimate['peak'] = null;
  const alive = new Set<string>();
  plan.steps.forEach((s, i) => {
    let largest = { tensor: '', bytes: -1 };
    if (s.alias === undefined) {
      s.node.outputs.forEach((o, k) => {
        const b = numel(s.outShapes[k]) * 4;
        live += b;
        if (o) alive.add(o);
        if (b > largest.bytes) largest = { tensor: o || `${s.node.name}:${k}`, bytes: b };
      });
    }
    if (live > peakBytes) {
      peakBytes = live;
      peak = { node: s.node.name, opType: s.node.opType, ...largest };
    }
    for (const t of new Set(s.inputs)) {
      if (!t || plan.consts.has(t)) continue;
      const r = rootOf(t);
      if (lastUse.get(r) === i && !pinned.has(r) && alive.has(r)) {
        alive.delete(r);
        live -= bytesOf(r);
      }
    }
    for (const o of s.node.outputs) {
      if (o && s.alias === undefined && !lastUse.has(o) && !pinned.has(o) && alive.has(o)) {
        alive.delete(o);
        live -= bytesOf(o);
      }
    }
  });
  return { bytes: weights + peakBytes, weights, activations: peakBytes, peak, backward: 0 };
}

/**
 * An explanation of N inputs × T targets: the forward pass with the tensors the walks read kept
 * alive, plus the backward signals at N·T samples. A walk visits the steps in reverse and holds a
 * tensor's signal from its last reader to its producer — the forward liveness intervals — so its
 * peak is T × the forward pass's peak of activations; AE's conv sections add four floats per
 * element of the largest tensor.
 */
export function estimateExplain(plan: Plan, keep: Set<string>, targets: number, method: string): Estimate {
  const f = estimateForward(plan, { keep });
  const walk = estimateForward(plan).activations;
  let largest = 0;
  for (const s of plan.steps) for (const sh of s.outShapes) largest = Math.max(largest, numel(sh) * 4);
  const backward = targets * (walk + (method === 'ae' ? 4 * largest : 0));
  return { ...f, bytes: f.bytes + backward, backward };
}

/**
 * WebGPU: every buffer the plan allocates must fit the device's maxBufferSize, checked for the
 * whole plan before the first upload (the allocator checks again at run time).
 */
export function checkGpuBuffers(plan: Plan, maxBufferSize: number): void {
  for (const s of plan.steps) {
    if (s.alias !== undefined) continue;
    s.outShapes.forEach((sh, k) => {
      const bytes = numel(sh) * 4;
      if (bytes > maxBufferSize) {
        throw new BudgetError(`${plan.model.source}: ${s.node.opType} node '${printable(s.node.name)}': output '${printable(s.node.outputs[k] ?? '')}' of shape [${sh.join('×')}] needs ${fmtBytes(bytes)}, more than this GPU's buffer limit of ${fmtBytes(maxBufferSize)}; use a smaller batch or the CPU backend`);
      }
    });
  }
}

/** Refuse an estimate above the limit, naming the node at the peak and the sizes. */
export function enforce(e: Estimate, limit: number, what: string, source: string): void {
  if (e.bytes <= limit) return;
  const at = e.peak ? `; the peak is at ${e.peak.opType} node '${printable(e.peak.node)}' (output '${printable(e.peak.tensor)}', ${fmtBytes(e.peak.bytes)})` : '';
  const parts = [`weights ${fmtBytes(e.weights)}`, `activations ${fmtBytes(e.activations)}`, ...(e.backward ? [`backward ${fmtBytes(e.backward)}`] : [])];
  throw new BudgetError(`${source}: ${what} needs an estimated ${fmtBytes(e.bytes)} (${parts.join(', ')})${at}, ` +
    `more than the memory budget of ${fmtBytes(limit)} (set with --max-memory)`);
}
