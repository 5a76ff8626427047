// Generic cases of the dense family (test/rule-table.test.ts). MatMul: the 2-D classifier layer
// (gradient; AE refuses it by name), a constant weight on the last axis of a 3-D and of a
// channel-last 4-D tensor (ConvNeXt's Linear layers: AE is the 1×1 rule, spec §2.11), and a
// runtime weight (gradient for both operands; AE refuses it).
import { one, type OpCase } from './op-cases.js';
import type { Shape } from '../../src/graph/tensor.js';

const constW = (x: Shape, n: number, name = `MatMul [${x.join(',')}]·const [${x[x.length - 1]},${n}]`): OpCase => ({
  name, inputs: { x },
  build: (b) => one(b, 'MatMul', ['x', b.randomInit('w', [x[x.length - 1], n], 0.3)]),
});

export const cases: Record<string, () => OpCase[]> = {
  MatMul: () => [
    constW([2, 7], 5, 'MatMul [2,7]·[7,5]'),
    constW([2, 5, 7], 4),
    constW([2, 3, 5, 7], 6, 'MatMul channel-last [2,3,5,7]·const [7,6] (1×1 conv)'),
    constW([1, 4, 3, 9], 9),
    { name: 'MatMul runtime weight [2,3,4]·[2,4,5]', inputs: { x: [2, 3, 4], y: [2, 4, 5] }, build: (b) => one(b, 'MatMul', ['x', 'y']) },
  ],
};
