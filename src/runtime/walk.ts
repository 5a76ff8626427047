// The generic backward walk: visits a backward plan's steps in reverse topological order, applies
// the op's rule, and sums what arrives at a tensor from several consumers (forks). Backend-generic:
// the CPU and GPU walks differ only in how tensors are added, copied and freed.
import type { Plan, Step } from '../planner/plan.js';
import type { BackwardPlan } from '../planner/backward.js';
import type { Rule, RuleCtx, RuleTable, AeOptions, LrpOptions } from '../ops/rule.js';
import { AeqError } from '../errors.js';

export interface WalkBackend<T> {
  /** acc += v, returning the accumulated tensor (may be acc itself); v is consumed. */
  add(acc: T, v: T): T;
  clone(t: T): T;
  /** t *= f in place. */
  scale(t: T, f: number): T;
  release(t: T): void;
  /** Storage identity, to detect views that share a buffer. */
  storage(t: T): unknown;
  /** Forward value of a tensor (activation expanded to the backward batch, or a weight). */
  forward(name: string): T;
  /** Apply a rule on this backend. */
  apply(rule: Rule, ctx: RuleCtx<T>, r: T): (T | undefined)[];
}

export interface WalkSetup {
  plan: Plan;
  bp: BackwardPlan;
  table: RuleTable;
  opts: AeOptions;
  batch: number;
  modelInput: string;
  /** Per-step facts: first convolution (zB rule) and main operand of residual Adds. */
  firstConv: Set<Step>;
  mainOperand: Map<Step, number>;
  /** Relevance arriving at these tensors is multiplied by the factor (residual forks, spec §2.7). */
  scaleAt: Map<string, number>;
  /** Called with each tensor's complete signal before it is consumed (diagnostics; must copy). */
  trace?: (name: string, value: unknown) => void;
  /** Tensors that receive the result (kept, not consumed further). */
  collect: Set<string>;
  /** The method walked, for the error naming an op without a rule (default: 'backward'). */
  method?: string;
  /** LRP options handed to the rules (ZBox bounds). */
  lrp?: LrpOptions;
  /** Contrastive EB's first pass: the step run with negated weights (the classifier). */
  negated?: Step;
}

/** Run the walk from `seedName` (its signal `seed`, owned by the walk); returns the collected signals. */
export function walk<T>(s: WalkSetup, be: WalkBackend<T>, seedName: string, seed: T): Map<string, T> {
  const pending = new Map<string, T>([[seedName, seed]]);
  const onWalk = (t: string | undefined): t is string => !!t && !s.plan.consts.has(t) && (s.bp.consumers.has(t) || s.collect.has(t));
  for (const step of s.bp.steps) {
    // A multi-output op (Split) gets its rule applied once per output that carries a signal; what
    // reaches its inputs is summed like any fork.
    step.node.outputs.forEach((out, k) => {
      let r = out ? pending.get(out) : undefined;
      if (r === undefined) return;
      const f = s.scaleAt.get(out);
      if (f !== undefined) r = be.scale(r, f);
      s.trace?.(out, r);
      if (!s.collect.has(out)) pending.delete(out);
      const rule = s.table[step.node.opType];
      if (!rule) throw new AeqError(`no ${s.method ?? 'backward'} rule for ${step.node.opType} (node '${step.node.name}')`);
      if (k > 0 && !rule.perOutput) throw new AeqError(`no backward rule for output ${k} ('${out}') of ${step.node.opType} node '${step.node.name}'`);
      // A rule that accumulates adds its result at input 0 into what a fork's other consumer left there.
      const in0 = step.inputs[0];
      const pend = rule.accumulates && onWalk(in0) && !step.inputs.slice(1).includes(in0) ? pending.get(in0) : undefined;
      const acc = pend !== undefined && be.storage(pend) !== be.storage(r) ? pend : undefined;
      const ctx: RuleCtx<T> = {
        plan: s.plan,
        step,
        input: (i) => (step.inputs[i] ? be.forward(step.inputs[i]!) : undefined),
        output: (i = 0) => be.forward(step.node.outputs[i]),
        modelInput: () => be.forward(s.modelInput),
        firstConv: s.firstConv.has(step),
        mainOperand: s.mainOperand.get(step),
        opts: s.opts,
        batch: s.batch,
        signalOf: k,
        lrp: s.lrp,
        negated: s.negated === step,
        acc,
      };
      const res = be.apply(rule, ctx, r);
      const rStore = be.storage(r);
      let rUsed = s.collect.has(out);
      const seen = new Set<unknown>();
      res.forEach((v, i) => {
        if (v === undefined) return;
        const name = step.inputs[i];
        if (i === 0 && acc !== undefined && be.storage(v) === be.storage(acc)) {
          // The rule added into the pending sum: it stays pending, now complete with this consumer's part.
          seen.add(be.storage(v));
          pending.set(name!, v);
          return;
        }
        const mine = be.storage(v) === rStore;
        if (!onWalk(name)) {
          if (!mine && !seen.has(be.storage(v))) be.release(v);
          return;
        }
        // A buffer handed to two inputs (or still held as r) must not be accumulated into twice.
        if (seen.has(be.storage(v)) || (mine && rUsed)) v = be.clone(v);
        else if (mine) rUsed = true;
        seen.add(be.storage(v));
        const prev = pending.get(name);
        pending.set(name, prev === undefined ? v : be.add(prev, v));
    });
    if (!rUsed) be.release(r);
    });
  }
  const out = new Map<string, T>();
  for (const c of s.collect) {
    const v = pending.get(c);
    const f = s.scaleAt.get(c);
    if (v !== undefined) {
      out.set(c, f !== undefined ? be.scale(v, f) : v);
      s.trace?.(c, out.get(c));
    }
    pending.delete(c);
  }
  for (const v of pending.values()) be.release(v);
  return out;
}
