// Graph facts the AE rules need: which convolution is the first (zB rule, spec §2.6) and, for
// residual Adds, which operand is the main branch and where its fork is (spec §2.7).
import type { Plan, Step } from './plan.js';
import { opsWith } from '../ops/table.js';


function producer(plan: Plan, t: string): Step | undefined {
  const i = plan.producer.get(t);
  return i === undefined || i < 0 ? undefined : plan.steps[i];
}

/** Convolutions that read a model input directly or only through layout ops. */
export function firstConvs(plan: Plan): Set<Step> {
  const inputs = new Set(plan.inputs.map((i) => i.name));
  // Ops that only move, pad or reshape values keep the model input's bounds (zB rule).
  const layoutOps = new Set([...opsWith('view'), ...opsWith('layout')]);
  const fromInput = (t: string | undefined): boolean => {
    if (!t) return false;
    if (inputs.has(t)) return true;
    const p = producer(plan, t);
    return !!p && layoutOps.has(p.node.opType) && fromInput(p.inputs[0]);
  };
  return new Set(plan.steps.filter((s) => s.node.opType === 'Conv' && fromInput(s.inputs[0])));
}

export interface Residual {
  /** Operand index that receives the relevance in mode 'main'. */
  main: number;
  /** The tensor both operands descend from (its relevance is doubled in mode 'main'). */
  fork: string;
}

/** For each Add with two runtime operands descending from one fork: the main operand and the fork. */
export function residualAdds(plan: Plan): Map<Step, Residual> {
  const index = new Map(plan.steps.map((s, i) => [s, i]));
  const anc = new Map<string, Set<string>>();
  const ancestors = (t: string): Set<string> => {
    let a = anc.get(t);
    if (a) return a;
    a = new Set([t]);
    const p = producer(plan, t);
    if (p) for (const i of p.inputs) if (i && !plan.consts.has(i)) for (const x of ancestors(i)) a.add(x);
    anc.set(t, a);
    return a;
  };
  // A k×k convolution with k > 1 (its weight is a constant of shape Cout×Cin/g×kh×kw).
  const spatial = (s: Step): boolean =>
    s.node.opType === 'Conv' && (plan.consts.get(s.inputs[1] ?? '')?.dims.slice(2).some((d) => d > 1) ?? false);
  const out = new Map<Step, Residual>();
  for (const s of plan.steps) {
    if (s.node.opType !== 'Add') continue;
    const [a, b] = s.inputs;
    if (!a || !b || plan.consts.has(a) || plan.consts.has(b)) continue;
    const common = [...ancestors(a)].filter((t) => ancestors(b).has(t));
    if (!common.length) continue;
    // The nearest common ancestor: the one produced last.
    const order = (t: string) => plan.producer.get(t) ?? -1;
    const fork = common.reduce((x, y) => (order(y) > order(x) ? y : x));
    const throughConv = (t: string) => [...ancestors(t)].some((x) => {
      if (x === fork || !ancestors(x).has(fork)) return false;
      const p = producer(plan, x);
      return !!p && index.has(p) && spatial(p);
    });
    const ca = throughConv(a), cb = throughConv(b);
    out.set(s, { main: ca === cb ? 0 : ca ? 0 : 1, fork });
  }
  return out;
}
