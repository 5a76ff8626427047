// ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceL1, ReduceL2, ReduceSumSquare, ReduceProd:
// any axes (negative too), keepdims, axes as an attribute or (ReduceSum from opset 13, the others
// from 18) as a constant second input with noop_with_empty_axes; no axes = all axes. One CPU
// reference (float64 accumulation, float32 on store) and one GPU kernel for every kind.
import { attrInt, attrInts } from '../../graph/ir.js';
import { fmtShape, isFloatDType, type Const } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import type { OpSpec, OpTable, PrepareCtx, Prepared } from '../op.js';
import { castNumber } from '../shared/fold.js';
import { keptBase, reduceGeom, reducedOffsets, MAX_GROUPS, type ReduceGeom } from './geometry.js';
import { INIT, reducePass, type Combine } from './kernels.js';

export type ReduceKind = 'sum' | 'mean' | 'max' | 'min' | 'l1' | 'l2' | 'sumsq' | 'prod';

export interface ReduceParams {
  kind: ReduceKind;
  /** Normalized reduced axes and keepdims: the rules re-derive the geometry at the backward batch. */
  axes: number[];
  keep: boolean;
  geom: ReduceGeom;
}

interface KindDef {
  combine: Combine;
  /** The value reduced, from the input value (CPU twin, and WGSL in terms of `v`). */
  load: (x: number) => number;
  loadWgsl: string;
  /** The output from the accumulator and the count of reduced elements. */
  finish: (acc: number, n: number) => number;
  finishWgsl: string;
  /** The first opset where the axes are an input. */
  axesInput: number;
}

export const KINDS: Record<ReduceKind, KindDef> = {
  sum: { combine: 'sum', load: (x) => x, loadWgsl: 'v', finish: (a) => a, finishWgsl: 'acc', axesInput: 13 },
  mean: { combine: 'sum', load: (x) => x, loadWgsl: 'v', finish: (a, n) => a / n, finishWgsl: 'acc / f32(u.count)', axesInput: 18 },
  max: { combine: 'max', load: (x) => x, loadWgsl: 'v', finish: (a) => a, finishWgsl: 'acc', axesInput: 18 },
  min: { combine: 'min', load: (x) => x, loadWgsl: 'v', finish: (a) => a, finishWgsl: 'acc', axesInput: 18 },
  l1: { combine: 'sum', load: Math.abs, loadWgsl: 'abs(v)', finish: (a) => a, finishWgsl: 'acc', axesInput: 18 },
  l2: { combine: 'sum', load: (x) => x * x, loadWgsl: 'v * v', finish: Math.sqrt, finishWgsl: 'sqrt(acc)', axesInput: 18 },
  sumsq: { combine: 'sum', load: (x) => x * x, loadWgsl: 'v * v', finish: (a) => a, finishWgsl: 'acc', axesInput: 18 },
  prod: { combine: 'prod', load: (x) => x, loadWgsl: 'v', finish: (a) => a, finishWgsl: 'acc', axesInput: 18 },
};

const OP_KIND: Record<string, ReduceKind> = {
  ReduceSum: 'sum', ReduceMean: 'mean', ReduceMax: 'max', ReduceMin: 'min',
  ReduceL1: 'l1', ReduceL2: 'l2', ReduceSumSquare: 'sumsq', ReduceProd: 'prod',
};

/** The reduced axes: from the attribute or the constant second input; [] = none given. */
function givenAxes(ctx: PrepareCtx, kind: ReduceKind, fail: (m: string) => never): number[] {
  const { node } = ctx;
  if (ctx.opset < KINDS[kind].axesInput) return attrInts(node, 'axes') ?? [];
  if (node.attrs.has('axes')) fail(`from opset ${KINDS[kind].axesInput} the axes are the second input, not an attribute`);
  if (!node.inputs[1]) return [];
  const c = ctx.consts[1];
  if (!c) fail(`the axes input '${node.inputs[1]}' must be a constant (known when the model is planned)`);
  return Array.from(c!.data);
}

/** Integer data (shape arithmetic, e.g. ReduceProd of a Shape) is folded now, in its own dtype. */
function foldInteger(kind: ReduceKind, c: Const, g: ReduceGeom): Const {
  const y = reduceF64(kind, c.data, g);
  return { dtype: c.dtype, dims: g.outShape, data: Float64Array.from(y, (v) => castNumber(v, c.dtype)) };
}

function prepare(ctx: PrepareCtx, kind: ReduceKind): Prepared<ReduceParams> {
  const { node } = ctx;
  const fail = (msg: string): never => {
    throw nodeError(node.opType, node.name, msg);
  };
  const x = ctx.shapes[0];
  if (!x) return fail('input data is required');
  const r = x.length;
  const keep = attrInt(node, 'keepdims', 1) !== 0;
  const noop = attrInt(node, 'noop_with_empty_axes', 0) !== 0;
  const given = givenAxes(ctx, kind, fail);
  const statics = node.inputs[1] ? [1] : [];
  if (given.length === 0 && noop) return { shapes: [x], params: undefined as never, alias: 0, staticInputs: statics };
  const axes = new Set<number>();
  for (const a of given.length ? given : x.map((_, i) => i)) {
    if (!Number.isInteger(a) || a < -r || a >= r) fail(`axis ${a} is out of range for input ${fmtShape(x)}`);
    const n = a < 0 ? a + r : a;
    if (axes.has(n)) fail(`axis ${a} is given twice in ${JSON.stringify(given)}`);
    axes.add(n);
  }
  const geom = reduceGeom(x, axes, keep);
  if (geom.kdims.length > MAX_GROUPS || geom.rdims.length > MAX_GROUPS) {
    fail(`reducing axes ${JSON.stringify([...axes])} of ${fmtShape(x)} alternates kept and reduced axes more than ${MAX_GROUPS} times`);
  }
  const p: ReduceParams = { kind, axes: [...axes].sort((a, b) => a - b), keep, geom };
  const dt = ctx.dtypes[0];
  if (dt && !isFloatDType(dt)) {
    if (!ctx.consts[0]) fail(`${dt} data is supported only as a constant (shape arithmetic); run-time tensors are float32`);
    return { shapes: [geom.outShape], params: p, folded: [foldInteger(kind, ctx.consts[0]!, geom)], staticInputs: statics };
  }
  return { shapes: [geom.outShape], params: p, staticInputs: statics };
}

/** The reduction in float64 (the CPU reference before its float32 store, and integer folding). */
export function reduceF64(kind: ReduceKind, x: ArrayLike<number>, g: ReduceGeom): Float64Array {
  const k = KINDS[kind];
  const offs = reducedOffsets(g);
  const y = new Float64Array(g.outs);
  for (let o = 0; o < g.outs; o++) {
    const base = keptBase(g, o);
    let acc = INIT[k.combine];
    for (let j = 0; j < offs.length; j++) {
      const v = k.load(x[base + offs[j]]);
      switch (k.combine) {
        case 'sum': acc += v; break;
        case 'prod': acc *= v; break;
        case 'max': if (v > acc || j === 0) acc = v; break;
        case 'min': if (v < acc || j === 0) acc = v; break;
      }
    }
    y[o] = k.finish(acc, g.count);
  }
  return y;
}

function spec(kind: ReduceKind): OpSpec<ReduceParams> {
  const k = KINDS[kind];
  return {
    prepare: (ctx) => prepare(ctx, kind),
    cpu: (p, inputs) => [Float32Array.from(reduceF64(kind, inputs[0]!.data, p.geom))],
    gpu(g, p, inputs, outputs) {
      reducePass(g, p.geom, { name: kind, load: k.loadWgsl, combine: k.combine, store: { kind: 'value', finish: k.finishWgsl } }, inputs[0]!, outputs);
    },
  };
}

/** No traits: a reduction is pooling only over the spatial axes, and no trait query needs it. */
export const ops: OpTable = Object.fromEntries(Object.entries(OP_KIND).map(([op, kind]) => [op, spec(kind)]));
