// BatchNormalization rules (gradient; AE mask, spec §2.2), the dense-layer gradients (Gemm,
// MatMul with batch broadcasting) and MatMul's AE rule on a channel-last tensor (spec §2.11: the
// 1×1 conv rule), against hand values, explicit matrix products, finite differences, the conv
// rule on the equivalent 1×1 convolution, and GPU against CPU.
import { afterEach, describe, expect, it } from 'vitest';
import { OnnxBuilder, floatAttr, type AttrIn } from '../tools/onnx-builder.js';
import { forwardCase, stepOf, applyCpu, applyGpu, type RuleCase } from './helpers/rules.js';
import { rng } from './helpers/ops.js';
import * as norm from '../src/ops/norm/rules.js';
import * as dense from '../src/ops/dense/rules.js';
import * as conv from '../src/ops/conv/rules.js';
import * as layout from '../src/ops/layout/rules.js';
import type { AeOptions } from '../src/ops/rule.js';
import { AeqError } from '../src/errors.js';
import { parseModel } from '../src/io/onnx.js';
import { planGraph } from '../src/planner/plan.js';
import { runCpu } from '../src/runtime/executor.js';
import { matmulTuning } from '../src/ops/dense/forward.js';
import { getGpu } from '../src/kernels/gpu/runtime.js';
import type { CpuTensor } from '../src/ops/op.js';
import { numel, stridesOf, type Shape } from '../src/graph/tensor.js';

const t = (shape: Shape, data: number[]): CpuTensor => ({ shape, data: Float32Array.from(data) });

function rand(shape: Shape, seed: number, zeros = 0): CpuTensor {
  const r = rng(seed);
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) {
    const v = r() * 2 - 1;
    data[i] = r() < zeros ? 0 : v;
  }
  return { shape, data };
}

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

/** The case's plan for one sample, walked with a larger backward batch (several targets per sample). */
function withBatch(c: RuleCase, values: Record<string, CpuTensor>): RuleCase {
  const v = new Map(c.values);
  for (const [k, x] of Object.entries(values)) v.set(k, x);
  return { plan: c.plan, values: v };
}

// ---------------------------------------------------------------- BatchNormalization

interface BnParams { scale: number[]; bias: number[]; mean: number[]; variance: number[]; pshape: Shape }

function bnCase(x: CpuTensor, p: BnParams, o: { opset?: number; eps?: number; spatial?: number } = {}): RuleCase {
  const b = new OnnxBuilder({ opset: o.opset ?? 13 });
  b.input('input', x.shape);
  const ins = ['input', b.initializer('scale', p.pshape, p.scale), b.initializer('bias', p.pshape, p.bias),
    b.initializer('mean', p.pshape, p.mean), b.initializer('var', p.pshape, p.variance)];
  const attrs: Record<string, AttrIn> = { epsilon: floatAttr(o.eps ?? 1e-5) };
  if (o.spatial !== undefined) attrs.spatial = o.spatial;
  const [y] = b.node('BatchNormalization', ins, attrs, [x.shape], 'bn');
  b.output(y);
  return forwardCase(b, x);
}

function randomBn(pshape: Shape, seed: number, zeroScale: number[] = []): BnParams {
  const r = rng(seed);
  const n = numel(pshape);
  const f = (lo: number, hi: number) => Array.from({ length: n }, () => lo + (hi - lo) * r());
  const scale = f(-1.5, 1.5);
  for (const i of zeroScale) scale[i] = 0;
  return { scale, bias: f(-0.3, 0.3), mean: f(-0.2, 0.2), variance: f(0.05, 2), pshape };
}

describe('BatchNormalization rules', () => {
  const x = t([1, 3, 1, 2], [1, 0, -2, 4, 0, 3]);
  const p: BnParams = { scale: [2, 0, -1], bias: [9, 9, 9], mean: [5, 5, 5], variance: [3, 1, 0.25], pshape: [3] };

  it('gradient dx = dy·γ/sqrt(var + ε) on hand values; agrees with finite differences', async () => {
    const c = bnCase(x, p, { eps: 1 });
    const step = stepOf(c.plan, 'BatchNormalization');
    const dy = t([1, 3, 1, 2], [1, -2, 3, 4, 5, 6]);
    const want = [1 * 2 / 2, -2 * 2 / 2, 0, 0, 5 * -1 / Math.sqrt(1.25), 6 * -1 / Math.sqrt(1.25)];
    for (const [dx] of [applyCpu(norm.gradient.BatchNormalization, c, step, dy), await applyGpu(norm.gradient.BatchNormalization, c, step, dy)]) {
      dx!.data.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
    }
    // BN is affine in x: (BN(x + h) − BN(x − h)) / 2h is its diagonal Jacobian.
    const h = 0.5;
    const up = bnCase({ shape: x.shape, data: x.data.map((v) => v + h) }, p, { eps: 1 });
    const dn = bnCase({ shape: x.shape, data: x.data.map((v) => v - h) }, p, { eps: 1 });
    const yu = up.values.get(step.node.outputs[0])!.data, yd = dn.values.get(step.node.outputs[0])!.data;
    const [dx] = applyCpu(norm.gradient.BatchNormalization, c, step, dy);
    dx!.data.forEach((v, i) => expect(v).toBeCloseTo((dy.data[i] * (yu[i] - yd[i])) / (2 * h), 5));
  });

  it('AE: R_in = R ⊙ [x ≠ 0] ⊙ [γ ≠ 0] on hand values (sign of γ and the shift play no part)', async () => {
    const c = bnCase(x, p);
    const step = stepOf(c.plan, 'BatchNormalization');
    const r = t([1, 3, 1, 2], [0.5, -1, 2, 3, -4, 0.25]);
    const want = [0.5, 0, 0, 0, 0, 0.25];
    for (const [res] of [applyCpu(norm.ae.BatchNormalization, c, step, r), await applyGpu(norm.ae.BatchNormalization, c, step, r)]) {
      expect(Array.from(res!.data)).toEqual(want);
      expect(res!.shape).toEqual(r.shape);
    }
  });

  const cases = [
    { name: 'per channel', shape: [3, 5, 7, 9], pshape: [5], opset: 13 },
    { name: 'spatial = 0 (opset 7, per activation)', shape: [2, 3, 5, 3], pshape: [3, 5, 3], opset: 7, spatial: 0 },
    { name: '2-D input', shape: [4, 37], pshape: [37], opset: 9 },
  ];

  it.each(cases)('$name: explicit reference (rel. L2 ≤ 1e-6), GPU vs CPU (rel. L2 ≤ 1e-5), backward batch ×3', async ({ shape, pshape, opset, spatial }) => {
    const params = randomBn(pshape, 5, [1, 3]);
    const one = [1, ...shape.slice(1)];
    const x1 = rand(one, 6, 0.3);
    const c1 = bnCase(x1, params, { opset, spatial });
    const step = stepOf(c1.plan, 'BatchNormalization');
    // Three samples through the batch-1 plan: the rule sizes itself from the signal.
    const big = [3, ...shape.slice(1)];
    const xb = rand(big, 7, 0.3);
    const c = withBatch(c1, { input: xb });
    const r = rand(big, 8, 0.1);
    const per = numel(pshape) === shape[1] ? (i: number) => Math.floor(i / numel(shape.slice(2))) % shape[1] : (i: number) => i % numel(pshape);
    const eps = Math.fround(1e-5);
    const wantG = r.data.map((v, i) => (v * params.scale[per(i)]) / Math.sqrt(Math.fround(params.variance[per(i)]) + eps));
    const wantA = r.data.map((v, i) => (xb.data[i] !== 0 && params.scale[per(i)] !== 0 ? v : 0));
    for (const [rule, want] of [[norm.gradient.BatchNormalization, wantG], [norm.ae.BatchNormalization, wantA]] as const) {
      const [cpu] = applyCpu(rule, c, step, r);
      expect(cpu!.shape).toEqual(big);
      expect(relL2(cpu!.data, want)).toBeLessThan(1e-6);
      const [gpu] = await applyGpu(rule, c, step, r);
      expect(relL2(gpu!.data, cpu!.data)).toBeLessThan(1e-5);
    }
  });

  it('finite with all-zero input and relevance', async () => {
    const shape = [2, 5, 3, 3];
    const c = bnCase({ shape, data: new Float32Array(numel(shape)) }, randomBn([5], 9, [0]));
    const step = stepOf(c.plan, 'BatchNormalization');
    const zero = { shape, data: new Float32Array(numel(shape)) };
    for (const rule of [norm.gradient.BatchNormalization, norm.ae.BatchNormalization]) {
      for (const [res] of [applyCpu(rule, c, step, zero), await applyGpu(rule, c, step, zero)]) {
        expect(res!.data.every((v) => v === 0)).toBe(true);
      }
    }
  });
});

// ---------------------------------------------------------------- Gemm

interface GemmCfg { name: string; M: number; K: number; N: number; transA?: number; transB?: number; alpha?: number; bias?: boolean }

function gemmCase(cfg: GemmCfg, seed: number, M = cfg.M): { c: RuleCase; B: CpuTensor } {
  const b = new OnnxBuilder();
  const aShape = cfg.transA ? [cfg.K, M] : [M, cfg.K];
  b.input('input', aShape);
  const bShape = cfg.transB ? [cfg.N, cfg.K] : [cfg.K, cfg.N];
  const B = rand(bShape, seed + 1);
  const ins = ['input', b.initializer('W', bShape, B.data)];
  if (cfg.bias) ins.push(b.initializer('C', [cfg.N], rand([cfg.N], seed + 2).data));
  const [y] = b.node('Gemm', ins, { alpha: floatAttr(cfg.alpha ?? 1), beta: floatAttr(0.5), transA: cfg.transA ?? 0, transB: cfg.transB ?? 0 }, [[M, cfg.N]], 'fc');
  b.output(y);
  return { c: forwardCase(b, rand(aShape, seed)), B };
}

/** dA by the explicit product: dA'[m,k] = alpha Σ_n dY[m,n] B'[k,n], stored transposed when transA. */
function gemmReference(cfg: GemmCfg, B: CpuTensor, dy: CpuTensor): Float64Array {
  const { K, N } = cfg;
  const M = dy.shape[0];
  const bp = (k: number, n: number) => (cfg.transB ? B.data[n * K + k] : B.data[k * N + n]);
  const out = new Float64Array(M * K);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dy.data[m * N + n] * bp(k, n);
      out[cfg.transA ? k * M + m : m * K + k] = (cfg.alpha ?? 1) * s;
    }
  }
  return out;
}

const GEMMS: GemmCfg[] = [
  { name: 'plain', M: 3, K: 37, N: 19 },
  { name: 'transB (torch Linear), alpha, bias', M: 2, K: 64, N: 20, transB: 1, alpha: 0.7, bias: true },
  { name: 'transA', M: 5, K: 13, N: 7, transA: 1, alpha: -1.5 },
  { name: 'transA transB', M: 4, K: 9, N: 11, transA: 1, transB: 1 },
  { name: 'single row (GEMV)', M: 1, K: 40, N: 12, transB: 1 },
];

describe('Gemm gradient (input 0)', () => {
  afterEach(() => { matmulTuning.maxBindingBytes = undefined; });

  it('hand values with alpha and transB', () => {
    const b = new OnnxBuilder();
    b.input('input', [1, 2]);
    const [y] = b.node('Gemm', ['input', b.initializer('W', [3, 2], [1, 2, 3, 4, 5, 6])], { alpha: floatAttr(2), transB: 1 }, [[1, 3]], 'fc');
    b.output(y);
    const c = forwardCase(b, t([1, 2], [7, 8]));
    const [dx] = applyCpu(dense.gradient.Gemm, c, stepOf(c.plan, 'Gemm'), t([1, 3], [1, 0, -1]));
    // W' = Wᵀ: dA = 2·dY·W = 2·([1,2] − [5,6]) = [−8, −8].
    expect(Array.from(dx!.data)).toEqual([-8, -8]);
    expect(dx!.shape).toEqual([1, 2]);
  });

  it.each(GEMMS)('$name: explicit product (rel. L2 ≤ 1e-6), finite differences, GPU vs CPU (rel. L2 ≤ 1e-5)', async (cfg) => {
    const { c, B } = gemmCase(cfg, 3);
    const step = stepOf(c.plan, 'Gemm');
    const dy = rand([cfg.M, cfg.N], 4);
    const [cpu] = applyCpu(dense.gradient.Gemm, c, step, dy);
    expect(cpu!.shape).toEqual(c.plan.shapes.get('input'));
    expect(relL2(cpu!.data, gemmReference(cfg, B, dy))).toBeLessThan(1e-6);
    // ⟨dY, Y(A)⟩ is linear in A: its central difference along a random direction D is ⟨dA, D⟩.
    const A = c.values.get('input')!;
    const D = rand(A.shape, 5);
    const f = (s: number) => {
      const shifted = { shape: A.shape, data: A.data.map((v, i) => v + s * D.data[i]) };
      const y = runCpu(c.plan, { input: shifted }).get(step.node.outputs[0])!.data;
      return y.reduce((acc, v, i) => acc + v * dy.data[i], 0);
    };
    const fd = (f(0.25) - f(-0.25)) / 0.5;
    const dot = cpu!.data.reduce((acc, v, i) => acc + v * D.data[i], 0);
    expect(Math.abs(fd - dot)).toBeLessThan(1e-4 * Math.max(1, Math.abs(dot)));
    const [gpu] = await applyGpu(dense.gradient.Gemm, c, step, dy);
    expect(relL2(gpu!.data, cpu!.data)).toBeLessThan(1e-5);
  });

  it('weights beyond the binding limit (split path, as VGG fc6): GPU vs reference (rel. L2 ≤ 1e-5)', async () => {
    for (const cfg of [
      { name: 'fc6-like', M: 3, K: 300, N: 40, transB: 1 },
      { name: 'no trans', M: 2, K: 150, N: 70 },
      { name: 'transA', M: 6, K: 90, N: 50, transA: 1 },
    ]) {
      const { c, B } = gemmCase(cfg, 13);
      const step = stepOf(c.plan, 'Gemm');
      const dy = rand([cfg.M, cfg.N], 14);
      const g = await getGpu();
      const before = g.stats.dispatches;
      matmulTuning.maxBindingBytes = 4096;
      const [gpu] = await applyGpu(dense.gradient.Gemm, c, step, dy);
      matmulTuning.maxBindingBytes = undefined;
      expect(g.stats.dispatches - before).toBeGreaterThan(4); // sliced into several dispatches
      expect(relL2(gpu!.data, gemmReference(cfg, B, dy))).toBeLessThan(1e-5);
    }
  });

  it('backward batch larger than the planned batch', async () => {
    const cfg: GemmCfg = { name: 'batch', M: 1, K: 33, N: 10, transB: 1 };
    const { c, B } = gemmCase(cfg, 21);
    const step = stepOf(c.plan, 'Gemm');
    const cb = withBatch(c, { input: rand([6, 33], 22) });
    const dy = rand([6, 10], 23);
    const [cpu] = applyCpu(dense.gradient.Gemm, cb, step, dy);
    expect(cpu!.shape).toEqual([6, 33]);
    expect(relL2(cpu!.data, gemmReference(cfg, B, dy))).toBeLessThan(1e-6);
    const [gpu] = await applyGpu(dense.gradient.Gemm, cb, step, dy);
    expect(relL2(gpu!.data, cpu!.data)).toBeLessThan(1e-5);
  });
});

// ---------------------------------------------------------------- MatMul

/** A MatMul model; each operand is a graph input (runtime) or a weight. */
function matmulCase(aShape: Shape, bShape: Shape, bRuntime: boolean, seed: number): { c: RuleCase; A: CpuTensor; B: CpuTensor } {
  const b = new OnnxBuilder();
  const A = rand(aShape, seed), B = rand(bShape, seed + 1);
  b.input('a', aShape);
  const bName = bRuntime ? b.input('b', bShape) : b.initializer('W', bShape, B.data);
  const [y] = b.node('MatMul', ['a', bName], {}, [['?']], 'mm');
  b.output(y);
  const plan = planGraph(parseModel(b.toBytes(), 'mm', null), bRuntime ? { a: aShape, b: bShape } : { a: aShape });
  const feeds: Record<string, CpuTensor> = bRuntime ? { a: A, b: B } : { a: A };
  const values = runCpu(plan, feeds, { keep: 'all' });
  for (const [k, v] of Object.entries(feeds)) values.set(k, v);
  for (const [k, cst] of plan.consts) if (!values.has(k)) values.set(k, { shape: cst.dims, data: Float32Array.from(cst.data) });
  return { c: { plan, values }, A, B };
}

/** Both gradients by explicit loops over the broadcast output (numpy matmul semantics). */
function matmulReference(A: CpuTensor, B: CpuTensor, dy: CpuTensor): [Float64Array, Float64Array] {
  const a2 = A.shape.length === 1 ? [1, A.shape[0]] : A.shape;
  const b2 = B.shape.length === 1 ? [B.shape[0], 1] : B.shape;
  const M = a2[a2.length - 2], K = a2[a2.length - 1], N = b2[b2.length - 1];
  const rank = Math.max(a2.length, b2.length) - 2;
  const pad = (s: Shape) => [...Array(rank - (s.length - 2)).fill(1), ...s.slice(0, -2)];
  const ab = pad(a2), bb = pad(b2);
  const batch = ab.map((d, i) => Math.max(d, bb[i]));
  const as = stridesOf(ab), bs = stridesOf(bb);
  const dA = new Float64Array(numel(A.shape)), dB = new Float64Array(numel(B.shape));
  for (let bi = 0; bi < numel(batch); bi++) {
    let rem = bi, oa = 0, ob = 0;
    for (let d = rank - 1; d >= 0; d--) {
      const idx = rem % batch[d];
      rem = Math.floor(rem / batch[d]);
      if (ab[d] !== 1) oa += idx * as[d];
      if (bb[d] !== 1) ob += idx * bs[d];
    }
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        const g = dy.data[(bi * M + m) * N + n];
        for (let k = 0; k < K; k++) {
          dA[(oa * M + m) * K + k] += g * B.data[(ob * K + k) * N + n];
          dB[(ob * K + k) * N + n] += g * A.data[(oa * M + m) * K + k];
        }
      }
    }
  }
  return [dA, dB];
}

const MATMULS: { name: string; a: Shape; b: Shape; bRuntime: boolean }[] = [
  { name: 'batched A · weight', a: [2, 3, 5, 8], b: [8, 6], bRuntime: false },
  { name: 'same batch, both runtime', a: [2, 3, 5, 4], b: [2, 3, 4, 7], bRuntime: true },
  { name: 'B broadcast over dim 0', a: [2, 3, 5, 4], b: [3, 4, 6], bRuntime: true },
  { name: 'A 2-D broadcast over B batches', a: [5, 12], b: [2, 3, 12, 6], bRuntime: true },
  { name: 'size-1 dims on both sides', a: [2, 1, 5, 4], b: [1, 3, 4, 9], bRuntime: true },
  { name: 'A 1-D (row vector)', a: [8], b: [3, 8, 5], bRuntime: true },
  { name: 'B 1-D (column vector)', a: [2, 3, 5, 8], b: [8], bRuntime: true },
];

describe('MatMul gradient', () => {
  it.each(MATMULS)('$name: explicit broadcast reference (rel. L2 ≤ 1e-6), GPU vs CPU (rel. L2 ≤ 1e-5)', async ({ a, b, bRuntime }) => {
    const { c, A, B } = matmulCase(a, b, bRuntime, 51);
    const step = stepOf(c.plan, 'MatMul');
    const dy = rand(step.outShapes[0], 52);
    const [refA, refB] = matmulReference(A, B, dy);
    const cpu = applyCpu(dense.gradient.MatMul, c, step, dy);
    expect(cpu[0]!.shape).toEqual(a);
    expect(relL2(cpu[0]!.data, refA)).toBeLessThan(1e-6);
    if (bRuntime) {
      expect(cpu[1]!.shape).toEqual(b);
      expect(relL2(cpu[1]!.data, refB)).toBeLessThan(1e-6);
    } else expect(cpu[1]).toBeUndefined();
    const gpu = await applyGpu(dense.gradient.MatMul, c, step, dy);
    expect(relL2(gpu[0]!.data, cpu[0]!.data)).toBeLessThan(1e-5);
    if (bRuntime) expect(relL2(gpu[1]!.data, cpu[1]!.data)).toBeLessThan(1e-5);
    else expect(gpu[1]).toBeUndefined();
  });

  it('hand values', () => {
    const { c } = matmulCase([1, 2], [2, 2], true, 1);
    c.values.set('a', t([1, 2], [1, 2]));
    c.values.set('b', t([2, 2], [3, 4, 5, 6]));
    const [da, db] = applyCpu(dense.gradient.MatMul, c, stepOf(c.plan, 'MatMul'), t([1, 2], [1, -1]));
    // dA = dY·Bᵀ = [3 − 4, 5 − 6]; dB = Aᵀ·dY = [[1, −1], [2, −2]].
    expect(Array.from(da!.data)).toEqual([-1, -1]);
    expect(Array.from(db!.data)).toEqual([1, -1, 2, -2]);
  });
});

// ---------------------------------------------------------------- MatMul AE (spec §2.11)

/** input [N,C,H,W] → Transpose to NHWC → MatMul(const W [C,K]) → Transpose back: ConvNeXt's Linear. */
function channelLastCase(x: CpuTensor, W: CpuTensor): RuleCase {
  const b = new OnnxBuilder();
  const [n, c, h, w] = x.shape;
  const k = W.shape[1];
  b.input('input', x.shape);
  const [t0] = b.node('Transpose', ['input'], { perm: [0, 2, 3, 1] }, [[n, h, w, c]], 'to_nhwc');
  const [mm] = b.node('MatMul', [t0, b.initializer('W', W.shape, W.data)], {}, [[n, h, w, k]], 'fc');
  const [y] = b.node('Transpose', [mm], { perm: [0, 3, 1, 2] }, [[n, k, h, w]], 'to_nchw');
  b.output(y);
  return forwardCase(b, x);
}

/** The same layer as a 1×1 Conv, weight Wc[k, c, 0, 0] = W[c, k]. */
function pointwiseCase(x: CpuTensor, W: CpuTensor): RuleCase {
  const b = new OnnxBuilder();
  const [n, , h, w] = x.shape;
  const [c, k] = W.shape;
  const wc = new Float32Array(k * c);
  for (let i = 0; i < c; i++) for (let j = 0; j < k; j++) wc[j * c + i] = W.data[i * k + j];
  b.input('input', x.shape);
  const [y] = b.node('Conv', ['input', b.initializer('Wc', [k, c, 1, 1], wc)], { kernel_shape: [1, 1] }, [[n, k, h, w]], 'conv');
  b.output(y);
  return forwardCase(b, x);
}

type Apply = typeof applyCpu;

/** AE through Transpose ← MatMul ← Transpose, each step's own rule, from R at the model output. */
async function channelLastAe(c: RuleCase, r: CpuTensor, o: Partial<AeOptions>, gpu: boolean): Promise<CpuTensor> {
  const run = (gpu ? applyGpu : applyCpu) as (...a: Parameters<Apply>) => Promise<(CpuTensor | undefined)[]> | (CpuTensor | undefined)[];
  const [back] = await run(layout.ae.Transpose, c, stepOf(c.plan, 'Transpose', 1), r, { opts: o });
  const [rx] = await run(dense.ae.MatMul, c, stepOf(c.plan, 'MatMul'), back!, { opts: o });
  const [rin] = await run(layout.ae.Transpose, c, stepOf(c.plan, 'Transpose', 0), rx!, { opts: o });
  return rin!;
}

const SWITCHES: [string, Partial<AeOptions>][] = [
  ['all terms, ratio 2', {}],
  ['ratio 1, no shift', { ratio: 1, shift: false }],
  ['C only', { activated: false, inactivated: false }],
  ['A only', { contrib: false, shift: false, inactivated: false }],
  ['B only', { contrib: false, shift: false, activated: false }],
];

describe('MatMul AE: a constant weight on the channel axis is the 1×1 conv rule (spec §2.11, §2.5)', () => {
  // x with exact zeros (x ≤ 0 goes to B), R with zeros and both signs, N = 2 samples.
  const x = rand([2, 5, 3, 4], 71, 0.15);
  const W = rand([5, 6], 72, 0.1);
  const r = rand([2, 6, 3, 4], 73, 0.1);
  const dl = channelLastCase(x, W), pw = pointwiseCase(x, W);

  it.each(SWITCHES)('Transpose→MatMul→Transpose = Conv 1×1 on the same relevance (%s), CPU and GPU (rel. L2 ≤ 1e-5)', async (_n, o) => {
    const [ref] = applyCpu(conv.ae.Conv, pw, stepOf(pw.plan, 'Conv'), r, { opts: o });
    const cpu = await channelLastAe(dl, r, o, false);
    const gpu = await channelLastAe(dl, r, o, true);
    expect(cpu.shape).toEqual(x.shape);
    expect(relL2(cpu.data, ref!.data)).toBeLessThanOrEqual(1e-5);
    expect(relL2(gpu.data, cpu.data)).toBeLessThanOrEqual(1e-5);
    const [refGpu] = await applyGpu(conv.ae.Conv, pw, stepOf(pw.plan, 'Conv'), r, { opts: o });
    expect(relL2(gpu.data, refGpu!.data)).toBeLessThanOrEqual(1e-5);
  });

  it('per sample, R_in sums to (1 − 1) + 1 − 1 = 0 with all terms; C, A and B sum to 0, +1 and −1', () => {
    // No zero denominator: at every position channel 0 is > 0 and channel 1 is < 0; W has no zeros.
    const xs = rand([2, 5, 3, 4], 81);
    for (let n = 0; n < 2; n++) for (let p = 0; p < 12; p++) {
      xs.data[n * 60 + p] = Math.abs(xs.data[n * 60 + p]) + 0.1;
      xs.data[n * 60 + 12 + p] = -Math.abs(xs.data[n * 60 + 12 + p]) - 0.1;
    }
    const dl = channelLastCase(xs, rand([5, 6], 82));
    const step = stepOf(dl.plan, 'MatMul');
    const back = applyCpu(layout.ae.Transpose, dl, stepOf(dl.plan, 'Transpose', 1), r)[0]!;
    const sums = (o: Partial<AeOptions>) => Array.from(cpuSampleSums(applyCpu(dense.ae.MatMul, dl, step, back, { opts: o })[0]!));
    for (const v of sums({})) expect(v).toBeCloseTo(0, 5);
    for (const v of sums({ activated: false, inactivated: false })) expect(v).toBeCloseTo(0, 5);
    for (const v of sums({ contrib: false, inactivated: false })) expect(v).toBeCloseTo(1, 5);
    for (const v of sums({ contrib: false, activated: false })) expect(v).toBeCloseTo(-1, 5);
  });

  it('hand values: x = [2, 1, −1], W = [[1,−2],[3,1],[2,2]], R = [1, −1]', async () => {
    // |W| = [[1,2],[3,1],[2,2]]; P = [1,0], Q = [0,−1]; x⁺ = [2,1,0], a = [1,1,0], b = [0,0,1].
    // Z = [5,5], Za = [4,3], Zb = [2,2]; S_c = [1/5, −1/5], S_a = [1/4, 0], S_b = [0, −1/2].
    // C = x⁺ ⊙ S_c·|W|ᵀ = [−2/5, 2/5, 0], A = a ⊙ S_a·|W|ᵀ = [1/4, 3/4, 0], B = b ⊙ S_b·|W|ᵀ = [0, 0, −1].
    const hx = t([1, 1, 1, 3], [2, 1, -1]);
    const b = new OnnxBuilder();
    b.input('input', hx.shape);
    const [y] = b.node('MatMul', ['input', b.initializer('W', [3, 2], [1, -2, 3, 1, 2, 2])], {}, [[1, 1, 1, 2]], 'fc');
    b.output(y);
    const c = forwardCase(b, hx);
    const step = stepOf(c.plan, 'MatMul');
    const hr = t([1, 1, 1, 2], [1, -1]);
    const want: [Partial<AeOptions>, number[]][] = [
      [{}, [-0.15, 1.15, -1]],
      [{ activated: false, inactivated: false }, [-0.4, 0.4, 0]],
      [{ contrib: false, inactivated: false }, [0.25, 0.75, 0]],
      [{ contrib: false, activated: false }, [0, 0, -1]],
    ];
    for (const [o, v] of want) {
      const [cpu] = applyCpu(dense.ae.MatMul, c, step, hr, { opts: o });
      expect(cpu!.shape).toEqual([1, 1, 1, 3]);
      Array.from(cpu!.data).forEach((got, i) => expect(got).toBeCloseTo(v[i], 6));
      const [gpu] = await applyGpu(dense.ae.MatMul, c, step, hr, { opts: o });
      Array.from(gpu!.data).forEach((got, i) => expect(got).toBeCloseTo(v[i], 6));
    }
  });

  it('several targets per sample: the backward batch is larger than the planned one (GPU = CPU)', async () => {
    const one = channelLastCase(rand([1, 5, 3, 4], 74, 0.15), W);
    const step = stepOf(one.plan, 'MatMul');
    const xs = one.values.get(step.inputs[0]!)!;
    const wide = withBatch(one, { [step.inputs[0]!]: { shape: [3, ...xs.shape.slice(1)], data: Float32Array.from([...xs.data, ...xs.data, ...xs.data]) } });
    const r3 = rand([3, 3, 4, 6], 75, 0.1);
    const [cpu] = applyCpu(dense.ae.MatMul, wide, step, r3, { batch: 3 });
    const [gpu] = await applyGpu(dense.ae.MatMul, wide, step, r3, { batch: 3 });
    expect(cpu!.shape).toEqual([3, 3, 4, 5]);
    expect(relL2(gpu!.data, cpu!.data)).toBeLessThanOrEqual(1e-5);
    // Each target's map is that of the target alone.
    const r1 = { shape: [1, 3, 4, 6], data: r3.data.slice(72, 144) };
    const [alone] = applyCpu(dense.ae.MatMul, one, step, r1);
    expect(relL2(cpu!.data.slice(60, 120), alone!.data)).toBeLessThanOrEqual(1e-6);
  });

  it('products split into binding-sized slices (as a full-size model): GPU = CPU (rel. L2 ≤ 1e-5)', async () => {
    // x 72×8 (2304 bytes), Z 72×12 (3456 bytes), split under a 1024-byte limit.
    const big = channelLastCase(rand([2, 8, 6, 6], 83, 0.1), rand([8, 12], 84));
    const step = stepOf(big.plan, 'MatMul');
    const back = rand([2, 6, 6, 12], 85, 0.1);
    const [cpu] = applyCpu(dense.ae.MatMul, big, step, back);
    matmulTuning.maxBindingBytes = 1024;
    try {
      const [gpu] = await applyGpu(dense.ae.MatMul, big, step, back);
      expect(relL2(gpu!.data, cpu!.data)).toBeLessThanOrEqual(1e-5);
    } finally {
      matmulTuning.maxBindingBytes = undefined;
    }
  });

  it('zero relevance and an all-zero input: finite, zero', async () => {
    const zx = t([1, 2, 2, 3], Array(12).fill(0));
    const b = new OnnxBuilder();
    b.input('input', zx.shape);
    const [y] = b.node('MatMul', ['input', b.initializer('W', [3, 4], W.data.slice(0, 12))], {}, [[1, 2, 2, 4]], 'fc');
    b.output(y);
    const c = forwardCase(b, zx);
    const step = stepOf(c.plan, 'MatMul');
    for (const rr of [t([1, 2, 2, 4], Array(16).fill(0)), rand([1, 2, 2, 4], 76)]) {
      const [cpu] = applyCpu(dense.ae.MatMul, c, step, rr, { opts: { activated: false, inactivated: false } });
      expect(Array.from(cpu!.data).every((v) => v === 0)).toBe(true);
      const [all] = applyCpu(dense.ae.MatMul, c, step, rr);
      const [gpu] = await applyGpu(dense.ae.MatMul, c, step, rr);
      expect(Array.from(all!.data).every(Number.isFinite)).toBe(true);
      expect(relL2(gpu!.data, all!.data)).toBeLessThanOrEqual(1e-5);
    }
  });

  it('refuses, by name, a 2-D MatMul (the classifier) and a runtime weight', () => {
    const { c: flat } = matmulCase([3, 8], [8, 4], false, 77);
    const { c: runtime } = matmulCase([2, 3, 5, 4], [2, 3, 4, 7], true, 78);
    for (const c of [flat, runtime]) {
      const step = stepOf(c.plan, 'MatMul');
      const r0 = rand(step.outShapes[0], 79);
      expect(() => applyCpu(dense.ae.MatMul, c, step, r0)).toThrow(AeqError);
      expect(() => applyCpu(dense.ae.MatMul, c, step, r0)).toThrow(/MatMul.*'mm'|'mm'.*MatMul|mm/);
    }
    expect(dense.ae.Gemm).toBeUndefined();
  });
});

function cpuSampleSums(x: CpuTensor): Float64Array {
  const per = numel(x.shape) / x.shape[0];
  const out = new Float64Array(x.shape[0]);
  for (let i = 0; i < x.data.length; i++) out[Math.floor(i / per)] += x.data[i];
  return out;
}
