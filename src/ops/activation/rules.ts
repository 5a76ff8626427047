// Element-wise activations, the rules of every entry of ACTIVATIONS that declares them. Gradient:
// dy · f′(v), one generated kernel per activation. AE: relevance passes unchanged, even where the
// activation was off (spec §2.1).
import src from './backward.wgsl';
import { Gpu } from '../../kernels/gpu/runtime.js';
import { numel } from '../../graph/tensor.js';
import { assemble, parseSections } from '../../kernels/gpu/wgsl.js';
import type { Rule, RuleCtx, RuleTable } from '../rule.js';
import { ACTIVATIONS, U, actAttrs, type Activation, type ActParams } from './activations.js';
import { sections as forwardSections } from './forward.js';

const sections = new Map([...forwardSections, ...parseSections(src)]);

/** Bounds (Clip): attributes before opset 11, constant inputs from 11; absent means unbounded. */
function clipBounds(ctx: RuleCtx<unknown>): [number, number] {
  const n = ctx.step.node;
  const attr = (k: string) => n.attrs.get(k) as number | undefined;
  const inp = (i: number) => {
    const t = n.inputs[i];
    return t ? ctx.plan.consts.get(t)?.data[0] : undefined;
  };
  return [inp(1) ?? attr('min') ?? -Infinity, inp(2) ?? attr('max') ?? Infinity];
}

interface GradParams extends ActParams {
  total: number;
}

function gradRule(op: string, a: Activation, grad = a.grad!, kernel = 'grad'): Rule<GradParams> {
  const fwd = <T>(ctx: RuleCtx<T>): T => (grad.of === 'y' ? ctx.output() : ctx.input(0)!);
  return {
    plan(ctx, r) {
      // Every activation's parameters as the forward attributes give them; an expression reads those it needs.
      const [lo, hi] = clipBounds(ctx);
      return { params: { total: numel(r), ...actAttrs(a, ctx.step.node), lo, hi }, signals: [{ shape: r }] };
    },
    cpu(p, ctx, dy, [out]) {
      const x = fwd(ctx).data, d = dy.data, o = out!.data;
      for (let i = 0; i < p.total; i++) o[i] = grad.cpu(d[i], x[i], p);
    },
    gpu(p, g, ctx, dy, [out]) {
      // ±Infinity bounds are clamped to the largest float so the uniform stays finite.
      const f = (v: number) => Math.max(-3.4e38, Math.min(3.4e38, v));
      const pipe = g.kernel(`activation.${kernel}.${op.toLowerCase()}`, () => assemble(sections, ['math', 'grad'], { GRAD: grad.wgsl }, U));
      g.dispatch(pipe, U.pack({ total: p.total, alpha: f(p.alpha), beta: f(p.beta), lo: f(p.lo), hi: f(p.hi) }),
        [out!.buffer, dy.buffer, fwd(ctx).buffer], Gpu.groups1d(p.total));
    },
  };
}

/** AE: relevance passes unchanged to the activation's input. */
export const passThrough: Rule<null> = {
  plan: (_ctx, r) => ({ params: null, signals: [{ shape: r, alias: true }] }),
  cpu() {},
  gpu() {},
};

const entries = Object.entries(ACTIVATIONS);

export const gradient: RuleTable = Object.fromEntries(
  entries.filter(([, a]) => a.grad).map(([op, a]) => [op, gradRule(op, a)]));

/** Guided backpropagation: the activations whose rule differs from their gradient's (ReLU). */
export const guided: RuleTable = Object.fromEntries(
  entries.filter(([, a]) => a.guided).map(([op, a]) => [op, gradRule(op, a, a.guided, 'guided')]));

export const ae: RuleTable = Object.fromEntries(
  entries.filter(([, a]) => a.ae === 'alias').map(([op]) => [op, passThrough]));
