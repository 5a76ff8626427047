// BatchNormalization (inference). Gradient: dx = dy · γ / sqrt(var + ε). AE (spec §2.2):
// R_in = R ⊙ [x ≠ 0] ⊙ [γ ≠ 0] — the reference's x · safe_div(R, x·γ) · γ, in which scale and
// shift cancel. Both per channel, or per activation for the old spatial = 0 form.
// LRN has neither rule: it sits before the chosen layer in the models that use it.
import src from './rules_norm.wgsl';
import type { BatchNormParams } from './forward.js';
import type { CpuTensor } from '../op.js';
import { Gpu, Uniforms, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections } from '../../kernels/gpu/wgsl.js';
import { numel } from '../../graph/tensor.js';
import type { LegacyRule as Rule, RuleCtx, LegacyTable as RuleTable } from '../rule.js';

const sections = parseSections(src);

/** Index of the BN parameter that applies to element i. */
function paramIndex(p: BatchNormParams, i: number): number {
  return p.perActivation ? i % (p.C * p.inner) : Math.floor(i / p.inner) % p.C;
}

/** One element-wise pass: out = f(r, γ, aux) with aux the variance (gradient) or x (AE). */
function dispatch(g: Gpu, ctx: RuleCtx<GpuTensor>, r: GpuTensor, kind: 'grad' | 'ae', aux: GPUBuffer): GpuTensor {
  const p = ctx.step.params as BatchNormParams;
  const n = numel(r.shape);
  const out = g.alloc(r.shape, `${kind}.batchnorm`);
  const pipe = g.kernel(`${kind}.batchnorm`, () => assemble(sections, ['common', kind]));
  const u = new Uniforms().u(n, p.C, p.inner, p.perActivation ? 1 : 0).f(p.eps);
  g.dispatch(pipe, u, [out.buffer, r.buffer, ctx.input(1)!.buffer, aux], Gpu.groups1d(n));
  return out;
}

const grad: Rule = {
  cpu(ctx, dy) {
    const p = ctx.step.params as BatchNormParams;
    const scale = ctx.input(1)!.data, v = ctx.input(4)!.data;
    const eps = Math.fround(p.eps);
    const out = dy.data.map((d, i) => {
      const c = paramIndex(p, i);
      return (d * scale[c]) / Math.sqrt(v[c] + eps);
    });
    return [{ shape: dy.shape, data: out } as CpuTensor];
  },
  gpu: (g, ctx, dy) => [dispatch(g, ctx, dy, 'grad', ctx.input(4)!.buffer)],
};

const mask: Rule = {
  cpu(ctx, r) {
    const p = ctx.step.params as BatchNormParams;
    const x = ctx.input(0)!.data, scale = ctx.input(1)!.data;
    const out = r.data.map((v, i) => (x[i] !== 0 && scale[paramIndex(p, i)] !== 0 ? v : 0));
    return [{ shape: r.shape, data: out }];
  },
  gpu: (g, ctx, r) => [dispatch(g, ctx, r, 'ae', ctx.input(0)!.buffer)],
};

export const gradient: RuleTable = { BatchNormalization: grad };
export const ae: RuleTable = { BatchNormalization: mask };
