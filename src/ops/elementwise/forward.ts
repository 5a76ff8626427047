// Element-wise binary, comparison, logical, Where and variadic (Sum/Mean/Max/Min) operators with
// numpy multidirectional broadcasting (opset ≥ 7 semantics). Constants fold with their dtypes
// (integer Div truncates toward zero, comparisons give bool); runtime tensors are float32, so a
// comparison there yields 0/1 floats. One kernel source serves every op, in three index variants
// (part of the pipeline key, e.g. `binary.add.r3`): "same" when every operand is the whole output,
// "flat" when each is the output, a scalar or one contiguous block of it (per-channel bias), and a
// strided variant per (coalesced) rank otherwise. A constant scalar operand travels in the
// uniforms (key suffix `.k<index>`), so int64 exponents and the like never reach a buffer.
import src from './forward.wgsl';
import type { Const, DType, Shape } from '../../graph/tensor.js';
import { fmtShape, numel } from '../../graph/tensor.js';
import { AeqError } from '../../errors.js';
import { Gpu, type GpuTensor, type Uniforms } from '../../kernels/gpu/runtime.js';
import type { CpuTensor, OpSpec, OpTable, PrepareCtx, Prepared } from '../op.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import {
  allConst, canFold, broadcastShapes, broadcastStrides, castNumber, coalesce, failer, hasInput, makeConst, mapBroadcast,
} from '../shared/fold.js';

const sections = parseSections(src);

/** Highest rank of the strided variant after coalescing (two vec4s of dims). */
const MAX_RANK = 8;

// ---------------------------------------------------------------- GPU recording

/** An operand: a runtime tensor, or a constant scalar passed in the uniforms. */
export type Operand = GpuTensor | { scalar: number };

function isScalar(o: Operand): o is { scalar: number } {
  return 'scalar' in o;
}

/** Where operand `shape` sits in `out` as one contiguous block: index = (i / inner) % count. */
function blockOf(shape: Shape, out: Shape): [inner: number, count: number] | null {
  const off = out.length - shape.length;
  let first = -1;
  let last = -1;
  let closed = false;
  for (let d = 0; d < out.length; d++) {
    if (out[d] === 1) continue;
    const v = d < off ? 1 : shape[d - off];
    if (v !== 1) {
      if (closed) return null;
      if (first < 0) first = d;
      last = d;
    } else if (first >= 0) closed = true;
  }
  if (first < 0) return [1, 1];
  return [numel(out.slice(last + 1)), numel(shape)];
}

const EW = uniforms({
  n: 'u32',
  // A constant scalar operand, folded into the uniforms instead of a buffer.
  k: 'f32',
  // Divisor of the last step of Mean.
  scale: 'f32',
  // Bit patterns of NaN and +Inf: WGSL rejects them as constants.
  nan_bits: 'u32',
  inf_bits: 'u32',
  // flat mode: operand j reads index (i / blk[j].x) % blk[j].y (full, scalar, or per-channel block).
  blk: { vec4: 'u32', n: 3 },
  // strided mode: output dims, and operand j's element strides in st[2j], st[2j+1] (0 = broadcast).
  shape: { vec4: 'u32', n: 2 },
  st: { vec4: 'u32', n: 6 },
});

/**
 * Record out = expr(a0, a1, a2) over operands broadcast to out.shape. `name` is the op's readable
 * name (e.g. `binary.add`); `expr` is WGSL over a0.. (f32). At most one operand may be a scalar.
 */
export function recordElementwise(g: Gpu, name: string, expr: string, operands: Operand[], out: GpuTensor, scale = 1): void {
  const n = numel(out.shape);
  if (n === 0) return;
  const tensors = operands.map((o, j) => ({ o, j })).filter((e) => !isScalar(e.o)) as { o: GpuTensor; j: number }[];
  const kIndex = operands.findIndex(isScalar);
  const blocks = operands.map((o) => (isScalar(o) ? [1, 1] as [number, number] : blockOf(o.shape, out.shape)));
  const flat = blocks.every((b) => b !== null);
  const head = { n, k: kIndex >= 0 ? (operands[kIndex] as { scalar: number }).scalar : 0, scale, nan_bits: 0x7fc00000, inf_bits: 0x7f800000 };
  let u: Uniforms;
  let variant: string;
  let rank = 1;
  if (flat) {
    const blk: number[] = [];
    for (let j = 0; j < 3; j++) blk.push(...(blocks[j] ?? [1, 1]), 0, 0);
    u = EW.pack({ ...head, blk, shape: [], st: [] });
    // Every tensor operand is the whole output: no index arithmetic at all.
    const same = tensors.every((t) => blocks[t.j]![0] === 1 && blocks[t.j]![1] === n);
    variant = same ? 'same' : 'flat';
  } else {
    const st = operands.map((o) => (isScalar(o) ? out.shape.map(() => 0) : broadcastStrides(o.shape, out.shape)));
    const c = coalesce(out.shape, st);
    rank = c.shape.length;
    if (rank > MAX_RANK) {
      throw new AeqError(`${name}: broadcast of ${operands.map((o) => (isScalar(o) ? 'scalar' : fmtShape(o.shape))).join(', ')} ` +
        `needs rank ${rank} after merging dimensions; at most ${MAX_RANK} is supported`);
    }
    const stWords: number[] = [];
    for (let j = 0; j < 3; j++) {
      const s = c.strides[j] ?? [];
      for (let d = 0; d < 8; d++) stWords.push(d < s.length ? s[d] : 0);
    }
    u = EW.pack({ ...head, blk: [], shape: c.shape, st: stWords }, { shape: 1 });
    variant = `r${rank}`;
  }
  const key = `${name}.${variant}${kIndex >= 0 ? `.k${kIndex}` : ''}`;
  const pipeline = g.kernel(key, () => {
    const bindings = tensors.map((t, b) => `@group(0) @binding(${b + 1}) var<storage, read> x${t.j}: array<f32>;`);
    bindings.push(`@group(0) @binding(${tensors.length + 1}) var<storage, read_write> y: array<f32>;`);
    const loads = operands.map((o, j) => (isScalar(o) ? `let a${j} = u.k;` : `let a${j} = x${j}[o.${'xyz'[j]}];`));
    return assemble(sections, ['header'], {
      BINDINGS: bindings.join('\n'), RANK: rank, OFFSETS: `offsets_${flat ? variant : 'strided'}`,
      LOADS: loads.join('\n  '), EXPR: expr,
    }, EW);
  });
  g.dispatch(pipeline, u, [...tensors.map((t) => t.o.buffer), out.buffer], Gpu.groups1d(n));
}

// ---------------------------------------------------------------- operator definitions

interface Def {
  /** Name in pipeline keys. */
  key: string;
  /** WGSL over a0, a1, a2 (f32). */
  expr: string;
  /** Reference arithmetic in float64 (results are rounded into the output dtype). */
  f: (v: number[]) => number;
  /** Operand count; 'n' for the variadic Sum/Mean/Max/Min, applied pairwise left to right. */
  arity: 1 | 2 | 3 | 'n';
  /** Output dtype of a fold: like input 0, bool, or like input 1 (Where's X). */
  out: 'same' | 'bool' | 'x';
}

const b = (v: boolean) => (v ? 1 : 0);
const DEFS: Record<string, Def> = {
  Add: { key: 'binary.add', expr: 'a0 + a1', f: (v) => v[0] + v[1], arity: 2, out: 'same' },
  Sub: { key: 'binary.sub', expr: 'a0 - a1', f: (v) => v[0] - v[1], arity: 2, out: 'same' },
  Mul: { key: 'binary.mul', expr: 'a0 * a1', f: (v) => v[0] * v[1], arity: 2, out: 'same' },
  Div: { key: 'binary.div', expr: 'a0 / a1', f: (v) => v[0] / v[1], arity: 2, out: 'same' },
  Pow: { key: 'binary.pow', expr: 'pow_onnx(a0, a1)', f: (v) => Math.pow(v[0], v[1]), arity: 2, out: 'same' },
  Max: { key: 'binary.max', expr: 'max(a0, a1)', f: (v) => Math.max(v[0], v[1]), arity: 'n', out: 'same' },
  Min: { key: 'binary.min', expr: 'min(a0, a1)', f: (v) => Math.min(v[0], v[1]), arity: 'n', out: 'same' },
  Sum: { key: 'binary.add', expr: 'a0 + a1', f: (v) => v[0] + v[1], arity: 'n', out: 'same' },
  Mean: { key: 'binary.add', expr: 'a0 + a1', f: (v) => v[0] + v[1], arity: 'n', out: 'same' },
  Equal: { key: 'binary.equal', expr: 'f32(a0 == a1)', f: (v) => b(v[0] === v[1]), arity: 2, out: 'bool' },
  Less: { key: 'binary.less', expr: 'f32(a0 < a1)', f: (v) => b(v[0] < v[1]), arity: 2, out: 'bool' },
  Greater: { key: 'binary.greater', expr: 'f32(a0 > a1)', f: (v) => b(v[0] > v[1]), arity: 2, out: 'bool' },
  LessOrEqual: { key: 'binary.less_equal', expr: 'f32(a0 <= a1)', f: (v) => b(v[0] <= v[1]), arity: 2, out: 'bool' },
  GreaterOrEqual: { key: 'binary.greater_equal', expr: 'f32(a0 >= a1)', f: (v) => b(v[0] >= v[1]), arity: 2, out: 'bool' },
  And: { key: 'binary.and', expr: 'f32(a0 != 0.0 && a1 != 0.0)', f: (v) => b(v[0] !== 0 && v[1] !== 0), arity: 2, out: 'bool' },
  Or: { key: 'binary.or', expr: 'f32(a0 != 0.0 || a1 != 0.0)', f: (v) => b(v[0] !== 0 || v[1] !== 0), arity: 2, out: 'bool' },
  Xor: { key: 'binary.xor', expr: 'f32((a0 != 0.0) != (a1 != 0.0))', f: (v) => b((v[0] !== 0) !== (v[1] !== 0)), arity: 2, out: 'bool' },
  Where: { key: 'ternary.where', expr: 'select(a2, a1, a0 != 0.0)', f: (v) => (v[0] !== 0 ? v[1] : v[2]), arity: 3, out: 'x' },
  Not: { key: 'unary.not', expr: 'f32(a0 == 0.0)', f: (v) => b(v[0] === 0), arity: 1, out: 'bool' },
};

/** Mean's last step adds and divides by the input count. */
const MEAN_LAST = '(a0 + a1) / u.scale';

export interface EwParams {
  opType: string;
  /** Operand count of the node (after dropping omitted inputs). */
  count: number;
  /** A constant scalar input moved into the uniforms (static at run time). */
  scalar?: { index: number; value: number };
}

function foldDef(def: Def, opType: string, consts: Const[], outShape: Shape): Const {
  const dtype: DType = def.out === 'bool' ? 'bool' : def.out === 'x' ? consts[1].dtype : consts[0].dtype;
  const cast = (x: number) => castNumber(x, dtype);
  if (def.arity !== 'n') {
    const vals = mapBroadcast(outShape, consts.map((c) => ({ shape: c.dims, data: c.data })), new Float64Array(numel(outShape)), (v) => cast(def.f(v)));
    return makeConst(dtype, outShape, vals);
  }
  let acc: { shape: Shape; data: Float64Array } = { shape: consts[0].dims, data: Float64Array.from(consts[0].data) };
  for (let j = 1; j < consts.length; j++) {
    const shape = j === consts.length - 1 ? outShape : broadcastShapesQuiet(acc.shape, consts[j].dims);
    const data = new Float64Array(numel(shape));
    mapBroadcast(shape, [acc, { shape: consts[j].dims, data: consts[j].data }], data, (v) => cast(def.f(v)));
    acc = { shape, data };
  }
  if (opType === 'Mean') acc.data = acc.data.map((x) => cast(x / consts.length));
  return makeConst(dtype, outShape, acc.data);
}

function broadcastShapesQuiet(a: Shape, c: Shape): Shape {
  const r = Math.max(a.length, c.length);
  return Array.from({ length: r }, (_, d) => {
    const x = a[d - (r - a.length)] ?? 1;
    const y = c[d - (r - c.length)] ?? 1;
    return x === 1 ? y : x;
  });
}

function prepareEw(ctx: PrepareCtx): Prepared<EwParams> {
  const { node } = ctx;
  const def = DEFS[node.opType];
  const fail = failer(node);
  const present = node.inputs.map((_, i) => hasInput(ctx, i));
  if (def.arity === 'n') {
    if (present.length === 0 || !present.every(Boolean)) throw fail('needs one or more inputs, none omitted');
  } else if (present.length < def.arity || !present.slice(0, def.arity).every(Boolean)) {
    throw fail(`needs ${def.arity} input${def.arity > 1 ? 's' : ''}, got ${present.filter(Boolean).length}`);
  }
  const count = def.arity === 'n' ? present.length : def.arity;
  const shapes = ctx.shapes.slice(0, count) as Shape[];
  const outShape = broadcastShapes(node, shapes);
  if (canFold(ctx, outShape)) {
    const folded = foldDef(def, node.opType, ctx.consts.slice(0, count) as Const[], outShape);
    return { shapes: [outShape], dtypes: [folded.dtype], params: { opType: node.opType, count }, folded: [folded] };
  }
  // One input of Sum/Mean/Max/Min is the identity.
  if (count === 1 && def.arity === 'n') return { shapes: [outShape], params: { opType: node.opType, count }, alias: 0 };
  const params: EwParams = { opType: node.opType, count };
  const fixed = def.arity !== 'n' || (count === 2 && node.opType !== 'Mean');
  if (fixed) {
    const j = ctx.consts.slice(0, count).findIndex((c) => c !== undefined && c.data.length === 1);
    if (j >= 0) params.scalar = { index: j, value: Math.fround(ctx.consts[j]!.data[0]) };
  }
  return { shapes: [outShape], params, staticInputs: params.scalar ? [params.scalar.index] : [] };
}

/** Round a step's float64 result to float32 storage, as the GPU does after every step. */
function cpuEw(p: EwParams, inputs: (CpuTensor | undefined)[], outShapes: Shape[]): Float32Array[] {
  const def = DEFS[p.opType];
  const ops = inputs.slice(0, p.count).map((t, j) =>
    (p.scalar?.index === j ? { shape: [] as Shape, data: Float32Array.of(p.scalar.value) } : t!));
  if (def.arity !== 'n' || (p.count === 2 && p.opType !== 'Mean')) {
    return [mapBroadcast(outShapes[0], ops, new Float32Array(numel(outShapes[0])), def.f) as Float32Array];
  }
  let acc = ops[0];
  for (let j = 1; j < ops.length; j++) {
    const last = j === ops.length - 1;
    const shape = last ? outShapes[0] : broadcastShapesQuiet(acc.shape, ops[j].shape);
    const data = new Float32Array(numel(shape));
    const f = last && p.opType === 'Mean' ? (v: number[]) => Math.fround(v[0] + v[1]) / p.count : def.f;
    mapBroadcast(shape, [acc, ops[j]], data, f);
    acc = { shape, data };
  }
  return [acc.data];
}

function gpuEw(g: Gpu, p: EwParams, inputs: (GpuTensor | undefined)[], outputs: GpuTensor[]): void {
  const def = DEFS[p.opType];
  const ops: Operand[] = inputs.slice(0, p.count).map((t, j) => (p.scalar?.index === j ? { scalar: p.scalar.value } : t!));
  if (def.arity !== 'n' || (p.count === 2 && p.opType !== 'Mean')) {
    recordElementwise(g, def.key, def.expr, ops, outputs[0]);
    return;
  }
  let acc = ops[0];
  const temps: GpuTensor[] = [];
  for (let j = 1; j < ops.length; j++) {
    const last = j === ops.length - 1;
    const a = acc as GpuTensor;
    const c = ops[j] as GpuTensor;
    const target = last ? outputs[0] : g.alloc(broadcastShapesQuiet(a.shape, c.shape), `${p.opType}.partial`);
    const mean = last && p.opType === 'Mean';
    recordElementwise(g, mean ? 'binary.add_mean' : def.key, mean ? MEAN_LAST : def.expr, [a, c], target, p.count);
    if (!last) temps.push(target);
    acc = target;
  }
  temps.forEach((t) => g.release(t));
}

const spec: OpSpec<EwParams> = { prepare: prepareEw, cpu: cpuEw, gpu: gpuEw };

// A residual Add ends a block (default-layer candidate, spec §1.3).
export const ops: OpTable = Object.fromEntries(Object.keys(DEFS).map((k) => [k, k === 'Add' ? { ...spec, traits: { blockOutput: true } } : spec]));
