// Layout and structural ops. Views (Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout, Cast)
// pass the signal back reshaped to their input, for the gradient and for AE alike (spec §2.1).
// Data movement runs backwards on the forward kernels with derived parameters: Transpose by the
// inverse permutation, Slice and Concat by the reversed strided copy, Pad's crop by a Pad with
// negated begins. Element-wise Add/Sub/Mul/Div reduce over broadcast axes (shaders/ae_layout.wgsl).
//
// The backward batch may hold T signals per forward sample (several targets); the walker expands
// every runtime tensor along axis 0. That commutes with an op only if the op keeps samples apart,
// so an op that moves data across the batch axis is refused when T > 1 (it is exact when T = 1).
import src from './ae_layout.wgsl';
import type { LegacyRule as Rule, RuleCtx, LegacyTable as RuleTable } from '../rule.js';
import type { CpuTensor } from '../op.js';
import { ops as layoutOps, mapPadIndex, recordCopy, type Copy } from './forward.js';
import { attrInt, attrInts } from '../../graph/ir.js';
import { fmtShape, numel, stridesOf, type Shape } from '../../graph/tensor.js';
import { broadcastStrides, coalesce, forEachOffset } from '../shared/fold.js';
import { assemble, parseSections } from '../../kernels/gpu/wgsl.js';
import { Gpu, Uniforms, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { gpuAttr } from '../shared/attribution.js';
import { type AnyCtx, type Sig, backShape, fail, isRuntime, keepsSamples, perSample, sameShape } from '../shared/signal.js';

const sections = parseSections(src);

/** A kernel of ae_layout.wgsl; `rank` templates the strided ones (part of the key). */
function pipe(g: Gpu, name: string, rank?: number): GPUComputePipeline {
  const key = `ae_layout.${name}${rank === undefined ? '' : `.r${rank}`}`;
  return g.kernel(key, () => assemble(sections, [name], rank === undefined ? {} : { RANK: rank }));
}

// ---------------------------------------------------------------- strided copies

function copyOf(shape: Shape, ist: number[], ost: number[], ibase = 0, obase = 0): Copy {
  const c = coalesce(shape, [ist, ost]);
  return { input: 0, shape: c.shape, ist: c.strides[0], ost: c.strides[1], ibase, obase };
}

/** The copy run backwards: it reads where the forward one wrote and writes where it read. */
const reverseCopy = (c: Copy): Copy => ({ input: 0, shape: c.shape, ist: c.ost, ost: c.ist, ibase: c.obase, obase: c.ibase });

/** Copies into a fresh zero tensor of `shape`. */
function copiesCpu(copies: Copy[], r: CpuTensor, shape: Shape): CpuTensor {
  return { shape, data: layoutOps.Slice.cpu({ copies }, [r], [shape])[0] };
}

/** Copies into a fresh tensor of `shape`; `zero` clears it first (when the copies do not cover it). */
function copiesGpu(g: Gpu, copies: Copy[], r: GpuTensor, shape: Shape, zero: boolean, label: string): GpuTensor {
  const out = g.alloc(shape, label);
  if (zero) fillZero(g, out);
  layoutOps.Slice.gpu(g, { copies }, [r], [out]);
  return out;
}

function fillZero(g: Gpu, t: GpuTensor): void {
  const n = numel(t.shape);
  if (n) g.dispatch(pipe(g, 'fill'), new Uniforms().u(n), [t.buffer], Gpu.groups1d(n));
}


/** A rule that moves data only: the same copies on both backends. */
function copyRule(plan: (ctx: AnyCtx, r: Sig) => { shape: Shape; copies: Copy[]; zero: boolean }, label: string): Rule {
  return {
    cpu(ctx, r) {
      const p = plan(ctx, r);
      return [copiesCpu(p.copies, r, p.shape)];
    },
    gpu(g, ctx, r) {
      const p = plan(ctx, r);
      return [copiesGpu(g, p.copies, r, p.shape, p.zero, label)];
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
function transposePlan(ctx: AnyCtx, r: Sig): { shape: Shape; copies: Copy[]; zero: boolean } {
  const t = perSample(ctx, r);
  const shape = backShape(ctx, ctx.step.inputs[0]!, t);
  const rank = shape.length;
  const perm = attrInts(ctx.step.node, 'perm') ?? Array.from({ length: rank }, (_, d) => rank - 1 - d);
  keepsSamples(ctx, t, perm[0] === 0, `perm [${perm.join(',')}] moves the batch axis`);
  const rs = stridesOf(r.shape);
  // Input axis perm[k] is output axis k.
  const ist = new Array<number>(rank);
  perm.forEach((p, k) => { ist[p] = rs[k]; });
  return { shape, copies: [copyOf(shape, ist, stridesOf(shape))], zero: false };
}

export const transposeBack = copyRule(transposePlan, 'back.transpose');

// ---------------------------------------------------------------- Slice

/** Scatter back into zeros of the input shape: the forward copy reversed. */
function slicePlan(ctx: AnyCtx, r: Sig): { shape: Shape; copies: Copy[]; zero: boolean } {
  const t = perSample(ctx, r);
  const shape = backShape(ctx, ctx.step.inputs[0]!, t);
  const fwd = forwardParams<{ copies: Copy[] }>(ctx, t);
  if (t !== 1) {
    const first = fwd.params.copies[0];
    const ok = sameShape(fwd.shape, r.shape) && (!first || first.ibase < numel(shape) / shape[0]);
    keepsSamples(ctx, t, ok, `the slice of input ${fmtShape(shape)} selects along the batch axis`);
  }
  return { shape, copies: fwd.params.copies.map(reverseCopy), zero: true };
}

export const sliceBack = copyRule(slicePlan, 'back.slice');

// ---------------------------------------------------------------- Concat

interface ConcatPart { index: number; shape: Shape; block: number; offset: number }

/** Where each input lies in the output, seen as [outer, total] rows. */
function concatParts(ctx: AnyCtx, r: Sig): { parts: ConcatPart[]; total: number } {
  const { node } = ctx.step;
  const t = perSample(ctx, r);
  const rank = r.shape.length;
  const a = attrInt(ctx.step.node, 'axis');
  const axis = a < 0 ? a + rank : a;
  keepsSamples(ctx, t, axis !== 0, 'concatenation along axis 0');
  const inner = numel(r.shape.slice(axis + 1));
  const parts: ConcatPart[] = [];
  let offset = 0;
  node.inputs.forEach((name, index) => {
    if (!name) return;
    const shape = backShape(ctx, name, t);
    const block = shape[axis] * inner;
    parts.push({ index, shape, block, offset });
    offset += block;
  });
  return { parts: parts.filter((p) => isRuntime(ctx, p.index)), total: r.shape[axis] * inner };
}

const partCopy = (p: ConcatPart, total: number): Copy =>
  copyOf([numel(p.shape) / Math.max(p.block, 1), p.block], [total, 1], [p.block, 1], p.offset);

/** Gradient: split dy back to each runtime input. */
export const concatGrad: Rule = {
  cpu(ctx, r) {
    const { parts, total } = concatParts(ctx, r);
    const res: (CpuTensor | undefined)[] = [];
    for (const p of parts) res[p.index] = copiesCpu([partCopy(p, total)], r, p.shape);
    return res;
  },
  gpu(g, ctx, r) {
    const { parts, total } = concatParts(ctx, r);
    const res: (GpuTensor | undefined)[] = [];
    for (const p of parts) res[p.index] = copiesGpu(g, [partCopy(p, total)], r, p.shape, false, 'grad.concat');
    return res;
  },
};

/** AE (spec §2.8): split R back, each part masked by [x_i ≠ 0]. */
export const concatAe: Rule = {
  cpu(ctx, r) {
    const { parts, total } = concatParts(ctx, r);
    const res: (CpuTensor | undefined)[] = [];
    for (const p of parts) {
      const x = ctx.input(p.index)!.data;
      const out = new Float32Array(numel(p.shape));
      for (let j = 0; j < out.length; j++) {
        const row = Math.floor(j / p.block);
        out[j] = x[j] !== 0 ? r.data[row * total + p.offset + (j - row * p.block)] : 0;
      }
      res[p.index] = { shape: p.shape, data: out };
    }
    return res;
  },
  gpu(g, ctx, r) {
    const { parts, total } = concatParts(ctx, r);
    const res: (GpuTensor | undefined)[] = [];
    for (const p of parts) {
      const out = g.alloc(p.shape, 'ae.concat');
      const n = numel(p.shape);
      if (n) {
        g.dispatch(pipe(g, 'concat_mask'), new Uniforms().u(n, p.block, total, p.offset),
          [r.buffer, ctx.input(p.index)!.buffer, out.buffer], Gpu.groups1d(n));
      }
      res[p.index] = out;
    }
    return res;
  },
};

// ---------------------------------------------------------------- Pad

type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';
interface PadGeom { mode: PadMode; inShape: Shape; outShape: Shape; begin: number[] }

function padGeom(ctx: AnyCtx, r: Sig): PadGeom {
  const p = ctx.step.params as PadGeom;
  const t = perSample(ctx, r);
  keepsSamples(ctx, t, p.begin[0] === 0 && p.inShape[0] === p.outShape[0], 'padding along axis 0');
  const inShape = t === 1 ? p.inShape : [p.inShape[0] * t, ...p.inShape.slice(1)];
  return { mode: p.mode, inShape, outShape: r.shape, begin: p.begin };
}

/** The crop back to the unpadded region is itself a constant Pad, with the begins negated. */
const cropParams = (p: PadGeom) => ({ mode: 'constant', value: 0, inShape: p.outShape, outShape: p.inShape, begin: p.begin.map((b) => -b) });

/** AE (any mode, spec §2.1) and the gradient of a constant Pad: crop to the unpadded region. */
export const padCrop: Rule = {
  cpu(ctx, r) {
    const p = padGeom(ctx, r);
    return [{ shape: p.inShape, data: layoutOps.Pad.cpu(cropParams(p), [r], [p.inShape])[0] }];
  },
  gpu(g, ctx, r) {
    const p = padGeom(ctx, r);
    const out = g.alloc(p.inShape, 'back.pad');
    layoutOps.Pad.gpu(g, cropParams(p), [r], [out]);
    return [out];
  },
};

const PAD_MODE_ID: Record<Exclude<PadMode, 'constant'>, number> = { reflect: 1, edge: 2, wrap: 3 };

/** Gradient of Pad: every padded position sends dy to the element it copied (mirrored, edge, wrapped). */
export const padGrad: Rule = {
  cpu(ctx, r) {
    const p = padGeom(ctx, r);
    if (p.mode === 'constant') return padCrop.cpu(ctx, r);
    const rank = p.inShape.length;
    const ist = stridesOf(p.inShape);
    const acc = new Float64Array(numel(p.inShape));
    const c = new Array<number>(rank).fill(0);
    for (let i = 0; i < r.data.length; i++) {
      let o = 0;
      for (let d = 0; d < rank; d++) o += mapPadIndex(p.mode, c[d] - p.begin[d], p.inShape[d]) * ist[d];
      acc[o] += r.data[i];
      for (let d = rank - 1; d >= 0; d--) {
        if (++c[d] < p.outShape[d]) break;
        c[d] = 0;
      }
    }
    return [{ shape: p.inShape, data: Float32Array.from(acc) }];
  },
  gpu(g, ctx, r) {
    const p = padGeom(ctx, r);
    if (p.mode === 'constant') return padCrop.gpu(g, ctx, r);
    // The map is a product of per-axis maps: fold one padded axis at a time.
    let cur = r;
    for (let d = 0; d < p.inShape.length; d++) {
      if (cur.shape[d] === p.inShape[d] && p.begin[d] === 0) continue;
      const shape = cur.shape.map((v, k) => (k === d ? p.inShape[d] : v));
      const next = g.alloc(shape, 'grad.pad');
      const n = numel(shape);
      if (n) {
        const u = new Uniforms().u(n, p.inShape[d], cur.shape[d], numel(shape.slice(d + 1))).i(p.begin[d]).u(PAD_MODE_ID[p.mode]);
        g.dispatch(pipe(g, 'pad_fold'), u, [cur.buffer, next.buffer], Gpu.groups1d(n));
      }
      if (cur !== r) g.release(cur);
      cur = next;
    }
    return [cur];
  },
};

// ---------------------------------------------------------------- Gather

function gatherGeom(ctx: AnyCtx, r: Sig) {
  const { node } = ctx.step;
  const t = perSample(ctx, r);
  const shape = backShape(ctx, ctx.step.inputs[0]!, t);
  const a = attrInt(node, 'axis', 0);
  const axis = a < 0 ? a + shape.length : a;
  keepsSamples(ctx, t, axis !== 0, 'gathering along axis 0');
  const dim = shape[axis];
  const ic = ctx.plan.consts.get(node.inputs[1]);
  if (!ic) throw fail(ctx, 'the gradient needs constant indices');
  const idx = Array.from(ic.data, (v) => (v < 0 ? v + dim : v));
  return { shape, dim, idx, outer: numel(shape.slice(0, axis)), inner: numel(shape.slice(axis + 1)) };
}

/** Gradient: scatter-add dy back to the gathered positions (indices may repeat). */
export const gatherGrad: Rule = {
  cpu(ctx, r) {
    const { shape, dim, idx, outer, inner } = gatherGeom(ctx, r);
    const out = new Float64Array(numel(shape));
    const J = idx.length;
    for (let o = 0; o < outer; o++) for (let j = 0; j < J; j++) for (let i = 0; i < inner; i++) {
      out[(o * dim + idx[j]) * inner + i] += r.data[(o * J + j) * inner + i];
    }
    return [{ shape, data: Float32Array.from(out) }];
  },
  gpu(g, ctx, r) {
    const { shape, dim, idx, outer, inner } = gatherGeom(ctx, r);
    const out = g.alloc(shape, 'grad.gather');
    fillZero(g, out);
    const J = idx.length;
    // Runs of indices with a constant non-zero step write distinct elements: one dispatch each.
    for (let j = 0; j < J;) {
      const step = j + 1 < J ? idx[j + 1] - idx[j] : 1;
      let len = 1;
      if (step !== 0) while (j + len < J && idx[j + len] - idx[j + len - 1] === step) len++;
      recordCopy(g, copyOf([outer, len, inner], [J * inner, inner, 1], [dim * inner, step * inner, 1], j * inner, idx[j] * inner), r, out, true);
      j += len;
    }
    return [out];
  },
};

// ---------------------------------------------------------------- views

/** Reshape the signal back to the step's input shape; no data moves. */
export const viewBack: Rule = {
  cpu: (ctx, r) => [{ shape: ctx.plan.shapes.get(ctx.step.inputs[0]!)!.map((d, i) => (i === 0 ? r.shape[0] : d)), data: r.data }],
  gpu: (_g, ctx, r) => [{ shape: ctx.plan.shapes.get(ctx.step.inputs[0]!)!.map((d, i) => (i === 0 ? r.shape[0] : d)), buffer: r.buffer }],
};

const views = ['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Identity', 'Dropout', 'Cast'];
const viewTable = (): RuleTable => Object.fromEntries(views.map((v) => [v, viewBack]));

export const gradient: RuleTable = {
  ...viewTable(),
  Transpose: transposeBack,
  Slice: sliceBack,
  Concat: concatGrad,
  Pad: padGrad,
  Gather: gatherGrad,
};

export const ae: RuleTable = {
  ...viewTable(),
  Transpose: transposeBack,
  Slice: sliceBack,
  Concat: concatAe,
  Pad: padCrop,
};
