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
interface Reduce { mode: 0 | 1 | 2; other?: number; scale: number; shape: Shape }

/** The reduction for operand i of a gradient rule (Sub's second operand is negated). */
function gradReduce(op: string, ops: [Operand, Operand], i: number): Reduce {
  const { shape } = ops[i];
  const j = 1 - i;
  if (op === 'Add') return { mode: 0, scale: 1, shape };
  if (op === 'Sub') return { mode: 0, scale: i === 0 ? 1 : -1, shape };
  const s = ops[j].scalar;
  if (op === 'Mul') return s !== undefined ? { mode: 0, scale: s, shape } : { mode: 1, other: j, scale: 1, shape };
  // Div: only the numerator's gradient, dy / b (the divisor's is refused in binaryGrad).
  if (s !== undefined) return { mode: 0, scale: s !== 0 ? 1 / s : 0, shape };
  return { mode: 2, other: 1, scale: 1, shape };
}

/** dy itself: no factor and no broadcast axis. */
const passes = (q: Reduce, r: Shape) => q.mode === 0 && q.scale === 1 && sameShape(q.shape, r);

/** The plan of rules that reduce dy to some operands (undefined: no signal). */
function reducePlan(reduces: (Reduce | undefined)[], r: Shape): { params: BinaryBack; signals: (SignalSpec | undefined)[] } {
  return {
    params: { reduces },
    signals: reduces.map((q) => (q ? { shape: q.shape, alias: passes(q, r) } : undefined)),
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
      if (!q || passes(q, dy.shape)) return;
      const acc = new Float64Array(numel(q.shape));
      const other = q.other === undefined ? undefined : ctx.input(q.other)!;
      const so = other ? broadcastStrides(other.shape, dy.shape) : dy.shape.map(() => 0);
      const ot = other?.data;
      forEachOffset(dy.shape, [broadcastStrides(q.shape, dy.shape), so], [0, 0], (k, o) => {
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
      if (!q || passes(q, dy.shape)) return;
      const n = numel(q.shape);
      if (!n) return;
      const rank = dy.shape.length;
      const k = [...new Array<number>(rank - q.shape.length).fill(1), ...q.shape];
      const red = k.map((s, d) => (s === 1 ? dy.shape[d] : 1));
      const other = q.other === undefined ? undefined : ctx.input(q.other)!;
      const so = other ? broadcastStrides(other.shape, dy.shape) : dy.shape.map(() => 0);
      const u = REDUCE.pack({ n, m: numel(red), rank, mode: q.mode, scale: q.scale, kshape: k, rshape: red, sdy: stridesOf(dy.shape), sot: so },
        { kshape: 1, rshape: 1 });
      const pipeline = g.kernel('elementwise.reduce', () => assemble(sections, ['reduce'], {}, REDUCE));
      g.dispatch(pipeline, u, [dy.buffer, (other ?? dy).buffer, out[i]!.buffer], Gpu.groups1d(n));
    });
  },
};

/** Gradient of Add/Sub/Mul/Div with numpy broadcasting; only runtime operands receive one. */
export const binaryGrad: Rule<BinaryBack> = {
  plan(ctx, r) {
    const ops = operands(ctx, r);
    if (ctx.step.node.opType === 'Div' && ops[1].runtime) throw fail(ctx, 'the gradient with respect to a runtime divisor is not supported');
    return reducePlan(ops.map((o, i) => (o.runtime ? gradReduce(ctx.step.node.opType, ops, i) : undefined)), r);
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
      reduces[i] = { mode: 0, scale: 1, shape: ops[i].shape };
      return reducePlan(reduces, r);
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
