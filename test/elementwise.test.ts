// Element-wise ops: GPU vs CPU on broadcasts in every direction (ranks 1–6, odd sizes), the
// scalar-operand and per-channel fast paths, variadic Sum/Mean/Max/Min, hand-computed CPU values,
// dtype-correct constant folding (int64 Div truncates, comparisons give bool; checked against
// ONNX's conformance data as folds), and error messages.
// Tolerances: add/sub/mul/max/min/comparisons/Where are exact (IEEE-correctly-rounded on both
// sides); Div relative L2 ≤ 1e-6; Pow relative L2 ≤ 1e-5.
import { describe, it, expect } from 'vitest';
import { ops } from '../src/ops/elementwise/forward.js';
import { constOf, type Const, type Shape } from '../src/graph/tensor.js';
import type { CpuTensor } from '../src/ops/op.js';
import { diff, makeNode, prepare, randn, rng, runCpu, runGpu, type OpInput } from './helpers/ops.js';
import { foldCases } from './helpers/fold_conformance.js';

const t = (tensor: CpuTensor): OpInput => ({ tensor });
const k = (konst: Const): OpInput => ({ konst });

async function gpuVsCpu(opType: string, inputs: OpInput[], tol = 0): Promise<CpuTensor> {
  const node = makeNode(opType, inputs.length);
  const [c] = runCpu(ops[opType], node, inputs);
  const [g] = await runGpu(ops[opType], node, inputs);
  expect(g.shape).toEqual(c.shape);
  const d = diff(g.data, c.data);
  if (tol === 0) expect(d.maxAbs, `${opType} max |gpu - cpu|`).toBe(0);
  else expect(d.relL2, `${opType} relative L2`).toBeLessThanOrEqual(tol);
  return c;
}

// Pairs that broadcast in every direction: equal, scalar either side, per-channel, rank growth,
// both sides broadcasting at once, and rank 6.
const PAIRS: [Shape, Shape][] = [
  [[37], [37]],
  [[5, 7, 3], []],
  [[], [4, 9]],
  [[2, 5, 7, 9], [5, 1, 1]],
  [[5, 1, 1], [2, 5, 7, 9]],
  [[3, 1, 5], [1, 4, 1]],
  [[6, 1], [1, 33]],
  [[2, 3, 7, 5], [7, 1]],
  [[1, 3, 1, 5, 1], [2, 1, 4, 1, 3]],
  [[2, 1, 3, 1, 5, 1], [1, 4, 1, 6, 1, 7]],
  [[3, 2, 1, 4, 5, 3], [2, 3, 4, 1, 1]],
  [[1], [513]],
  [[70001], [1]],
];

describe('broadcast binary ops, GPU vs CPU', () => {
  const r = rng(7);
  it.each(PAIRS.map((p, i) => [i, p[0], p[1]] as const))('pair %i: %j ∘ %j', async (_i, a, b) => {
    const A = randn(a, r);
    const B = randn(b, r);
    for (const op of ['Add', 'Sub', 'Mul', 'Max', 'Min', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual']) {
      await gpuVsCpu(op, [t(A), t(B)]);
    }
    const Bsafe = { shape: B.shape, data: B.data.map((v) => (v < 0 ? -0.5 : 0.5) + v) };
    await gpuVsCpu('Div', [t(A), t(Bsafe)], 1e-6);
  });

  it('Equal sees exactly equal values (both sides from one set of 5 values)', async () => {
    const r2 = rng(3);
    const pick = (shape: Shape) => ({ shape, data: Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => Math.floor(r2() * 5) - 2) });
    const c = await gpuVsCpu('Equal', [t(pick([3, 1, 17])), t(pick([4, 1]))]);
    expect(c.data.some((v) => v === 1)).toBe(true);
    expect(c.data.some((v) => v === 0)).toBe(true);
    await gpuVsCpu('And', [t(pick([3, 1, 17])), t(pick([4, 1]))]);
    await gpuVsCpu('Or', [t(pick([3, 1, 17])), t(pick([4, 1]))]);
    await gpuVsCpu('Xor', [t(pick([3, 1, 17])), t(pick([4, 1]))]);
    await gpuVsCpu('Not', [t(pick([5, 1, 17]))]);
  });

  it('Pow: negative bases with integer exponents, positive bases with real exponents', async () => {
    const r2 = rng(11);
    const base = randn([4, 1, 9], r2, 2);
    const intExp = { shape: [3, 1], data: Float32Array.from([2, 3, -1]) };
    await gpuVsCpu('Pow', [t(base), t(intExp)], 1e-5);
    const pos = { shape: [2, 3, 31], data: randn([2, 3, 31], r2).data.map((v) => Math.abs(v) + 0.1) };
    const realExp = randn([3, 1], r2, 2);
    await gpuVsCpu('Pow', [t(pos), t(realExp)], 1e-5);
    const special = { shape: [6], data: Float32Array.from([0, -3, 1, 2, 3, -2]) };
    const x = randn([5, 6], r2, 3);
    await gpuVsCpu('Pow', [t(x), t(special)], 1e-5);
    // A negative base with a real exponent is NaN; 0^0 is 1; 0^-1 is +Inf.
    const edge = [t({ shape: [4], data: Float32Array.from([-2, 4, 0, 0]) }), t({ shape: [4], data: Float32Array.from([0.5, 0.5, 0, -1]) })];
    const [g] = await runGpu(ops.Pow, makeNode('Pow', 2), edge);
    expect(Array.from(g.data)).toEqual([NaN, 2, 1, Infinity]);
    expect(Array.from(runCpu(ops.Pow, makeNode('Pow', 2), edge)[0].data)).toEqual([NaN, 2, 1, Infinity]);
  });

  it('Where broadcasts three ways', async () => {
    const r2 = rng(5);
    const cond = { shape: [3, 1, 7], data: Float32Array.from({ length: 21 }, () => (r2() < 0.5 ? 1 : 0)) };
    await gpuVsCpu('Where', [t(cond), t(randn([2, 1, 1, 7], r2)), t(randn([5, 1], r2))]);
    await gpuVsCpu('Where', [t(cond), t(randn([3, 4, 7], r2)), t(randn([3, 4, 7], r2))]);
  });
});

describe('constant operands at run time', () => {
  it('a constant scalar becomes a uniform (static input), float or int64', async () => {
    const r = rng(9);
    const x = randn([3, 5, 7], r);
    const node = makeNode('Mul', 2);
    const p = prepare(ops.Mul, node, [t(x), k(constOf('float32', [], [2.5]))]);
    expect(p.staticInputs).toEqual([1]);
    expect(p.folded).toBeUndefined();
    await gpuVsCpu('Mul', [t(x), k(constOf('float32', [], [2.5]))]);
    await gpuVsCpu('Sub', [k(constOf('float32', [1, 1], [1])), t(x)]);
    const c = await gpuVsCpu('Pow', [t(x), k(constOf('int64', [], [2]))], 1e-6);
    expect(c.data[4]).toBeCloseTo(x.data[4] ** 2, 6);
    // A [1,1,1,1] scalar still raises the output rank.
    const y = await gpuVsCpu('Add', [t(x), k(constOf('float32', [1, 1, 1, 1], [1]))]);
    expect(y.shape).toEqual([1, 3, 5, 7]);
  });

  it('a constant per-channel vector is read at run time', async () => {
    const r = rng(10);
    await gpuVsCpu('Add', [t(randn([2, 6, 5, 3], r)), k({ dtype: 'float32', dims: [6, 1, 1], data: randn([6, 1, 1], r).data })]);
  });
});

describe('variadic Sum / Mean / Max / Min', () => {
  const r = rng(21);
  const ins = () => [t(randn([3, 1, 5], r)), t(randn([4, 1], r)), t(randn([2, 1, 1, 1], r))];
  it.each(['Sum', 'Max', 'Min'])('%s of three broadcast inputs', async (op) => {
    const c = await gpuVsCpu(op, ins());
    expect(c.shape).toEqual([2, 3, 4, 5]);
  });
  it('Mean of three (division on the GPU: 1e-6)', async () => {
    await gpuVsCpu('Mean', ins(), 1e-6);
    await gpuVsCpu('Mean', ins().slice(0, 2), 1e-6);
  });
  it('one input is a view; Max of two takes the binary path', async () => {
    const x = randn([4, 4], r);
    const p = prepare(ops.Sum, makeNode('Sum', 1), [t(x)]);
    expect(p.alias).toBe(0);
    await gpuVsCpu('Max', [t(x), k(constOf('float32', [], [0]))]);
  });
  it('hand-computed CPU values', () => {
    const a = { shape: [2], data: Float32Array.from([1, 6]) };
    const b = { shape: [2, 1], data: Float32Array.from([2, 4]) };
    const c = { shape: [], data: Float32Array.from([3]) };
    const mean = runCpu(ops.Mean, makeNode('Mean', 3), [t(a), t(b), t(c)])[0];
    expect(mean.shape).toEqual([2, 2]);
    expect(Array.from(mean.data)).toEqual([2, 11 / 3, 8 / 3, 13 / 3].map(Math.fround));
    expect(Array.from(runCpu(ops.Max, makeNode('Max', 3), [t(a), t(b), t(c)])[0].data)).toEqual([3, 6, 4, 6]);
  });
});

describe('CPU reference, hand-computed', () => {
  it('Add [2,3] + [3], Div, Where, Less', () => {
    const a = { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const b = { shape: [3], data: Float32Array.from([10, 20, 30]) };
    expect(Array.from(runCpu(ops.Add, makeNode('Add', 2), [t(a), t(b)])[0].data)).toEqual([11, 22, 33, 14, 25, 36]);
    expect(Array.from(runCpu(ops.Div, makeNode('Div', 2), [t(b), t(a)])[0].data)).toEqual([10, 10, 10, 2.5, 4, 5]);
    expect(Array.from(runCpu(ops.Less, makeNode('Less', 2), [t(a), t({ shape: [], data: Float32Array.of(3.5) })])[0].data)).toEqual([1, 1, 1, 0, 0, 0]);
    const cond = { shape: [3], data: Float32Array.from([1, 0, 1]) };
    expect(Array.from(runCpu(ops.Where, makeNode('Where', 3), [t(cond), t(a), t(b)])[0].data)).toEqual([1, 20, 3, 4, 20, 6]);
    expect(Array.from(runCpu(ops.Pow, makeNode('Pow', 2), [t({ shape: [3], data: Float32Array.from([-2, 0, 4]) }), t({ shape: [3], data: Float32Array.from([3, 0, 0.5]) })])[0].data)).toEqual([-8, 1, 2]);
  });
});

describe('constant folding keeps dtypes', () => {
  const i64 = (dims: number[], v: number[]) => constOf('int64', dims, v);
  const fold = (op: string, inputs: Const[]) => {
    const p = prepare(ops[op], makeNode(op, inputs.length), inputs.map(k));
    expect(p.folded, `${op} folds`).toBeDefined();
    return p.folded![0];
  };
  it('int64 arithmetic stays integer; Div truncates toward zero', () => {
    const a = i64([4], [7, -7, 7, -7]);
    const b = i64([4], [2, 2, -2, -2]);
    const d = fold('Div', [a, b]);
    expect(d.dtype).toBe('int64');
    expect(Array.from(d.data)).toEqual([3, -3, -3, 3]);
    expect(Array.from(fold('Mul', [a, i64([], [3])]).data)).toEqual([21, -21, 21, -21]);
    expect(Array.from(fold('Add', [i64([2, 1], [1, 2]), i64([3], [10, 20, 30])]).data)).toEqual([11, 21, 31, 12, 22, 32]);
    expect(Array.from(fold('Pow', [i64([3], [2, 3, -2]), i64([], [3])]).data)).toEqual([8, 27, -8]);
    expect(Array.from(fold('Mean', [i64([2], [1, 2]), i64([2], [2, 2])]).data)).toEqual([1, 2]);
    expect(fold('Sum', [a, b, a]).dtype).toBe('int64');
    // Shapes past 2^31 stay exact in float64.
    expect(Array.from(fold('Mul', [i64([1], [2 ** 31]), i64([1], [4])]).data)).toEqual([2 ** 33]);
  });
  it('comparisons and Not give bool; Where keeps X\'s dtype', () => {
    const e = fold('Equal', [i64([3], [1, 2, 3]), i64([], [2])]);
    expect(e.dtype).toBe('bool');
    expect(Array.from(e.data)).toEqual([0, 1, 0]);
    expect(fold('Not', [e]).dtype).toBe('bool');
    const w = fold('Where', [e, i64([3], [7, 8, 9]), i64([], [-1])]);
    expect(w.dtype).toBe('int64');
    expect(Array.from(w.data)).toEqual([-1, 8, -1]);
  });
  it('uint8 wraps, int32 wraps, float32 rounds', () => {
    expect(Array.from(fold('Add', [constOf('uint8', [2], [250, 3]), constOf('uint8', [2], [10, 4])]).data)).toEqual([4, 7]);
    expect(Array.from(fold('Sub', [constOf('uint8', [1], [3]), constOf('uint8', [1], [4])]).data)).toEqual([255]);
    expect(Array.from(fold('Add', [constOf('int32', [1], [2 ** 31 - 1]), constOf('int32', [1], [1])]).data)).toEqual([-(2 ** 31)]);
    const f = fold('Div', [constOf('float32', [1], [1]), constOf('float32', [1], [3])]);
    expect(f.dtype).toBe('float32');
    expect(f.data[0]).toBe(Math.fround(1 / 3));
  });
  describe('ONNX conformance data, replayed as folds', () => {
    const cases = foldCases(/^test_(add|sub|mul|div|pow|max|min|sum|mean|equal|less|greater|where|not|and|or|xor)(_|\d|$)/, /expanded|_float16$|bfloat/);
    it('found the cases', () => expect(cases.length).toBeGreaterThan(60));
    it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => c.run());
  });
});

describe('errors', () => {
  it('incompatible broadcast names both shapes and the node', () => {
    const r = rng(1);
    expect(() => prepare(ops.Add, makeNode('Add', 2), [t(randn([2, 3], r)), t(randn([4, 3], r))]))
      .toThrow(/Add node 'Add_test'.*\[2×3\] and \[4×3\] cannot be broadcast/);
    expect(() => prepare(ops.Where, makeNode('Where', 3), [t(randn([2], r)), t(randn([3], r)), t(randn([1], r))]))
      .toThrow(/Where node 'Where_test'.*\[2\] and \[3\] and \[1\]/);
  });
  it('missing inputs', () => {
    expect(() => prepare(ops.Add, makeNode('Add', 1), [t(randn([2], rng(1)))])).toThrow(/Add node 'Add_test': needs 2 inputs/);
  });
});
