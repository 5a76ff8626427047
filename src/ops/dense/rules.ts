// Dense layers: gradients of Gemm (w.r.t. A) and MatMul (w.r.t. each runtime operand), as products
// run by the matmul kernels with derived params (they split operands larger than the binding limit,
// such as VGG's fc6 weight). No AE rule: the spec has none, and the walk starts at a 4-D feature
// map before the classifier.
import src from './grad_dense.wgsl';
import { ops as matmulOps, type MatmulParams } from './forward.js';
import type { CpuTensor } from '../op.js';
import { Gpu, Uniforms, WGSL_COMMON, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { numel, stridesOf, type Shape } from '../../graph/tensor.js';
import { attrInt } from '../../graph/ir.js';
import type { LegacyRule as Rule, RuleCtx, LegacyTable as RuleTable } from '../rule.js';

/** One product Y = alpha·A'·B' in the matmul kernels' terms (see MatmulParams). */
interface Product {
  p: MatmulParams;
  /** Which tensors are A and B of the product. */
  operands: [number, number];
  /** Shape of the product's output. */
  shape: Shape;
}

function product(src: MatmulParams, fields: Pick<MatmulParams, 'M' | 'N' | 'K' | 'sam' | 'sak' | 'sbk' | 'sbn'> & Partial<MatmulParams>): MatmulParams {
  return {
    opType: src.opType, name: src.name, batch: [], aBatchStrides: [], bBatchStrides: [],
    hasC: false, scm: 0, scn: 0, alpha: 1, beta: 0, ...fields,
  };
}

function runCpu(pr: Product, tensors: CpuTensor[]): CpuTensor {
  const data = matmulOps.Gemm.cpu(pr.p, pr.operands.map((i) => tensors[i]), [pr.shape])[0];
  return { shape: pr.shape, data };
}

function runGpu(g: Gpu, pr: Product, tensors: GpuTensor[], label: string): GpuTensor {
  const out = g.alloc(pr.shape, label);
  matmulOps.Gemm.gpu(g, pr.p, pr.operands.map((i) => tensors[i]), [out]);
  return out;
}

// ---------------------------------------------------------------- Gemm

/**
 * dA for Y = alpha·A'·B' + beta·C, with dY (M×N) as tensor 0 and B as tensor 1: dA' = alpha·dY·B'ᵀ,
 * stored transposed (K×M) when transA. B'[k,n] = B[k·sbk + n·sbn] (the step's params).
 */
function gemmGradA(ctx: RuleCtx<unknown>, dy: { shape: Shape }): Product {
  const p = ctx.step.params as MatmulParams;
  const [M, N] = dy.shape;
  const K = p.K;
  if (attrInt(ctx.step.node, 'transA', 0) === 0) {
    // (m, k) = Σ_n dY[m, n] · B'[k, n]
    return { p: product(p, { M, N: K, K: N, sam: N, sak: 1, sbk: p.sbn, sbn: p.sbk, alpha: p.alpha }), operands: [0, 1], shape: [M, K] };
  }
  // (k, m) = Σ_n B'[k, n] · dY[m, n]
  return { p: product(p, { M: K, N: M, K: N, sam: p.sbk, sak: p.sbn, sbk: 1, sbn: N, alpha: p.alpha }), operands: [1, 0], shape: [K, M] };
}

const gemmGrad: Rule = {
  cpu(ctx, dy) {
    return [runCpu(gemmGradA(ctx, dy), [dy, ctx.input(1)!])];
  },
  gpu(g, ctx, dy) {
    return [runGpu(g, gemmGradA(ctx, dy), [dy, ctx.input(1)!], 'grad.gemm')];
  },
};

// ---------------------------------------------------------------- MatMul

/** MatMul geometry from the operands' actual shapes (at the backward batch). */
interface MatMulGeometry {
  fwd: MatmulParams;
  /** Output batch dims, and each operand's batch dims right-aligned to them (1 where broadcast). */
  batch: number[];
  aPad: number[];
  bPad: number[];
  yStrides: number[];
}

function geometry(ctx: RuleCtx<unknown>, a: Shape, b: Shape): MatMulGeometry {
  const fwd = matmulOps.MatMul.prepare({
    node: ctx.step.node, opset: 13, shapes: [a, b], consts: [], dtypes: ['float32', 'float32'],
  }).params as MatmulParams;
  const rank = fwd.batch.length;
  const pad = (s: Shape, vec: 'a' | 'b') => {
    const m = s.length === 1 ? (vec === 'a' ? [1, s[0]] : [s[0], 1]) : s;
    const bd = m.slice(0, -2);
    return [...Array(rank - bd.length).fill(1), ...bd];
  };
  const yStrides = stridesOf(fwd.batch).map((s) => s * fwd.M * fwd.N);
  return { fwd, batch: fwd.batch, aPad: pad(a, 'a'), bPad: pad(b, 'b'), yStrides };
}

/** dA[batch, m, k] = Σ_n dY[batch, m, n] · B'[batch, k, n] (dY is tensor 0, B tensor 1). */
function matmulGradA(g: MatMulGeometry): Product {
  const f = g.fwd;
  return {
    p: product(f, {
      M: f.M, N: f.K, K: f.N, sam: f.N, sak: 1, sbk: f.sbn, sbn: f.sbk,
      batch: g.batch, aBatchStrides: g.yStrides, bBatchStrides: f.bBatchStrides,
    }),
    operands: [0, 1], shape: [...g.batch, f.M, f.K],
  };
}

/** dB[batch, k, n] = Σ_m A'[batch, m, k] · dY[batch, m, n] (A is tensor 0, dY tensor 1). */
function matmulGradB(g: MatMulGeometry): Product {
  const f = g.fwd;
  return {
    p: product(f, {
      M: f.K, N: f.N, K: f.M, sam: f.sak, sak: f.sam, sbk: f.N, sbn: 1,
      batch: g.batch, aBatchStrides: f.aBatchStrides, bBatchStrides: g.yStrides,
    }),
    operands: [0, 1], shape: [...g.batch, f.K, f.N],
  };
}

/** Per batch dim: summed (the operand was broadcast along it) or kept. */
function summedDims(batch: number[], pad: number[]): boolean[] {
  return batch.map((d, i) => pad[i] !== d);
}

function reduceCpu(full: CpuTensor, batch: number[], pad: number[], shape: Shape): CpuTensor {
  const summed = summedDims(batch, pad);
  if (!summed.some(Boolean)) return { shape, data: full.data };
  const inner = numel(full.shape) / numel(batch);
  const out = new Float32Array(numel(shape));
  const outStrides = stridesOf(pad);
  for (let bi = 0; bi < numel(batch); bi++) {
    let rem = bi, ob = 0;
    for (let d = batch.length - 1; d >= 0; d--) {
      const idx = rem % batch[d];
      rem = Math.floor(rem / batch[d]);
      if (!summed[d]) ob += idx * outStrides[d];
    }
    for (let e = 0; e < inner; e++) out[ob * inner + e] += full.data[bi * inner + e];
  }
  return { shape, data: out };
}

/** Sum the full batched gradient over the operand's broadcast dims (consumes `full`). */
function reduceGpu(g: Gpu, full: GpuTensor, batch: number[], pad: number[], shape: Shape): GpuTensor {
  const summed = summedDims(batch, pad);
  if (!summed.some(Boolean)) return { shape, buffer: full.buffer };
  const inner = numel(full.shape) / numel(batch);
  const out = g.alloc(shape, 'grad.matmul');
  const fstride = stridesOf(batch);
  const kept = batch.map((d, i) => (summed[i] ? 1 : d));
  const red = batch.map((d, i) => (summed[i] ? d : 1));
  const ostride = stridesOf(kept).map((s, i) => (summed[i] ? 0 : s));
  const rstride = stridesOf(red).map((s, i) => (summed[i] ? s : 0));
  const total = numel(shape);
  const u = new Uniforms().u(total, inner, numel(red), 0)
    .vec4s(batch, 2, 1).vec4s(fstride, 2).vec4s(ostride, 2).vec4s(rstride, 2);
  const pipe = g.kernel('grad.matmul_reduce', () => WGSL_COMMON + src);
  g.dispatch(pipe, u, [full.buffer, out.buffer], Gpu.groups1d(total, 64));
  g.release(full);
  return out;
}

/** Operand i of the step is a runtime tensor (not a weight or plan-time constant). */
function isRuntime(ctx: RuleCtx<unknown>, i: number): boolean {
  const t = ctx.step.inputs[i];
  return !!t && !ctx.plan.consts.has(t);
}

const matmulGrad: Rule = {
  cpu(ctx, dy) {
    const a = ctx.input(0)!, b = ctx.input(1)!;
    const geo = geometry(ctx, a.shape, b.shape);
    const res: (CpuTensor | undefined)[] = [undefined, undefined];
    if (isRuntime(ctx, 0)) res[0] = reduceCpu(runCpu(matmulGradA(geo), [dy, b]), geo.batch, geo.aPad, a.shape);
    if (isRuntime(ctx, 1)) res[1] = reduceCpu(runCpu(matmulGradB(geo), [a, dy]), geo.batch, geo.bPad, b.shape);
    return res;
  },
  gpu(g, ctx, dy) {
    const a = ctx.input(0)!, b = ctx.input(1)!;
    const geo = geometry(ctx, a.shape, b.shape);
    const res: (GpuTensor | undefined)[] = [undefined, undefined];
    if (isRuntime(ctx, 0)) res[0] = reduceGpu(g, runGpu(g, matmulGradA(geo), [dy, b], 'grad.matmul.a'), geo.batch, geo.aPad, a.shape);
    if (isRuntime(ctx, 1)) res[1] = reduceGpu(g, runGpu(g, matmulGradB(geo), [a, dy], 'grad.matmul.b'), geo.batch, geo.bPad, b.shape);
    return res;
  },
};

export const gradient: RuleTable = { Gemm: gemmGrad, MatMul: matmulGrad };
export const ae: RuleTable = {};
