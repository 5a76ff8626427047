// Element-wise Add/Sub/Mul/Div/Pow with numpy broadcasting. Gradient: dy (times the other operand,
// divided by it, or times a factor computed from both operands: a runtime divisor's −a/b², Pow's
// p·x^(p−1) and x^p·ln x) summed over the axes an operand was broadcast along. AE (spec §2.7,
// §2.11): a constant operand (bias, normalisation) passes R through; two runtime operands of an
// Add are a residual join, split by mode 'main' or 'proportional' (residual.ts); of a Mul, a gate
// and its signal (all of R to the signal); of a normaliser's Sub / Div, R to the minuend /
// numerator (roles.ts). Pow has no AE rule: it only computes statistics, which receive nothing.
import type { Rule, RuleCtx, RuleTable, SignalSpec } from '../rule.js';
import { fmtShape, numel, stridesOf, type Shape } from '../../graph/tensor.js';
import { broadcastStrides, forEachOffset, mapBroadcast } from '../shared/fold.js';
import { assemble, uniforms } from '../../kernels/gpu/wgsl.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { type AnyCtx, backShape, fail, isRuntime, keepsSamples, perSample, sameShape } from '../shared/signal.js';
import { sections, splitCpu, splitGpu } from './residual.js';
import { recordElementwise, type Operand as GpuOperand } from './forward.js';
import { gatingSignal, isStatisticOf } from './roles.js';
import type { CpuTensor } from '../op.js';

export { ZERO_SUM, proportionalCpu, proportionalGpu } from './residual.js';

const MAX_REDUCE_RANK = 8;

interface Operand {
  runtime: boolean;
  shape: Shape;
  /** A constant scalar read from the plan (it travels in the forward kernel's uniforms). */
  scalar?: number;
}

function operands(ctx: AnyCtx, r: Shape): [Operand, Operand] {
  if (r.length > MAX_REDUCE_RANK) throw fail(ctx, `rank ${r.length} exceeds the ${MAX_REDUCE_RANK} supported by the backward rules`);
  const t = perSample(ctx, { shape: r });
  const outN = ctx.step.outShapes[0][0];
  return [0, 1].map((i) => {
    const name = ctx.step.node.inputs[i];
    const runtime = isRuntime(ctx, i);
    const planShape = ctx.plan.shapes.get(name)!;
    if (runtime) {
      keepsSamples(ctx, t, planShape.length === r.length && planShape[0] === outN,
        `operand ${i} ${fmtShape(planShape)} is broadcast along the batch axis`);
    }
    const c = ctx.step.inputs[i] ? undefined : ctx.plan.consts.get(name);
    return { runtime, shape: runtime ? backShape(ctx, name, t) : planShape, scalar: c && c.data.length === 1 ? Math.fround(c.data[0]) : undefined };
  }) as [Operand, Operand];
}

/**
 * One operand's signal: scale · Σ over dy's broadcast axes of dy (mode 0), dy·other (mode 1) or
 * safe_div(dy, other) (mode 2), where `other` is the forward value of input `other`.
 */
interface Factor { mode: 0 | 1 | 2; other?: number; scale: number; temp?: Temp }

/**
 * A factor of dy's shape computed from both operands first (a temporary), then multiplied in as
 * mode 1: WGSL over a0, a1 (the forward kernel's header, so pow_onnx is there) and its CPU twin.
 * Each is 0 where the derivative is undefined, never NaN.
 */
interface Temp { key: string; expr: string; f: (a: number, b: number) => number }

/** d(a/b)/db = −a/b² (0 where b = 0). */
const DIV_DIVISOR: Temp = {
  key: 'grad.div_divisor', expr: 'select(0.0, -(a0 / a1) / a1, a1 != 0.0)',
  f: (a, b) => (b !== 0 ? -(a / b) / b : 0),
};

/** d(x^p)/dx = p·x^(p−1): 0 where undefined (x = 0 with p < 1, x < 0 with p not an integer). */
const POW_BASE: Temp = {
  key: 'grad.pow_base',
  expr: 'select(0.0, a1 * pow_onnx(a0, a1 - 1.0), a0 > 0.0 || (a0 < 0.0 && a1 == floor(a1)) || (a0 == 0.0 && a1 >= 1.0))',
  f: (x, p) => (x > 0 || (x < 0 && Number.isInteger(p)) || (x === 0 && p >= 1) ? p * Math.pow(x, p - 1) : 0),
};

/** d(x^p)/dp = x^p·ln x: 0 where x ≤ 0. */
const POW_EXPONENT: Temp = {
  key: 'grad.pow_exponent', expr: 'select(0.0, pow_onnx(a0, a1) * log(a0), a0 > 0.0)',
  f: (x, p) => (x > 0 ? Math.pow(x, p) * Math.log(x) : 0),
};

/** A reduction planned against dy's shape (right-aligned numpy broadcasting). */
interface Reduce extends Factor {
  shape: Shape;
  /** dy itself: no factor and no broadcast axis (an alias). */
  pass: boolean;
  /** The operand's and the other operand's strides read at dy's coordinates (0 on broadcast axes). */
  sk: number[];
  so: number[];
  /** The operand's shape at dy's rank, and the extent of each axis it is broadcast along (1 elsewhere). */
  kshape: Shape;
  red: Shape;
}

/** The factor for operand i of a gradient rule (Sub's second operand is negated). */
function gradFactor(op: string, ops: [Operand, Operand], i: number): Factor {
  const j = 1 - i;
  if (op === 'Add') return { mode: 0, scale: 1 };
  if (op === 'Sub') return { mode: 0, scale: i === 0 ? 1 : -1 };
  const s = ops[j].scalar;
  if (op === 'Mul') return s !== undefined ? { mode: 0, scale: s } : { mode: 1, other: j, scale: 1 };
  if (op === 'Pow') return { mode: 1, scale: 1, temp: i === 0 ? POW_BASE : POW_EXPONENT };
  // Div: the numerator's gradient dy / b, the divisor's −dy·a/b².
  if (i === 1) return { mode: 1, scale: 1, temp: DIV_DIVISOR };
  if (s !== undefined) return { mode: 0, scale: s !== 0 ? 1 / s : 0 };
  return { mode: 2, other: 1, scale: 1 };
}

function reduceOf(f: Factor, ops: [Operand, Operand], i: number, r: Shape): Reduce {
  const { shape } = ops[i];
  const kshape = [...new Array<number>(r.length - shape.length).fill(1), ...shape];
  return {
    ...f, shape, kshape,
    pass: f.mode === 0 && f.scale === 1 && sameShape(shape, r),
    sk: broadcastStrides(shape, r),
    so: f.temp ? stridesOf(r) : f.other === undefined ? r.map(() => 0) : broadcastStrides(ops[f.other].shape, r),
    red: kshape.map((s, d) => (s === 1 ? r[d] : 1)),
  };
}

/** The plan of rules that reduce dy to some operands (undefined: no signal). */
function reducePlan(reduces: (Reduce | undefined)[], ops: [Operand, Operand]): { params: BinaryBack; signals: (SignalSpec | undefined)[] } {
  return {
    params: { reduces, scalars: ops.map((o) => o.scalar) },
    signals: reduces.map((q) => (q ? { shape: q.shape, alias: q.pass } : undefined)),
  };
}

const REDUCE = uniforms({
  n: 'u32',
  m: 'u32',
  rank: 'u32',
  mode: 'u32',
  scale: 'f32',
  kshape: { vec4: 'u32', n: 2 },
  rshape: { vec4: 'u32', n: 2 },
  sdy: { vec4: 'u32', n: 2 },
  sot: { vec4: 'u32', n: 2 },
});

type BinaryBack = { reduces: (Reduce | undefined)[]; scalars: (number | undefined)[] } | { split: true };

/** Operand i's forward value: a scalar constant travels in the plan, anything else is an input. */
function cpuOperand(p: { scalars: (number | undefined)[] }, ctx: RuleCtx<CpuTensor>, i: number): CpuTensor {
  const s = p.scalars[i];
  return s !== undefined && !ctx.step.inputs[i] ? { shape: [], data: Float32Array.of(s) } : ctx.input(i)!;
}

function gpuOperand(p: { scalars: (number | undefined)[] }, ctx: RuleCtx<GpuTensor>, i: number): GpuOperand {
  const s = p.scalars[i];
  return s !== undefined && !ctx.step.inputs[i] ? { scalar: s } : ctx.input(i)!;
}

const twins: Pick<Rule<BinaryBack>, 'cpu' | 'gpu'> = {
  cpu(p, ctx, dy, out) {
    if ('split' in p) return splitCpu(ctx.input(0)!, ctx.input(1)!, dy, out[0]!.data, out[1]!.data);
    p.reduces.forEach((q, i) => {
      if (!q || q.pass) return;
      const acc = new Float64Array(numel(q.shape));
      const ot = q.temp
        ? mapBroadcast(dy.shape, [cpuOperand(p, ctx, 0), cpuOperand(p, ctx, 1)], new Float32Array(dy.data.length), (v) => q.temp!.f(v[0], v[1]))
        : q.other === undefined ? undefined : ctx.input(q.other)!.data;
      forEachOffset(dy.shape, [q.sk, q.so], [0, 0], (k, o) => {
        let v = dy.data[k];
        if (q.mode === 1) v *= ot![o[1]];
        else if (q.mode === 2) v = ot![o[1]] !== 0 ? v / ot![o[1]] : 0;
        acc[o[0]] += v;
      });
      const y = out[i]!.data;
      for (let k = 0; k < acc.length; k++) y[k] = acc[k] * q.scale;
    });
  },
  gpu(p, g, ctx, dy, out) {
    if ('split' in p) return splitGpu(g, ctx.input(0)!, ctx.input(1)!, dy, out[0]!, out[1]!);
    p.reduces.forEach((q, i) => {
      if (!q || q.pass) return;
      const n = numel(q.shape);
      if (!n) return;
      const u = REDUCE.pack({
        n, m: numel(q.red), rank: dy.shape.length, mode: q.mode, scale: q.scale,
        kshape: q.kshape, rshape: q.red, sdy: stridesOf(dy.shape), sot: q.so,
      }, { kshape: 1, rshape: 1 });
      const pipeline = g.kernel('elementwise.reduce', () => assemble(sections, ['reduce'], {}, REDUCE));
      let temp: GpuTensor | undefined;
      if (q.temp) {
        temp = g.alloc(dy.shape, `${ctx.step.node.opType}.${q.temp.key}`);
        recordElementwise(g, `elementwise.${q.temp.key}`, q.temp.expr, [gpuOperand(p, ctx, 0), gpuOperand(p, ctx, 1)], temp);
      }
      const other = temp ?? (q.other === undefined ? dy : ctx.input(q.other)!);
      g.dispatch(pipeline, u, [dy.buffer, other.buffer, out[i]!.buffer], Gpu.groups1d(n));
      if (temp) g.release(temp);
    });
  },
};

/** Gradient of Add/Sub/Mul/Div/Pow with numpy broadcasting; only runtime operands receive one. */
export const binaryGrad: Rule<BinaryBack> = {
  plan(ctx, r) {
    const ops = operands(ctx, r);
    return reducePlan(ops.map((o, i) => (o.runtime ? reduceOf(gradFactor(ctx.step.node.opType, ops, i), ops, i, r) : undefined)), ops);
  },
  ...twins,
};

/** AE: the operand that receives all of R (undefined: a residual Add, the caller decides). */
function soleRuntime(ctx: AnyCtx, ops: [Operand, Operand]): number | undefined {
  const op = ctx.step.node.opType;
  if (ops[0].runtime && ops[1].runtime) {
    if (op === 'Add') return undefined;
    if (op === 'Mul') {
      const g = gatingSignal(ctx.plan, ctx.step);
      if ('error' in g) throw fail(ctx, g.error);
      return g.signal;
    }
    // Sub / Div inside a normaliser: the subtrahend / divisor is a statistic of the other operand.
    const [a, b] = ctx.step.node.inputs;
    if (!isStatisticOf(ctx.plan, b, a)) {
      throw fail(ctx, `AE has no rule for ${op} of two runtime tensors unless the ${op === 'Sub' ? 'subtrahend' : 'divisor'} ` +
        `is computed from the ${op === 'Sub' ? 'minuend' : 'numerator'} (a normaliser's statistic)`);
    }
    return 0;
  }
  if (op === 'Div' && ops[1].runtime) throw fail(ctx, 'AE has no rule for a division by a runtime tensor');
  return ops[0].runtime ? 0 : 1;
}

/**
 * AE at Add/Sub/Mul/Div (spec §2.7, §2.11). One runtime operand (a bias, a normalisation constant):
 * R passes to it unchanged (summed over axes it was broadcast along). Two runtime operands: Add
 * in mode 'main' gives all of R to the main operand, 'proportional' splits it by contribution;
 * a gating Mul gives it to the signal, a normaliser's Sub / Div to the minuend / numerator.
 */
export const binaryAe: Rule<BinaryBack> = {
  plan(ctx, r) {
    const ops = operands(ctx, r);
    const sole = soleRuntime(ctx, ops);
    if (sole !== undefined || ctx.opts.residual === 'main') {
      const i = sole ?? ctx.mainOperand ?? 0;
      const reduces: (Reduce | undefined)[] = [undefined, undefined];
      reduces[i] = reduceOf({ mode: 0, scale: 1 }, ops, i, r);
      return reducePlan(reduces, ops);
    }
    // Mode 'proportional' needs x₁, x₂ and R of one shape.
    if (!sameShape(ops[0].shape, r) || !sameShape(ops[1].shape, r)) {
      throw fail(ctx, `residual mode 'proportional' needs operands of the output's shape, got ${fmtShape(ops[0].shape)} and ${fmtShape(ops[1].shape)}`);
    }
    return { params: { split: true }, signals: [{ shape: r }, { shape: r }] };
  },
  ...twins,
};

export const gradient: RuleTable = { Add: binaryGrad, Sub: binaryGrad, Mul: binaryGrad, Div: binaryGrad, Pow: binaryGrad };
export const ae: RuleTable = { Add: binaryAe, Sub: binaryAe, Mul: binaryAe, Div: binaryAe };
