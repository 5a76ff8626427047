// Element-wise Add/Sub/Mul/Div with numpy broadcasting. Gradient: dy (times the other operand, or
// divided by it) summed over the axes an operand was broadcast along. AE (spec §2.7): a constant
// operand (bias, normalisation) passes R through; two runtime operands of an Add are a residual
// join, split by mode 'main' or 'proportional'.
import src from '../layout/ae_layout.wgsl';
import type { LegacyRule as Rule, RuleCtx, LegacyTable as RuleTable } from '../rule.js';
import type { CpuTensor } from '../op.js';
import { fmtShape, numel, stridesOf, type Shape } from '../../graph/tensor.js';
import { broadcastStrides, forEachOffset } from '../shared/fold.js';
import { assemble, parseSections } from '../../kernels/gpu/wgsl.js';
import { Gpu, Uniforms, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { gpuAttr } from '../shared/attribution.js';
import { type AnyCtx, type Sig, backShape, fail, isRuntime, keepsSamples, perSample, sameShape } from '../shared/signal.js';

const sections = parseSections(src);
const MAX_REDUCE_RANK = 8;

function pipe(g: Gpu, name: string): GPUComputePipeline {
  return g.kernel(`ae_layout.${name}`, () => assemble(sections, [name]));
}

interface Operand {
  runtime: boolean;
  shape: Shape;
  /** A constant scalar read from the plan (it travels in the forward kernel's uniforms). */
  scalar?: number;
}

function operands(ctx: AnyCtx, r: Sig): [Operand, Operand] {
  const t = perSample(ctx, r);
  const outN = ctx.step.outShapes[0][0];
  return [0, 1].map((i) => {
    const name = ctx.step.node.inputs[i];
    const runtime = isRuntime(ctx, i);
    const planShape = ctx.plan.shapes.get(name)!;
    if (runtime) {
      keepsSamples(ctx, t, planShape.length === r.shape.length && planShape[0] === outN,
        `operand ${i} ${fmtShape(planShape)} is broadcast along the batch axis`);
    }
    const c = ctx.step.inputs[i] ? undefined : ctx.plan.consts.get(name);
    return { runtime, shape: runtime ? backShape(ctx, name, t) : planShape, scalar: c && c.data.length === 1 ? Math.fround(c.data[0]) : undefined };
  }) as [Operand, Operand];
}

/** What multiplies dy before the reduction: nothing, the other operand, or 1 / the other operand. */
interface Factor<T> { mode: 0 | 1 | 2; other?: T; scale: number }

/** The factor for operand i of a gradient rule (Sub's second operand is negated). */
function gradFactor<T>(ctx: RuleCtx<T>, ops: [Operand, Operand], i: number): Factor<T> {
  const op = ctx.step.node.opType;
  const j = 1 - i;
  if (op === 'Add') return { mode: 0, scale: 1 };
  if (op === 'Sub') return { mode: 0, scale: i === 0 ? 1 : -1 };
  const s = ops[j].scalar;
  if (op === 'Mul') return s !== undefined ? { mode: 0, scale: s } : { mode: 1, other: ctx.input(j)!, scale: 1 };
  // Div: only the numerator's gradient, dy / b (the divisor's is refused in divGrad).
  if (s !== undefined) return { mode: 0, scale: s !== 0 ? 1 / s : 0 };
  return { mode: 2, other: ctx.input(1)!, scale: 1 };
}

/** scale · Σ over dy's broadcast axes of dy·factor, to `shape` (numpy broadcasting, right-aligned). */
function reduceCpu(dy: CpuTensor, shape: Shape, f: Factor<CpuTensor>): CpuTensor {
  if (f.mode === 0 && f.scale === 1 && sameShape(shape, dy.shape)) return dy;
  const acc = new Float64Array(numel(shape));
  const so = f.other ? broadcastStrides(f.other.shape, dy.shape) : dy.shape.map(() => 0);
  const ot = f.other?.data;
  forEachOffset(dy.shape, [broadcastStrides(shape, dy.shape), so], [0, 0], (i, o) => {
    let v = dy.data[i];
    if (f.mode === 1) v *= ot![o[1]];
    else if (f.mode === 2) v = ot![o[1]] !== 0 ? v / ot![o[1]] : 0;
    acc[o[0]] += v;
  });
  return { shape, data: Float32Array.from(acc, (v) => v * f.scale) };
}

function reduceGpu(g: Gpu, dy: GpuTensor, shape: Shape, f: Factor<GpuTensor>, label: string): GpuTensor {
  if (f.mode === 0 && f.scale === 1 && sameShape(shape, dy.shape)) return dy;
  const rank = dy.shape.length;
  if (rank > MAX_REDUCE_RANK) throw new Error(`internal: broadcast reduction of rank ${rank} exceeds ${MAX_REDUCE_RANK}`);
  const k = [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const red = k.map((s, d) => (s === 1 ? dy.shape[d] : 1));
  const so = f.other ? broadcastStrides(f.other.shape, dy.shape) : dy.shape.map(() => 0);
  const n = numel(shape);
  const out = g.alloc(shape, label);
  const u = new Uniforms().u(n, numel(red), rank, f.mode).f(f.scale).u(0, 0, 0)
    .vec4s(k, 2, 1).vec4s(red, 2, 1).vec4s(stridesOf(dy.shape), 2).vec4s(so, 2);
  if (n) g.dispatch(pipe(g, 'reduce'), u, [dy.buffer, (f.other ?? dy).buffer, out.buffer], Gpu.groups1d(n));
  return out;
}

function checkRank(ctx: AnyCtx, r: Sig): void {
  if (r.shape.length > MAX_REDUCE_RANK) throw fail(ctx, `rank ${r.shape.length} exceeds the ${MAX_REDUCE_RANK} supported by the backward rules`);
}

/** Gradient of Add/Sub/Mul/Div with numpy broadcasting; only runtime operands receive one. */
export const binaryGrad: Rule = {
  cpu(ctx, r) {
    checkRank(ctx, r);
    const ops = operands(ctx, r);
    if (ctx.step.node.opType === 'Div' && ops[1].runtime) throw fail(ctx, 'the gradient with respect to a runtime divisor is not supported');
    return ops.map((o, i) => (o.runtime ? reduceCpu(r, o.shape, gradFactor(ctx, ops, i)) : undefined));
  },
  gpu(g, ctx, r) {
    checkRank(ctx, r);
    const ops = operands(ctx, r);
    if (ctx.step.node.opType === 'Div' && ops[1].runtime) throw fail(ctx, 'the gradient with respect to a runtime divisor is not supported');
    return ops.map((o, i) => (o.runtime ? reduceGpu(g, r, o.shape, gradFactor(ctx, ops, i), 'grad.binary') : undefined));
  },
};

/** AE: the operand that receives all of R (undefined: two runtime operands, the caller decides). */
function soleRuntime(ctx: AnyCtx, ops: [Operand, Operand]): number | undefined {
  const op = ctx.step.node.opType;
  if (ops[0].runtime && ops[1].runtime) {
    if (op === 'Add') return undefined;
    throw fail(ctx, `AE has no rule for ${op} of two runtime tensors (only a constant operand, e.g. a normalisation, passes relevance through)`);
  }
  if (op === 'Div' && ops[1].runtime) throw fail(ctx, 'AE has no rule for a division by a runtime tensor');
  return ops[0].runtime ? 0 : 1;
}

const PASS: Factor<never> = { mode: 0, scale: 1 };

/** Mode 'proportional' needs x₁, x₂ and R of one shape. */
function proportionalShapes(ctx: AnyCtx, ops: [Operand, Operand], r: Sig): void {
  if (!sameShape(ops[0].shape, r.shape) || !sameShape(ops[1].shape, r.shape)) {
    throw fail(ctx, `residual mode 'proportional' needs operands of the output's shape, got ${fmtShape(ops[0].shape)} and ${fmtShape(ops[1].shape)}`);
  }
}

/**
 * AE at Add/Sub/Mul/Div (spec §2.7). One runtime operand (a bias, a normalisation constant):
 * R passes to it unchanged (summed over axes it was broadcast along). Two runtime operands (Add):
 * mode 'main' gives all of R to the main operand, 'proportional' splits it by contribution.
 */
export const binaryAe: Rule = {
  cpu(ctx, r) {
    checkRank(ctx, r);
    const ops = operands(ctx, r);
    const sole = soleRuntime(ctx, ops);
    const res: (CpuTensor | undefined)[] = [undefined, undefined];
    if (sole !== undefined || ctx.opts.residual === 'main') {
      const i = sole ?? ctx.mainOperand ?? 0;
      res[i] = reduceCpu(r, ops[i].shape, PASS);
      return res;
    }
    proportionalShapes(ctx, ops, r);
    return proportionalCpu(ctx.input(0)!, ctx.input(1)!, r);
  },
  gpu(g, ctx, r) {
    checkRank(ctx, r);
    const ops = operands(ctx, r);
    const sole = soleRuntime(ctx, ops);
    const res: (GpuTensor | undefined)[] = [undefined, undefined];
    if (sole !== undefined || ctx.opts.residual === 'main') {
      const i = sole ?? ctx.mainOperand ?? 0;
      res[i] = reduceGpu(g, r, ops[i].shape, PASS, 'ae.binary');
      return res;
    }
    proportionalShapes(ctx, ops, r);
    return proportionalGpu(g, ctx.input(0)!, ctx.input(1)!, r);
  },
};

/**
 * Zero-sum guard of the proportional split: R whose sum is below this fraction of its absolute sum
 * (relevance from 1×1 rules, or 3×3 ones at ratio 2, is zero-sum by construction) has no total to
 * share out; spec §2.7's rescaling to ΣR would scale both parts down to rounding noise, so the
 * plain split a + b = R is kept, like safe_div's guard for a zero denominator.
 */
export const ZERO_SUM = 1e-3;

/** Per-sample rescaling factor of a part summing to `s` (spec §2.7); a zero-sum part stays as is. */
const rescale = (s: number, other: number, total: number) => (s !== 0 ? (Math.sign(s) * total) / (Math.abs(s) + Math.abs(other)) : 1);

export function proportionalCpu(x1: CpuTensor, x2: CpuTensor, r: CpuTensor): CpuTensor[] {
  const n = r.data.length;
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const z = Math.fround(x1.data[i] + x2.data[i]);
    const s = z !== 0 ? r.data[i] / z : 0;
    a[i] = x1.data[i] * s;
    b[i] = x2.data[i] * s;
  }
  const batch = r.shape[0] ?? 1;
  const per = batch ? n / batch : 0;
  for (let k = 0; k < batch; k++) {
    let sa = 0, sb = 0, sr = 0, srAbs = 0;
    for (let i = k * per; i < (k + 1) * per; i++) {
      sa += a[i];
      sb += b[i];
      sr += r.data[i];
      srAbs += Math.abs(r.data[i]);
    }
    if (Math.abs(sr) <= ZERO_SUM * srAbs) continue;
    const fa = rescale(sa, sb, sr), fb = rescale(sb, sa, sr);
    for (let i = k * per; i < (k + 1) * per; i++) {
      a[i] *= fa;
      b[i] *= fb;
    }
  }
  return [{ shape: r.shape, data: a }, { shape: r.shape, data: b }];
}

export function proportionalGpu(g: Gpu, x1: GpuTensor, x2: GpuTensor, r: GpuTensor): GpuTensor[] {
  const n = numel(r.shape);
  const a = g.alloc(r.shape, 'ae.residual.a');
  const b = g.alloc(r.shape, 'ae.residual.b');
  if (n === 0) return [a, b];
  g.dispatch(pipe(g, 'residual_split'), new Uniforms().u(n), [r.buffer, x1.buffer, x2.buffer, a.buffer, b.buffer], Gpu.groups1d(n));
  const sums = [gpuAttr.sampleSum(g, a), gpuAttr.sampleSum(g, b), gpuAttr.sampleSum(g, r), gpuAttr.sampleSum(g, r, 'abs')];
  g.dispatch(pipe(g, 'residual_rescale'), new Uniforms().u(n, n / r.shape[0]),
    [...sums.map((s) => s.buffer), a.buffer, b.buffer], Gpu.groups1d(n));
  sums.forEach((s) => g.release(s));
  return [a, b];
}

export const gradient: RuleTable = { Add: binaryGrad, Sub: binaryGrad, Mul: binaryGrad, Div: binaryGrad };
export const ae: RuleTable = { Add: binaryAe, Sub: binaryAe, Mul: binaryAe, Div: binaryAe };
