// Backward plans: which steps lie between a tensor and the model input (the attribution walk), and
// which lie between that tensor and the logits (the gradient walk that gives Grad-CAM weights).
import type { Plan, Step } from './plan.js';
import { OptionError } from '../errors.js';

export interface BackwardPlan {
  /** Steps to visit, in reverse topological order. */
  steps: Step[];
  /** For each tensor on the walk, how many of the visited steps read it (fork accumulation). */
  consumers: Map<string, number>;
  /** Forward tensors the rules read (inputs and outputs of visited steps). */
  needs: Set<string>;
}

function producerStep(plan: Plan, t: string): Step | undefined {
  const i = plan.producer.get(t);
  return i === undefined || i < 0 ? undefined : plan.steps[i];
}

/** Steps that are ancestors of `layer` and descendants of a model input (runtime tensors only). */
export function attributionPlan(plan: Plan, layer: string): BackwardPlan {
  if (!plan.producer.has(layer) || plan.producer.get(layer)! < 0) {
    throw new OptionError(`layer '${layer}' is not a tensor computed by the model`);
  }
  const visited = new Set<Step>();
  const stack = [layer];
  while (stack.length) {
    const t = stack.pop()!;
    const s = producerStep(plan, t);
    if (!s || visited.has(s)) continue;
    visited.add(s);
    for (const i of s.inputs) if (i && !plan.consts.has(i)) stack.push(i);
  }
  const steps = plan.steps.filter((s) => visited.has(s)).reverse();
  return summarise(plan, steps);
}

/** Steps on some path from `layer` to the graph output `output` (the gradient walk). */
export function gradientPlan(plan: Plan, layer: string, output: string): BackwardPlan {
  const fromLayer = new Set<string>([layer]);
  const forward: Step[] = [];
  for (const s of plan.steps) {
    if (s.inputs.some((t) => t && fromLayer.has(t))) {
      forward.push(s);
      for (const o of s.node.outputs) if (o) fromLayer.add(o);
    }
  }
  if (!fromLayer.has(output)) throw new OptionError(`output '${output}' does not depend on layer '${layer}'`);
  // Keep only the steps from which `output` is reachable.
  const useful = new Set<string>([output]);
  const steps: Step[] = [];
  for (let i = forward.length - 1; i >= 0; i--) {
    const s = forward[i];
    if (s.node.outputs.some((o) => o && useful.has(o))) {
      steps.push(s);
      for (const t of s.inputs) if (t && fromLayer.has(t)) useful.add(t);
    }
  }
  return summarise(plan, steps);
}

function summarise(plan: Plan, steps: Step[]): BackwardPlan {
  const consumers = new Map<string, number>();
  const needs = new Set<string>();
  for (const s of steps) {
    for (const t of s.inputs) {
      if (!t || plan.consts.has(t)) continue;
      consumers.set(t, (consumers.get(t) ?? 0) + 1);
      needs.add(t);
    }
    for (const o of s.node.outputs) if (o) needs.add(o);
  }
  return { steps, consumers, needs };
}
