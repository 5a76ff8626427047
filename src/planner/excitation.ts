// Excitation backprop's default layers on VGG-style nets, as TorchRay's benchmark picks them
// (VGG-16: saliency at features.23, contrast at classifier.4): the saliency layer L is the output
// of the max-pool feeding the last convolution block, the contrast layer K the output of the ReLU
// feeding the last Gemm (through views such as Flatten or Dropout). And cEB's classifier, whose
// weights its contrast pass negates: the last layer with weights before the logits (TorchRay's
// _get_classifier_layer).
import type { Plan, Step } from './plan.js';
import { opsWith } from '../ops/table.js';

const producerOf = (plan: Plan, t: string): Step | undefined => {
  const i = plan.producer.get(t);
  return i === undefined || i < 0 ? undefined : plan.steps[i];
};

/** The max-pool before the last Conv, if the last Conv has one before it. */
export function ebSaliencyLayer(plan: Plan): string | undefined {
  let lastConv = -1;
  plan.steps.forEach((s, i) => { if (s.node.opType === 'Conv') lastConv = i; });
  for (let i = lastConv - 1; i >= 0; i--) if (plan.steps[i].node.opType === 'MaxPool') return plan.steps[i].node.outputs[0];
  return undefined;
}

/** The ReLU whose output (through views) is the input of the last Gemm. */
export function ebContrastLayer(plan: Plan): string | undefined {
  const gemm = [...plan.steps].reverse().find((s) => s.node.opType === 'Gemm');
  if (!gemm) return undefined;
  const views = opsWith('view');
  let s = gemm.inputs[0] ? producerOf(plan, gemm.inputs[0]) : undefined;
  while (s && views.has(s.node.opType) && s.inputs[0]) s = producerOf(plan, s.inputs[0]);
  return s?.node.opType === 'Relu' ? s.node.outputs[0] : undefined;
}

/** The last Conv or Gemm among `steps` (a backward plan's, in reverse order): cEB's classifier. */
export function classifierStep(steps: Step[]): Step | undefined {
  return steps.find((s) => s.node.opType === 'Gemm' || s.node.opType === 'Conv');
}
