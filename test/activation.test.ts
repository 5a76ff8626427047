// Element-wise activations and Softmax/LogSoftmax: hand-checked CPU values, randomized
// GPU-vs-CPU on odd sizes, Clip's attribute (opset < 11) and input (≥ 11) forms, Softmax's
// pre-13 coercion to 2-D versus the single-axis form, numerical stability, and errors.
import { describe, expect, it } from 'vitest';
import { ops as act } from '../src/ops/activation/forward.js';
import { ops as sm } from '../src/ops/softmax/forward.js';
import { constOf, numel, type Shape } from '../src/graph/tensor.js';
import type { AttrValue } from '../src/graph/ir.js';
import type { OpSpec } from '../src/ops/op.js';
import { diff, makeNode, prepare, randn, rng, runCpu, runGpu, type OpInput } from './helpers/ops.js';

function t(shape: Shape, data: number[]): OpInput {
  return { tensor: { shape, data: Float32Array.from(data) } };
}

async function check(spec: OpSpec, op: string, attrs: Record<string, AttrValue>, inputs: OpInput[], opset: number, tol: number) {
  const node = makeNode(op, inputs.length, attrs);
  const [c] = runCpu(spec, node, inputs, opset);
  const [g] = await runGpu(spec, node, inputs, opset);
  expect(g.shape).toEqual(c.shape);
  const d = diff(g.data, c.data);
  expect(d.relL2, `${op} ${JSON.stringify(attrs)}`).toBeLessThanOrEqual(tol);
  return { c, g };
}

describe('unary activations CPU by hand', () => {
  const x = t([6], [-3, -0.5, 0, 0.25, 2, 9]);
  const run = (op: string, attrs: Record<string, AttrValue> = {}, inputs: OpInput[] = [x], opset = 17) =>
    Array.from(runCpu(act[op], makeNode(op, inputs.length, attrs), inputs, opset)[0].data);
  it('Relu, LeakyRelu (default alpha 0.01 and given), Abs, Neg', () => {
    expect(run('Relu')).toEqual([0, 0, 0, 0.25, 2, 9]);
    expect(run('LeakyRelu')).toEqual([-3, -0.5, 0, 0.25, 2, 9].map((v) => Math.fround(v < 0 ? Math.fround(0.01) * v : v)));
    expect(run('LeakyRelu', { alpha: 0.5 })).toEqual([-1.5, -0.25, 0, 0.25, 2, 9]);
    expect(run('Abs')).toEqual([3, 0.5, 0, 0.25, 2, 9]);
    expect(run('Neg')).toEqual([3, 0.5, -0, -0.25, -2, -9]);
  });
  it('Sigmoid, Tanh, Exp, Sqrt', () => {
    expect(run('Sigmoid')[2]).toBe(0.5);
    expect(run('Tanh')[2]).toBe(0);
    expect(run('Exp')[4]).toBeCloseTo(Math.E ** 2, 5);
    expect(run('Sqrt', {}, [t([2], [4, 0.25])])).toEqual([2, 0.5]);
  });
  it('Clip: attributes before opset 11, optional constant inputs from 11', () => {
    expect(run('Clip', { min: -1, max: 1 }, [x], 6)).toEqual([-1, -0.5, 0, 0.25, 1, 1]);
    expect(run('Clip', { min: 0 }, [x], 6)).toEqual([0, 0, 0, 0.25, 2, 9]);
    const k = (v: number): OpInput => ({ konst: constOf('float32', [], [v]) });
    expect(run('Clip', {}, [x, k(-1), k(6)], 11)).toEqual([-1, -0.5, 0, 0.25, 2, 6]);
    // min omitted: unbounded below (ReLU6-style graphs often give only max).
    expect(run('Clip', {}, [x, { omitted: true }, k(1)], 13)).toEqual([-3, -0.5, 0, 0.25, 1, 1]);
    expect(run('Clip', {}, [x], 13)).toEqual([-3, -0.5, 0, 0.25, 2, 9]);
    const p = prepare(act.Clip, makeNode('Clip', 3), [x, k(0), k(6)], 12);
    expect(p.staticInputs).toEqual([1, 2]);
  });
});

describe('unary activations GPU vs CPU', () => {
  // Sizes not a multiple of the workgroup; exp-based ops get a tolerance for the device's exp.
  const cases: [string, Record<string, AttrValue>, number, number][] = [
    ['Relu', {}, 1e-7, 3], ['LeakyRelu', {}, 1e-7, 3], ['LeakyRelu', { alpha: 0.2 }, 1e-7, 3],
    ['Sigmoid', {}, 1e-6, 12], ['Tanh', {}, 1e-6, 12], ['Exp', {}, 1e-6, 5],
    ['Abs', {}, 0, 3], ['Neg', {}, 0, 3], ['Clip', { min: -0.7, max: 1.3 }, 0, 3],
  ];
  for (const [op, attrs, tol, scale] of cases) {
    it(`${op} ${JSON.stringify(attrs)}`, async () => {
      const x = randn([3, 7, 11, 13], rng(op.length * 13 + scale), scale);
      await check(act[op], op, attrs, [{ tensor: x }], op === 'Clip' ? 9 : 17, tol);
    });
  }

  it('Sqrt of non-negative input', async () => {
    const x = randn([1001], rng(3), 5);
    x.data.forEach((v, i) => (x.data[i] = Math.abs(v)));
    await check(act.Sqrt, 'Sqrt', {}, [{ tensor: x }], 17, 1e-6);
  });

  it('Sigmoid and Tanh saturate without NaN', async () => {
    const x = t([6], [-200, -90, -20, 20, 90, 200]);
    const { g } = await check(act.Sigmoid, 'Sigmoid', {}, [x], 17, 1e-6);
    expect([g.data[0], g.data[1], g.data[4], g.data[5]]).toEqual([0, 0, 1, 1]);
    const { g: th } = await check(act.Tanh, 'Tanh', {}, [x], 17, 1e-6);
    expect(Array.from(th.data)).toEqual([-1, -1, -1, 1, 1, 1]);
  });

  it('Clip with constant inputs (opset 13) and with runtime min/max tensors', async () => {
    const x = randn([5, 211], rng(9), 3);
    await check(act.Clip, 'Clip', {}, [{ tensor: x }, { konst: constOf('float32', [], [-1]) }, { konst: constOf('float32', [], [0.5]) }], 13, 0);
    await check(act.Clip, 'Clip', {}, [{ tensor: x }, { omitted: true }, { tensor: { shape: [], data: Float32Array.of(0.25) } }], 13, 0);
    await check(act.Clip, 'Clip', {}, [{ tensor: x }, { tensor: { shape: [], data: Float32Array.of(-2) } }, { tensor: { shape: [], data: Float32Array.of(2) } }], 13, 0);
  });

  it('Clip with non-scalar bounds is an error naming the node', () => {
    expect(() => prepare(act.Clip, makeNode('Clip', 3), [t([2], [0, 1]), t([2], [0, 1]), { omitted: true }], 13))
      .toThrow(/Clip node 'Clip_test'.*min must be a scalar/);
  });
});

describe('Softmax / LogSoftmax', () => {
  it('CPU by hand, stable for large logits', () => {
    const [y] = runCpu(sm.Softmax, makeNode('Softmax', 1), [t([1, 3], [1000, 1000, 1001])]);
    Array.from(y.data).forEach((v, i) => expect(v).toBeCloseTo([1, 1, Math.E][i] / (2 + Math.E), 6));
    const [l] = runCpu(sm.LogSoftmax, makeNode('LogSoftmax', 1), [t([2], [0, 0])]);
    Array.from(l.data).forEach((v) => expect(v).toBeCloseTo(-Math.log(2), 6));
  });

  it('opset < 13 coerces to 2-D at axis; opset 13 uses the single axis', () => {
    const x = t([2, 2], [0, 0, 0, Math.log(3)]);
    // opset 11, axis 0: one row of all 4 elements.
    const [a] = runCpu(sm.Softmax, makeNode('Softmax', 1, { axis: 0 }), [x], 11);
    Array.from(a.data).forEach((v, i) => expect(v).toBeCloseTo([1 / 6, 1 / 6, 1 / 6, 0.5][i], 6));
    // opset 13, axis 0: columns.
    const [b] = runCpu(sm.Softmax, makeNode('Softmax', 1, { axis: 0 }), [x], 13);
    Array.from(b.data).forEach((v, i) => expect(v).toBeCloseTo([0.5, 0.25, 0.5, 0.75][i], 6));
    // defaults: axis 1 before 13 (coerce [2,2,...] to 2×(rest)), -1 from 13.
    const x3 = randn([2, 3, 4], rng(2));
    const [d11] = runCpu(sm.Softmax, makeNode('Softmax', 1), [{ tensor: x3 }], 11);
    let s = 0;
    for (let i = 0; i < 12; i++) s += d11.data[i];
    expect(s).toBeCloseTo(1, 5);
    const [d13] = runCpu(sm.Softmax, makeNode('Softmax', 1), [{ tensor: x3 }], 13);
    s = 0;
    for (let i = 0; i < 4; i++) s += d13.data[i];
    expect(s).toBeCloseTo(1, 5);
  });

  const cases: [string, Record<string, AttrValue>, Shape, number][] = [
    ['Softmax', {}, [3, 1000], 17], // classifier head
    ['Softmax', { axis: 1 }, [2, 37, 5, 3], 13], // strided axis
    ['Softmax', { axis: 1 }, [2, 37, 5, 3], 11], // 2-D coercion
    ['Softmax', { axis: -2 }, [4, 130, 7], 13],
    ['LogSoftmax', {}, [5, 1001], 13],
    ['LogSoftmax', { axis: 0 }, [9, 3, 2], 12],
    ['Softmax', { axis: 0 }, [1], 13],
  ];
  for (const [op, attrs, shape, opset] of cases) {
    it(`${op} ${JSON.stringify(attrs)} on ${shape.join('×')} opset ${opset}`, async () => {
      const x = randn(shape, rng(numel(shape) + opset), 20);
      await check(sm[op], op, attrs, [{ tensor: x }], opset, 2e-6);
    });
  }

  it('axis out of range names the node', () => {
    expect(() => prepare(sm.Softmax, makeNode('Softmax', 1, { axis: 2 }), [t([2, 2], [0, 0, 0, 0])]))
      .toThrow(/Softmax node 'Softmax_test'.*axis 2 is out of range/);
  });
});
