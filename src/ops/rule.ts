// Attribution methods are rule tables over operators (as in Zennit): for each op type, how a
// backward signal (a gradient, or AE relevance) at the step's output becomes one at its inputs.
// Every rule has a CPU reference and a GPU implementation built on the shared kernels.
import type { CpuTensor, Plan, Step } from './op.js';
import { numel, type Shape } from '../graph/tensor.js';
import type { Gpu, GpuTensor } from '../kernels/gpu/runtime.js';
import type { LrpMethod } from './shared/composites.js';

/**
 * The methods whose rules live in the operator families. 'guided' (guided backpropagation) and
 * 'eb' (excitation backprop) are the gradient with some rules replaced: their tables fall back to
 * the gradient's (src/ops/table.ts). Each LRP composite is a table of its own (shared/composites.ts).
 */
export type MethodName = 'gradient' | 'guided' | 'ae' | LrpMethod | 'eb';

/** Options of the LRP rules: ZBox's bounds (default: each input's own min and max over C, H, W). */
export interface LrpOptions { low?: number; high?: number }

export type ResidualMode = 'main' | 'proportional';

/** Options of Attribution Equilibrium (spec §2–3). */
export interface AeOptions {
  /** Degree of evidence, a real number (paper range 1–2; the reference default is 2). */
  ratio: number;
  /** Ablation switches (paper Table II): contribution term C, its uniform shift, activated term A, inactivated term B. */
  contrib: boolean;
  shift: boolean;
  activated: boolean;
  inactivated: boolean;
  residual: ResidualMode;
}

export const DEFAULT_AE: AeOptions = { ratio: 2, contrib: true, shift: true, activated: true, inactivated: true, residual: 'main' };

export interface RuleCtx<T> {
  plan: Plan;
  step: Step;
  /** Forward value of runtime input i (activation or weight), expanded to the backward batch; undefined for omitted or plan-time inputs. */
  input(i: number): T | undefined;
  /** Forward value of output i, expanded to the backward batch. */
  output(i?: number): T;
  /** The model input, expanded to the backward batch (zB-rule bounds). */
  modelInput(): T;
  /** This step is the first convolution (consumes the model input directly or through layout ops). */
  firstConv: boolean;
  /** For Add in residual mode 'main': the operand index that receives the relevance. */
  mainOperand?: number;
  opts: AeOptions;
  /** Backward batch size (samples × targets). */
  batch: number;
  /** Which output's signal `r` is (default 0): a multi-output op's rule runs once per output with a signal. */
  signalOf?: number;
  /** LRP options (ZBox bounds). */
  lrp?: LrpOptions;
  /** Contrastive EB's first pass: this step is the classifier, run with its weights negated. */
  negated?: boolean;
  /**
   * For a rule that `accumulates`: the signal already arrived at input 0 from another consumer (a
   * fork), set by the walker. applyRule hands it to the twins as out[0], and they add their result
   * into it (out[0] = acc + result, the walker's sum) instead of writing a new signal.
   */
  acc?: T;
}

/** What one node input receives from a rule. */
export interface SignalSpec {
  /** Its shape in the backward batch. */
  shape: Shape;
  /** It is the incoming signal itself seen with `shape`: no data moves, the twins write nothing. */
  alias?: boolean;
  /** The twins accumulate into it, so it must start at zero (fresh CPU arrays always do). */
  zero?: boolean;
}

export interface RulePlan<P> {
  params: P;
  /** Aligned with node.inputs; undefined where no signal flows (constants, omitted inputs, indices). */
  signals: (SignalSpec | undefined)[];
}

/**
 * A backward rule has the operator's contract: `plan` once per step and backward batch (shapes,
 * params, which inputs receive a signal; it reads no tensor), then a CPU and a GPU twin over that
 * plan. The caller allocates the outputs (`out`, aligned with `signals`) and owns them; the twins
 * fill the non-alias ones, and release any temporaries they make.
 */
export interface Rule<P = any> {
  /** Set by rules of multi-output ops (Split): they handle `ctx.signalOf` > 0. */
  perOutput?: boolean;
  /** The twins add into `ctx.acc` when it is given (see RuleCtx.acc): a fork's sum fused into the rule's last kernel. */
  accumulates?: boolean;
  plan(ctx: RuleCtx<unknown>, r: Shape): RulePlan<P>;
  cpu(p: P, ctx: RuleCtx<CpuTensor>, r: CpuTensor, out: (CpuTensor | undefined)[]): void;
  gpu(p: P, g: Gpu, ctx: RuleCtx<GpuTensor>, r: GpuTensor, out: (GpuTensor | undefined)[]): void;
}

export type RuleTable = Record<string, Rule>;

/** How a backend makes a rule's outputs and runs its twin. */
export interface RuleBackend<T> {
  shape(t: T): Shape;
  alloc(shape: Shape, zero: boolean, label: string): T;
  /** The same storage seen with another shape. */
  view(t: T, shape: Shape): T;
  twin<P>(rule: Rule<P>, p: P, ctx: RuleCtx<T>, r: T, out: (T | undefined)[]): void;
}

/** Plan, allocate, run: the one way a rule is applied (by the walker and by the tests). */
export function applyRule<T>(rule: Rule, ctx: RuleCtx<T>, r: T, be: RuleBackend<T>): (T | undefined)[] {
  const p = rule.plan(ctx, be.shape(r));
  const label = `${ctx.step.node.opType}.signal`;
  const into = rule.accumulates ? ctx.acc : undefined;
  const out = p.signals.map((s, i) => (!s ? undefined : s.alias ? be.view(r, s.shape) : i === 0 && into !== undefined ? into : be.alloc(s.shape, !!s.zero, label)));
  be.twin(rule, p.params, ctx, r, out);
  return out;
}

export function cpuRuleBackend(): RuleBackend<CpuTensor> {
  return {
    shape: (t) => t.shape,
    alloc: (shape) => ({ shape, data: new Float32Array(numel(shape)) }),
    view: (t, shape) => ({ shape, data: t.data }),
    twin: (rule, p, ctx, r, out) => rule.cpu(p, ctx, r, out),
  };
}

export function gpuRuleBackend(g: Gpu): RuleBackend<GpuTensor> {
  return {
    shape: (t) => t.shape,
    alloc: (shape, zero, label) => {
      const t = g.alloc(shape, label);
      if (zero) g.zero(t);
      return t;
    },
    view: (t, shape) => ({ shape, buffer: t.buffer }),
    twin: (rule, p, ctx, r, out) => rule.gpu(p, g, ctx, r, out),
  };
}
