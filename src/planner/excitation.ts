// Excitation backprop's default layers, as TorchRay's benchmark picks them (VGG-16: saliency at
// features.23 = pool4, contrast at classifier.4 = relu7; ResNet-50: saliency at layer3, contrast
// at avgpool, "the pool before the fc layer"): the saliency layer L is the input of the last stage
// (ebSaliencyLayer), the contrast layer K the input of cEB's classifier (through
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

/**
 * The saliency layer L, "the input of the last stage": with S the last Conv's output size (h×w),
 * the last max-pool whose output is S×S (VGG-16's pool4, SqueezeNet's pool before fire9, as
 * TorchRay's benchmark); without one, the last tensor larger than S that every path from the input
 * to the output crosses (a ResNet's previous stage output, TorchRay's ResNet-50 setting 'layer3').
 */
export function ebSaliencyLayer(plan: Plan): string | undefined {
  let lastConv = -1;
  plan.steps.forEach((s, i) => { if (s.node.opType === 'Conv') lastConv = i; });
  if (lastConv < 0) return undefined;
  const size = (t: string) => plan.shapes.get(t)?.slice(2).join('×');
  const last = size(plan.steps[lastConv].node.outputs[0]);
  for (let i = lastConv - 1; i >= 0; i--) {
    const s = plan.steps[i];
    if (s.node.opType === 'MaxPool' && size(s.node.outputs[0]) === last) return s.node.outputs[0];
  }
  const area = (t: string) => (plan.shapes.get(t) ?? []).slice(2).reduce((a, b) => a * b, 1);
  const lastArea = area(plan.steps[lastConv].node.outputs[0]);
  for (let i = lastConv - 1; i >= 0; i--) {
    const t = plan.steps[i].node.outputs[0];
    if (plan.shapes.get(t)?.length === 4 && area(t) > lastArea && isCut(plan, t)) return t;
  }
  return undefined;
}

/** Whether every path from the model input to its output passes through tensor `t`. */
function isCut(plan: Plan, t: string): boolean {
  const reached = new Set(plan.inputs.map((i) => i.name));
  for (const s of plan.steps) {
    if (s.inputs.some((x) => x && x !== t && reached.has(x))) for (const o of s.node.outputs) if (o && o !== t) reached.add(o);
  }
  return !plan.outputs.some((o) => reached.has(o.name));
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
