// Dense layers: gradients of Gemm (w.r.t. A) and MatMul (w.r.t. each runtime operand), as products
// run by the matmul kernels with derived params (they split operands larger than the binding limit,
// such as VGG's fc6 weight). AE: MatMul with a constant weight on the channel axis of a channel-last
// tensor is a 1×1 convolution (spec §2.11; ae.ts); the 2-D classifier layers (Gemm, MatMul) have no
// AE rule, as the walk starts at a feature map before them.
import src from './backward.wgsl';
import { ops as matmulOps, matmulCpu, matmulGpu, type MatmulParams } from './forward.js';
import type { CpuTensor } from '../op.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import { numel, stridesOf, type Shape } from '../../graph/tensor.js';
import { attrInt } from '../../graph/ir.js';
import type { Rule, RuleCtx, RuleTable } from '../rule.js';
import { backShape, isRuntime, perSample } from '../shared/signal.js';
import { matmulAe } from './ae.js';

const sections = parseSections(src);

/** One product Y = alpha·A'·B' in the matmul kernels' terms (see MatmulParams). */
export interface Product {
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

function runCpu(pr: Product, tensors: CpuTensor[], out: Float32Array): void {
  matmulCpu(pr.p, pr.operands.map((i) => tensors[i]), out);
}

function runGpu(g: Gpu, pr: Product, tensors: GpuTensor[], out: GpuTensor): void {
  matmulGpu(g, pr.p, pr.operands.map((i) => tensors[i]), [out]);
}

// ---------------------------------------------------------------- Gemm

/**
 * dA for Y = alpha·A'·B' + beta·C, with dY (M×N) as tensor 0 and B as tensor 1: dA' = alpha·dY·B'ᵀ,
 * stored transposed (K×M) when transA. B'[k,n] = B[k·sbk + n·sbn] (the step's params).
 */
export function gemmGradA(ctx: RuleCtx<unknown>, dy: { shape: Shape }): Product {
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

const gemmGrad: Rule<Product> = {
  plan(ctx, r) {
    const pr = gemmGradA(ctx, { shape: r });
    return { params: pr, signals: [{ shape: pr.shape }] };
  },
  cpu: (pr, ctx, dy, [out]) => runCpu(pr, [dy, ctx.input(1)!], out!.data),
  gpu: (pr, g, ctx, dy, [out]) => runGpu(g, pr, [dy, ctx.input(1)!], out!),
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

/** The sum of the full batched gradient over the operand's broadcast dims, or none. */
interface Reduction {
  /** Shape of the full batched gradient (the product's output). */
  full: Shape;
  batch: number[];
  /** Per batch dim: summed (the operand was broadcast along it) or kept. */
  summed: boolean[];
  pad: number[];
}

function reduction(full: Shape, batch: number[], pad: number[]): Reduction | undefined {
  const summed = batch.map((d, i) => pad[i] !== d);
  return summed.some(Boolean) ? { full, batch, summed, pad } : undefined;
}

/** The CPU sum accumulates into `out`, which it clears first (the GPU kernel writes every element). */
function reduceCpu(red: Reduction, full: Float32Array, out: Float32Array): void {
  const { batch, summed } = red;
  out.fill(0);
  const inner = numel(red.full) / numel(batch);
  const outStrides = stridesOf(red.pad);
  for (let bi = 0; bi < numel(batch); bi++) {
    let rem = bi, ob = 0;
    for (let d = batch.length - 1; d >= 0; d--) {
      const idx = rem % batch[d];
      rem = Math.floor(rem / batch[d]);
      if (!summed[d]) ob += idx * outStrides[d];
    }
    for (let e = 0; e < inner; e++) out[ob * inner + e] += full[bi * inner + e];
  }
}

const BATCH = { vec4: 'u32', n: 2 } as const;
const REDUCE_U = uniforms({ total: 'u32', inner: 'u32', nred: 'u32', size: BATCH, fstride: BATCH, ostride: BATCH, rstride: BATCH });

function reduceGpu(g: Gpu, red: Reduction, full: GpuTensor, out: GpuTensor): void {
  const { batch, summed } = red;
  const inner = numel(red.full) / numel(batch);
  const fstride = stridesOf(batch);
  const kept = batch.map((d, i) => (summed[i] ? 1 : d));
  const reduced = batch.map((d, i) => (summed[i] ? d : 1));
  const ostride = stridesOf(kept).map((s, i) => (summed[i] ? 0 : s));
  const rstride = stridesOf(reduced).map((s, i) => (summed[i] ? s : 0));
  const total = numel(out.shape);
  const u = REDUCE_U.pack({ total, inner, nred: numel(reduced), size: batch, fstride, ostride, rstride }, { size: 1 });
  const pipe = g.kernel('dense.grad.matmul_reduce', () => assemble(sections, ['reduce'], {}, REDUCE_U));
  g.dispatch(pipe, u, [full.buffer, out.buffer], Gpu.groups1d(total, 64));
}

/** The gradient of one MatMul operand: the product, then (where it was broadcast) the reduction. */
interface OperandGrad {
  pr: Product;
  red?: Reduction;
}

interface MatMulGradParams {
  /** Aligned with the operands A, B; undefined where the operand is not a runtime tensor. */
  grads: (OperandGrad | undefined)[];
}

function operandGrad(pr: Product, batch: number[], pad: number[]): OperandGrad {
  return { pr, red: reduction(pr.shape, batch, pad) };
}

const matmulGrad: Rule<MatMulGradParams> = {
  plan(ctx, r) {
    const t = perSample(ctx, { shape: r });
    const [a, b] = [0, 1].map((i) => backShape(ctx, ctx.step.inputs[i] ?? ctx.step.node.inputs[i], t));
    const geo = geometry(ctx, a, b);
    const grads = [
      isRuntime(ctx, 0) ? operandGrad(matmulGradA(geo), geo.batch, geo.aPad) : undefined,
      isRuntime(ctx, 1) ? operandGrad(matmulGradB(geo), geo.batch, geo.bPad) : undefined,
    ];
    return { params: { grads }, signals: grads.map((gr, i) => gr && { shape: i === 0 ? a : b }) };
  },
  cpu({ grads }, ctx, dy, out) {
    const a = ctx.input(0)!, b = ctx.input(1)!;
    grads.forEach((gr, i) => {
      if (!gr || !out[i]) return;
      const tensors = i === 0 ? [dy, b] : [a, dy];
      if (!gr.red) return runCpu(gr.pr, tensors, out[i]!.data);
      const full = new Float32Array(numel(gr.pr.shape));
      runCpu(gr.pr, tensors, full);
      reduceCpu(gr.red, full, out[i]!.data);
    });
  },
  gpu({ grads }, g, ctx, dy, out) {
    const a = ctx.input(0)!, b = ctx.input(1)!;
    grads.forEach((gr, i) => {
      if (!gr || !out[i]) return;
      const tensors = i === 0 ? [dy, b] : [a, dy];
      if (!gr.red) return runGpu(g, gr.pr, tensors, out[i]!);
      const full = g.alloc(gr.pr.shape, `grad.matmul.${'ab'[i]}`);
      runGpu(g, gr.pr, tensors, full);
      reduceGpu(g, gr.red, full, out[i]!);
      g.release(full);
    });
  },
};

export const gradient: RuleTable = { Gemm: gemmGrad, MatMul: matmulGrad };
export const ae: RuleTable = { MatMul: matmulAe };
