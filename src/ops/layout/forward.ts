// Layout operators that move data: Transpose, Slice, Expand, Tile, Concat, Split and Gather are all
// one or more strided copies (copies.ts); Pad has its own kernel per mode (pad.ts). Views and Cast are
// in views.ts. Whenever every input is a constant, prepare folds the result with the input's dtype
// (shape arithmetic).
import { attrInt, attrInts, attrString, attrFloat } from '../../graph/ir.js';
import type { Const, Shape } from '../../graph/tensor.js';
import { fmtShape, numel, stridesOf } from '../../graph/tensor.js';
import type { OpSpec, OpTable, PrepareCtx, Prepared } from '../op.js';
import {
  allConst, canFold, arrayLike, broadcastShapes, broadcastStrides, castNumber, constValues, failer, hasInput, normAxis,
  requireShape as shapeOf,
} from '../shared/fold.js';
import { type Copy, denseCopy, gatherCopies, makeCopy, recordCopies, runCopies } from './copies.js';
import { PAD_MAP, recordPad, runPad, type PadMode, type PadParams } from './pad.js';
import { viewOps } from './views.js';
import { recordConcat, type ConcatSlot } from './concat.js';

const MAX_PAD_RANK = 8;

interface CopyParams {
  copies: Copy[];
}

/** Concat: its copies, and the parts as one dispatch sees them (concat.ts): `outer` rows of `total` values. */
interface ConcatParams extends CopyParams {
  outer: number;
  total: number;
  slots: (ConcatSlot & { input: number })[];
}

/** Result of a copy-based op: folded when every input is constant, else the copies. */
function copyResult(ctx: PrepareCtx, outShape: Shape, copies: Copy[], staticInputs: number[] = []): Prepared<CopyParams> {
  if (canFold(ctx, outShape)) {
    const data = ctx.consts[0]!;
    const out = runCopies(copies, ctx.consts.map((c) => c?.data), arrayLike(data.data, numel(outShape)));
    const folded: Const = { dtype: data.dtype, dims: outShape, data: out };
    return { shapes: [outShape], dtypes: [data.dtype], params: { copies }, folded: [folded] };
  }
  return { shapes: [outShape], params: { copies }, staticInputs };
}

const copySpec = (prepare: (ctx: PrepareCtx) => Prepared<CopyParams>): OpSpec<CopyParams> => ({
  prepare,
  cpu(p, inputs, outShapes) {
    return [runCopies(p.copies, inputs.map((t) => t?.data), new Float32Array(numel(outShapes[0]))) as Float32Array];
  },
  gpu(g, p, inputs, outputs) {
    recordCopies(g, p.copies, inputs, outputs[0]);
  },
});

// ---------------------------------------------------------------- Transpose

function prepareTranspose(ctx: PrepareCtx): Prepared<CopyParams> {
  const { node } = ctx;
  const s = shapeOf(ctx);
  const r = s.length;
  const perm = attrInts(node, 'perm') ?? Array.from({ length: r }, (_, d) => r - 1 - d);
  const seen = new Set(perm);
  if (perm.length !== r || seen.size !== r || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= r)) {
    throw failer(node)(`perm [${perm.join(',')}] is not a permutation of the ${r} axes of input ${fmtShape(s)}`);
  }
  const st = stridesOf(s);
  const out = perm.map((p) => s[p]);
  return copyResult(ctx, out, [denseCopy(0, out, perm.map((p) => st[p]))]);
}

// ---------------------------------------------------------------- Slice

interface SliceArgs { starts: number[]; ends: number[]; axes?: number[]; steps?: number[] }

function sliceArgs(ctx: PrepareCtx): { args: SliceArgs; statics: number[] } {
  const { node } = ctx;
  if (ctx.opset < 10) {
    const starts = attrInts(node, 'starts');
    const ends = attrInts(node, 'ends');
    if (!starts || !ends) throw failer(node)(`attributes 'starts' and 'ends' are required before opset 10`);
    return { args: { starts, ends, axes: attrInts(node, 'axes') }, statics: [] };
  }
  if (!hasInput(ctx, 1) || !hasInput(ctx, 2)) throw failer(node)('inputs starts and ends are required');
  const args: SliceArgs = { starts: constValues(ctx, 1, 'starts'), ends: constValues(ctx, 2, 'ends') };
  if (hasInput(ctx, 3)) args.axes = constValues(ctx, 3, 'axes');
  if (hasInput(ctx, 4)) args.steps = constValues(ctx, 4, 'steps');
  return { args, statics: [1, 2, 3, 4] };
}

/** ONNX Slice clamping: negative indices count from the end; ±2^63 ("to the end") clamp to the dim. */
export function sliceRange(start: number, end: number, step: number, dim: number): { start: number; len: number } {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = Math.min(Math.max(start, 0), dim);
    end = Math.min(Math.max(end, 0), dim);
  } else {
    start = Math.min(Math.max(start, 0), dim - 1);
    end = Math.min(Math.max(end, -1), dim - 1);
  }
  const len = Math.max(0, Math.ceil((end - start) / step));
  return { start, len };
}

function prepareSlice(ctx: PrepareCtx): Prepared<CopyParams> {
  const { node } = ctx;
  const fail = failer(node);
  const s = shapeOf(ctx);
  const r = s.length;
  const { args, statics } = sliceArgs(ctx);
  const k = args.starts.length;
  const axes = (args.axes ?? Array.from({ length: k }, (_, i) => i)).map((a) => normAxis(node, a, r, 'axis'));
  const steps = args.steps ?? new Array<number>(k).fill(1);
  if (args.ends.length !== k || axes.length !== k || steps.length !== k) {
    throw fail(`starts, ends, axes and steps must have the same length (got ${k}, ${args.ends.length}, ${axes.length}, ${steps.length})`);
  }
  if (new Set(axes).size !== k) throw fail(`axes [${axes.join(',')}] repeat an axis`);
  const st = stridesOf(s);
  const out = [...s];
  const ist = [...st];
  let ibase = 0;
  axes.forEach((a, i) => {
    if (steps[i] === 0) throw fail(`step for axis ${a} is 0`);
    const { start, len } = sliceRange(args.starts[i], args.ends[i], steps[i], s[a]);
    out[a] = len;
    ist[a] = st[a] * steps[i];
    if (len > 0) ibase += start * st[a];
  });
  return copyResult(ctx, out, [denseCopy(0, out, ist, ibase)], statics);
}

// ---------------------------------------------------------------- Expand, Tile

function prepareExpand(ctx: PrepareCtx): Prepared<CopyParams> {
  const s = shapeOf(ctx);
  const target = constValues(ctx, 1, 'shape');
  const out = broadcastShapes(ctx.node, [s, target]);
  return copyResult(ctx, out, [denseCopy(0, out, broadcastStrides(s, out))], [1]);
}

function prepareTile(ctx: PrepareCtx): Prepared<CopyParams> {
  const { node } = ctx;
  const s = shapeOf(ctx);
  const reps = constValues(ctx, 1, 'repeats');
  if (reps.length !== s.length || reps.some((v) => !Number.isInteger(v) || v < 0)) {
    throw failer(node)(`repeats [${reps.join(',')}] must be ${s.length} non-negative integers for input ${fmtShape(s)}`);
  }
  const st = stridesOf(s);
  // Tiling is a broadcast read over the view [r0, d0, r1, d1, …] of the output.
  const view = s.flatMap((d, i) => [reps[i], d]);
  const ist = s.flatMap((_, i) => [0, st[i]]);
  return copyResult(ctx, s.map((d, i) => d * reps[i]), [denseCopy(0, view, ist)], [1]);
}

// ---------------------------------------------------------------- Concat

function prepareConcat(ctx: PrepareCtx): Prepared<ConcatParams> {
  const { node } = ctx;
  const fail = failer(node);
  const ins = node.inputs.map((_, i) => i).filter((i) => hasInput(ctx, i));
  if (ins.length === 0) throw fail('needs at least one input');
  const shapes = ins.map((i) => ctx.shapes[i]!);
  const r = shapes[0].length;
  const bad = shapes.findIndex((s) => s.length !== r);
  if (bad >= 0) {
    throw fail(`inputs must have the same rank: input 0 is ${fmtShape(shapes[0])} (rank ${r}), input ${ins[bad]} is ${fmtShape(shapes[bad])} (rank ${shapes[bad].length})`);
  }
  if (r === 0) throw fail('cannot concatenate scalars');
  const axis = normAxis(node, attrInt(node, 'axis'), r);
  for (let j = 1; j < shapes.length; j++) {
    for (let d = 0; d < r; d++) {
      if (d !== axis && shapes[j][d] !== shapes[0][d]) {
        throw fail(`input ${ins[j]} ${fmtShape(shapes[j])} does not match input 0 ${fmtShape(shapes[0])} outside axis ${axis} (dimension ${d})`);
      }
    }
  }
  const out = [...shapes[0]];
  out[axis] = shapes.reduce((a, s) => a + s[axis], 0);
  const outer = numel(out.slice(0, axis));
  const inner = numel(out.slice(axis + 1));
  let offset = 0;
  const slots: ConcatParams['slots'] = [];
  const copies = ins.map((i, j) => {
    const block = shapes[j][axis] * inner;
    const c = makeCopy(i, [outer, block], [block, 1], [out[axis] * inner, 1], 0, offset);
    slots.push({ input: i, block, offset });
    offset += block;
    return c;
  });
  const params: ConcatParams = { copies, outer, total: out[axis] * inner, slots };
  if (canFold(ctx, out)) {
    const first = ctx.consts[ins[0]]!;
    const data = runCopies(copies, ctx.consts.map((c) => c?.data), arrayLike(first.data, numel(out)));
    return { shapes: [out], dtypes: [first.dtype], params, folded: [{ dtype: first.dtype, dims: out, data }] };
  }
  return { shapes: [out], params };
}

/** Concat: every part in one dispatch (up to 4 parts each, concat.ts). */
const concatSpec: OpSpec<ConcatParams> = {
  ...(copySpec(prepareConcat) as unknown as OpSpec<ConcatParams>),
  gpu(g, p, inputs, outputs) {
    recordConcat(g, 'copy', p.outer, p.total, outputs[0], p.slots, p.slots.map((q) => [inputs[q.input]!]));
  },
};

// ---------------------------------------------------------------- Split

export interface SplitParams {
  axis: number;
  /** Each output's extent along the axis, and its first index there. */
  sizes: number[];
  starts: number[];
  /** One copy per output (each reads input 0). */
  copies: Copy[];
}

/** The extents of the outputs: input `split` (opset ≥ 13), attribute `split` (< 13), `num_outputs` (≥ 18), or equal parts. */
function splitSizes(ctx: PrepareCtx, dim: number, statics: number[]): number[] {
  const { node } = ctx;
  const fail = failer(node);
  const n = node.outputs.length;
  let sizes: number[] | undefined;
  if (ctx.opset >= 13 && hasInput(ctx, 1)) {
    sizes = constValues(ctx, 1, 'split');
    statics.push(1);
  } else if (ctx.opset < 13) {
    sizes = attrInts(node, 'split');
  }
  const parts = ctx.opset >= 18 && node.attrs.has('num_outputs') ? attrInt(node, 'num_outputs') : undefined;
  if (sizes && parts !== undefined) throw fail(`input 'split' and attribute 'num_outputs' are both given`);
  if (parts !== undefined) {
    if (parts !== n) throw fail(`num_outputs ${parts} differs from the node's ${n} outputs`);
    // The last part is smaller when the axis does not divide evenly.
    const chunk = Math.ceil(dim / parts);
    sizes = Array.from({ length: parts }, (_, k) => Math.max(0, Math.min(chunk, dim - k * chunk)));
  }
  if (!sizes) {
    if (dim % n !== 0) throw fail(`axis of size ${dim} does not split into ${n} equal parts; give 'split'`);
    sizes = new Array<number>(n).fill(dim / n);
  }
  if (sizes.length !== n) throw fail(`split has ${sizes.length} values for ${n} outputs`);
  if (sizes.some((v) => !Number.isInteger(v) || v < 0)) throw fail(`split [${sizes.join(',')}] must be non-negative integers`);
  const total = sizes.reduce((a, v) => a + v, 0);
  if (total !== dim) throw fail(`split [${sizes.join(',')}] sums to ${total}, not the axis size ${dim}`);
  return sizes;
}

function prepareSplit(ctx: PrepareCtx): Prepared<SplitParams> {
  const { node } = ctx;
  const s = shapeOf(ctx);
  if (s.length === 0) throw failer(node)('cannot split a scalar');
  const axis = normAxis(node, attrInt(node, 'axis', 0), s.length);
  const statics: number[] = [];
  const sizes = splitSizes(ctx, s[axis], statics);
  const st = stridesOf(s);
  const starts: number[] = [];
  let at = 0;
  const shapes = sizes.map((d) => {
    starts.push(at);
    at += d;
    return s.map((x, i) => (i === axis ? d : x));
  });
  const copies = shapes.map((o, k) => denseCopy(0, o, st, starts[k] * st[axis]));
  const params: SplitParams = { axis, sizes, starts, copies };
  if (allConst(ctx)) {
    const c = ctx.consts[0]!;
    const folded = shapes.map((o, k): Const => ({ dtype: c.dtype, dims: o, data: runCopies([copies[k]], [c.data], arrayLike(c.data, numel(o))) }));
    return { shapes, dtypes: shapes.map(() => c.dtype), params, folded };
  }
  return { shapes, params, staticInputs: statics };
}

const splitSpec: OpSpec<SplitParams> = {
  prepare: prepareSplit,
  cpu(p, inputs, outShapes) {
    return p.copies.map((c, k) => runCopies([c], [inputs[0]!.data], new Float32Array(numel(outShapes[k]))) as Float32Array);
  },
  gpu(g, p, inputs, outputs) {
    p.copies.forEach((c, k) => recordCopies(g, [c], inputs, outputs[k]));
  },
};

// ---------------------------------------------------------------- Gather

function prepareGather(ctx: PrepareCtx): Prepared<CopyParams> {
  const { node } = ctx;
  const fail = failer(node);
  const s = shapeOf(ctx);
  const r = s.length;
  if (r === 0) throw fail('data must have rank ≥ 1');
  const axis = normAxis(node, attrInt(node, 'axis', 0), r);
  const idxShape = shapeOf(ctx, 1);
  const dim = s[axis];
  const idx = constValues(ctx, 1, 'indices').map((v) => {
    if (!Number.isInteger(v) || v < -dim || v >= dim) throw fail(`index ${v} is out of range for axis ${axis} of size ${dim} (data ${fmtShape(s)})`);
    return v < 0 ? v + dim : v;
  });
  const out = [...s.slice(0, axis), ...idxShape, ...s.slice(axis + 1)];
  const outer = numel(s.slice(0, axis));
  const inner = numel(s.slice(axis + 1));
  return copyResult(ctx, out, gatherCopies(idx, dim, outer, inner), [1]);
}

// ---------------------------------------------------------------- Pad

function preparePad(ctx: PrepareCtx): Prepared<PadParams> {
  const { node } = ctx;
  const fail = failer(node);
  const s = shapeOf(ctx);
  const r = s.length;
  const mode = attrString(node, 'mode', 'constant') as PadMode;
  if (!(mode in PAD_MAP)) throw fail(`mode '${mode}' is not one of constant, reflect, edge, wrap`);
  let pads: number[];
  let value = 0;
  let valueAtRunTime = false;
  let axes = Array.from({ length: r }, (_, d) => d);
  const statics: number[] = [];
  if (ctx.opset < 11) {
    pads = attrInts(node, 'pads') ?? attrInts(node, 'paddings') ?? [];
    value = attrFloat(node, 'value', 0);
  } else {
    if (!hasInput(ctx, 1)) throw fail('input pads is required');
    pads = constValues(ctx, 1, 'pads');
    statics.push(1);
    if (hasInput(ctx, 2) && !ctx.consts[2]) {
      const vs = ctx.shapes[2]!;
      if (numel(vs) !== 1) throw fail(`constant_value must be a scalar, got shape ${fmtShape(vs)}`);
      valueAtRunTime = true;
    } else if (hasInput(ctx, 2)) {
      const v = constValues(ctx, 2, 'constant_value');
      if (v.length !== 1) throw fail(`constant_value must be a scalar, got ${v.length} values`);
      value = v[0];
      statics.push(2);
    }
    if (hasInput(ctx, 3)) {
      axes = constValues(ctx, 3, 'axes').map((a) => normAxis(node, a, r, 'axis'));
      statics.push(3);
    }
  }
  const k = axes.length;
  if (pads.length !== 2 * k) throw fail(`pads has ${pads.length} values, expected ${2 * k} (begin and end for ${k} axes) for input ${fmtShape(s)}`);
  const begin = new Array<number>(r).fill(0);
  const end = new Array<number>(r).fill(0);
  axes.forEach((a, i) => {
    begin[a] = pads[i];
    end[a] = pads[i + k];
  });
  const out = s.map((d, i) => d + begin[i] + end[i]);
  if (out.some((d) => d < 0)) throw fail(`pads [${pads.join(',')}] crop more than input ${fmtShape(s)} holds`);
  if (mode !== 'constant') {
    s.forEach((d, i) => {
      if (d === 0 && out[i] > 0) throw fail(`${mode} padding needs a non-empty axis ${i}, input is ${fmtShape(s)}`);
    });
  }
  const inputDtype = ctx.consts[0]?.dtype ?? 'float32';
  const params: PadParams = { mode, value: castNumber(value, inputDtype), inShape: s, outShape: out, begin, valueAtRunTime };
  if (canFold(ctx, out)) {
    const c = ctx.consts[0]!;
    const data = runPad(params, c.data, arrayLike(c.data, numel(out)));
    return { shapes: [out], dtypes: [c.dtype], params, folded: [{ dtype: c.dtype, dims: out, data }] };
  }
  if (r > MAX_PAD_RANK) throw fail(`rank ${r} exceeds the ${MAX_PAD_RANK} supported by the Pad kernel`);
  return { shapes: [out], params: { ...params, value: Math.fround(value) }, staticInputs: statics };
}

const padSpec: OpSpec<PadParams> = {
  prepare: preparePad,
  cpu(p, inputs, outShapes) {
    const q = p.valueAtRunTime ? { ...p, value: inputs[2]!.data[0] } : p;
    return [runPad(q, inputs[0]!.data, new Float32Array(numel(outShapes[0]))) as Float32Array];
  },
  gpu(g, p, inputs, outputs) {
    recordPad(g, p, inputs[0]!, outputs[0], p.valueAtRunTime ? inputs[2] : undefined);
  },
};

// ---------------------------------------------------------------- table

export const ops: OpTable = {
  Transpose: { ...copySpec(prepareTranspose), traits: { layout: true } },
  Slice: copySpec(prepareSlice),
  Expand: copySpec(prepareExpand),
  Tile: copySpec(prepareTile),
  Concat: { ...concatSpec, traits: { blockOutput: true } },
  Split: splitSpec,
  Gather: copySpec(prepareGather),
  Pad: { ...padSpec, traits: { layout: true } },
  ...viewOps,
};
