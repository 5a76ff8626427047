// FLOPs of one explanation per method, for benchmarks: the planner's per-walk counts
// (src/planner/flops.ts) times the passes a method makes. Conv/Gemm/MatMul only, 2 per
// multiply-add, one target; element-wise work is not counted.
import type { Plan } from '../planner/plan.js';
import { explainFlops } from '../planner/flops.js';
import type { ExplainOptions } from './options.js';
import { DEFAULT_SAMPLES, DEFAULT_STEPS } from './options.js';
import { logitTensor } from './pipeline.js';

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
    // LRP and EB: modified gradients, each rule a forward-like and a transposed product per term
    // (counted as one walk to the input or the layer, a lower bound); cEB walks twice.
    case 'lrp': return toInput;
    case 'eb': return explainFlops(plan, 'gradcam', layer, logit);
    case 'ceb': return forward + 2 * (explainFlops(plan, 'gradcam', layer, logit) - forward);
  }
}
