// Layer selection for attribution: which tensor the explanation starts from (spec §1.3).
import type { Plan } from './plan.js';
import { opsWith } from '../ops/table.js';

/** Number of classes: the last dimension of the first graph output. */
export function classCount(plan: Plan): number {
  const s = plan.outputs[0]?.shape;
  return s && s.length ? s[s.length - 1] : 0;
}


/** A Mul of two runtime tensors: a gate (SiLU, squeeze-and-excitation, an exported HardSwish). */
function isGatingMul(plan: Plan, step: Plan['steps'][number]): boolean {
  return step.node.opType === 'Mul' && step.inputs.filter((t) => t && !plan.consts.has(t)).length === 2;
}

/**
 * Which 4-D runtime tensors are channel-last (N×H×W×C): the output of a Transpose with perm
 * [0,2,3,1], and what element-wise ops, MatMuls and normaliser arithmetic make from it, until a
 * Transpose [0,3,1,2] turns it back (ConvNeXt's blocks and its classifier's LayerNorm2d).
 */
function channelLast(plan: Plan): Set<string> {
  const last = new Set<string>();
  const perm = (s: Plan['steps'][number]) => (s.node.attrs.get('perm') as number[] | undefined)?.join(',');
  for (const s of plan.steps) {
    const out = s.node.outputs[0];
    if (s.node.opType === 'Transpose') {
      if (perm(s) === '0,2,3,1') last.add(out);
      continue;
    }
    const x = s.inputs.find((t) => t && !plan.consts.has(t));
    if (x && last.has(x) && s.outShapes[0]?.length === 4) last.add(out);
  }
  return last;
}

/**
 * The default explained layer (spec §1.3 and §1.3b): the deepest 4-D output with h·w > 1 of a node
 * that ends a block (trait `blockOutput`: Relu, Clip, Concat, Add), of an element-wise activation,
 * or of a gating Mul, skipping the classifier head: nothing from the first convolution with an
 * h·w > 1 output whose channel count equals the class count onwards (SqueezeNet's class-score
 * conv). An SE block's 1×1 convolutions never end the search, whatever their width, and a
 * channel-last tensor's h·w is read from its axes 1 and 2. VGG-16 → ReLU after conv5_3; ResNet-50
 * → layer4's output; SqueezeNet → fire9's Concat; MobileNet → the last Clip; EfficientNet → the
 * last SiLU (a gating Mul); ConvNeXt → the last residual Add.
 */
export function defaultLayer(plan: Plan): string | undefined {
  const classes = classCount(plan);
  const candidates = new Set([...opsWith('blockOutput'), ...opsWith('activation')]);
  const nhwc = channelLast(plan);
  const spatial = (name: string, shape: number[] | undefined) =>
    shape?.length === 4 && (nhwc.has(name) ? shape[1] * shape[2] : shape[2] * shape[3]) > 1;
  let best: string | undefined;
  for (const step of plan.steps) {
    const out = step.node.outputs[0];
    const shape = step.outShapes[0];
    if (step.node.opType === 'Conv' && spatial(out, shape) && shape[1] === classes) break;
    if ((candidates.has(step.node.opType) || isGatingMul(plan, step)) && spatial(out, shape)) best = out;
  }
  return best;
}

/** All 4-D runtime tensors, the candidates for `--layer`. */
export function layerCandidates(plan: Plan): string[] {
  return plan.steps.flatMap((s) => s.node.outputs.filter((o, i) => o && s.outShapes[i]?.length === 4));
}
