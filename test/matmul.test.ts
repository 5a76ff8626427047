// Gemm and MatMul: hand-checked CPU values, randomized GPU-vs-CPU on odd shapes and every kernel
// variant (vectorized and scalar loads, transposes, K tails, broadcast C, batched broadcasting),
// the binding-split path under an artificially low binding limit, and shape errors.
import { describe, expect, it, afterEach } from 'vitest';
import { ops, matmulTuning } from '../src/ops/dense/forward.js';
import { constOf, type Shape } from '../src/graph/tensor.js';
import type { AttrValue } from '../src/graph/ir.js';
import { diff, makeNode, prepare, randn, rng, runCpu, runGpu, type OpInput } from './helpers/ops.js';

const TOL = 1e-5; // relative L2, float32 GPU vs float64-accumulated CPU reference

const Gemm = ops.Gemm;
const MatMul = ops.MatMul;

function t(shape: Shape, data: number[]): OpInput {
  return { tensor: { shape, data: Float32Array.from(data) } };
}

async function gpuVsCpu(op: typeof Gemm, attrs: Record<string, AttrValue>, shapes: (Shape | null)[], seed: number, opset = 17) {
  const r = rng(seed);
  const inputs: OpInput[] = shapes.map((s) => (s ? { tensor: randn(s, r) } : { omitted: true }));
  const node = makeNode(op === Gemm ? 'Gemm' : 'MatMul', shapes.length, attrs);
  const [c] = runCpu(op, node, inputs, opset);
  const [g] = await runGpu(op, node, inputs, opset);
  expect(g.shape).toEqual(c.shape);
  const d = diff(g.data, c.data);
  expect(d.relL2, `shapes ${JSON.stringify(shapes)} attrs ${JSON.stringify(attrs)}`).toBeLessThanOrEqual(TOL);
  return c;
}

describe('Gemm CPU reference', () => {
  it('computes alpha·A·B + beta·C by hand', () => {
    const node = makeNode('Gemm', 3, { alpha: 2, beta: 0.5 });
    const [y] = runCpu(Gemm, node, [t([2, 2], [1, 2, 3, 4]), t([2, 2], [5, 6, 7, 8]), t([2], [10, 20])]);
    // A·B = [[19,22],[43,50]]
    expect(Array.from(y.data)).toEqual([2 * 19 + 5, 2 * 22 + 10, 2 * 43 + 5, 2 * 50 + 10]);
  });

  it('honours transA and transB', () => {
    const node = makeNode('Gemm', 2, { transA: 1, transB: 1 });
    // A stored 2×1 (A' is 1×2), B stored 3×2 (B' is 2×3)
    const [y] = runCpu(Gemm, node, [t([2, 1], [1, 2]), t([3, 2], [1, 0, 0, 1, 1, 1])]);
    expect(y.shape).toEqual([1, 3]);
    expect(Array.from(y.data)).toEqual([1, 2, 3]);
  });

  it('broadcasts a column C [M,1] and a scalar C', () => {
    const A = t([2, 1], [1, 2]), B = t([1, 2], [3, 4]);
    const [y1] = runCpu(Gemm, makeNode('Gemm', 3), [A, B, t([2, 1], [100, 200])]);
    expect(Array.from(y1.data)).toEqual([103, 104, 206, 208]);
    const [y2] = runCpu(Gemm, makeNode('Gemm', 3), [A, B, t([], [1])]);
    expect(Array.from(y2.data)).toEqual([4, 5, 7, 9]);
  });
});

describe('MatMul CPU reference', () => {
  it('promotes 1-D operands and drops the added dims', () => {
    const v = t([2], [1, 2]);
    const m = t([2, 2], [1, 2, 3, 4]);
    const [vm] = runCpu(MatMul, makeNode('MatMul', 2), [v, m]);
    expect(vm.shape).toEqual([2]);
    expect(Array.from(vm.data)).toEqual([7, 10]);
    const [mv] = runCpu(MatMul, makeNode('MatMul', 2), [m, v]);
    expect(mv.shape).toEqual([2]);
    expect(Array.from(mv.data)).toEqual([5, 11]);
    const [vv] = runCpu(MatMul, makeNode('MatMul', 2), [v, v]);
    expect(vv.shape).toEqual([]);
    expect(Array.from(vv.data)).toEqual([5]);
  });

  it('broadcasts batch dims', () => {
    const a = t([2, 1, 1, 2], [1, 2, 3, 4]);
    const b = t([3, 2, 1], [1, 0, 0, 1, 1, 1]);
    const [y] = runCpu(MatMul, makeNode('MatMul', 2), [a, b]);
    expect(y.shape).toEqual([2, 3, 1, 1]);
    expect(Array.from(y.data)).toEqual([1, 2, 3, 3, 4, 7]);
  });
});

describe('Gemm GPU vs CPU', () => {
  const cases: [string, Record<string, AttrValue>, (Shape | null)[]][] = [
    ['nt vec, bias [N]', { transB: 1 }, [[3, 36], [29, 36], [29]]],
    ['nn vec, bias [M,N]', { alpha: 0.5, beta: 2 }, [[5, 20], [20, 24], [5, 24]]],
    ['K not a multiple of 4 (scalar kernel)', {}, [[7, 13], [13, 8], [1, 8]]],
    ['scalar B (N odd)', {}, [[6, 12], [12, 33]]],
    ['transA (scalar kernel)', { transA: 1, transB: 1 }, [[16, 9], [11, 16], [9, 1]]],
    ['transA, transB, K odd', { transA: 1, transB: 1 }, [[7, 5], [3, 7]]],
    ['M=1 GEMV nt', { transB: 1 }, [[1, 256], [37, 256], [37]]],
    ['M=2 nn', {}, [[2, 64], [64, 20]]],
    ['C scalar', { beta: -1 }, [[4, 8], [8, 4], [1]]],
    ['C column [M,1]', {}, [[9, 8], [8, 10], [9, 1]]],
    ['larger with bias', { transB: 1 }, [[33, 200], [70, 200], [70]]],
  ];
  for (const [name, attrs, shapes] of cases) {
    it(name, async () => {
      await gpuVsCpu(Gemm, attrs, shapes, name.length * 7919);
    });
  }

  it('Gemm without C at opset 13 (C optional) and opset 9 attributes', async () => {
    await gpuVsCpu(Gemm, { transB: 1 }, [[4, 16], [10, 16]], 3, 13);
    await gpuVsCpu(Gemm, { transB: 1, alpha: 1.5, beta: 1 }, [[4, 16], [10, 16], [10]], 4, 9);
  });

  it('K = 0 gives beta·C', async () => {
    const c = await gpuVsCpu(Gemm, { beta: 2 }, [[3, 0], [0, 4], [4]], 5);
    expect(c.shape).toEqual([3, 4]);
  });
});

describe('MatMul GPU vs CPU', () => {
  const cases: [string, Shape[]][] = [
    ['2-D', [[17, 24], [24, 12]]],
    ['2-D odd', [[5, 7], [7, 9]]],
    ['vector · matrix', [[24], [24, 9]]],
    ['matrix · vector', [[6, 20], [20]]],
    ['vector · vector', [[11], [11]]],
    ['batched same', [[3, 5, 8], [3, 8, 12]]],
    ['batched broadcast both ways', [[2, 1, 5, 8], [3, 8, 7]]],
    ['batch vs 2-D', [[4, 3, 6], [6, 5]]],
    ['2-D vs batch', [[3, 6], [2, 2, 6, 4]]],
  ];
  for (const [name, shapes] of cases) {
    it(name, async () => {
      await gpuVsCpu(MatMul, {}, shapes, name.length * 104729);
    });
  }
});

describe('binding-split path', () => {
  afterEach(() => {
    delete matmulTuning.maxBindingBytes;
  });

  // Each case forces every large operand to be bound in slices of at most 1–2 KB.
  const cases: [string, typeof Gemm, Record<string, AttrValue>, Shape[], number][] = [
    ['Gemm transB (split along N)', Gemm, { transB: 1 }, [[2, 96], [70, 96], [70]], 2048],
    ['Gemm nn (split along K, accumulate)', Gemm, { alpha: 0.75, beta: 0.5 }, [[3, 120], [120, 40], [40]], 2048],
    ['Gemm large A (split along M) with C [M,N]', Gemm, { transB: 1 }, [[50, 24], [12, 24], [50, 12]], 1024],
    ['Gemm transA (scalar kernel), odd K', Gemm, { transA: 1 }, [[45, 9], [45, 10], [9, 10]], 1024],
    ['MatMul batched broadcast', MatMul, {}, [[3, 1, 6, 40], [2, 40, 36]], 1024],
  ];
  for (const [name, op, attrs, shapes, limit] of cases) {
    it(name, async () => {
      matmulTuning.maxBindingBytes = limit;
      await gpuVsCpu(op, attrs, shapes, limit + shapes.length);
    });
  }

  it('actually issues several dispatches', async () => {
    const { getGpu } = await import('../src/kernels/gpu/runtime.js');
    const g = await getGpu();
    matmulTuning.maxBindingBytes = 2048;
    const before = g.stats.dispatches;
    await gpuVsCpu(Gemm, { transB: 1 }, [[1, 64], [40, 64]], 9);
    // B is 40×64 floats = 10 KB, bound 4 rows (1 KB) at a time given the 256-byte offset slack.
    expect(g.stats.dispatches - before).toBe(10);
  });
});

describe('shape errors name the node', () => {
  it('Gemm inner dimension mismatch', () => {
    const node = makeNode('Gemm', 2, { transB: 1 });
    expect(() => prepare(Gemm, node, [{ tensor: randn([2, 3], rng(1)) }, { tensor: randn([4, 5], rng(1)) }]))
      .toThrow(/Gemm node 'Gemm_test'.*inner dimensions differ/);
  });
  it('Gemm non-2-D input', () => {
    const node = makeNode('Gemm', 2);
    expect(() => prepare(Gemm, node, [{ tensor: randn([1, 2, 3], rng(1)) }, { tensor: randn([3, 5], rng(1)) }]))
      .toThrow(/Gemm node 'Gemm_test'.*must be 2-D/);
  });
  it('Gemm C that does not broadcast', () => {
    const node = makeNode('Gemm', 3);
    expect(() => prepare(Gemm, node, [
      { tensor: randn([2, 3], rng(1)) }, { tensor: randn([3, 5], rng(1)) }, { konst: constOf('float32', [3], [1, 2, 3]) },
    ])).toThrow(/Gemm node 'Gemm_test'.*does not broadcast/);
  });
  it('MatMul batch dims that do not broadcast', () => {
    const node = makeNode('MatMul', 2);
    expect(() => prepare(MatMul, node, [{ tensor: randn([2, 3, 4], rng(1)) }, { tensor: randn([3, 4, 5], rng(1)) }]))
      .toThrow(/MatMul node 'MatMul_test'.*do not broadcast/);
  });
  it('MatMul K mismatch', () => {
    const node = makeNode('MatMul', 2);
    expect(() => prepare(MatMul, node, [{ tensor: randn([3], rng(1)) }, { tensor: randn([4, 5], rng(1)) }]))
      .toThrow(/MatMul node 'MatMul_test'.*K=3 vs 4/);
  });
});
