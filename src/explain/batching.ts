// How a batch of N inputs × T targets is split into passes that fit the GPU's storage-binding
// limit: by inputs first (k inputs with all their targets per pass); when even one input's T
// targets do not fit, one input at a time with its targets in groups. The parts are joined in
// order, so the caller sees one Explanation either way.
import type { Plan } from '../planner/plan.js';
import type { CpuTensor } from '../ops/op.js';
import { numel } from '../graph/tensor.js';
import { resolveTargets, sliceTarget, targetsPerInput, type Target } from './targets.js';
import type { Explanation } from './explanation.js';

/**
 * Backward samples (input × target) per pass so that the largest backward tensor fits `bindingLimit`
 * bytes; `floats` per output element: 4 for the backward walks (AE's conv sections hold 4), 1 for a
 * forward pass alone (Score-CAM's masked inputs).
 */
export function samplesPerPass(plan: Plan, bindingLimit: number, floats = 4): number {
  let perSample = 0;
  for (const s of plan.steps) for (const sh of s.outShapes) perSample = Math.max(perSample, numel(sh) / Math.max(1, sh[0]));
  return Math.max(1, Math.floor(bindingLimit / (perSample * floats * 4)));
}

export interface PassRunner {
  /** Explains inputs `x` for `target` in one pass. */
  pass(x: CpuTensor, target: Target): Promise<Explanation>;
  /** A forward pass only (an input's targets are resolved before they are split into groups). */
  logits(x: CpuTensor): Promise<CpuTensor>;
}

/** Explains `input` in passes of at most `fit` backward samples each. */
export async function explainInPasses(input: CpuTensor, target: Target, fit: number, run: PassRunner): Promise<Explanation> {
  const t = targetsPerInput(target);
  if (t > fit) return perTargetGroup(input, target, fit, run);
  const k = Math.max(1, Math.floor(fit / t));
  return k < input.shape[0] ? inChunks(input, target, k, run) : run.pass(input, target);
}

/** Inputs i … i+m−1 of a batch. */
function inputs(x: CpuTensor, i: number, m: number): CpuTensor {
  const per = numel(x.shape) / x.shape[0];
  return { shape: [m, ...x.shape.slice(1)], data: x.data.subarray(i * per, (i + m) * per) };
}

/** One input at a time, its targets in groups of `g`. */
async function perTargetGroup(input: CpuTensor, target: Target, g: number, run: PassRunner): Promise<Explanation> {
  const parts: Explanation[] = [];
  for (let i = 0; i < input.shape[0]; i++) {
    const x = inputs(input, i, 1);
    const list = resolveTargets(sliceTarget(target, i, 1), await run.logits(x))[0];
    const groups: Explanation[] = [];
    for (let j = 0; j < list.length; j += g) groups.push(await run.pass(x, list.slice(j, j + g)));
    // The groups share one input: one row of logits, the targets' maps in order.
    parts.push({ ...concatParts(groups), logits: groups[0].logits, targets: [list] });
  }
  return concatParts(parts);
}

/** `k` inputs per pass, each with all its targets. */
async function inChunks(input: CpuTensor, target: Target, k: number, run: PassRunner): Promise<Explanation> {
  const n = input.shape[0];
  const parts: Explanation[] = [];
  for (let i = 0; i < n; i += k) {
    const m = Math.min(k, n - i);
    parts.push(await run.pass(inputs(input, i, m), sliceTarget(target, i, m)));
  }
  return concatParts(parts);
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
    ...(first.layerMap ? { layerMap: concatTensors(parts.map((p) => p.layerMap!)) } : {}),
    ...(first.channelWeights ? { channelWeights: concatTensors(parts.map((p) => p.channelWeights!)) } : {}),
  };
}
