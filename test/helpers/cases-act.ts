// Generic rule-table cases (test/rule-table.test.ts) of the activation and normaliser operators
// added for modern CNNs: one-node models on odd shapes, batch > 1.
import { floatAttr } from '../../tools/onnx-builder.js';
import type { OnnxBuilder } from '../../tools/onnx-builder.js';
import type { Shape } from '../../src/graph/tensor.js';
import { one, type AttrIn, type OpCase } from './op-cases.js';

const unary = (op: string, x: Shape, attrs: Record<string, AttrIn> = {}, extra: Partial<OpCase> = {}, label = ''): OpCase =>
  ({ name: `${op} ${x.join('×')}${label}`, inputs: { x }, build: (b) => one(b, op, ['x'], attrs), ...extra });

const X: Shape = [2, 3, 5, 7];

/** A normaliser with random γ (some exactly 0, to exercise the AE mask) and β of the given shapes. */
function norm(name: string, op: string, x: Shape, scale: Shape, bias: Shape | null, attrs: Record<string, AttrIn>): OpCase {
  return {
    name, inputs: { x },
    build: (b: OnnxBuilder) => {
      const n = scale.reduce((a, d) => a * d, 1);
      // One γ exactly 0 where there are several (the AE mask), the others in [0.5, 1.4].
      const s = b.initializer('gamma', scale, Array.from({ length: n }, (_, k) => (k === 1 ? 0 : 0.5 + 0.9 * (((k * 7) % 11) / 11))));
      const ins = ['x', s];
      if (bias) ins.push(b.randomInit('beta', bias, 0.3));
      return one(b, op, ins, attrs);
    },
  };
}

export const cases: Record<string, () => OpCase[]> = {
  LayerNormalization: (): OpCase[] => [
    norm('LayerNormalization axis -1 (channel-last), bias', 'LayerNormalization', [2, 5, 7, 6], [6], [6], {}),
    norm('LayerNormalization axis 1 over C×H×W, no bias', 'LayerNormalization', [2, 3, 5, 7], [3, 5, 7], null, { axis: 1, epsilon: floatAttr(1e-3) }),
    norm('LayerNormalization axis 1, scale [3,1,1] broadcast', 'LayerNormalization', [2, 3, 5, 7], [3, 1, 1], [1], { axis: 1 }),
    norm('LayerNormalization axis 0 (across samples: T = 2 refused)', 'LayerNormalization', [2, 3, 5], [2, 3, 5], [3, 5], { axis: 0 }),
    // A runtime γ: AE reads it; the gradient refuses (no signal to the parameters).
    { name: 'LayerNormalization runtime scale', inputs: { x: [2, 3, 7], s: [7] }, build: (b) => one(b, 'LayerNormalization', ['x', 's']) },
  ],
  GroupNormalization: () => [
    // The builder writes opset 13: GroupNormalization-18's per-group scale and bias.
    norm('GroupNormalization 3 groups of 2 channels', 'GroupNormalization', [2, 6, 5, 7], [3], [3], { num_groups: 3 }),
    norm('GroupNormalization 1 group', 'GroupNormalization', [2, 4, 3, 5], [1], [1], { num_groups: 1 }),
  ],
  InstanceNormalization: () => [norm('InstanceNormalization', 'InstanceNormalization', [2, 3, 5, 7], [3], [3], { epsilon: floatAttr(1e-4) })],
  Tanh: () => [unary('Tanh', [2, 3, 11])],
  Exp: () => [unary('Exp', [2, 3, 11])],
  Abs: () => [unary('Abs', [2, 3, 11])],
  Neg: () => [unary('Neg', [2, 3, 11])],
  Sqrt: () => [unary('Sqrt', [2, 3, 11], {}, { positive: true })],
  Reciprocal: () => [unary('Reciprocal', [2, 3, 11])],
  HardSigmoid: () => [unary('HardSigmoid', X), unary('HardSigmoid', [2, 13], { alpha: floatAttr(0.5), beta: floatAttr(0.3) }, {}, ' α 0.5 β 0.3')],
  HardSwish: () => [unary('HardSwish', X)],
  Erf: () => [unary('Erf', X)],
  Gelu: () => [unary('Gelu', X), unary('Gelu', [3, 17], { approximate: 'tanh' }, {}, ' tanh')],
  Elu: () => [unary('Elu', X), unary('Elu', [3, 17], { alpha: floatAttr(0.3) }, {}, ' α 0.3')],
  Celu: () => [unary('Celu', X), unary('Celu', [3, 17], { alpha: floatAttr(2.5) }, {}, ' α 2.5')],
  Selu: () => [unary('Selu', X)],
  Softplus: () => [unary('Softplus', X)],
  Mish: () => [unary('Mish', X)],
  Softsign: () => [unary('Softsign', X)],
  PRelu: (): OpCase[] => [
    { name: 'PRelu constant per-channel slope [3,1,1]', inputs: { x: X }, build: (b) => one(b, 'PRelu', ['x', b.randomInit('slope', [3, 1, 1], 0.3, 0.2)]) },
    { name: 'PRelu constant scalar slope', inputs: { x: [3, 17] }, build: (b) => one(b, 'PRelu', ['x', b.randomInit('slope', [1], 0.1, 0.25)]) },
    { name: 'PRelu runtime slope [5,7]', inputs: { x: X, slope: [5, 7] }, build: (b) => one(b, 'PRelu', ['x', 'slope']) },
    { name: 'PRelu runtime slope of x\'s shape', inputs: { x: X, slope: X }, build: (b) => one(b, 'PRelu', ['x', 'slope']) },
  ],
};
