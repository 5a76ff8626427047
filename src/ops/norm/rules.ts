// BatchNormalization (inference). Gradient: dx = dy · γ / sqrt(var + ε). AE (spec §2.2):
// R_in = R ⊙ [x ≠ 0] ⊙ [γ ≠ 0] — the reference's x · safe_div(R, x·γ) · γ, in which scale and
// shift cancel. Both per channel, or per activation for the old spatial = 0 form.
// LRN has neither rule: it sits before the chosen layer in the models that use it. The row
// normalisers' rules are in normalise.ts.
import src from './backward.wgsl';
import { BN_U, bnUniforms, sections as forwardSections, type BatchNormParams } from './forward.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections } from '../../kernels/gpu/wgsl.js';
import { numel } from '../../graph/tensor.js';
import type { Rule, RuleCtx, RuleTable } from '../rule.js';
import * as rows from './normalise.js';

const sections = new Map([...forwardSections, ...parseSections(src)]);

/** Index of the BN parameter that applies to element i. */
function paramIndex(p: BatchNormParams, i: number): number {
  return p.perActivation ? i % (p.C * p.inner) : Math.floor(i / p.inner) % p.C;
}

interface BnRuleParams {
  bn: BatchNormParams;
  /** Elements of the signal (the backward batch). */
  total: number;
}

/**
 * One element-wise rule: out[i] = f(r[i], γ[c], aux) with c the parameter index and aux the
 * forward input `auxInput` (the variance for the gradient, x for AE); `wgsl` is f on the GPU.
 */
function bnRule(kind: 'grad' | 'ae', auxInput: number, wgsl: string,
  cpu: (r: number, scale: number, aux: Float32Array, i: number, c: number, eps: number) => number): Rule<BnRuleParams> {
  return {
    plan: (ctx, r) => ({ params: { bn: ctx.step.params as BatchNormParams, total: numel(r) }, signals: [{ shape: r }] }),
    cpu({ bn, total }, ctx, r, [out]) {
      const scale = ctx.input(1)!.data, aux = ctx.input(auxInput)!.data, o = out!.data;
      const eps = Math.fround(bn.eps);
      for (let i = 0; i < total; i++) {
        const c = paramIndex(bn, i);
        o[i] = cpu(r.data[i], scale[c], aux, i, c, eps);
      }
    },
    gpu({ bn, total }, g, ctx: RuleCtx<GpuTensor>, r, [out]) {
      const pipe = g.kernel(`norm.${kind}.batchnorm`, () => assemble(sections, ['param_index', 'rule', 'per_element'], { RULE: wgsl, WG: 256 }, BN_U));
      g.dispatch(pipe, bnUniforms(bn, total), [out!.buffer, r.buffer, ctx.input(1)!.buffer, ctx.input(auxInput)!.buffer], Gpu.groups1d(total));
    },
  };
}

const grad = bnRule('grad', 4, 'r[i] * scale[c] / sqrt(aux[c] + u.eps)',
  (d, scale, v, _i, c, eps) => (d * scale) / Math.sqrt(v[c] + eps));

const mask = bnRule('ae', 0, 'select(0.0, r[i], aux[i] != 0.0 && scale[c] != 0.0)',
  (v, scale, x, i) => (x[i] !== 0 && scale !== 0 ? v : 0));

export const gradient: RuleTable = { BatchNormalization: grad, ...rows.gradient };
export const ae: RuleTable = { BatchNormalization: mask, ...rows.ae };
