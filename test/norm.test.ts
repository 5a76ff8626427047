// BatchNormalization (inference) and LRN: hand-checked CPU values, randomized GPU-vs-CPU on odd
// shapes (rank 2, 3, 4; spatial = 0 for old opsets), and attribute/shape errors naming the node.
import { describe, expect, it } from 'vitest';
import { ops } from '../src/ops/norm/forward.js';
import { constOf, type Shape } from '../src/graph/tensor.js';
import type { AttrValue } from '../src/graph/ir.js';
import { diff, makeNode, prepare, randn, rng, runCpu, runGpu, type OpInput } from './helpers/ops.js';

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
