// Excitation backprop's default layers on VGG-style nets, as TorchRay's benchmark picks them
// (VGG-16: saliency at features.23, contrast at classifier.4 = relu7; ResNet-50: contrast at
// avgpool, "the pool before the fc layer"): the saliency layer L is the output of the max-pool
// feeding the last convolution block, the contrast layer K the input of cEB's classifier (through
// views such as Flatten or Dropout) — the ReLU feeding the last Gemm on VGG, the global pool on
// ResNets, the last block's output where a 1×1 conv classifies (SqueezeNet). The classifier, whose
// weights the contrast pass negates, is the last layer with weights before the logits (TorchRay's
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

/** The input of the classifier (the last Conv or Gemm), followed back through views. */
export function ebContrastLayer(plan: Plan): string | undefined {
  const classifier = classifierStep([...plan.steps].reverse());
  if (!classifier?.inputs[0]) return undefined;
  const views = opsWith('view');
  let t = classifier.inputs[0];
  for (let s = producerOf(plan, t); s && views.has(s.node.opType) && s.inputs[0]; s = producerOf(plan, t)) t = s.inputs[0];
  return producerOf(plan, t) ? t : undefined;
}

/** The last Conv or Gemm among `steps` (a backward plan's, in reverse order): cEB's classifier. */
export function classifierStep(steps: Step[]): Step | undefined {
  return steps.find((s) => s.node.opType === 'Gemm' || s.node.opType === 'Conv');
}
