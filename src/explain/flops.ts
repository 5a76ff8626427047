// FLOPs of one explanation per method, for benchmarks: the planner's per-walk counts
// (src/planner/flops.ts) times the passes a method makes. Conv/Gemm/MatMul only, 2 per
// multiply-add, one target; element-wise work is not counted.
import type { Plan } from '../planner/plan.js';
import { explainFlops } from '../planner/flops.js';
import type { ExplainOptions } from './options.js';
import { DEFAULT_SAMPLES, DEFAULT_STEPS } from './options.js';
import { logitTensor } from './pipeline.js';
import { gradientPlan } from '../planner/backward.js';
import { planFlops, stepFlops } from '../planner/flops.js';
import { firstConvs } from '../planner/topology.js';
import { CONV_LRP } from '../ops/conv/lrp.js';
import { DEFAULT_COMPOSITE, type Composite } from '../ops/shared/composites.js';

/**
 * FLOPs of explaining the plan's batch with `o` (one target per input). `layer` is the layer the
 * method starts from (AE, the CAMs). The gradient family's multi-pass methods run one forward for
 * the logits, then M path points (IG) or S noisy copies (SmoothGrad), each a forward and a
 * gradient walk to the input.
 */
export function methodFlops(plan: Plan, o: ExplainOptions, layer: string): number {
  const logit = logitTensor(plan);
  const input = plan.inputs[0].name;
  const forward = explainFlops(plan, 'forward');
  const toInput = explainFlops(plan, 'gradient', input, logit);
  switch (o.method ?? 'ae') {
    case 'ae': return explainFlops(plan, 'ae', layer, logit);
    case 'gradcam': return explainFlops(plan, 'gradcam', layer, logit);
    case 'gradient': case 'guided-bp': case 'input-x-gradient': return toInput;
    case 'ig': return forward + (o.steps ?? DEFAULT_STEPS) * toInput;
    case 'smoothgrad': return forward + (o.samples ?? DEFAULT_SAMPLES) * toInput;
    // The gradient CAMs walk back to the layer like Grad-CAM; FullGrad to the input.
    case 'gradcam++': case 'layercam': return explainFlops(plan, 'gradcam', layer, logit);
    case 'fullgrad': return toInput;
    // Score-CAM: the forward, then one forward per channel of the layer (its masked inputs).
    case 'scorecam': return forward * (1 + plan.shapes.get(layer)![1] / plan.shapes.get(plan.inputs[0].name)![0]);
    // LRP: the forward, then per convolution on the walk one forward-like and one transposed
    // product per term of its rule (ZPlus 2, Flat 1, ZBox 3, Gamma and AlphaBeta 4); Epsilon on a
    // Gemm/MatMul reuses the forward's output: one transposed product.
    case 'lrp': return lrpFlops(plan, o.composite ?? DEFAULT_COMPOSITE, input, logit);
    // EB: one term per layer (x ⊙ W⁺ᵀ(p / x∗W⁺)), counted as one walk to the layer; cEB walks twice.
    case 'eb': return explainFlops(plan, 'gradcam', layer, logit);
    case 'ceb': return forward + 2 * (explainFlops(plan, 'gradcam', layer, logit) - forward);
  }
}

function lrpFlops(plan: Plan, composite: Composite, input: string, logit: string): number {
  const first = firstConvs(plan);
  let f = planFlops(plan);
  for (const s of gradientPlan(plan, input, logit).steps) {
    const rule = s.node.opType === 'Conv' ? CONV_LRP[composite][first.has(s) ? 'first' : 'rest'] : undefined;
    f += (rule ? 2 * rule.terms.length : 1) * stepFlops(plan, s);
  }
  return f;
}
