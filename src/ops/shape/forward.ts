// Shape arithmetic that is always known when the graph is planned: Shape and Size read static
// shapes (their input may be a runtime tensor), Constant, ConstantOfShape, Range and NonZero read
// constants. Every one of them folds in prepare; none has a kernel.
import { attrInt, attrInts, attrTensor } from '../../graph/ir.js';
import type { Const, DType } from '../../graph/tensor.js';
import { fmtShape, numel } from '../../graph/tensor.js';
import { AeqError } from '../../errors.js';
import type { OpSpec, OpTable, PrepareCtx, Prepared } from '../op.js';
import { constValues, failer, hasInput, makeConst, requireShape } from '../shared/fold.js';
import { checkFoldSize } from '../../graph/limits.js';

function folded(c: Const): Prepared<null> {
  return { shapes: [c.dims], dtypes: [c.dtype], params: null, folded: [c] };
}

function foldOnly(prepare: (ctx: PrepareCtx) => Prepared<null>): OpSpec<null> {
  const never = (): never => {
    throw new AeqError('internal: a shape operator is always folded at plan time and never runs');
  };
  return { prepare, cpu: never, gpu: never };
}

function prepareShape(ctx: PrepareCtx): Prepared<null> {
  const s = requireShape(ctx);
  const r = s.length;
  const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
  const start = ctx.opset >= 15 ? clampAxis(attrInt(ctx.node, 'start', 0)) : 0;
  const end = ctx.opset >= 15 ? clampAxis(attrInt(ctx.node, 'end', r)) : r;
  const dims = s.slice(start, Math.max(start, end));
  return folded(makeConst('int64', [dims.length], dims));
}

function prepareSize(ctx: PrepareCtx): Prepared<null> {
  return folded(makeConst('int64', [], [numel(requireShape(ctx))]));
}

function prepareConstantOfShape(ctx: PrepareCtx): Prepared<null> {
  const fail = failer(ctx.node);
  const dims = constValues(ctx, 0, 'shape');
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw fail(`shape [${dims.join(',')}] must be non-negative integers`);
  const value = attrTensor(ctx.node, 'value');
  if (value && value.data.length !== 1) throw fail(`attribute 'value' must hold one element, got ${fmtShape(value.dims)}`);
  const dtype: DType = value?.dtype ?? 'float32';
  const v = value ? value.data[0] : 0;
  checkFoldSize(ctx.node, numel(dims));
  return folded(makeConst(dtype, dims, new Float64Array(numel(dims)).fill(v)));
}

function prepareRange(ctx: PrepareCtx): Prepared<null> {
  const fail = failer(ctx.node);
  const scalar = (i: number, what: string) => {
    const v = constValues(ctx, i, what);
    if (v.length !== 1) throw fail(`${what} must be a scalar, got ${v.length} values`);
    return v[0];
  };
  const start = scalar(0, 'start');
  const limit = scalar(1, 'limit');
  const delta = scalar(2, 'delta');
  if (delta === 0) throw fail('delta is 0');
  const n = Math.max(Math.ceil((limit - start) / delta), 0);
  if (!Number.isFinite(n) || n > 2 ** 31 - 1) throw fail(`range(${start}, ${limit}, ${delta}) is too long`);
  checkFoldSize(ctx.node, n);
  const dtype = ctx.consts[0]!.dtype;
  return folded(makeConst(dtype, [n], Array.from({ length: n }, (_, i) => start + i * delta)));
}

function prepareConstant(ctx: PrepareCtx): Prepared<null> {
  const { node } = ctx;
  const fail = failer(node);
  const a = node.attrs;
  if (a.has('sparse_value')) throw fail(`sparse constants (attribute 'sparse_value') are not supported`);
  if (a.has('value_string') || a.has('value_strings')) throw fail('string constants are not supported');
  const t = attrTensor(node, 'value');
  if (t) return folded(t);
  if (a.has('value_float')) {
    const v = a.get('value_float');
    if (typeof v !== 'number') throw fail(`attribute 'value_float' must be a number`);
    return folded(makeConst('float32', [], [v]));
  }
  if (a.has('value_floats')) {
    const v = attrInts(node, 'value_floats')!;
    return folded(makeConst('float32', [v.length], v));
  }
  if (a.has('value_int')) return folded(makeConst('int64', [], [attrInt(node, 'value_int')]));
  if (a.has('value_ints')) {
    const v = attrInts(node, 'value_ints')!;
    return folded(makeConst('int64', [v.length], v));
  }
  throw fail('has no value attribute (value, value_float(s) or value_int(s))');
}

function prepareNonZero(ctx: PrepareCtx): Prepared<null> {
  const s = requireShape(ctx);
  const x = constValues(ctx, 0, 'X');
  const r = s.length;
  const hits: number[] = [];
  x.forEach((v, i) => v !== 0 && hits.push(i));
  const out = new Float64Array(Math.max(r, 1) * hits.length);
  hits.forEach((flat, j) => {
    let rem = flat;
    for (let d = r - 1; d >= 0; d--) {
      out[d * hits.length + j] = rem % s[d];
      rem = Math.floor(rem / s[d]);
    }
  });
  // A scalar input has one "axis" in ONNX's NonZero output: shape [1, nnz] with zeros.
  return folded(makeConst('int64', [Math.max(r, 1), hits.length], out));
}

export const ops: OpTable = {
  Shape: foldOnly(prepareShape),
  Size: foldOnly(prepareSize),
  ConstantOfShape: foldOnly(prepareConstantOfShape),
  Range: foldOnly(prepareRange),
  Constant: foldOnly(prepareConstant),
  NonZero: foldOnly(prepareNonZero),
};
