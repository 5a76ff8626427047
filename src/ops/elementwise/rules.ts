// Element-wise Add/Sub/Mul/Div with numpy broadcasting. Gradient: dy (times the other operand, or
// divided by it) summed over the axes an operand was broadcast along. AE (spec §2.7): a constant
// operand (bias, normalisation) passes R through; two runtime operands of an Add are a residual
// join, split by mode 'main' or 'proportional' (residual.ts).
import type { Rule, RuleTable, SignalSpec } from '../rule.js';
import { fmtShape, numel, stridesOf, type Shape } from '../../graph/tensor.js';
import { broadcastStrides, forEachOffset } from '../shared/fold.js';
import { assemble, uniforms } from '../../kernels/gpu/wgsl.js';
import { Gpu } from '../../kernels/gpu/runtime.js';
import { type AnyCtx, backShape, fail, isRuntime, keepsSamples, perSample, sameShape } from '../shared/signal.js';
import { sections, splitCpu, splitGpu } from './residual.js';

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
interface Factor { mode: 0 | 1 | 2; other?: number; scale: number }

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
  // Div: only the numerator's gradient, dy / b (the divisor's is refused in binaryGrad).
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
    so: f.other === undefined ? r.map(() => 0) : broadcastStrides(ops[f.other].shape, r),
    red: kshape.map((s, d) => (s === 1 ? r[d] : 1)),
  };
}

/** The plan of rules that reduce dy to some operands (undefined: no signal). */
function reducePlan(reduces: (Reduce | undefined)[]): { params: BinaryBack; signals: (SignalSpec | undefined)[] } {
  return {
    params: { reduces },
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

type BinaryBack = { reduces: (Reduce | undefined)[] } | { split: true };

const twins: Pick<Rule<BinaryBack>, 'cpu' | 'gpu'> = {
  cpu(p, ctx, dy, out) {
    if ('split' in p) return splitCpu(ctx.input(0)!, ctx.input(1)!, dy, out[0]!.data, out[1]!.data);
    p.reduces.forEach((q, i) => {
      if (!q || q.pass) return;
      const acc = new Float64Array(numel(q.shape));
      const ot = q.other === undefined ? undefined : ctx.input(q.other)!.data;
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
      const other = q.other === undefined ? dy : ctx.input(q.other)!;
      g.dispatch(pipeline, u, [dy.buffer, other.buffer, out[i]!.buffer], Gpu.groups1d(n));
    });
  },
};

/** Gradient of Add/Sub/Mul/Div with numpy broadcasting; only runtime operands receive one. */
export const binaryGrad: Rule<BinaryBack> = {
  plan(ctx, r) {
    const ops = operands(ctx, r);
    if (ctx.step.node.opType === 'Div' && ops[1].runtime) throw fail(ctx, 'the gradient with respect to a runtime divisor is not supported');
    return reducePlan(ops.map((o, i) => (o.runtime ? reduceOf(gradFactor(ctx.step.node.opType, ops, i), ops, i, r) : undefined)));
  },
  ...twins,
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

/**
 * AE at Add/Sub/Mul/Div (spec §2.7). One runtime operand (a bias, a normalisation constant):
 * R passes to it unchanged (summed over axes it was broadcast along). Two runtime operands (Add):
 * mode 'main' gives all of R to the main operand, 'proportional' splits it by contribution.
 */
export const binaryAe: Rule<BinaryBack> = {
  plan(ctx, r) {
    const ops = operands(ctx, r);
    const sole = soleRuntime(ctx, ops);
    if (sole !== undefined || ctx.opts.residual === 'main') {
      const i = sole ?? ctx.mainOperand ?? 0;
      const reduces: (Reduce | undefined)[] = [undefined, undefined];
      reduces[i] = reduceOf({ mode: 0, scale: 1 }, ops, i, r);
      return reducePlan(reduces);
    }
    // Mode 'proportional' needs x₁, x₂ and R of one shape.
    if (!sameShape(ops[0].shape, r) || !sameShape(ops[1].shape, r)) {
      throw fail(ctx, `residual mode 'proportional' needs operands of the output's shape, got ${fmtShape(ops[0].shape)} and ${fmtShape(ops[1].shape)}`);
    }
    return { params: { split: true }, signals: [{ shape: r }, { shape: r }] };
  },
  ...twins,
};

export const gradient: RuleTable = { Add: binaryGrad, Sub: binaryGrad, Mul: binaryGrad, Div: binaryGrad };
export const ae: RuleTable = { Add: binaryAe, Sub: binaryAe, Mul: binaryAe, Div: binaryAe };
