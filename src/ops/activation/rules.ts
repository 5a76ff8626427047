// Element-wise activations. Gradient: dy · f'(x). AE: relevance passes unchanged, even where the
// activation was off (spec §2.1).
import src from './grad_act.wgsl';
import type { CpuTensor } from '../op.js';
import { Gpu, Uniforms, WGSL_COMMON, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { numel } from '../../graph/tensor.js';
import type { LegacyRule as Rule, RuleCtx, LegacyTable as RuleTable } from '../rule.js';

type Kind = 'relu' | 'clip' | 'leaky' | 'sigmoid';

/** Clip bounds: attributes before opset 11, constant inputs from 11; absent means unbounded. */
function clipBounds(ctx: RuleCtx<unknown>): [number, number] {
  const n = ctx.step.node;
  const attr = (k: string) => n.attrs.get(k) as number | undefined;
  const inp = (i: number) => {
    const t = n.inputs[i];
    return t ? ctx.plan.consts.get(t)?.data[0] : undefined;
  };
  return [inp(1) ?? attr('min') ?? -Infinity, inp(2) ?? attr('max') ?? Infinity];
}

function param(kind: Kind, ctx: RuleCtx<unknown>): [number, number] {
  if (kind === 'clip') return clipBounds(ctx);
  if (kind === 'leaky') return [(ctx.step.node.attrs.get('alpha') as number | undefined) ?? 0.01, 0];
  return [0, 0];
}

function gradRule(kind: Kind): Rule {
  return {
    cpu(ctx, dy) {
      const x = kind === 'sigmoid' ? ctx.output() : ctx.input(0)!;
      const [a, b] = param(kind, ctx);
      const out = new Float32Array(dy.data.length);
      for (let i = 0; i < out.length; i++) {
        const v = x.data[i];
        out[i] = kind === 'relu' ? (v > 0 ? dy.data[i] : 0)
          : kind === 'clip' ? (v > a && v < b ? dy.data[i] : 0)
          : kind === 'leaky' ? (v > 0 ? dy.data[i] : dy.data[i] * a)
          : dy.data[i] * v * (1 - v);
      }
      return [{ shape: dy.shape, data: out } as CpuTensor];
    },
    gpu(g, ctx, dy) {
      const x = kind === 'sigmoid' ? ctx.output() : ctx.input(0)!;
      const [a, b] = param(kind, ctx);
      const out = g.alloc(dy.shape, `grad.${kind}`);
      const n = numel(dy.shape);
      // ±Infinity bounds are clamped to the largest float so the uniform stays finite.
      const f = (v: number) => Math.max(-3.4e38, Math.min(3.4e38, v));
      const p = g.kernel(`grad.${kind}`, () => WGSL_COMMON + src, kind);
      g.dispatch(p, new Uniforms().u(n, 0, 0, 0).f(f(a), f(b)), [out.buffer, dy.buffer, x.buffer], Gpu.groups1d(n));
      return [out as GpuTensor];
    },
  };
}

/** AE: relevance passes unchanged to the activation's input. */
export const passThrough: Rule = {
  cpu: (_ctx, r) => [r],
  gpu: (_g, _ctx, r) => [r],
};

export const gradient: RuleTable = {
  Relu: gradRule('relu'),
  Clip: gradRule('clip'),
  LeakyRelu: gradRule('leaky'),
  Sigmoid: gradRule('sigmoid'),
};

export const ae: RuleTable = {
  Relu: passThrough,
  Clip: passThrough,
  LeakyRelu: passThrough,
};
