// Shape arithmetic: Shape/Size fold from static shapes (runtime inputs allowed), Constant,
// ConstantOfShape, Range and NonZero fold from constants, with ONNX dtypes; errors name the node.
// The ResNet-20 "option A" shortcuts and flatten tail of ../shared/fixtures must fold down to
// Slice → Slice → Pad (+ a Reshape view) when the input shape is static.
import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ops as shapeOps } from '../src/ops/shape/forward.js';
import { ops as layoutOps } from '../src/ops/layout/forward.js';
import { ops as ewOps } from '../src/ops/elementwise/forward.js';
import { loadModel } from '../src/io/onnx.js';
import { constOf, type Const, type DType, type Shape } from '../src/graph/tensor.js';
import type { AttrValue } from '../src/graph/ir.js';
import type { Prepared } from '../src/ops/op.js';
import { makeNode, prepare, randn, rng, type OpInput } from './helpers/ops.js';
import { foldCases } from './helpers/fold_conformance.js';

const k = (konst: Const): OpInput => ({ konst });
const i64 = (v: number[], dims = [v.length]) => constOf('int64', dims, v);

function fold(op: string, inputs: OpInput[], attrs: Record<string, AttrValue> = {}, opset = 17): Const {
  const p = prepare(shapeOps[op], makeNode(op, inputs.length, attrs), inputs, opset);
  expect(p.folded, `${op} folds`).toBeDefined();
  expect(p.shapes[0]).toEqual(p.folded![0].dims);
  expect(p.dtypes?.[0]).toBe(p.folded![0].dtype);
  return p.folded![0];
}

describe('Shape and Size', () => {
  const x = { tensor: randn([2, 3, 5, 7], rng(1)) };
  it('fold from a runtime tensor\'s static shape', () => {
    const s = fold('Shape', [x]);
    expect(s.dtype).toBe('int64');
    expect(Array.from(s.data)).toEqual([2, 3, 5, 7]);
    const n = fold('Size', [x]);
    expect(n.dims).toEqual([]);
    expect(Array.from(n.data)).toEqual([210]);
  });
  it('start/end from opset 15, clamped and negative', () => {
    expect(Array.from(fold('Shape', [x], { start: 1, end: -1 }, 15).data)).toEqual([3, 5]);
    expect(Array.from(fold('Shape', [x], { start: -10, end: 100 }, 15).data)).toEqual([2, 3, 5, 7]);
    expect(fold('Shape', [x], { start: 3, end: 1 }, 15).dims).toEqual([0]);
    expect(Array.from(fold('Shape', [x], { start: 1 }, 13).data)).toEqual([2, 3, 5, 7]);
  });
});

describe('Constant, ConstantOfShape, Range, NonZero', () => {
  it('Constant in every attribute form; sparse and string are rejected', () => {
    const v = constOf('int64', [2], [4, 5]);
    expect(fold('Constant', [], { value: v })).toBe(v);
    expect(fold('Constant', [], { value_float: 0.1 })).toMatchObject({ dtype: 'float32', dims: [], data: Float32Array.of(0.1) });
    expect(fold('Constant', [], { value_floats: [1, 2.5] })).toMatchObject({ dtype: 'float32', dims: [2] });
    expect(fold('Constant', [], { value_int: -3 })).toMatchObject({ dtype: 'int64', dims: [], data: Float64Array.of(-3) });
    expect(fold('Constant', [], { value_ints: [1, 2, 3] })).toMatchObject({ dtype: 'int64', dims: [3] });
    expect(() => fold('Constant', [], { sparse_value: [] })).toThrow(/Constant node 'Constant_test': sparse constants/);
    expect(() => fold('Constant', [], { value_string: 'x' })).toThrow(/string constants are not supported/);
    expect(() => fold('Constant', [], {})).toThrow(/has no value attribute/);
  });
  it('ConstantOfShape: default float zeros, typed value, empty shape is a scalar', () => {
    expect(fold('ConstantOfShape', [k(i64([2, 3]))])).toMatchObject({ dtype: 'float32', dims: [2, 3], data: new Float32Array(6) });
    const c = fold('ConstantOfShape', [k(i64([2]))], { value: constOf('int64', [1], [7]) });
    expect(c).toMatchObject({ dtype: 'int64', dims: [2], data: Float64Array.of(7, 7) });
    expect(fold('ConstantOfShape', [k(i64([]))], { value: constOf('int32', [1], [1]) }).dims).toEqual([]);
    expect(fold('ConstantOfShape', [k(i64([0, 4]))]).data.length).toBe(0);
    expect(() => fold('ConstantOfShape', [{ tensor: randn([2], rng(1)) }])).toThrow(/input 0 \(shape.*must be a constant/);
  });
  it('Range: int and float, negative delta, empty', () => {
    expect(fold('Range', [k(i64([1], [])), k(i64([5], [])), k(i64([2], []))]))
      .toMatchObject({ dtype: 'int64', dims: [2], data: Float64Array.of(1, 3) });
    const s = (v: number, d: DType = 'int32') => k(constOf(d, [], [v]));
    expect(Array.from(fold('Range', [s(10), s(4), s(-3)]).data)).toEqual([10, 7]);
    expect(fold('Range', [s(1, 'float32'), s(2, 'float32'), s(0.25, 'float32')])).toMatchObject({ dtype: 'float32', dims: [4] });
    expect(fold('Range', [s(3), s(1), s(1)]).dims).toEqual([0]);
    expect(() => fold('Range', [s(0), s(1), s(0)])).toThrow(/delta is 0/);
  });
  it('NonZero on a constant', () => {
    const n = fold('NonZero', [k(constOf('int64', [2, 3], [0, 1, 0, 2, 0, 3]))]);
    expect(n).toMatchObject({ dtype: 'int64', dims: [2, 3] });
    expect(Array.from(n.data)).toEqual([0, 1, 1, 1, 0, 2]);
  });
  describe('ONNX conformance data, replayed as folds', () => {
    const cases = foldCases(/^test_(shape|size|constantofshape|range_.*_type|constant$|nonzero)/, /expanded/);
    it('found the cases', () => expect(cases.length).toBeGreaterThan(15));
    it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => c.run());
  });
});

// A miniature planner over the nodes of the shared ResNet-20 that this module family owns.
describe('ResNet-20 (PyTorch "option A" shortcuts, flatten tail) folds to data movement', () => {
  const path = join(__dirname, '..', '..', 'shared', 'fixtures', 'models', 'resnet20_cifar10.onnx');
  const all = { ...shapeOps, ...layoutOps, ...ewOps };
  it('leaves only Slice, Slice, Pad per shortcut and a Reshape view at the head', () => {
    if (!existsSync(path)) throw new Error(`${path} is missing: this test needs the shared fixtures folder (see its README)`);
    const model = loadModel(path);
    const shapes = new Map<string, Shape>([
      ['/layer1/layer1.2/Relu_1_output_0', [1, 16, 32, 32]],
      ['/layer2/layer2.2/Relu_1_output_0', [1, 32, 16, 16]],
      ['/GlobalAveragePool_output_0', [1, 64, 1, 1]],
    ]);
    const consts = new Map<string, Const>(model.graph.initializers);
    const runtime: { op: string; out: Shape; p: Prepared<unknown> }[] = [];
    let owned = 0;
    for (const node of model.graph.nodes) {
      const spec = all[node.opType];
      if (!spec || !node.inputs.every((t) => !t || shapes.has(t) || consts.has(t))) continue;
      owned++;
      const ins = node.inputs.map((t) => consts.get(t));
      const p = spec.prepare({
        node, opset: model.opset, consts: ins,
        shapes: node.inputs.map((t, i) => ins[i]?.dims ?? shapes.get(t)),
        dtypes: ins.map((c) => c?.dtype ?? 'float32'),
      });
      node.outputs.forEach((o, i) => {
        shapes.set(o, p.shapes[i]);
        if (p.folded) consts.set(o, p.folded[i]);
      });
      if (!p.folded) runtime.push({ op: node.opType, out: p.shapes[0], p });
    }
    expect(owned).toBeGreaterThan(60);
    expect(runtime.map((r) => r.op)).toEqual(['Slice', 'Slice', 'Pad', 'Slice', 'Slice', 'Pad', 'Reshape']);
    expect(runtime.map((r) => r.out)).toEqual([[1, 16, 16, 32], [1, 16, 16, 16], [1, 32, 16, 16], [1, 32, 8, 16], [1, 32, 8, 8], [1, 64, 8, 8], [1, 64]]);
    expect(runtime[6].p.alias).toBe(0);
    const pads = consts.get('/layer2/layer2.0/shortcut/Cast_output_0')!;
    expect(pads.dtype).toBe('int64');
    expect(Array.from(pads.data)).toEqual([0, 8, 0, 0, 0, 8, 0, 0]);
    expect(runtime[2].p.staticInputs).toEqual([1, 2]);
  });
});
