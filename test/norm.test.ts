// BatchNormalization (inference) and LRN: hand-checked CPU values, randomized GPU-vs-CPU on odd
// shapes (rank 2, 3, 4; spatial = 0 for old opsets), and attribute/shape errors naming the node.
import { describe, expect, it } from 'vitest';
import { ops } from '../src/ops/norm/forward.js';
import { constOf, type Shape } from '../src/graph/tensor.js';
import type { AttrValue } from '../src/graph/ir.js';
import { diff, makeNode, prepare, randn, rng, runCpu, runGpu, type OpInput } from './helpers/ops.js';
import { OnnxBuilder, floatAttr, type AttrIn } from '../tools/onnx-builder.js';
import { applyCpu, applyGpu, forwardCase, stepOf } from './helpers/rules.js';
import { OPS } from '../src/ops/table.js';
import { numel } from '../src/graph/tensor.js';

const TOL = 1e-6; // relative L2, float32 GPU vs float64 CPU reference

function t(shape: Shape, data: number[]): OpInput {
  return { tensor: { shape, data: Float32Array.from(data) } };
}

function bnInputs(x: Shape, paramShape: Shape, seed: number, konst = true): OpInput[] {
  const r = rng(seed);
  const p = (scale: number, offset = 0): OpInput => {
    const d = randn(paramShape, r, scale);
    for (let i = 0; i < d.data.length; i++) d.data[i] += offset;
    return konst ? { konst: constOf('float32', paramShape, d.data) } : { tensor: d };
  };
  return [{ tensor: randn(x, r, 3) }, p(1), p(1), p(1), p(0.5, 1)];
}

async function check(op: string, attrs: Record<string, AttrValue>, inputs: OpInput[], opset = 15) {
  const node = makeNode(op, inputs.length, attrs);
  const [c] = runCpu(ops[op], node, inputs, opset);
  const [g] = await runGpu(ops[op], node, inputs, opset);
  expect(g.shape).toEqual(c.shape);
  expect(diff(g.data, c.data).relL2).toBeLessThanOrEqual(TOL);
}

describe('BatchNormalization', () => {
  it('CPU by hand', () => {
    const node = makeNode('BatchNormalization', 5, { epsilon: 0 });
    const [y] = runCpu(ops.BatchNormalization, node, [
      t([1, 2, 2], [1, 3, 10, 20]), t([2], [2, 1]), t([2], [0.5, -1]), t([2], [1, 10]), t([2], [4, 25]),
    ]);
    // channel 0: (x-1)·2/2 + 0.5; channel 1: (x-10)/5 - 1
    expect(Array.from(y.data)).toEqual([0.5, 2.5, -1, 1]);
  });

  const cases: [string, Shape, number][] = [
    ['NCHW', [2, 5, 7, 9], 15],
    ['N×C (rank 2)', [3, 17], 9],
    ['N×C×L, opset 7', [2, 6, 13], 7],
    ['odd sizes opset 14', [1, 3, 1, 67], 14],
  ];
  for (const [name, shape, opset] of cases) {
    it(`GPU vs CPU ${name}`, async () => {
      await check('BatchNormalization', { epsilon: 1e-3 }, bnInputs(shape, [shape[1]], shape.length * 31 + opset), opset);
    });
  }

  it('runtime (non-constant) parameters', async () => {
    await check('BatchNormalization', {}, bnInputs([2, 4, 5, 3], [4], 12, false));
  });

  it('spatial = 0 (opset 7): per-activation parameters', async () => {
    const x: Shape = [2, 3, 4, 5];
    await check('BatchNormalization', { spatial: 0 }, bnInputs(x, [3, 4, 5], 8), 7);
  });

  it('errors name the node', () => {
    const bad = (attrs: Record<string, AttrValue>, inputs: OpInput[], re: RegExp, nOut = 1, opset = 15) =>
      expect(() => prepare(ops.BatchNormalization, makeNode('BatchNormalization', 5, attrs, nOut), inputs, opset)).toThrow(re);
    bad({ training_mode: 1 }, bnInputs([1, 3, 2, 2], [3], 1), /BatchNormalization node 'BatchNormalization_test'.*training_mode=1/);
    bad({}, bnInputs([1, 3, 2, 2], [3], 1), /training outputs/, 3, 9);
    bad({}, bnInputs([1, 3, 2, 2], [4], 1), /scale \[4\] must have 3 elements/);
  });
});

describe('LRN', () => {
  it('CPU by hand (window before floor((size-1)/2), after ceil((size-1)/2))', () => {
    // size 2: window {c, c+1}; alpha/size = 0.5, beta 1, bias 1
    const node = makeNode('LRN', 1, { size: 2, alpha: 1, beta: 1, bias: 1 });
    const [y] = runCpu(ops.LRN, node, [t([1, 3, 1, 1], [1, 2, 3])]);
    const want = [1 / (1 + 0.5 * (1 + 4)), 2 / (1 + 0.5 * (4 + 9)), 3 / (1 + 0.5 * 9)];
    Array.from(y.data).forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
  });

  const cases: [Record<string, AttrValue>, Shape][] = [
    [{ size: 5, alpha: 1e-4, beta: 0.75, bias: 2 }, [2, 13, 7, 5]], // AlexNet style
    [{ size: 4, alpha: 0.3, beta: 0.5 }, [1, 6, 9, 11]], // even size: asymmetric window
    [{ size: 3 }, [2, 2, 17]], // window wider than the 2 channels, default alpha/beta/bias
    [{ size: 1, alpha: 2, beta: 1.5, bias: 1 }, [1, 5, 3, 3]],
  ];
  cases.forEach(([attrs, shape], i) => {
    it(`GPU vs CPU ${JSON.stringify(attrs)} on ${shape.join('×')}`, async () => {
      await check('LRN', attrs, [{ tensor: randn(shape, rng(40 + i), 2) }]);
    });
  });

  it('errors name the node', () => {
    expect(() => prepare(ops.LRN, makeNode('LRN', 1, {}), [t([1, 3, 2, 2], Array(12).fill(0))]))
      .toThrow(/LRN node 'LRN_test'.*size/);
    expect(() => prepare(ops.LRN, makeNode('LRN', 1, { size: 3 }), [t([3, 2], Array(6).fill(0))]))
      .toThrow(/LRN node 'LRN_test'.*N×C×spatial/);
  });
});

// ---------------------------------------------------------------- row normalisers

const k = (dims: Shape, v: ArrayLike<number>): OpInput => ({ konst: constOf('float32', dims, Array.from(v)) });
const kr = (dims: Shape, seed: number, scale = 1, offset = 0): OpInput =>
  k(dims, randn(dims, rng(seed), scale).data.map((v) => v + offset));

async function both(op: string, attrs: Record<string, AttrValue>, inputs: OpInput[], opset: number, nOut = 1, tol = 2e-6) {
  const node = makeNode(op, inputs.length, attrs, nOut);
  const c = runCpu(ops[op], node, inputs, opset);
  const g = await runGpu(ops[op], node, inputs, opset);
  expect(g.length).toBe(c.length);
  c.forEach((ci, i) => {
    expect(g[i].shape).toEqual(ci.shape);
    expect(diff(g[i].data, ci.data).relL2, `${op} output ${i}`).toBeLessThanOrEqual(tol);
  });
  return c;
}

describe('LayerNormalization / GroupNormalization / InstanceNormalization', () => {
  it('LayerNormalization CPU by hand, with Mean and InvStdDev', () => {
    const node = makeNode('LayerNormalization', 3, { epsilon: 0 }, 3);
    const [y, mean, istd] = runCpu(ops.LayerNormalization, node, [t([2, 3], [1, 2, 3, 10, 10, 10]), k([3], [1, 2, -1]), k([3], [0, 0.5, 1])], 17);
    const r = Math.sqrt(1.5); // 1/sqrt(var) for [1,2,3]: var 2/3
    Array.from(y.data.slice(0, 3)).forEach((v, i) => expect(v).toBeCloseTo([-r, 0.5, 1 - r][i], 6));
    expect(mean.shape).toEqual([2, 1]);
    expect(Array.from(mean.data)).toEqual([2, 10]);
    expect(istd.data[0]).toBeCloseTo(r, 6);
    expect(istd.data[1]).toBe(Infinity); // a constant row with ε = 0
  });

  it('GroupNormalization: opset 18 per-group parameters, 21 per-channel; InstanceNormalization is one group per channel', () => {
    const x: OpInput = { tensor: randn([2, 6, 3, 5], rng(7), 3) };
    const g18 = runCpu(ops.GroupNormalization, makeNode('GroupNormalization', 3, { num_groups: 3 }), [x, k([3], [1, 2, 3]), k([3], [0, -1, 1])], 18)[0];
    const g21 = runCpu(ops.GroupNormalization, makeNode('GroupNormalization', 3, { num_groups: 3 }), [x, k([6], [1, 1, 2, 2, 3, 3]), k([6], [0, 0, -1, -1, 1, 1])], 21)[0];
    expect(diff(g18.data, g21.data).maxAbs).toBeLessThan(1e-6);
    const gi = runCpu(ops.GroupNormalization, makeNode('GroupNormalization', 3, { num_groups: 6, epsilon: 1e-3 }), [x, k([6], [1, 2, 3, 4, 5, 6]), k([6], [6, 5, 4, 3, 2, 1])], 21)[0];
    const ii = runCpu(ops.InstanceNormalization, makeNode('InstanceNormalization', 3, { epsilon: 1e-3 }), [x, k([6], [1, 2, 3, 4, 5, 6]), k([6], [6, 5, 4, 3, 2, 1])], 17)[0];
    expect(diff(gi.data, ii.data).maxAbs).toBeLessThan(1e-6);
    // One group: LayerNormalization over C×H×W with the parameters broadcast per channel.
    const g1 = runCpu(ops.GroupNormalization, makeNode('GroupNormalization', 3, { num_groups: 1 }), [x, k([6], [1, 2, 3, 4, 5, 6]), k([6], [0, 1, 0, 1, 0, 1])], 21)[0];
    const ln = runCpu(ops.LayerNormalization, makeNode('LayerNormalization', 3, { axis: 1 }), [x, k([6, 1, 1], [1, 2, 3, 4, 5, 6]), k([6, 1, 1], [0, 1, 0, 1, 0, 1])], 17)[0];
    expect(diff(g1.data, ln.data).maxAbs).toBeLessThan(1e-6);
  });

  const lnCases: [string, Shape, number, Shape, Shape | null, number][] = [
    ['channel-last, axis -1', [3, 7, 11, 13], -1, [13], [13], 0],
    ['axis 1 over C×H×W, no bias', [3, 7, 11, 13], 1, [7, 11, 13], null, 0],
    ['axis 2, scale [11,1] broadcast', [3, 7, 11, 13], 2, [11, 1], [1], 0],
    ['axis 0 (one row)', [3, 7, 11], 0, [3, 7, 11], [7, 11], 0],
    ['large rows (inner 5184)', [2, 64, 9, 9], 1, [64, 1, 1], [64, 1, 1], 0],
    ['more rows than one dispatch dimension (70001)', [70001, 3], -1, [3], [3], 0],
    ['Mean and InvStdDev outputs', [5, 9, 17], 1, [9, 17], [9, 17], 2],
  ];
  lnCases.forEach(([name, x, axis, sc, b, extra], i) => {
    it(`LayerNormalization GPU vs CPU: ${name}`, async () => {
      const ins: OpInput[] = [{ tensor: randn(x, rng(60 + i), 4) }, kr(sc, 70 + i, 0.5, 1)];
      if (b) ins.push(kr(b, 80 + i, 0.5));
      // A non-zero mean (offset rows) exercises the two-pass variance.
      ins[0].tensor!.data.forEach((v, j) => (ins[0].tensor!.data[j] = v + 3));
      const out = await both('LayerNormalization', { axis, epsilon: 1e-5 }, ins, 17, 1 + extra);
      expect(out[0].shape).toEqual(x);
      if (extra) expect(out[1].shape).toEqual(x.map((d, j) => (j < axis ? d : 1)));
    });
  });

  const gnCases: [string, string, Shape, number, number][] = [
    ['GroupNormalization', '8 groups, opset 21', [2, 16, 7, 9], 8, 21],
    ['GroupNormalization', '4 groups, opset 18', [3, 12, 5, 11], 4, 18],
    ['InstanceNormalization', 'rank 4', [2, 5, 13, 17], 0, 17],
    ['InstanceNormalization', 'rank 3, long rows', [1, 3, 9797], 0, 17],
  ];
  gnCases.forEach(([op, name, x, G, opset], i) => {
    it(`${op} GPU vs CPU: ${name}`, async () => {
      const p = G && opset < 21 ? [G] : [x[1]];
      await both(op, G ? { num_groups: G, epsilon: 1e-4 } : {}, [{ tensor: randn(x, rng(90 + i), 2) }, kr(p, 91 + i, 0.5, 1), kr(p, 92 + i, 0.5)], opset);
    });
  });

  it('errors name the node', () => {
    const x = t([1, 6, 2, 2], Array(24).fill(1));
    const bad = (op: string, attrs: Record<string, AttrValue>, inputs: OpInput[], re: RegExp, opset = 21) =>
      expect(() => prepare(ops[op], makeNode(op, inputs.length, attrs), inputs, opset)).toThrow(re);
    bad('GroupNormalization', { num_groups: 4 }, [x, k([4], [1, 1, 1, 1]), k([4], [0, 0, 0, 0])], /GroupNormalization node 'GroupNormalization_test'.*num_groups 4 must divide the 6 channels/);
    bad('GroupNormalization', { num_groups: 3 }, [x, k([6], Array(6).fill(1)), k([6], Array(6).fill(0))], /scale \[6\] must have 3 elements \(one per group, opset < 21\)/, 18);
    bad('InstanceNormalization', {}, [x, k([3], [1, 1, 1]), k([6], Array(6).fill(0))], /InstanceNormalization node .*scale \[3\] must have 6 elements/);
    bad('LayerNormalization', { axis: 1 }, [x, k([6, 2, 1, 1], Array(12).fill(1))], /LayerNormalization node .*scale \[6×2×1×1\] must broadcast/);
    bad('LayerNormalization', { axis: 1 }, [x, k([6, 1, 2], Array(12).fill(1))], /must broadcast to the normalised shape \[6×2×2\] along one contiguous run/);
    bad('LayerNormalization', { axis: 4 }, [x, k([1], [1])], /axis 4 is out of range/);
  });
});

describe('row normalisers: gradient and AE rules', () => {
  function model(op: string, x: Shape, attrs: Record<string, AttrIn>, scale: number[], bias?: number[], opset = 21) {
    const b = new OnnxBuilder({ opset });
    b.input('x', x);
    const p = op === 'LayerNormalization' ? x.slice(attrs.axis as number) : [scale.length];
    const ins = ['x', b.initializer('s', op === 'LayerNormalization' ? p : [scale.length], scale)];
    if (bias) ins.push(b.initializer('b', [bias.length], bias));
    b.output(b.node(op, ins, attrs)[0]);
    const data = randn(x, rng(numel(x)), 2).data;
    data[5] = 0; // one exact zero: the AE mask
    return forwardCase(b, { shape: x, data }, 'x');
  }

  it('LayerNormalization gradient (γ = 1): every row sums to 0 and is orthogonal to x̂ (the dependence through mean and variance)', async () => {
    const c = model('LayerNormalization', [3, 4, 5], { axis: 1 }, Array(20).fill(1));
    const dy = randn([3, 4, 5], rng(2));
    const [dx] = applyCpu(OPS.LayerNormalization.rules.gradient!, c, stepOf(c.plan, 'LayerNormalization'), dy);
    const [gx] = await applyGpu(OPS.LayerNormalization.rules.gradient!, c, stepOf(c.plan, 'LayerNormalization'), dy);
    expect(diff(gx!.data, dx!.data).relL2).toBeLessThan(1e-5);
    const y = c.values.get(c.plan.outputs[0].name)!.data;
    for (let r = 0; r < 3; r++) {
      let s = 0, o = 0, n = 0;
      for (let j = r * 20; j < r * 20 + 20; j++) { s += dx!.data[j]; o += dx!.data[j] * y[j]; n += Math.abs(dx!.data[j]); }
      expect(Math.abs(s) / n).toBeLessThan(1e-6);
      expect(Math.abs(o) / n).toBeLessThan(1e-5);
    }
  });

  it('AE: R where x ≠ 0 and γ ≠ 0 (γ per group at opset 18, per channel at 21)', async () => {
    const R = randn([2, 4, 3], rng(3));
    const check = async (c: ReturnType<typeof model>, op: string, gammaAt: (i: number) => number) => {
      const rule = OPS[op].rules.ae!;
      const [cpu] = applyCpu(rule, c, stepOf(c.plan, op), R);
      const [gpu] = await applyGpu(rule, c, stepOf(c.plan, op), R);
      expect(gpu!.data).toEqual(cpu!.data);
      const x = c.values.get('x')!.data;
      cpu!.data.forEach((v, i) => expect(v).toBe(x[i] !== 0 && gammaAt(i) !== 0 ? R.data[i] : 0));
    };
    await check(model('GroupNormalization', [2, 4, 3], { num_groups: 2 }, [1, 0], [0, 1], 18), 'GroupNormalization', (i) => [1, 0][Math.floor(i / 6) % 2]);
    await check(model('GroupNormalization', [2, 4, 3], { num_groups: 2 }, [1, 0, 2, 3], [0, 1, 0, 1]), 'GroupNormalization', (i) => [1, 0, 2, 3][Math.floor(i / 3) % 4]);
    await check(model('InstanceNormalization', [2, 4, 3], { epsilon: floatAttr(1e-3) }, [0, 1, 2, 3], [0, 1, 0, 1]), 'InstanceNormalization', (i) => [0, 1, 2, 3][Math.floor(i / 3) % 4]);
    await check(model('LayerNormalization', [2, 4, 3], { axis: 1 }, [1, 2, 0, 4, 5, 6, 7, 0, 9, 1, 1, 1]), 'LayerNormalization', (i) => [1, 2, 0, 4, 5, 6, 7, 0, 9, 1, 1, 1][i % 12]);
  });
});
