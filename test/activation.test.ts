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
import { OnnxBuilder, type AttrIn } from '../tools/onnx-builder.js';
import { applyCpu, applyGpu, forwardCase, stepOf } from './helpers/rules.js';
import { OPS } from '../src/ops/table.js';

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

// ---------------------------------------------------------------- modern-CNN activations

/** Every element within atol + rtol·|want|. */
function close(got: Float32Array, want: Float32Array, rtol: number, atol: number, what: string) {
  let worst = -1, at = -1;
  for (let i = 0; i < want.length; i++) {
    if (got[i] === want[i]) continue;
    const e = Math.abs(got[i] - want[i]) - (atol + rtol * Math.abs(want[i]));
    if (!(e <= 0) && (Number.isNaN(e) || e > worst)) { worst = Number.isNaN(e) ? Infinity : e; at = i; }
  }
  expect(at, `${what}: element ${at} got ${got[at]}, want ${want[at]}`).toBe(-1);
}

describe('modern-CNN activations CPU by hand (float64 references rounded to float32)', () => {
  const xs = [-3, -0.5, 0, 0.25, 2, 9];
  const x = t([6], xs);
  const run = (op: string, attrs: Record<string, AttrValue> = {}, inputs: OpInput[] = [x], opset = 20) =>
    Array.from(runCpu(act[op], makeNode(op, inputs.length, attrs), inputs, opset)[0].data);
  const near = (got: number[], want: number[], digits = 6) => got.forEach((v, i) => expect(v, `element ${i}`).toBeCloseTo(want[i], digits));
  it('HardSigmoid (default α 0.2 β 0.5, and given), HardSwish', () => {
    near(run('HardSigmoid'), [0, 0.4, 0.5, 0.55, 0.9, 1]);
    near(run('HardSigmoid', { alpha: 0.5, beta: 0.6 }), [0, 0.35, 0.6, 0.725, 1, 1]);
    near(run('HardSwish'), [0, -0.5 * (2.5 / 6), 0, 0.25 * (3.25 / 6), 2 * (5 / 6), 9]);
  });
  it('Erf, Gelu (none and tanh), including relative accuracy near 0', () => {
    near(run('Erf'), [-0.9999779095030014, -0.5204998778130465, 0, 0.2763263901682369, 0.9953222650189527, 1], 7);
    const small = run('Erf', {}, [t([2], [1e-4, -3e-3])]);
    expect(small[0] / 0.00011283791633342487 - 1).toBeLessThan(1e-7);
    expect(Math.abs(small[1] / -0.0033851273459014532 - 1)).toBeLessThan(1e-7);
    near(run('Gelu'), [-0.004049694094890287, -0.15426876936299344, 0, 0.14967658142073093, 1.9544997361036416, 9], 7);
    near(run('Gelu', { approximate: 'tanh' }), [-0.0036373920817729943, -0.15428599017485606, 0, 0.149675350701685, 1.954597694087775, 9], 7);
    expect(() => prepare(act.Gelu, makeNode('Gelu', 1, { approximate: 'fast' }), [x], 20)).toThrow(/Gelu node 'Gelu_test'.*approximate/);
  });
  it('Elu, Selu (ONNX defaults), Softplus, Mish, Softsign, Reciprocal', () => {
    near(run('Elu'), [-0.950212931632136, -0.3934693402873666, 0, 0.25, 2, 9]);
    near(run('Elu', { alpha: 2 }), [-1.900425863264272, -0.7869386805747332, 0, 0.25, 2, 9]);
    const [a, g] = [1.67326319217681884765625, 1.05070102214813232421875];
    near(run('Selu'), xs.map((v) => g * (v > 0 ? v : a * Math.expm1(v))));
    near(run('Selu', { alpha: 2, gamma: 3 }), xs.map((v) => 3 * (v > 0 ? v : 2 * Math.expm1(v))));
    near(run('Softplus'), [0.04858735157374206, 0.4740769841801067, 0.6931471805599453, 0.8259394198788436, 2.1269280110429727, 9.000123402189724]);
    near(run('Mish'), [-0.1456474612756246, -0.22074377465173, 0, 0.1695724096638176, 1.9439589595339946, 8.999999725928019]);
    near(run('Softsign'), xs.map((v) => v / (1 + Math.abs(v))));
    near(run('Reciprocal', {}, [t([3], [4, -0.5, 3])]), [0.25, -2, 1 / 3]);
  });
  it('PRelu: per-channel constant slope, scalar slope, slope of x\'s trailing shape', () => {
    const xc = t([1, 2, 1, 3], [-1, 2, -3, -4, 5, 0]);
    const k = (dims: number[], v: number[]): OpInput => ({ konst: constOf('float32', dims, v) });
    const pr = (slope: OpInput) => Array.from(runCpu(act.PRelu, makeNode('PRelu', 2), [xc, slope], 16)[0].data);
    expect(pr(k([2, 1, 1], [0.5, 0.25]))).toEqual([-0.5, 2, -1.5, -1, 5, 0]);
    expect(pr(k([1], [0.1])).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([-0.1, 2, -0.3, -0.4, 5, 0]);
    expect(pr(t([3], [1, 2, 3]))).toEqual([-1, 2, -9, -4, 5, 0]);
    expect(() => prepare(act.PRelu, makeNode('PRelu', 2), [xc, k([3, 1], [1, 2, 3])], 16)).toThrow(/PRelu node 'PRelu_test'.*does not broadcast/);
  });
});

describe('modern-CNN activations GPU vs CPU (odd sizes, both tails)', () => {
  // Random values on several scales plus the hard cases: tiny |x| (Erf, Elu, Selu near 0),
  // large |x| (overflow of exp in Softplus, Mish, Gelu, Elu, Selu).
  function inputs(seed: number, scale: number): Float32Array {
    const x = randn([3, 7, 11, 13], rng(seed), scale).data;
    const special = [0, -0, 1e-7, -1e-7, 1e-4, -3e-3, 0.49999, -0.5, 0.5, 1, -1, 2.5, -2.5, 5, -5, 9, -9, 20, -20, 30, -30, 88, -88, 100, -100, 1e4, -1e4, 1e30, -1e30];
    x.set(special, 0);
    return x;
  }
  const cases: [string, Record<string, AttrValue>][] = [
    ['HardSigmoid', {}], ['HardSigmoid', { alpha: 0.7, beta: 0.1 }], ['HardSwish', {}], ['Erf', {}],
    ['Gelu', {}], ['Gelu', { approximate: 'tanh' }], ['Elu', {}], ['Elu', { alpha: 0.4 }], ['Selu', {}],
    ['Softplus', {}], ['Mish', {}], ['Softsign', {}], ['Reciprocal', {}],
  ];
  for (const [op, attrs] of cases) {
    it(`${op} ${JSON.stringify(attrs)}: every element within rtol 2e-6 (plus atol 1e-9 at scale 0.01, 1e-7 otherwise)`, async () => {
      for (const scale of [0.01, 1, 6]) {
        const x: OpInput = { tensor: { shape: [3, 7, 11, 13], data: inputs(op.length + scale * 7, scale) } };
        const node = makeNode(op, 1, attrs);
        const [c] = runCpu(act[op], node, [x], 20);
        const [g] = await runGpu(act[op], node, [x], 20);
        close(g.data, c.data, 2e-6, scale < 1 ? 1e-9 : 1e-7, `${op} scale ${scale}`);
      }
    });
  }

  it('PRelu: constant per-channel, runtime broadcast [13], and full-shape slopes', async () => {
    const x = randn([3, 7, 11, 13], rng(5), 2);
    const k = (dims: number[], r: number): OpInput => ({ konst: constOf('float32', dims, randn(dims, rng(r), 0.5).data) });
    for (const slope of [k([7, 1, 1], 1), k([1], 2), { tensor: randn([13], rng(3), 0.5) }, { tensor: randn([3, 7, 11, 13], rng(4)) }, k([1, 7, 11, 1], 6)]) {
      const { c, g } = await check(act.PRelu, 'PRelu', {}, [{ tensor: x }, slope], 16, 0);
      expect(g.data).toEqual(c.data);
    }
  });
});

describe('modern-CNN activation gradients on both tails (GPU = CPU, finite, the known limits)', () => {
  const special = [0, 1e-7, -1e-7, 1e-3, -3e-3, 0.5, -0.5, 1, -1, 2.9, -2.9, 3.1, -3.1, 9, -9, 20, -20, 50, -50, 100, -100, 1e4, -1e4, 1e30, -1e30];
  const cases: [string, Record<string, AttrIn>, number, number][] = [
    // op, attributes, derivative at +1e30, at -1e30
    ['Gelu', {}, 1, 0], ['Gelu', { approximate: 'tanh' }, 1, 0], ['Erf', {}, 0, 0], ['Elu', {}, 1, 0], ['Selu', {}, 1.05070102214813232421875, 0],
    ['Softplus', {}, 1, 0], ['Mish', {}, 1, 0], ['HardSwish', {}, 1, 0], ['HardSigmoid', {}, 0, 0], ['Softsign', {}, 0, 0], ['Tanh', {}, 0, 0],
  ];
  for (const [op, attrs, hi, lo] of cases) {
    it(`${op} ${JSON.stringify(attrs)}`, async () => {
      const b = new OnnxBuilder({ opset: 20 });
      b.input('x', [1, special.length]);
      b.output(b.node(op, ['x'], attrs)[0]);
      const c = forwardCase(b, { shape: [1, special.length], data: Float32Array.from(special) }, 'x');
      const rule = OPS[op].rules.gradient!;
      const dy = { shape: [1, special.length], data: new Float32Array(special.length).fill(1) };
      const [cpu] = applyCpu(rule, c, stepOf(c.plan, op), dy);
      const [gpu] = await applyGpu(rule, c, stepOf(c.plan, op), dy);
      expect(cpu!.data.every(Number.isFinite) && gpu!.data.every(Number.isFinite)).toBe(true);
      close(gpu!.data, cpu!.data, 1e-5, 1e-7, `${op} gradient`);
      expect(cpu!.data[special.length - 2]).toBeCloseTo(hi, 6);
      expect(cpu!.data[special.length - 1]).toBeCloseTo(lo, 6);
    });
  }
});
