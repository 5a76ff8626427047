// AE of a MatMul with a constant 2-D weight on the last axis of a ≥ 3-D tensor (spec §2.11):
// ConvNeXt's Linear layers in channel-last layout, y[n,h,w,:] = x[n,h,w,:]·W, are 1×1
// convolutions along that axis, so the rule is §2.5's 1×1 rule (no ratio, no shift), with P and Q
// normalised over the whole sample (all positions and channels), exactly as the conv rule does:
//   Z = x⁺·|W|, Za = a·|W|, Zb = b·|W|  (a = [x>0], b = [x≤0]);
//   S_c = safe_div(P,Z)[R>0] + safe_div(Q,Z)[R<0], S_a = safe_div(P,Za), S_b = safe_div(Q,Zb);
//   R_in = x⁺ ⊙ S_c·|W|ᵀ + a ⊙ S_a·|W|ᵀ + b ⊙ S_b·|W|ᵀ.
// The products run on the matmul kernels (which split operands beyond the binding limit); the CPU
// twin stacks (x⁺, a, b) as one batched product, the GPU twin keeps them apart so that no buffer
// is larger than x itself. Any other MatMul (a runtime weight, a 2-D classifier layer) has no AE
// rule and is refused by name.
import src from './ae.wgsl';
import { matmulCpu, matmulGpu, type MatmulParams } from './forward.js';
import type { CpuTensor } from '../op.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import { numel, type Shape } from '../../graph/tensor.js';
import type { Rule, RuleCtx } from '../rule.js';
import { cpuAttr, gpuAttr } from '../shared/attribution.js';
import { fail, isRuntime } from '../shared/signal.js';

const sections = parseSections(src);

interface AeParams {
  /** Rows of the backward batch (every position of every sample), the reduction K, the width N. */
  rows: number;
  K: number;
  N: number;
  /** (x⁺, a, b)·|W| and (S_c, S_a, S_b)·|W|ᵀ as batched products of the matmul kernels (the GPU twin runs each batch alone). */
  fwd: MatmulParams;
  bwd: MatmulParams;
  contrib: boolean;
  activated: boolean;
  inactivated: boolean;
}

function products(ctx: RuleCtx<unknown>, rows: number, K: number, N: number): [MatmulParams, MatmulParams] {
  const base = { opType: 'MatMul', name: ctx.step.node.name, hasC: false, scm: 0, scn: 0, alpha: 1, beta: 0, batch: [3] };
  return [
    { ...base, M: rows, N, K, aBatchStrides: [rows * K], bBatchStrides: [0], sam: K, sak: 1, sbk: N, sbn: 1 },
    { ...base, M: rows, N: K, K: N, aBatchStrides: [rows * N], bBatchStrides: [0], sam: N, sak: 1, sbk: 1, sbn: N },
  ];
}

export const matmulAe: Rule<AeParams> = {
  plan(ctx, r) {
    const x = ctx.plan.shapes.get(ctx.step.inputs[0] ?? '');
    const w = ctx.plan.shapes.get(ctx.step.inputs[1] ?? ctx.step.node.inputs[1]);
    if (!isRuntime(ctx, 0) || isRuntime(ctx, 1) || !x || !w || w.length !== 2 || x.length < 3) {
      throw fail(ctx, 'AE has a rule for MatMul only with a constant 2-D weight on the last axis of a ≥ 3-D ' +
        `activation (a 1×1 convolution in channel-last layout, spec §2.11); got ${x ? `[${x.join(',')}]` : 'a constant'} · ` +
        `${w ? `[${w.join(',')}]` : 'a runtime tensor'}`);
    }
    const [K, N] = w;
    const shape: Shape = [r[0], ...x.slice(1)];
    const rows = numel(shape) / K;
    const [fwd, bwd] = products(ctx, rows, K, N);
    const { contrib, activated, inactivated } = ctx.opts;
    return { params: { rows, K, N, fwd, bwd, contrib, activated, inactivated }, signals: [{ shape }, undefined] };
  },

  cpu(p, ctx, r, [res]) {
    const x = ctx.input(0)!.data, w = ctx.input(1)!;
    const absW: CpuTensor = { shape: w.shape, data: w.data.map(Math.abs) };
    const nx = p.rows * p.K, nr = p.rows * p.N;
    const ns = r.shape[0], per = nr / ns;
    const sumPos = cpuAttr.sampleSum(r, 'pos'), sumNeg = cpuAttr.sampleSum(r, 'neg');
    const safeDiv = (a: number, b: number) => (b === 0 ? 0 : a / b);
    // (x⁺, a, b) stacked, and Z = (Z, Za, Zb) = that·|W|.
    const left = new Float32Array(3 * nx);
    for (let i = 0; i < nx; i++) {
      const v = x[i];
      left[i] = Math.max(v, 0);
      left[nx + i] = v > 0 ? 1 : 0;
      left[2 * nx + i] = v <= 0 ? 1 : 0;
    }
    const z = new Float32Array(3 * nr);
    matmulCpu(p.fwd, [{ shape: [3, p.rows, p.K], data: left }, absW], z);
    // The sections, then T = S·|W|ᵀ.
    const s = new Float32Array(3 * nr);
    for (let i = 0; i < nr; i++) {
      const n = Math.floor(i / per), v = r.data[i];
      const P = safeDiv(Math.max(v, 0), sumPos[n]);
      const Q = -safeDiv(Math.min(v, 0), sumNeg[n]);
      if (p.contrib) s[i] = v > 0 ? safeDiv(P, z[i]) : v < 0 ? safeDiv(Q, z[i]) : 0;
      if (p.activated) s[nr + i] = safeDiv(P, z[nr + i]);
      if (p.inactivated) s[2 * nr + i] = safeDiv(Q, z[2 * nr + i]);
    }
    const t = new Float32Array(3 * nx);
    matmulCpu(p.bwd, [{ shape: [3, p.rows, p.N], data: s }, absW], t);
    const out = res!.data;
    for (let i = 0; i < nx; i++) out[i] = left[i] * t[i] + left[nx + i] * t[nx + i] + left[2 * nx + i] * t[2 * nx + i];
  },

  gpu(p, g, ctx, r, [res]) {
    const x = ctx.input(0)!, w = ctx.input(1)!;
    const nx = p.rows * p.K, nr = p.rows * p.N;
    const single = (q: MatmulParams): MatmulParams => ({ ...q, batch: [], aBatchStrides: [], bBatchStrides: [] });
    const fwd = single(p.fwd), bwd = single(p.bwd);
    const absW = g.alloc(w.shape, 'ae.matmul.absw');
    run(g, 'abs', { total: numel(w.shape) }, [w, absW]);
    const left = ['xp', 'a', 'b'].map((s) => g.alloc([p.rows, p.K], `ae.matmul.${s}`));
    run(g, 'stack', { total: nx }, [x, ...left]);
    const z = left.map((l, i) => {
      const zi = g.alloc([p.rows, p.N], `ae.matmul.z${i}`);
      matmulGpu(g, fwd, [l, absW], [zi]);
      g.release(l);
      return zi;
    });
    const sumPos = gpuAttr.sampleSum(g, r, 'pos'), sumNeg = gpuAttr.sampleSum(g, r, 'neg');
    const flags = (p.contrib ? 1 : 0) | (p.activated ? 2 : 0) | (p.inactivated ? 4 : 0);
    run(g, 'sections', { total: nr, per: nr / r.shape[0], flags }, [r, sumPos, sumNeg, ...z]);
    g.release(sumPos);
    g.release(sumNeg);
    const t = z.map((s, i) => {
      const ti = g.alloc([p.rows, p.K], `ae.matmul.t${i}`);
      matmulGpu(g, bwd, [s, absW], [ti]);
      g.release(s);
      return ti;
    });
    g.release(absW);
    run(g, 'combine', { total: nx }, [x, ...t, res!]);
    for (const ti of t) g.release(ti);
  },
};

const U = uniforms({ total: 'u32', per: 'u32', flags: 'u32' });

function run(g: Gpu, k: 'abs' | 'stack' | 'sections' | 'combine', v: { total: number; per?: number; flags?: number }, bufs: GpuTensor[]): void {
  const pipe = g.kernel(`dense.ae.${k}`, () => assemble(sections, [k, 'main'], {}, U));
  g.dispatch(pipe, U.pack({ total: v.total, per: v.per ?? 0, flags: v.flags ?? 0 }), bufs.map((b) => b.buffer), Gpu.groups1d(v.total, 256));
}
