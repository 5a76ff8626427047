// Layer selection for attribution: which tensor the explanation starts from (spec §1.3).
import type { Plan } from './plan.js';
import { opsWith } from '../ops/table.js';

/** Number of classes: the last dimension of the first graph output. */
export function classCount(plan: Plan): number {
  const s = plan.outputs[0]?.shape;
  return s && s.length ? s[s.length - 1] : 0;
}


/**
 * The deepest 4-D output (h·w > 1) of a block-output node (trait `blockOutput`: Relu, Clip, Concat, Add) that comes, in topological
 * order, before the first node whose output has exactly as many channels/features as there are
 * classes. VGG-16 → ReLU after conv5_3; ResNet-50 → layer4's output; SqueezeNet → fire9's Concat;
 * MobileNet → the last Clip.
 */
export function defaultLayer(plan: Plan): string | undefined {
  const classes = classCount(plan);
  const blockOutputs = opsWith('blockOutput');
  let best: string | undefined;
  for (const step of plan.steps) {
    const out = step.node.outputs[0];
    const shape = step.outShapes[0];
    if (shape && shape.length >= 2 && shape[1] === classes) break;
    if (blockOutputs.has(step.node.opType) && shape?.length === 4 && shape[2] * shape[3] > 1) best = out;
  }
  return best;
}

/** All 4-D runtime tensors, the candidates for `--layer`. */
export function layerCandidates(plan: Plan): string[] {
  return plan.steps.flatMap((s) => s.node.outputs.filter((o, i) => o && s.outShapes[i]?.length === 4));
}
