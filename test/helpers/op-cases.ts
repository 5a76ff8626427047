// Random instances of every operator that has a backward rule, for the generic rule-table test
// (test/rule-table.test.ts). Each case is a one-node model whose runtime inputs are graph inputs,
// on odd shapes: strides, padding, dilation, groups, batch > 1, sizes that are no multiple of a
// tile. An operator added to a family with a rule must add its cases here, or that test fails.
import { OnnxBuilder, floatAttr, type AttrIn } from '../../tools/onnx-builder.js';
import type { Shape } from '../../src/graph/tensor.js';
import { cases as ewCases } from './cases-ew.js';
import { cases as actNormCases } from './cases-act.js';
import { cases as denseCases } from './cases-dense.js';

export type { AttrIn };
export { one, i64 };

export interface OpCase {
  name: string;
  /** Graph inputs (runtime tensors) and their shapes; the first is the model input. */
  inputs: Record<string, Shape>;
  build(b: OnnxBuilder): string;
  /** The op keeps samples apart, so T = 2 targets per sample can be checked (default true). */
  perSample?: boolean;
  /** The rule applies only with these AE options/context (e.g. zB on a first conv). */
  firstConv?: boolean;
  /** Skip the finite-difference check (a rule that is exact but not a gradient, e.g. a mask). */
  noFiniteDiff?: boolean;
  /** Feed |x| (ops defined for positive inputs only: Sqrt). */
  positive?: boolean;
}

let ints = 0;
const i64 = (b: OnnxBuilder, v: number[], dims = [v.length]) => b.initializer(`ints_${ints++}`, dims, v, 'int64');

function one(b: OnnxBuilder, op: string, inputs: string[], attrs: Record<string, AttrIn> = {}): string {
  const [y] = b.node(op, inputs, attrs);
  return y;
}

const conv = (name: string, x: Shape, cout: number, k: [number, number], a: Record<string, AttrIn>, extra: Partial<OpCase> = {}): OpCase => ({
  name, inputs: { x }, ...extra,
  build: (b) => {
    const g = (a.group as number | undefined) ?? 1;
    const w = b.randomInit('w', [cout, x[1] / g, ...k], 0.4);
    const bias = b.randomInit('bias', [cout], 0.2);
    return one(b, 'Conv', ['x', w, bias], { kernel_shape: k, ...a });
  },
});

const unary = (op: string, x: Shape, attrs: Record<string, AttrIn> = {}, extra: Partial<OpCase> = {}): OpCase =>
  ({ name: `${op} ${x.join('×')}`, inputs: { x }, build: (b) => one(b, op, ['x'], attrs), ...extra });

const pool = (op: string, x: Shape, attrs: Record<string, AttrIn>): OpCase =>
  ({ name: `${op} ${x.join('×')} ${JSON.stringify(attrs)}`, inputs: { x }, build: (b) => one(b, op, ['x'], attrs) });

const views = (op: string): OpCase[] => {
  switch (op) {
    case 'Flatten': return [unary('Flatten', [2, 3, 5, 7], { axis: 1 })];
    case 'Reshape': return [{ name: 'Reshape 2×3×5×7 → 2×105', inputs: { x: [2, 3, 5, 7] }, build: (b) => one(b, 'Reshape', ['x', i64(b, [2, -1])]) }];
    case 'Squeeze': return [{ name: 'Squeeze axis 2', inputs: { x: [2, 3, 1, 5] }, build: (b) => one(b, 'Squeeze', ['x', i64(b, [2])]) }];
    case 'Unsqueeze': return [{ name: 'Unsqueeze axis 3', inputs: { x: [2, 3, 5] }, build: (b) => one(b, 'Unsqueeze', ['x', i64(b, [3])]) }];
    default: return [unary(op, [3, 4, 5])];
  }
};

const binary = (op: string): OpCase[] => {
  const both = (a: Shape, c: Shape, name: string): OpCase => ({ name: `${op} ${name}`, inputs: { x: a, y: c }, build: (b) => one(b, op, ['x', 'y']) });
  const withConst = (a: Shape, c: number[], name: string): OpCase => ({
    name: `${op} ${name}`, inputs: { x: a },
    build: (b) => one(b, op, ['x', b.randomInit('k', c, 0.5, 1.5)]),
  });
  const cases = [withConst([2, 3, 5, 7], [3, 1, 1], 'x ∘ const[3,1,1]'), withConst([2, 3, 5], [1], 'x ∘ scalar const')];
  if (op === 'Add' || op === 'Sub' || op === 'Mul') {
    cases.push(both([2, 3, 5, 7], [2, 3, 5, 7], 'two runtime tensors'), both([2, 3, 5, 7], [2, 3, 1, 1], 'runtime broadcast [2,3,1,1]'));
  }
  return cases;
};

/** Cases that live with a family's own test helpers (test/helpers/cases-<family>.ts), one import each. */
const FAMILY_CASES: Record<string, () => OpCase[]>[] = [ewCases, actNormCases, denseCases];

/**
 * A reduction at opset 13: ReduceSum takes its axes as a constant input, the others as the
 * attribute; `axes` undefined = all axes (which reduce the batch axis: refused at T = 2).
 */
const reduce = (op: string, x: Shape, axes: number[] | undefined, keepdims: number): OpCase => ({
  name: `${op} ${x.join('×')} axes ${axes ? axes.join(',') : 'all'} keepdims ${keepdims}`, inputs: { x },
  build: (b) => (op === 'ReduceSum'
    ? one(b, op, axes ? ['x', i64(b, axes)] : ['x'], { keepdims })
    : one(b, op, ['x'], axes ? { axes, keepdims } : { keepdims })),
});

// ReduceL2's gradient x/‖x‖ shrinks as 1/√count while the float32 rounding of ‖x‖ grows as √count,
// so its finite differences need short reductions in the case with the most outputs.
const reductions = (op: string): OpCase[] => [
  reduce(op, [2, 5, 3, 7], [2, 3], 1),
  reduce(op, [2, 5, 3, 7], [-1, -2], 0),
  reduce(op, [3, 4, 5], [1], 1),
  reduce(op, [2, 3, 4, 5], op === 'ReduceL2' ? [1] : [1, 3], 0),
  reduce(op, [2, 7, 3], [-1], 0),
  reduce(op, [2, 3, 5], undefined, 1),
];

/** Cases per op type. */
export function casesFor(op: string): OpCase[] {
  for (const f of FAMILY_CASES) if (f[op]) return f[op]();
  switch (op) {
    case 'Conv': return [
      conv('Conv 3×3 s2 p1, batch 2, odd size', [2, 3, 9, 7], 5, [3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }),
      conv('Conv 3×3 dilation 2, asymmetric pads', [1, 4, 11, 9], 3, [3, 3], { dilations: [2, 2], pads: [2, 1, 0, 2] }),
      conv('Conv grouped 2, 1×3 s(1,2)', [2, 4, 6, 9], 6, [1, 3], { group: 2, strides: [1, 2], pads: [0, 1, 0, 1] }),
      conv('Conv depthwise 3×3 s2', [1, 6, 7, 7], 6, [3, 3], { group: 6, strides: [2, 2], pads: [1, 1, 1, 1] }),
      conv('Conv 1×1, batch 3', [3, 5, 4, 6], 7, [1, 1], {}),
      conv('Conv first layer (zB rule) 5×5 s2', [2, 3, 13, 11], 4, [5, 5], { strides: [2, 2], pads: [2, 2, 2, 2] }, { firstConv: true }),
    ];
    case 'Gemm': return [
      { name: 'Gemm transB', inputs: { x: [3, 17] }, build: (b) => one(b, 'Gemm', ['x', b.randomInit('w', [5, 17], 0.3), b.randomInit('c', [5], 0.2)], { transB: 1 }) },
      { name: 'Gemm alpha/beta', inputs: { x: [2, 9] }, build: (b) => one(b, 'Gemm', ['x', b.randomInit('w', [9, 4], 0.3), b.randomInit('c', [4], 0.2)], { alpha: floatAttr(0.7), beta: floatAttr(1.3) }) },
    ];
    case 'MaxPool': return [
      pool('MaxPool', [2, 3, 9, 7], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
      pool('MaxPool', [1, 2, 8, 8], { kernel_shape: [2, 2], strides: [2, 2] }),
      pool('MaxPool', [1, 2, 7, 9], { kernel_shape: [3, 2], strides: [2, 3], ceil_mode: 1 }),
    ];
    case 'AveragePool': return [
      pool('AveragePool', [2, 3, 9, 7], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
      pool('AveragePool', [1, 2, 7, 9], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 }),
    ];
    case 'GlobalAveragePool': return [pool('GlobalAveragePool', [2, 5, 3, 7], {})];
    case 'GlobalMaxPool': return [pool('GlobalMaxPool', [2, 5, 3, 7], {})];
    case 'BatchNormalization': return [{
      name: 'BatchNormalization batch 2', inputs: { x: [2, 3, 5, 4] },
      build: (b) => one(b, 'BatchNormalization', ['x', b.randomInit('s', [3], 0.5, 1), b.randomInit('bb', [3], 0.3), b.randomInit('m', [3], 0.3), b.randomInit('v', [3], 0.2, 1)], { epsilon: floatAttr(1e-3) }),
    }];
    case 'Relu': return [unary('Relu', [2, 3, 5, 7])];
    case 'LeakyRelu': return [unary('LeakyRelu', [2, 3, 5, 7], { alpha: floatAttr(0.2) })];
    case 'Sigmoid': return [unary('Sigmoid', [2, 11])];
    case 'Clip': return [{
      name: 'Clip [0, 1]', inputs: { x: [2, 3, 5, 7] },
      build: (b) => one(b, 'Clip', ['x', b.initializer('lo', [], [0]), b.initializer('hi', [], [1])]),
    }];
    case 'Flatten': case 'Reshape': case 'Squeeze': case 'Unsqueeze': case 'Identity': case 'Dropout': case 'Cast':
      return op === 'Cast' ? [unary('Cast', [3, 4, 5], { to: 1 })] : views(op);
    case 'Transpose': return [unary('Transpose', [2, 3, 5, 7], { perm: [0, 2, 3, 1] }), unary('Transpose', [2, 3, 5], { perm: [0, 2, 1] })];
    case 'Slice': return [{
      name: 'Slice steps 2, negative ends', inputs: { x: [2, 5, 9, 7] },
      build: (b) => one(b, 'Slice', ['x', i64(b, [1, 1]), i64(b, [-1, 8]), i64(b, [1, 2]), i64(b, [2, 3])]),
    }];
    case 'Concat': return [{
      name: 'Concat channels of two runtime tensors', inputs: { x: [2, 3, 5, 4], y: [2, 2, 5, 4] },
      build: (b) => one(b, 'Concat', ['x', 'y'], { axis: 1 }),
    }];
    case 'Pad': return ['constant', 'reflect', 'edge'].map((mode) => ({
      name: `Pad ${mode}`, inputs: { x: [2, 3, 5, 6] },
      build: (b: OnnxBuilder) => one(b, 'Pad', ['x', i64(b, [0, 0, 1, 2, 0, 0, 2, 1])], { mode }),
    }));
    case 'Gather': return [{
      name: 'Gather axis 1, repeated indices', inputs: { x: [2, 5, 3] },
      build: (b) => one(b, 'Gather', ['x', i64(b, [4, 0, 0, 2])], { axis: 1 }),
    }];
    case 'Add': case 'Sub': case 'Mul': case 'Div': return binary(op);
    case 'ReduceSum': case 'ReduceMean': case 'ReduceMax': case 'ReduceMin':
    case 'ReduceL1': case 'ReduceL2': case 'ReduceSumSquare':
      return reductions(op);
    default: return [];
  }
}
