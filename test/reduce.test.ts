// Reductions: hand-checked CPU values (axes forms by opset, negative axes, keepdims, the no-op,
// integer folding, errors), randomized GPU-vs-CPU forward on odd shapes for every kind (reductions
// longer than a workgroup, ties), and the AE z-rule (spec §2.3 as §2.11 extends it) by hand:
// conservation per output where Z ≠ 0, no NaN on all-zero inputs, ties to the first element.
import { describe, expect, it } from 'vitest';
import { ops } from '../src/ops/reduce/forward.js';
import { ae, gradient } from '../src/ops/reduce/rules.js';
import { numel, type Shape } from '../src/graph/tensor.js';
import type { AttrValue } from '../src/graph/ir.js';
import type { CpuTensor } from '../src/ops/op.js';
import { OnnxBuilder, type AttrIn } from '../tools/onnx-builder.js';
import { diff, makeNode, prepare, randn, rng, runCpu, runGpu, type OpInput } from './helpers/ops.js';
import { applyCpu, applyGpu, forwardCase, stepOf } from './helpers/rules.js';

const t = (shape: Shape, data: number[]): CpuTensor => ({ shape, data: Float32Array.from(data) });
const axesConst = (axes: number[]): OpInput => ({ konst: { dtype: 'int64', dims: [axes.length], data: Float64Array.from(axes) } });

function cpu(op: string, x: CpuTensor, attrs: Record<string, AttrValue> = {}, opset = 13, axes?: number[]): CpuTensor {
  const inputs: OpInput[] = axes ? [{ tensor: x }, axesConst(axes)] : [{ tensor: x }];
  return runCpu(ops[op], makeNode(op, inputs.length, attrs), inputs, opset)[0];
}

const X23 = t([2, 3], [1, -2, 3, 4, 5, -6]);

describe('reduce CPU reference by hand', () => {
  it('every kind over axis 1 of a 2×3 tensor', () => {
    const want: Record<string, number[]> = {
      ReduceSum: [2, 3], ReduceMean: [2 / 3, 1], ReduceMax: [3, 5], ReduceMin: [-2, -6],
      ReduceL1: [6, 15], ReduceL2: [Math.sqrt(14), Math.sqrt(77)], ReduceSumSquare: [14, 77], ReduceProd: [-6, -120],
    };
    for (const [op, w] of Object.entries(want)) {
      const y = op === 'ReduceSum' ? cpu(op, X23, { keepdims: 0 }, 13, [1]) : cpu(op, X23, { axes: [1], keepdims: 0 });
      expect(y.shape, op).toEqual([2]);
      expect(Array.from(y.data), op).toEqual(w.map(Math.fround));
    }
  });

  it('negative axes, keepdims, and the default of all axes', () => {
    const x = t([2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const y = cpu('ReduceSum', x, {}, 13, [-1, 0]);
    expect(y.shape).toEqual([1, 2, 1]);
    expect(Array.from(y.data)).toEqual([1 + 2 + 3 + 7 + 8 + 9, 4 + 5 + 6 + 10 + 11 + 12]);
    const all = cpu('ReduceMean', x, { keepdims: 0 });
    expect(all.shape).toEqual([]);
    expect(Array.from(all.data)).toEqual([6.5]);
    expect(cpu('ReduceMax', x).shape).toEqual([1, 1, 1]);
    const mid = cpu('ReduceMax', x, { axes: [-2], keepdims: 1 });
    expect(mid.shape).toEqual([2, 1, 3]);
    expect(Array.from(mid.data)).toEqual([4, 5, 6, 10, 11, 12]);
  });

  it('opset 18: axes as the second input; empty axes with noop_with_empty_axes is a view', () => {
    const y = cpu('ReduceMean', X23, { keepdims: 0 }, 18, [0]);
    expect(Array.from(y.data)).toEqual([2.5, 1.5, -1.5]);
    const p = prepare(ops.ReduceMax, makeNode('ReduceMax', 2, { noop_with_empty_axes: 1 }), [{ tensor: X23 }, axesConst([])], 18);
    expect(p.alias).toBe(0);
    expect(p.shapes).toEqual([[2, 3]]);
    expect(p.staticInputs).toEqual([1]);
    // Empty axes without the flag reduce everything.
    expect(Array.from(cpu('ReduceSum', X23, { keepdims: 0 }, 13, []).data)).toEqual([5]);
  });

  it('integer constants fold in their own dtype (shape arithmetic)', () => {
    const node = makeNode('ReduceProd', 1, { keepdims: 0 });
    const p = prepare(ops.ReduceProd, node, [{ konst: { dtype: 'int64', dims: [3], data: Float64Array.from([2, 3, 7]) } }], 13);
    expect(p.folded?.[0].dtype).toBe('int64');
    expect(Array.from(p.folded![0].data)).toEqual([42]);
  });

  it('refuses bad axes and the wrong axes form, naming the node', () => {
    expect(() => cpu('ReduceMean', X23, { axes: [2] })).toThrow(/ReduceMean_test.*axis 2 is out of range/);
    expect(() => cpu('ReduceMean', X23, { axes: [1, -1] })).toThrow(/given twice/);
    expect(() => runCpu(ops.ReduceMean, makeNode('ReduceMean', 1, { axes: [1] }), [{ tensor: X23 }], 18)).toThrow(/second input, not an attribute/);
    const runtimeAxes = () => prepare(ops.ReduceSum, makeNode('ReduceSum', 2), [{ tensor: X23 }, { tensor: t([1], [1]) }], 13);
    expect(runtimeAxes).toThrow(/must be a constant/);
  });
});

/** Integer-valued data: exact ties inside every reduction. */
function ties(shape: Shape, r: () => number): CpuTensor {
  const x = randn(shape, r);
  for (let i = 0; i < x.data.length; i++) x.data[i] = Math.round(x.data[i] * 2);
  return x;
}

const SHAPES: [Shape, number[] | undefined, number][] = [
  [[2, 5, 7, 9], [2, 3], 1],
  [[3, 7, 5], [-1, 0], 0],
  [[2, 3, 5, 7], [1, 3], 0],
  [[3, 301], [1], 1],
  [[2, 5, 33, 17], undefined, 0],
  [[4, 67, 3], [1], 1],
  [[1, 1, 13, 1], [2], 0],
];

describe('reduce GPU = CPU on odd shapes', () => {
  for (const op of Object.keys(ops)) {
    it(op, async () => {
      let seed = 7;
      for (const [shape, axes, keepdims] of SHAPES) {
        for (const make of [randn, ties]) {
          const x = make(shape, rng(seed++));
          if (op === 'ReduceProd') x.data.forEach((v, i) => { x.data[i] = 1 + 0.05 * Math.sign(v); });
          const node = makeNode(op, op === 'ReduceSum' && axes ? 2 : 1, op === 'ReduceSum' || !axes ? { keepdims } : { axes, keepdims });
          const inputs: OpInput[] = op === 'ReduceSum' && axes ? [{ tensor: x }, axesConst(axes)] : [{ tensor: x }];
          const c = runCpu(ops[op], node, inputs)[0];
          const g = (await runGpu(ops[op], node, inputs))[0];
          expect(g.shape).toEqual(c.shape);
          expect(diff(g.data, c.data).relL2, `${op} ${shape} ${axes}`).toBeLessThanOrEqual(1e-5); // float32 sums of thousands of ±1 terms
        }
      }
    });
  }
});

/** A model of one reduce node reading the model input (opset 13: ReduceSum's axes are an input). */
function reduceCase(op: string, x: CpuTensor, axes: number[] | undefined, keepdims = 1) {
  const b = new OnnxBuilder();
  b.input('input', x.shape);
  const attrs: Record<string, AttrIn> = op === 'ReduceSum' || !axes ? { keepdims } : { axes, keepdims };
  const ins = op === 'ReduceSum' && axes ? ['input', b.initializer('axes', [axes.length], axes, 'int64')] : ['input'];
  const [y] = b.node(op, ins, attrs, [[]], 'reduce');
  b.output(y);
  return forwardCase(b, x);
}

function aeBoth(op: 'ReduceMean' | 'ReduceSum' | 'ReduceMax', x: CpuTensor, r: CpuTensor, axes?: number[], keepdims = 1) {
  const c = reduceCase(op, x, axes, keepdims);
  const step = stepOf(c.plan, op);
  return { cpu: applyCpu(ae[op], c, step, r)[0]!, gpu: applyGpu(ae[op], c, step, r) };
}

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);

describe('reduce AE z-rule by hand', () => {
  // One sample, two channels of 2×2, reduced over the spatial axes (MNASNet's x.mean([2, 3])).
  const x = t([1, 2, 2, 2], [1, -1, 2, 0, 0, 0, 0, -3]);
  const r = t([1, 2, 1, 1], [0.6, -0.4]);

  it('ReduceMean = GlobalAveragePool: R spread in proportion to x̂', async () => {
    const { cpu: got, gpu } = aeBoth('ReduceMean', x, r, [2, 3]);
    const xh = [1, 0, 2, 0].map((v) => v + 1e-9);
    const z = sum(xh);
    const want = [...xh.map((v) => (0.6 * v) / z), -0.1, -0.1, -0.1, -0.1];
    want.forEach((w, i) => expect(got.data[i]).toBeCloseTo(w, 6));
    expect(diff((await gpu)[0]!.data, got.data).relL2).toBeLessThanOrEqual(1e-6);
  });

  it('conserves Σ R per output (Z ≠ 0), for any axes, keepdims or not', async () => {
    const xs = randn([2, 3, 5, 4], rng(3));
    for (const [op, axes, keep] of [['ReduceMean', [2, 3], 1], ['ReduceSum', [1, -1], 0], ['ReduceMax', [1], 0], ['ReduceMean', [3], 0]] as const) {
      const c = reduceCase(op, xs, [...axes], keep);
      const step = stepOf(c.plan, op);
      const rr = randn(step.outShapes[0], rng(5));
      const got = applyCpu(ae[op], c, step, rr)[0]!;
      expect(sum(got.data), `${op} ${axes}`).toBeCloseTo(sum(rr.data), 5);
      // Per sample too: the batch axis is kept, so nothing crosses samples.
      const per = numel(got.shape) / 2;
      expect(sum(got.data.subarray(0, per))).toBeCloseTo(sum(rr.data.subarray(0, rr.data.length / 2)), 5);
      const g = (await applyGpu(ae[op], c, step, rr))[0]!;
      expect(diff(g.data, got.data).relL2).toBeLessThanOrEqual(1e-5);
    }
  });

  it('all-zero inputs: no NaN, R goes evenly (mean, sum) or to the first element (max)', async () => {
    const z = t([1, 1, 2, 3], [0, 0, 0, 0, 0, 0]);
    const rz = t([1, 1, 1, 1], [0.3]);
    for (const op of ['ReduceMean', 'ReduceSum'] as const) {
      const { cpu: got, gpu } = aeBoth(op, z, rz, [2, 3]);
      got.data.forEach((v) => expect(v).toBeCloseTo(0.05, 6));
      expect(diff((await gpu)[0]!.data, got.data).relL2).toBeLessThanOrEqual(1e-6);
    }
    const { cpu: got, gpu } = aeBoth('ReduceMax', z, rz, [2, 3]);
    expect(Array.from(got.data)).toEqual([Math.fround(0.3), 0, 0, 0, 0, 0]);
    expect(Array.from((await gpu)[0]!.data)).toEqual(Array.from(got.data));
  });

  it('ReduceMax routes to the first arg-max of x̂ (ties, and non-positive inputs tie at 1e-9)', async () => {
    const xm = t([1, 2, 1, 4], [0, 3, 3, -1, -2, 0, -5, -1]);
    const rm = t([1, 2, 1, 1], [0.5, -2]);
    const { cpu: got, gpu } = aeBoth('ReduceMax', xm, rm, [-1]);
    expect(Array.from(got.data)).toEqual([0, 0.5, 0, 0, -2, 0, 0, 0].map(Math.fround));
    expect(Array.from((await gpu)[0]!.data)).toEqual(Array.from(got.data));
  });

  it('GPU = CPU with ties on reductions longer than a workgroup, gradient and AE', async () => {
    const xs = ties([2, 3, 11, 13], rng(11));
    for (const op of ['ReduceMax', 'ReduceMin', 'ReduceMean', 'ReduceSum'] as const) {
      const c = reduceCase(op, xs, [2, 3], 0);
      const step = stepOf(c.plan, op);
      const rr = randn(step.outShapes[0], rng(13));
      const tables = op === 'ReduceMin' ? [gradient] : [gradient, ae];
      for (const table of tables) {
        const got = applyCpu(table[op], c, step, rr)[0]!;
        const g = (await applyGpu(table[op], c, step, rr))[0]!;
        if (op === 'ReduceMax' || op === 'ReduceMin') expect(Array.from(g.data).map((v) => v !== 0)).toEqual(Array.from(got.data).map((v) => v !== 0));
        expect(diff(g.data, got.data).relL2).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  it('the gradient of ReduceL2 is 0 where ‖x‖ = 0', () => {
    const c = reduceCase('ReduceL2', t([1, 2, 2], [0, 0, 3, 4]), [2]);
    const got = applyCpu(gradient.ReduceL2, c, stepOf(c.plan, 'ReduceL2'), t([1, 2, 1], [1, 10]))[0]!;
    expect(Array.from(got.data)).toEqual([0, 0, 6, 8].map(Math.fround));
  });
});
