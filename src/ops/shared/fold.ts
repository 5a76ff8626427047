// Dtype-aware arithmetic for constant folding, and the broadcasting/stride helpers the
// element-wise and layout kernels share. Constants hold integers as float64 (exact to 2^53), so
// folding computes in float64 and then rounds into the result dtype the way ONNX (C casts) does.
import type { Const, DType, Shape } from '../../graph/tensor.js';
import { fmtShape, numel, stridesOf } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import type { Node } from '../../graph/ir.js';
import type { PrepareCtx } from '../op.js';
import { foldLimit } from '../../graph/limits.js';

export type NumArray = Float32Array | Float64Array;

const INT_BITS: Partial<Record<DType, [bits: number, signed: boolean]>> = {
  int8: [8, true], int16: [16, true], int32: [32, true],
  uint8: [8, false], uint16: [16, false], uint32: [32, false],
};

export function isIntegerDType(d: DType): boolean {
  return d === 'int64' || d === 'uint64' || d === 'bool' || d in INT_BITS;
}

/** Nearest float16 value (ties to even), overflowing to ±Infinity like IEEE conversion. */
export function roundHalf(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, -14) - 10);
  const q = a / ulp;
  const f = Math.floor(q);
  const r = q - f > 0.5 || (q - f === 0.5 && f % 2 === 1) ? f + 1 : f;
  return Math.sign(x) * r * ulp;
}

/**
 * One value converted to `to` as ONNX Cast does: floats round to the target precision, integers
 * truncate toward zero and wrap to their width (out-of-range is undefined in ONNX; wrapping is
 * what C and numpy do in practice), bool is "non-zero". int64/uint64 are exact only to 2^53.
 */
export function castNumber(x: number, to: DType): number {
  switch (to) {
    case 'float32': return Math.fround(x);
    case 'float64': return x;
    case 'float16': return roundHalf(x);
    case 'bool': return x !== 0 ? 1 : 0;
    case 'string': throw new Error('string tensors are not supported');
  }
  if (!Number.isFinite(x)) return 0;
  const t = Math.trunc(x) + 0; // + 0 turns -0 into 0
  const spec = INT_BITS[to];
  if (!spec) return to === 'uint64' && t < 0 ? t + 2 ** 64 : t;
  const [bits, signed] = spec;
  const m = 2 ** bits;
  let w = ((t % m) + m) % m;
  if (signed && w >= m / 2) w -= m;
  return w;
}

/** A constant of `dtype` whose values are converted with castNumber. */
export function makeConst(dtype: DType, dims: Shape, values: ArrayLike<number>): Const {
  const data = dtype === 'float32' ? new Float32Array(values.length) : new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = castNumber(values[i], dtype);
  return { dtype, dims: [...dims], data };
}

/** A typed array of the same kind as `like` (float32 stays float32; float64 carries every other dtype). */
export function arrayLike(like: NumArray, n: number): NumArray {
  return like instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
}

/** True when every present input is a plan-time constant (and there is at least one). */
export function allConst(ctx: PrepareCtx): boolean {
  let any = false;
  for (let i = 0; i < ctx.node.inputs.length; i++) {
    if (ctx.node.inputs[i] === '' || ctx.shapes[i] === undefined) continue;
    if (!ctx.consts[i]) return false;
    any = true;
  }
  return any;
}

export function failer(node: Node): (msg: string) => Error {
  return (msg: string) => nodeError(node.opType, node.name, msg);
}

/**
 * Fold now only when every input is constant and the result fits the plan-time folding budget
 * (foldLimit: MAX_FOLD_ELEMENTS, or the size of the largest constant input): a larger result runs as an ordinary step, under the run's memory budget,
 * instead of being allocated while the graph is planned.
 */
export function canFold(ctx: PrepareCtx, outShape: Shape): boolean {
  const largest = Math.max(0, ...ctx.consts.map((c) => c?.data.length ?? 0));
  return numel(outShape) <= foldLimit(largest) && allConst(ctx);
}

/** Whether input `i` is present (not omitted). */
export function hasInput(ctx: PrepareCtx, i: number): boolean {
  return i < ctx.node.inputs.length && ctx.node.inputs[i] !== '' && ctx.shapes[i] !== undefined;
}

/** The shape of input `i`, which must be present. */
export function requireShape(ctx: PrepareCtx, i = 0): Shape {
  const s = ctx.shapes[i];
  if (!s || !hasInput(ctx, i)) throw failer(ctx.node)(`input ${i} is required`);
  return s;
}

/** The values of a plan-time constant input (shape, axes, pads, …), or an error naming it. */
export function constValues(ctx: PrepareCtx, i: number, what: string): number[] {
  const c = ctx.consts[i];
  if (!c && !hasInput(ctx, i)) {
    throw nodeError(ctx.node.opType, ctx.node.name, `input ${i} (${what}) is required but missing`);
  }
  if (!c) {
    throw nodeError(ctx.node.opType, ctx.node.name,
      `input ${i} (${what}, '${ctx.node.inputs[i]}') must be a constant known when the graph is planned; ` +
      `it is computed at run time, which this engine does not support`);
  }
  return Array.from(c.data, (v) => v);
}

/** Normalise a possibly negative axis into [0, rank), with an error naming the node. */
export function normAxis(node: Node, axis: number, rank: number, what = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw nodeError(node.opType, node.name, `${what} ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

// ---------------------------------------------------------------- broadcasting

/** Numpy multidirectional broadcast of several shapes; the error names the node and every shape. */
export function broadcastShapes(node: Node, shapes: Shape[]): Shape {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (let d = 0; d < rank; d++) {
    for (const s of shapes) {
      const k = d - (rank - s.length);
      if (k < 0) continue;
      const v = s[k];
      if (v === out[d] || v === 1) continue;
      if (out[d] === 1) out[d] = v;
      else {
        throw nodeError(node.opType, node.name,
          `shapes ${shapes.map((x) => fmtShape(x)).join(' and ')} cannot be broadcast together (dimension ${d} of the result: ${out[d]} vs ${v})`);
      }
    }
  }
  return out;
}

/** Element strides of `shape` read as if broadcast to `out` (0 along broadcast dimensions). */
export function broadcastStrides(shape: Shape, out: Shape): number[] {
  const st = stridesOf(shape);
  const off = out.length - shape.length;
  return out.map((_, d) => (d < off || shape[d - off] === 1 ? 0 : st[d - off]));
}

/**
 * Merge adjacent dimensions that every stride set walks contiguously, and drop size-1 dims, so a
 * kernel runs at the smallest rank that describes the access (a transpose of [N,C,H,W] → [N,H,W,C]
 * is rank 3, a broadcast add of [N,C,H,W] + [C,1,1] is rank 2). Always returns rank ≥ 1.
 */
export function coalesce(shape: Shape, strides: number[][]): { shape: Shape; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, j) => outStrides[j][last] === s[d] * shape[d])) {
      outShape[last] *= shape[d];
      strides.forEach((s, j) => (outStrides[j][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, j) => outStrides[j].push(s[d]));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: outShape, strides: outStrides };
}

/**
 * Visit every element of `shape` in row-major order with its offset under each stride set (plus
 * a base offset): the odometer every CPU reference for strided access uses.
 */
export function forEachOffset(shape: Shape, strides: number[][], bases: number[], visit: (i: number, offs: number[]) => void): void {
  const n = numel(shape);
  if (n === 0) return;
  const r = shape.length;
  const c = new Array<number>(r).fill(0);
  const offs = [...bases];
  for (let i = 0; i < n; i++) {
    visit(i, offs);
    for (let d = r - 1; d >= 0; d--) {
      c[d]++;
      for (let j = 0; j < offs.length; j++) offs[j] += strides[j][d];
      if (c[d] < shape[d]) break;
      for (let j = 0; j < offs.length; j++) offs[j] -= strides[j][d] * shape[d];
      c[d] = 0;
    }
  }
}

/** out[i] = f(inputs broadcast to outShape); `out` decides the storage precision. */
export function mapBroadcast(outShape: Shape, inputs: { shape: Shape; data: ArrayLike<number> }[], out: NumArray, f: (v: number[]) => number): NumArray {
  const strides = inputs.map((t) => broadcastStrides(t.shape, outShape));
  const v = new Array<number>(inputs.length);
  forEachOffset(outShape, strides, inputs.map(() => 0), (i, offs) => {
    for (let j = 0; j < inputs.length; j++) v[j] = inputs[j].data[offs[j]];
    out[i] = f(v);
  });
  return out;
}
