// Layout operators. Views (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout, Cast to float)
// alias their input; Transpose, Slice, Expand, Tile, Concat and Gather are all one or more strided
// copies (one kernel templated per coalesced rank); Pad has its own kernel per mode. Whenever
// every input is a constant, prepare folds the result with the input's dtype (shape arithmetic).
//
// Cast of a runtime tensor: runtime tensors are float32, so Cast to float32/float64 is a view,
// to float16 rounds to half precision, to bool gives 0/1, and to any integer type rounds toward
// zero (C semantics) on both backends while the storage stays float32.
import src from './layout.wgsl';
import { attrInt, attrInts, attrString, attrFloat } from '../../graph/ir.js';
import type { Const, DType, Shape } from '../../graph/tensor.js';
import { fmtShape, numel, stridesOf } from '../../graph/tensor.js';
import { dtypeOf } from '../../io/onnx.js';
import { AeqError } from '../../errors.js';
import { Gpu, Uniforms, type GpuTensor } from '../../kernels/gpu/runtime.js';
import type { OpSpec, OpTable, PrepareCtx, Prepared } from '../op.js';
import { assemble, parseSections } from '../../kernels/gpu/wgsl.js';
import { recordElementwise } from '../elementwise/forward.js';
import {
  allConst, canFold, arrayLike, broadcastShapes, broadcastStrides, castNumber, coalesce, constValues, failer, forEachOffset,
  hasInput, makeConst, normAxis, type NumArray,
} from '../shared/fold.js';

const sections = parseSections(src);
const MAX_COPY_RANK = 12;
const MAX_PAD_RANK = 8;

// ---------------------------------------------------------------- strided copies

/** y[obase + Σ c·ost] = x_input[ibase + Σ c·ist] for every c in `shape`. */
export interface Copy {
  input: number;
  shape: Shape;
  ist: number[];
  ost: number[];
  ibase: number;
  obase: number;
}

interface CopyParams {
  copies: Copy[];
}

function makeCopy(input: number, shape: Shape, ist: number[], ost: number[], ibase = 0, obase = 0): Copy {
  const c = coalesce(shape, [ist, ost]);
  return { input, shape: c.shape, ist: c.strides[0], ost: c.strides[1], ibase, obase };
}

/** A copy that writes the output contiguously. */
function denseCopy(input: number, shape: Shape, ist: number[], ibase = 0): Copy {
  return makeCopy(input, shape, ist, stridesOf(shape), ibase);
}

function runCopies(copies: Copy[], inputs: (NumArray | undefined)[], out: NumArray): NumArray {
  for (const c of copies) {
    const x = inputs[c.input]!;
    forEachOffset(c.shape, [c.ist, c.ost], [c.ibase, c.obase], (_, o) => {
      out[o[1]] = x[o[0]];
    });
  }
  return out;
}

/** y = the strided copy of x, or y += it with `accumulate`. */
export function recordCopy(g: Gpu, c: Copy, x: GpuTensor, y: GpuTensor, accumulate = false): void {
  const n = numel(c.shape);
  if (n === 0) return;
  const rank = c.shape.length;
  if (rank > MAX_COPY_RANK) throw new AeqError(`strided copy of rank ${rank} (after merging dimensions) exceeds ${MAX_COPY_RANK}`);
  const u = new Uniforms().u(n).i(c.ibase).u(c.obase, 0)
    .vec4s(c.shape, 3, 1).vec4s(c.ist.map((v) => v | 0), 3).vec4s(c.ost, 3);
  const pipeline = g.kernel(`strided_${accumulate ? 'add' : 'copy'}.r${rank}`, () =>
    assemble(sections, ['strided'], { RANK: rank, STORE: accumulate ? '+=' : '=' }));
  g.dispatch(pipeline, u, [x.buffer, y.buffer], Gpu.groups1d(n));
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
    for (const c of p.copies) recordCopy(g, c, inputs[c.input]!, outputs[0]);
  },
});

function shapeOf(ctx: PrepareCtx, i = 0): Shape {
  const s = ctx.shapes[i];
  if (!s || !hasInput(ctx, i)) throw failer(ctx.node)(`input ${i} is required`);
  return s;
}

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

function prepareConcat(ctx: PrepareCtx): Prepared<CopyParams> {
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
  const copies = ins.map((i, j) => {
    const block = shapes[j][axis] * inner;
    const c = makeCopy(i, [outer, block], [block, 1], [out[axis] * inner, 1], 0, offset);
    offset += block;
    return c;
  });
  if (canFold(ctx, out)) {
    const first = ctx.consts[ins[0]]!;
    const data = runCopies(copies, ctx.consts.map((c) => c?.data), arrayLike(first.data, numel(out)));
    return { shapes: [out], dtypes: [first.dtype], params: { copies }, folded: [{ dtype: first.dtype, dims: out, data }] };
  }
  return { shapes: [out], params: { copies } };
}

// ---------------------------------------------------------------- Gather

/** Split indices into runs of constant stride, each one strided copy. */
function indexRuns(idx: number[]): { j0: number; len: number; step: number }[] {
  const runs: { j0: number; len: number; step: number }[] = [];
  let j = 0;
  while (j < idx.length) {
    const step = j + 1 < idx.length ? idx[j + 1] - idx[j] : 1;
    let len = 1;
    while (j + len < idx.length && idx[j + len] - idx[j + len - 1] === step) len++;
    runs.push({ j0: j, len, step });
    j += len;
  }
  return runs;
}

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
  const copies = indexRuns(idx).map((run) => makeCopy(0, [outer, run.len, inner],
    [dim * inner, run.step * inner, 1], [idx.length * inner, inner, 1], idx[run.j0] * inner, run.j0 * inner));
  return copyResult(ctx, out, copies, [1]);
}

// ---------------------------------------------------------------- Pad

type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

interface PadParams {
  mode: PadMode;
  value: number;
  /** constant_value arrives at run time (input 2) instead of as a plan-time constant. */
  valueAtRunTime?: boolean;
  inShape: Shape;
  outShape: Shape;
  begin: number[];
}

const PAD_MAP: Record<PadMode, string> = {
  constant: 'return clamp(k, 0, n - 1);',
  reflect: 'return reflect_index(k, n);',
  edge: 'return clamp(k, 0, n - 1);',
  wrap: 'return ((k % n) + n) % n;',
};

/** Source index of padded coordinate k along an axis of length n (-1: the constant). */
export function mapPadIndex(mode: PadMode, k: number, n: number): number {
  if (k >= 0 && k < n) return k;
  switch (mode) {
    case 'constant': return -1;
    case 'edge': return Math.min(Math.max(k, 0), n - 1);
    case 'wrap': return ((k % n) + n) % n;
    case 'reflect': {
      if (n === 1) return 0;
      const p = 2 * (n - 1);
      const m = ((k % p) + p) % p;
      return m >= n ? p - m : m;
    }
  }
}

function runPad(p: PadParams, x: NumArray, out: NumArray): NumArray {
  const r = p.outShape.length;
  const ist = stridesOf(p.inShape);
  const c = new Array<number>(r).fill(0);
  for (let i = 0; i < out.length; i++) {
    let o = 0;
    for (let d = 0; d < r && o >= 0; d++) {
      const k = mapPadIndex(p.mode, c[d] - p.begin[d], p.inShape[d]);
      o = k < 0 ? -1 : o + k * ist[d];
    }
    out[i] = o < 0 ? p.value : x[o];
    for (let d = r - 1; d >= 0; d--) {
      if (++c[d] < p.outShape[d]) break;
      c[d] = 0;
    }
  }
  return out;
}

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
    const n = numel(p.outShape);
    if (n === 0) return;
    const r = p.outShape.length;
    const u = new Uniforms().u(n).f(p.value).u(0, 0)
      .vec4s(p.outShape, 2, 1).vec4s(p.inShape, 2, 1).vec4s(p.begin.map((v) => v | 0), 2).vec4s(stridesOf(p.inShape), 2);
    const dyn = p.mode === 'constant' && !!p.valueAtRunTime;
    const pipeline = g.kernel(`pad.${p.mode}${dyn ? '.value-input' : ''}.r${r}`, () =>
      assemble(sections, ['pad'], {
        RANK: r, CONSTANT: p.mode === 'constant' ? 'true' : 'false', MAP: PAD_MAP[p.mode],
        VALUE_DECL: dyn ? '@group(0) @binding(3) var<storage, read> value_in: array<f32>;' : '',
        VALUE: dyn ? 'value_in[0]' : 'u.value',
      }));
    const bufs = [inputs[0]!.buffer, outputs[0].buffer];
    if (dyn) bufs.push(inputs[2]!.buffer);
    g.dispatch(pipeline, u, bufs, Gpu.groups1d(n));
  },
};

// ---------------------------------------------------------------- views

type ViewParams = Record<string, never>;

/** A view: output 0 is input 0 with a new shape (folded when the input is a constant). */
function view(ctx: PrepareCtx, out: Shape, staticInputs: number[] = []): Prepared<ViewParams> {
  const c = ctx.consts[0];
  // Every other input of a view (shape, axes) must be constant already, so a constant data input folds.
  if (c) return { shapes: [out], dtypes: [c.dtype], params: {}, folded: [{ dtype: c.dtype, dims: out, data: c.data }] };
  return { shapes: [out], params: {}, alias: 0, staticInputs };
}

const viewSpec = (prepare: (ctx: PrepareCtx) => Prepared<ViewParams>): OpSpec<ViewParams> => ({
  prepare,
  cpu(_p, inputs) {
    return [inputs[0]!.data];
  },
  gpu(g, _p, inputs, outputs) {
    // Views never run (alias); kept total for callers that record every step.
    g.copy(inputs[0]!, outputs[0]);
  },
});

function prepareReshape(ctx: PrepareCtx): Prepared<ViewParams> {
  const { node } = ctx;
  const fail = failer(node);
  const s = shapeOf(ctx);
  let target: number[];
  const statics: number[] = [];
  if (ctx.opset < 5 && !hasInput(ctx, 1)) {
    target = attrInts(node, 'shape') ?? [];
  } else {
    if (!hasInput(ctx, 1)) throw fail('input shape is required');
    target = constValues(ctx, 1, 'shape');
    statics.push(1);
  }
  const allowzero = ctx.opset >= 14 && attrInt(node, 'allowzero', 0) !== 0;
  const out = target.map((v, i) => {
    if (v === 0 && !allowzero) {
      if (i >= s.length) throw fail(`shape [${target.join(',')}] copies dimension ${i} (0) but input ${fmtShape(s)} has rank ${s.length}`);
      return s[i];
    }
    return v;
  });
  const infer = out.flatMap((v, i) => (v === -1 ? [i] : []));
  if (infer.length > 1) throw fail(`shape [${target.join(',')}] has more than one -1`);
  if (out.some((v) => !Number.isInteger(v) || v < -1)) throw fail(`shape [${target.join(',')}] has an invalid dimension`);
  const n = numel(s);
  if (infer.length === 1) {
    const known = numel(out.filter((v) => v !== -1));
    if (allowzero && target.includes(0)) throw fail(`shape [${target.join(',')}] mixes 0 (allowzero) with -1`);
    if (known === 0 || n % known !== 0) {
      throw fail(`cannot reshape input ${fmtShape(s)} (${n} elements) to [${target.join(',')}]: ${n} is not a multiple of ${known}`);
    }
    out[infer[0]] = n / known;
  }
  if (numel(out) !== n) {
    throw fail(`cannot reshape input ${fmtShape(s)} (${n} elements) to ${fmtShape(out)} (${numel(out)} elements)`);
  }
  return view(ctx, out, statics);
}

function prepareFlatten(ctx: PrepareCtx): Prepared<ViewParams> {
  const { node } = ctx;
  const s = shapeOf(ctx);
  const a = attrInt(node, 'axis', 1);
  if (!Number.isInteger(a) || a < -s.length || a > s.length) throw failer(node)(`axis ${a} is out of range for input ${fmtShape(s)}`);
  const axis = a < 0 ? a + s.length : a;
  return view(ctx, [numel(s.slice(0, axis)), numel(s.slice(axis))]);
}

/** Axes from the attribute (before opset 13) or the optional input 1 (from 13). */
function axesArg(ctx: PrepareCtx): { axes: number[] | undefined; statics: number[] } {
  if (ctx.opset < 13 || !hasInput(ctx, 1)) return { axes: attrInts(ctx.node, 'axes'), statics: [] };
  return { axes: constValues(ctx, 1, 'axes'), statics: [1] };
}

function prepareSqueeze(ctx: PrepareCtx): Prepared<ViewParams> {
  const { node } = ctx;
  const s = shapeOf(ctx);
  const { axes, statics } = axesArg(ctx);
  if (!axes) return view(ctx, s.filter((d) => d !== 1), statics);
  const drop = new Set(axes.map((a) => normAxis(node, a, s.length)));
  for (const a of drop) if (s[a] !== 1) throw failer(node)(`cannot squeeze axis ${a} of size ${s[a]} (input ${fmtShape(s)})`);
  return view(ctx, s.filter((_, i) => !drop.has(i)), statics);
}

function prepareUnsqueeze(ctx: PrepareCtx): Prepared<ViewParams> {
  const { node } = ctx;
  const fail = failer(node);
  const s = shapeOf(ctx);
  const { axes, statics } = axesArg(ctx);
  if (!axes) throw fail('axes are required');
  const r = s.length + axes.length;
  const ins = new Set(axes.map((a) => normAxis(node, a, r)));
  if (ins.size !== axes.length) throw fail(`axes [${axes.join(',')}] repeat an axis`);
  const out: number[] = [];
  let k = 0;
  for (let d = 0; d < r; d++) out.push(ins.has(d) ? 1 : s[k++]);
  return view(ctx, out, statics);
}

function prepareIdentity(ctx: PrepareCtx): Prepared<ViewParams> {
  return view(ctx, shapeOf(ctx));
}

function prepareDropout(ctx: PrepareCtx): Prepared<ViewParams> {
  const { node } = ctx;
  const fail = failer(node);
  if (node.outputs.length > 1 && node.outputs[1] !== '') {
    throw fail(`the mask output '${node.outputs[1]}' is not supported (inference only: Dropout is the identity); re-export the model in eval mode`);
  }
  if (hasInput(ctx, 2)) {
    const t = constValues(ctx, 2, 'training_mode');
    if (t[0]) throw fail('training_mode is true; only inference (identity) is supported');
  }
  const statics = [1, 2].filter((i) => hasInput(ctx, i));
  const s = shapeOf(ctx);
  const c = ctx.consts[0];
  if (c) return { shapes: [s], dtypes: [c.dtype], params: {}, folded: [c] };
  return { shapes: [s], params: {}, alias: 0, staticInputs: statics };
}

// ---------------------------------------------------------------- Cast

type CastMode = 'view' | 'half' | 'bool' | 'trunc';

interface CastParams { mode: CastMode }

const CAST_EXPR: Record<Exclude<CastMode, 'view'>, string> = {
  half: 'round_f16(a0)',
  bool: 'f32(a0 != 0.0)',
  trunc: 'trunc(a0)',
};

function castMode(to: DType): CastMode {
  if (to === 'float32' || to === 'float64') return 'view';
  if (to === 'float16') return 'half';
  if (to === 'bool') return 'bool';
  return 'trunc';
}

function prepareCast(ctx: PrepareCtx): Prepared<CastParams> {
  const { node } = ctx;
  const fail = failer(node);
  const s = shapeOf(ctx);
  let to: DType;
  if (node.opType === 'CastLike') {
    const t = ctx.dtypes[1];
    if (!t) throw fail('input target_type is required');
    to = t;
  } else {
    to = dtypeOf(attrInt(node, 'to'), `${node.opType} node '${node.name}'`);
  }
  if (to === 'string') throw fail('casting to string is not supported');
  const c = ctx.consts[0];
  if (c) {
    const folded = makeConst(to, c.dims, c.data);
    return { shapes: [s], dtypes: [to], params: { mode: castMode(to) }, folded: [folded] };
  }
  const mode = castMode(to);
  const statics = node.opType === 'CastLike' ? [1] : [];
  if (mode === 'view') return { shapes: [s], params: { mode }, alias: 0, staticInputs: statics };
  return { shapes: [s], params: { mode }, staticInputs: statics };
}

const castSpec: OpSpec<CastParams> = {
  prepare: prepareCast,
  cpu(p, inputs) {
    const x = inputs[0]!.data;
    if (p.mode === 'view') return [x];
    const to: DType = p.mode === 'half' ? 'float16' : p.mode === 'bool' ? 'bool' : 'int64';
    return [Float32Array.from(x, (v) => (p.mode === 'trunc' ? Math.trunc(v) : castNumber(v, to)))];
  },
  gpu(g, p, inputs, outputs) {
    if (p.mode === 'view') {
      g.copy(inputs[0]!, outputs[0]);
      return;
    }
    recordElementwise(g, `unary.cast_${p.mode}`, CAST_EXPR[p.mode], [inputs[0]!], outputs[0]);
  },
};

// ---------------------------------------------------------------- table

export const ops: OpTable = {
  Transpose: copySpec(prepareTranspose),
  Slice: copySpec(prepareSlice),
  Expand: copySpec(prepareExpand),
  Tile: copySpec(prepareTile),
  Concat: copySpec(prepareConcat),
  Gather: copySpec(prepareGather),
  Pad: padSpec,
  Reshape: viewSpec(prepareReshape),
  Flatten: viewSpec(prepareFlatten),
  Squeeze: viewSpec(prepareSqueeze),
  Unsqueeze: viewSpec(prepareUnsqueeze),
  Identity: viewSpec(prepareIdentity),
  Dropout: viewSpec(prepareDropout),
  Cast: castSpec,
  CastLike: castSpec,
};

