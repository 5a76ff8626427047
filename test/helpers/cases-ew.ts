// Generic cases of the element-wise and layout families' newer rules (test/rule-table.test.ts):
// Div with a runtime divisor, Pow (gradient only: statistics get no relevance), Split (several
// outputs; the harness sends a signal to output 0, test/rules-modern.test.ts covers the others).
import type { OnnxBuilder } from '../../tools/onnx-builder.js';
import { i64, one, type OpCase } from './op-cases.js';
import type { Shape } from '../../src/graph/tensor.js';

const withConst = (op: string, a: Shape, c: number[], name: string, lo = 0.5, hi = 1.5): OpCase => ({
  name: `${op} ${name}`, inputs: { x: a },
  build: (b) => one(b, op, ['x', b.randomInit('k', c, lo, hi)]),
});
const both = (op: string, a: Shape, c: Shape, name: string, extra: Partial<OpCase> = {}): OpCase =>
  ({ name: `${op} ${name}`, inputs: { x: a, y: c }, build: (b) => one(b, op, ['x', 'y']), ...extra });

const split = (x: Shape, axis: number, sizes: number[] | undefined, extra: Partial<OpCase> = {}): OpCase => ({
  name: `Split ${x.join('×')} axis ${axis} into ${sizes ? `[${sizes.join(',')}]` : 'equal parts'}`,
  inputs: { x },
  build: (b: OnnxBuilder) => {
    const n = sizes?.length ?? 2;
    const ins = sizes ? ['x', i64(b, sizes)] : ['x'];
    return b.node('Split', ins, { axis }, Array.from({ length: n }, () => []))[0];
  },
  ...extra,
});

export const cases: Record<string, () => OpCase[]> = {
  Div: () => [
    withConst('Div', [2, 3, 5, 7], [3, 1, 1], 'x ∘ const[3,1,1]'),
    withConst('Div', [2, 3, 5], [1], 'x ∘ scalar const'),
    both('Div', [2, 3, 5, 7], [2, 3, 5, 7], 'two runtime tensors'),
    both('Div', [2, 3, 5, 7], [2, 1, 5, 1], 'runtime divisor broadcast [2,1,5,1]'),
    {
      name: 'Div scalar const ÷ runtime', inputs: { x: [2, 3, 5] },
      build: (b) => one(b, 'Div', [b.initializer('k', [], [1.7]), 'x']),
    },
  ],
  Pow: () => [
    { name: 'Pow x^2 (scalar const)', inputs: { x: [2, 3, 5, 7] }, build: (b) => one(b, 'Pow', ['x', b.initializer('p', [], [2])]) },
    { name: 'Pow x^3 (scalar const)', inputs: { x: [2, 5, 3] }, build: (b) => one(b, 'Pow', ['x', b.initializer('p', [], [3])]) },
    {
      name: 'Pow x^p, const p [3,1,1] integers', inputs: { x: [2, 3, 5, 7] },
      build: (b) => one(b, 'Pow', ['x', b.initializer('p', [3, 1, 1], [1, 2, 3])]),
    },
    // Runtime exponents: a negative base has no real power, so no finite differences here
    // (test/rules-modern.test.ts checks them on positive bases).
    both('Pow', [2, 3, 5, 7], [2, 3, 5, 7], 'runtime base and exponent', { noFiniteDiff: true }),
  ],
  Split: () => [
    split([2, 5, 3, 7], 1, [2, 3]),
    split([2, 3, 5, 7], 3, [3, 1, 3]),
    split([2, 4, 3, 5], 1, undefined),
    split([3, 2, 5], 0, [1, 2], { perSample: false }),
    split([2, 6, 5], 2, [5, 0]),
  ],
};
