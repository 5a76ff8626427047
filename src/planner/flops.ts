// FLOP counts of a plan for benchmarks: convolutions and matrix products only (2 FLOP per
// multiply-accumulate); element-wise work, pooling and normalisation are not counted.
import type { Plan, Step } from './plan.js';
import { numel } from '../graph/tensor.js';
import { attrInt } from '../graph/ir.js';
import { aeConvFlops } from '../ops/conv/rules.js';
import type { ConvParams } from '../ops/conv/forward.js';
import { attributionPlan, gradientPlan } from './backward.js';
import { firstConvs } from './topology.js';

/** Forward FLOPs of one step (Conv, Gemm, MatMul; 0 for anything else), over the whole batch. */
export function stepFlops(plan: Plan, s: Step): number {
  if (s.node.opType === 'Conv') {
    const w = plan.shapes.get(s.inputs[1]!)!;
    return 2 * numel(s.outShapes[0]) * numel(w.slice(1));
  }
  if (s.node.opType === 'Gemm' || s.node.opType === 'MatMul') {
    const a = plan.shapes.get(s.inputs[0]!)!;
    // Gemm may read A transposed; its reduced dimension is B's first (or second) one, equal either way.
    const k = s.node.opType === 'Gemm' && attrInt(s.node, 'transA', 0) ? a[a.length - 2] : a[a.length - 1];
    return 2 * numel(s.outShapes[0]) * k;
  }
  return 0;
}

/** Forward FLOPs of the whole plan (whole batch). */
export function planFlops(plan: Plan): number {
  let f = 0;
  for (const s of plan.steps) f += stepFlops(plan, s);
  return f;
}

/**
 * FLOPs of one explanation of the plan's batch with one target: the forward pass, plus for
 * 'gradcam', 'gradient' and 'ae' the gradient walk from `logit` back to `layer` (for 'gradient'
 * `layer` is the model input; input gradients only: one forward's worth per Conv/Gemm), plus for
 * 'ae' the AE walk from `layer` to the input (the conv rules' own count, `aeConvFlops`; matrix
 * products on that walk counted at 4× forward).
 */
export function explainFlops(plan: Plan, method: 'forward' | 'gradcam' | 'gradient' | 'ae', layer?: string, logit?: string): number {
  let f = planFlops(plan);
  if (method === 'forward' || !layer || !logit) return f;
  for (const s of gradientPlan(plan, layer, logit).steps) f += stepFlops(plan, s);
  if (method !== 'ae') return f;
  const first = firstConvs(plan);
  for (const s of attributionPlan(plan, layer).steps) {
    if (s.node.opType === 'Conv') {
      const p = s.params as ConvParams;
      f += (first.has(s) ? aeConvFlops(p, p.n, 'zb') : aeConvFlops(p, p.n)).ae;
    } else f += 4 * stepFlops(plan, s);
  }
  return f;
}
