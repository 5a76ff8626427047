// Graph facts for AE at Mul/Sub/Div of two runtime tensors (spec §2.11), read from the plan by the
// rules (rules.ts): chain walks over producers, cheap enough to run in a rule's plan.
//  - Gating Mul `y = s ⊙ g`: the gate `g` is the operand produced by Sigmoid, HardSigmoid, Tanh or
//    Softmax, directly or through views, layout ops and Expand (broadcasting is the Mul's own).
//    This project extends the list with Erf and with element-wise ops that have a constant operand
//    on the way: an exported GELU is `x * (0.5 * (1 + erf(x / √2)))`, so its gate is
//    `0.5 * (1 + erf(…))`. Else the gate is the operand with fewer elements (a broadcast scale).
//  - A normaliser's Sub / Div (exported LayerNorm: x − mean(x), then ÷ √(var + ε)): the subtrahend
//    or divisor is a statistic computed from the minuend or numerator; all of R goes to the
//    minuend or numerator, the statistic's branch receives nothing.
import type { Plan, Step } from '../op.js';
import { numel } from '../../graph/tensor.js';

const GATES = new Set(['Sigmoid', 'HardSigmoid', 'Tanh', 'Softmax', 'Erf']);
/** Element-wise ops that keep a gate a gate when their other operand is a constant. */
const AFFINE = new Set(['Add', 'Sub', 'Mul', 'Div']);

function producer(plan: Plan, t: string): Step | undefined {
  const i = plan.producer.get(t);
  return i === undefined || i < 0 ? undefined : plan.steps[i];
}

const isConst = (plan: Plan, t: string | undefined) => !t || plan.consts.has(t);

/** Ops a gate may reach its Mul through: views, layout ops (their traits), Expand. */
const passes = (s: Step) => !!(s.spec.traits?.view || s.spec.traits?.layout) || s.node.opType === 'Expand';

/** Tensor t is a gate (see the file comment). */
export function isGate(plan: Plan, t: string): boolean {
  for (;;) {
    const s = producer(plan, t);
    if (!s) return false;
    const op = s.node.opType;
    if (GATES.has(op)) return true;
    const ins = s.node.inputs;
    if (passes(s)) t = ins[0];
    else if (AFFINE.has(op) && ins.length === 2 && isConst(plan, ins[0]) !== isConst(plan, ins[1])) t = isConst(plan, ins[0]) ? ins[1] : ins[0];
    else return false;
  }
}

/** The signal operand of a Mul of two runtime tensors, or why there is none. */
export function gatingSignal(plan: Plan, step: Step): { signal: number } | { error: string } {
  const [a, b] = step.node.inputs;
  const ga = isGate(plan, a), gb = isGate(plan, b);
  if (ga !== gb) return { signal: ga ? 1 : 0 };
  const na = numel(plan.shapes.get(a)!), nb = numel(plan.shapes.get(b)!);
  if (na !== nb) return { signal: na > nb ? 0 : 1 };
  return {
    error: `AE has no rule for a Mul of two runtime tensors of one shape where ${ga ? 'both are' : 'neither is'} a gate ` +
      '(an output of Sigmoid, HardSigmoid, Tanh, Softmax or Erf): it cannot tell the signal from the gate',
  };
}

/** Tensor `stat` is computed from tensor `of` (a normaliser's statistic of its input). */
export function isStatisticOf(plan: Plan, stat: string, of: string): boolean {
  const seen = new Set<string>();
  const stack = [stat];
  while (stack.length) {
    const t = stack.pop()!;
    if (t === of) return true;
    if (seen.has(t)) continue;
    seen.add(t);
    const s = producer(plan, t);
    if (s) for (const i of s.node.inputs) if (!isConst(plan, i)) stack.push(i);
  }
  return false;
}
