// Backward rules of the copy ops: data movement runs backwards on the forward strided-copy kernel
// with derived copies. Transpose by the inverse permutation, Slice by the reversed copies into
// zeros, Concat by one dispatch splitting R into its parts (concat.ts; AE masks each part by
// [x_i ≠ 0], spec §2.8), Split as
// Concat's inverse (each output's part copied into zeros, no mask, spec §2.11), Gather by
// scatter-adding runs of distinct indices. An op that moves data across the batch axis is refused
// with several targets per sample (shared/signal.ts).
import type { Rule, SignalSpec } from '../rule.js';
import { attrInt, attrInts } from '../../graph/ir.js';
import { fmtShape, numel, stridesOf, type Shape } from '../../graph/tensor.js';
import { type AnyCtx, backShape, fail, isRuntime, keepsSamples, perSample, sameShape } from '../shared/signal.js';
import { recordConcat, recordConcatMaskSums } from './concat.js';
import { type Copy, gatherCopies, makeCopy, recordCopies, reverseCopy, runCopies } from './copies.js';
import type { SplitParams } from './forward.js';

interface CopyBack { copies: Copy[] }

/** A rule that moves the signal to input 0 by strided copies only (into zeros when `zero`). */
function copyRule(plan: (ctx: AnyCtx, r: Shape) => { shape: Shape; copies: Copy[]; zero: boolean }): Rule<CopyBack> {
  return {
    plan(ctx, r) {
      const { shape, copies, zero } = plan(ctx, r);
      return { params: { copies }, signals: [{ shape, zero }] };
    },
    cpu(p, _ctx, r, out) {
      runCopies(p.copies, [r.data], out[0]!.data);
    },
    gpu(p, g, _ctx, r, out) {
      recordCopies(g, p.copies, [r], out[0]!);
    },
  };
}

/** The op's forward params at the backward batch (prepared again when T > 1). */
function forwardParams<P>(ctx: AnyCtx, t: number): { params: P; shape: Shape } {
  if (t === 1) return { params: ctx.step.params as P, shape: ctx.step.outShapes[0] };
  const { node } = ctx.step;
  const p = ctx.step.spec.prepare({
    node,
    opset: ctx.plan.model.opset,
    shapes: node.inputs.map((n) => (n ? backShape(ctx, n, t) : undefined)),
    consts: node.inputs.map((n) => (n ? ctx.plan.consts.get(n) : undefined)),
    dtypes: node.inputs.map((n) => (n ? ctx.plan.consts.get(n)?.dtype ?? 'float32' : undefined)),
  });
  return { params: p.params as P, shape: p.shapes[0] };
}

// ---------------------------------------------------------------- Transpose

/** Transpose back by the inverse permutation (gradient and AE, spec §2.1). */
export const transposeBack = copyRule((ctx, r) => {
  const t = perSample(ctx, { shape: r });
  const shape = backShape(ctx, ctx.step.inputs[0]!, t);
  const rank = shape.length;
  const perm = attrInts(ctx.step.node, 'perm') ?? Array.from({ length: rank }, (_, d) => rank - 1 - d);
  keepsSamples(ctx, t, perm[0] === 0, `perm [${perm.join(',')}] moves the batch axis`);
  const rs = stridesOf(r);
  // Input axis perm[k] is output axis k.
  const ist = new Array<number>(rank);
  perm.forEach((p, k) => { ist[p] = rs[k]; });
  return { shape, copies: [makeCopy(0, shape, ist, stridesOf(shape))], zero: false };
});

// ---------------------------------------------------------------- Slice

/** Scatter back into zeros of the input shape: the forward copy reversed. */
export const sliceBack = copyRule((ctx, r) => {
  const t = perSample(ctx, { shape: r });
  const shape = backShape(ctx, ctx.step.inputs[0]!, t);
  const fwd = forwardParams<{ copies: Copy[] }>(ctx, t);
  if (t !== 1) {
    const first = fwd.params.copies[0];
    const ok = sameShape(fwd.shape, r) && (!first || first.ibase < numel(shape) / shape[0]);
    keepsSamples(ctx, t, ok, `the slice of input ${fmtShape(shape)} selects along the batch axis`);
  }
  return { shape, copies: fwd.params.copies.map(reverseCopy), zero: true };
});

// ---------------------------------------------------------------- Concat

interface ConcatPart {
  index: number;
  shape: Shape;
  block: number;
  offset: number;
  /** The part's columns of dy copied out (the gradient). */
  copy: Copy;
}
interface ConcatBack { parts: ConcatPart[]; total: number }

/** Where each runtime input lies in the output, seen as [outer, total] rows; one signal each. */
function planConcat(ctx: AnyCtx, r: Shape): { params: ConcatBack; signals: (SignalSpec | undefined)[] } {
  const { node } = ctx.step;
  const t = perSample(ctx, { shape: r });
  const rank = r.length;
  const a = attrInt(node, 'axis');
  const axis = a < 0 ? a + rank : a;
  keepsSamples(ctx, t, axis !== 0, 'concatenation along axis 0');
  const inner = numel(r.slice(axis + 1));
  const parts: ConcatPart[] = [];
  let offset = 0;
  const total = r[axis] * inner;
  node.inputs.forEach((name, index) => {
    if (!name) return;
    const shape = backShape(ctx, name, t);
    const block = shape[axis] * inner;
    const copy = makeCopy(0, [numel(shape) / Math.max(block, 1), block], [total, 1], [block, 1], offset);
    parts.push({ index, shape, block, offset, copy });
    offset += block;
  });
  const runtime = parts.filter((p) => isRuntime(ctx, p.index));
  const signals: (SignalSpec | undefined)[] = [];
  for (const p of runtime) signals[p.index] = { shape: p.shape };
  return { params: { parts: runtime, total }, signals };
}

/** Gradient: split dy back to each runtime input. */
export const concatGrad: Rule<ConcatBack> = {
  plan: planConcat,
  cpu(p, _ctx, r, out) {
    for (const q of p.parts) runCopies([q.copy], [r.data], out[q.index]!.data);
  },
  gpu(p, g, _ctx, r, out) {
    recordConcat(g, 'split', outerOf(p, r), p.total, r, p.parts, p.parts.map((q) => [out[q.index]!]));
  },
};

/** R's rows of `total` values. */
const outerOf = (p: ConcatBack, r: { shape: Shape }) => (p.total ? numel(r.shape) / p.total : 0);

/** AE (spec §2.8): split R back, each part masked by [x_i ≠ 0]. */
export const concatAe: Rule<ConcatBack> = {
  plan: planConcat,
  cpu(p, ctx, r, out) {
    for (const q of p.parts) {
      const x = ctx.input(q.index)!.data;
      const o = out[q.index]!.data;
      for (let j = 0; j < o.length; j++) {
        const row = Math.floor(j / q.block);
        o[j] = x[j] !== 0 ? r.data[row * p.total + q.offset + (j - row * q.block)] : 0;
      }
    }
  },
  gpu(p, g, ctx, r, out) {
    const bufs = p.parts.map((q) => [ctx.input(q.index)!, out[q.index]!]);
    // Rows that are samples: each part's sums come with its signal (for the AE conv rule).
    if (outerOf(p, r) === r.shape[0] && r.shape[0] <= 65535) recordConcatMaskSums(g, r.shape[0], p.total, r, p.parts, bufs);
    else recordConcat(g, 'mask', outerOf(p, r), p.total, r, p.parts, bufs);
  },
};

// ---------------------------------------------------------------- Split

/**
 * Split, for the gradient and AE alike (spec §2.11: the input's relevance is the outputs'
 * relevance concatenated back, without Concat's mask): run once per output with a signal
 * (`ctx.signalOf`), it copies that output's signal into its slice of zeros of the input's shape;
 * the walker sums what the outputs give (an output without a signal contributes zeros).
 */
export const splitBack: Rule<CopyBack> = {
  perOutput: true,
  ...copyRule((ctx, r) => {
    const k = ctx.signalOf ?? 0;
    const { node } = ctx.step;
    const t = r.length ? r[0] / ctx.plan.shapes.get(node.outputs[k])![0] : 1;
    const axis = (ctx.step.params as SplitParams).axis;
    keepsSamples(ctx, t, axis !== 0, 'splitting along axis 0');
    const shape = backShape(ctx, ctx.step.inputs[0]!, t);
    const fwd = forwardParams<SplitParams>(ctx, t);
    return { shape, copies: [reverseCopy(fwd.params.copies[k])], zero: true };
  }),
};

// ---------------------------------------------------------------- Gather

interface GatherBack { dim: number; idx: number[]; outer: number; inner: number; copies: Copy[] }

/** Gradient: scatter-add dy back to the gathered positions (indices may repeat). */
export const gatherGrad: Rule<GatherBack> = {
  plan(ctx, r) {
    const { node } = ctx.step;
    const t = perSample(ctx, { shape: r });
    const shape = backShape(ctx, ctx.step.inputs[0]!, t);
    const a = attrInt(node, 'axis', 0);
    const axis = a < 0 ? a + shape.length : a;
    keepsSamples(ctx, t, axis !== 0, 'gathering along axis 0');
    const dim = shape[axis];
    const ic = ctx.plan.consts.get(node.inputs[1]);
    if (!ic) throw fail(ctx, 'the gradient needs constant indices');
    const idx = Array.from(ic.data, (v) => (v < 0 ? v + dim : v));
    const outer = numel(shape.slice(0, axis));
    const inner = numel(shape.slice(axis + 1));
    // Runs of indices with a constant non-zero step write distinct elements: one dispatch each.
    const copies = gatherCopies(idx, dim, outer, inner, true).map(reverseCopy);
    return { params: { dim, idx, outer, inner, copies }, signals: [{ shape, zero: true }] };
  },
  cpu(p, _ctx, r, out) {
    const { dim, idx, outer, inner } = p;
    const acc = new Float64Array(out[0]!.data.length);
    const J = idx.length;
    for (let o = 0; o < outer; o++) for (let j = 0; j < J; j++) for (let i = 0; i < inner; i++) {
      acc[(o * dim + idx[j]) * inner + i] += r.data[(o * J + j) * inner + i];
    }
    out[0]!.data.set(acc);
  },
  gpu(p, g, _ctx, r, out) {
    recordCopies(g, p.copies, [r], out[0]!, true);
  },
};
