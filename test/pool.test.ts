// Pooling: hand-checked CPU values (ceil_mode's last-window rule, count_include_pad, asymmetric and
// auto padding, tie-breaking of the max-pool transpose), randomized GPU-vs-CPU on odd shapes for
// the forward ops and both transposes, adjoint identities, and attribute errors.
import { describe, expect, it } from 'vitest';
import { ops, type PoolParams } from '../src/ops/pool/forward.js';
import { maxPoolBackward, avgPoolBackward } from '../src/ops/pool/rules.js';
import { numel, type Shape } from '../src/graph/tensor.js';
import type { AttrValue } from '../src/graph/ir.js';
import type { CpuTensor } from '../src/ops/op.js';
import { getGpu } from '../src/kernels/gpu/runtime.js';
import { diff, makeNode, prepare, randn, rng, runCpu, runGpu } from './helpers/ops.js';

const TOL = 1e-6; // relative L2; pooling is a max or a short float32 sum

function t(shape: Shape, data: number[]): CpuTensor {
  return { shape, data: Float32Array.from(data) };
}

function cpu(op: string, attrs: Record<string, AttrValue>, x: CpuTensor, opset = 17): CpuTensor {
  return runCpu(ops[op], makeNode(op, 1, attrs), [{ tensor: x }], opset)[0];
}

function params(op: string, attrs: Record<string, AttrValue>, shape: Shape): PoolParams {
  return prepare(ops[op], makeNode(op, 1, attrs), [{ tensor: { shape, data: new Float32Array(0) } }]).params as PoolParams;
}

/** Integer-valued data: many exact ties inside windows. */
function ties(shape: Shape, r: () => number): CpuTensor {
  const x = randn(shape, r);
  for (let i = 0; i < x.data.length; i++) x.data[i] = Math.round(x.data[i] * 1.5);
  return x;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

async function gpuBackward(kind: 'max' | 'avg', p: PoolParams, x: CpuTensor, gy: CpuTensor): Promise<Float32Array> {
  const g = await getGpu();
  const gx = g.alloc(x.shape);
  g.write(gx, new Float32Array(numel(x.shape)).fill(NaN));
  const ty = g.upload(gy.data, gy.shape);
  const tx = g.upload(x.data, x.shape);
  if (kind === 'max') maxPoolBackward.gpu(g, p, tx, ty, gx);
  else avgPoolBackward.gpu(g, p, ty, gx);
  const out = await g.read(gx);
  [gx, ty, tx].forEach((b) => g.release(b));
  return out;
}

describe('pool CPU reference by hand', () => {
  it('MaxPool 2×2 stride 2', () => {
    const y = cpu('MaxPool', { kernel_shape: [2, 2], strides: [2, 2] },
      t([1, 1, 4, 4], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]));
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(y.data)).toEqual([6, 8, 14, 16]);
  });

  it('padding never wins a max', () => {
    const y = cpu('MaxPool', { kernel_shape: [3], pads: [1, 1] }, t([1, 1, 3], [-5, -6, -7]));
    expect(Array.from(y.data)).toEqual([-5, -5, -6]);
  });

  it('ceil_mode drops a last window that would start in the right padding', () => {
    // span 5+1+1-3 = 4, ceil(4/3)+1 = 3 windows, but the third would start at 6-1 = 5 = the input end.
    const y = cpu('MaxPool', { kernel_shape: [3], strides: [3], pads: [1, 1], ceil_mode: 1 }, t([1, 1, 5], [1, 2, 3, 4, 5]));
    expect(y.shape).toEqual([1, 1, 2]);
    expect(Array.from(y.data)).toEqual([2, 5]);
    const f = cpu('MaxPool', { kernel_shape: [3], strides: [3], pads: [1, 1] }, t([1, 1, 5], [1, 2, 3, 4, 5]));
    expect(f.shape).toEqual([1, 1, 2]);
  });

  it('ceil_mode keeps a partial last window', () => {
    const y = cpu('MaxPool', { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 },
      t([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(y.data)).toEqual([5, 6, 8, 9]);
  });

  it('AveragePool count_include_pad counts explicit pads but not ceil-mode overhang', () => {
    const x = t([1, 1, 5], [1, 2, 3, 4, 5]);
    // windows start at -1, 1, 3; the last covers 3, 4 and position 5, past the padded end (pads [1, 0]).
    const inc = cpu('AveragePool', { kernel_shape: [3], strides: [2], pads: [1, 0], ceil_mode: 1, count_include_pad: 1 }, x);
    expect(Array.from(inc.data)).toEqual([1, 3, 4.5]);
    const exc = cpu('AveragePool', { kernel_shape: [3], strides: [2], pads: [1, 0], ceil_mode: 1 }, x);
    expect(Array.from(exc.data)).toEqual([1.5, 3, 4.5]);
  });

  it('asymmetric pads and SAME_UPPER / SAME_LOWER / VALID', () => {
    const x = t([1, 1, 1, 4], [1, 2, 3, 4]);
    const asym = cpu('AveragePool', { kernel_shape: [1, 2], pads: [0, 0, 0, 1], strides: [1, 2], count_include_pad: 1 }, x);
    expect(Array.from(asym.data)).toEqual([1.5, 3.5]);
    // SAME with k=3, s=1 on 4: total pad 2 → 1/1; k=2: total 1 → UPPER puts it at the end.
    const up = cpu('AveragePool', { kernel_shape: [1, 2], auto_pad: 'SAME_UPPER' }, x);
    expect(Array.from(up.data)).toEqual([1.5, 2.5, 3.5, 4]);
    const lo = cpu('AveragePool', { kernel_shape: [1, 2], auto_pad: 'SAME_LOWER' }, x);
    expect(Array.from(lo.data)).toEqual([1, 1.5, 2.5, 3.5]);
    const valid = cpu('MaxPool', { kernel_shape: [1, 3], auto_pad: 'VALID', pads: [0, 5, 0, 5] }, x);
    expect(Array.from(valid.data)).toEqual([3, 4]);
  });

  it('dilated max pool', () => {
    const y = cpu('MaxPool', { kernel_shape: [2], dilations: [2] }, t([1, 1, 5], [5, 1, 2, 9, 3]));
    expect(Array.from(y.data)).toEqual([5, 9, 3]);
  });

  it('global pools keep the rank', () => {
    const x = t([1, 2, 2, 2], [1, 2, 3, 4, -1, -2, -3, -4]);
    const a = cpu('GlobalAveragePool', {}, x);
    expect(a.shape).toEqual([1, 2, 1, 1]);
    expect(Array.from(a.data)).toEqual([2.5, -2.5]);
    const m = cpu('GlobalMaxPool', {}, t([1, 1, 3], [1, 7, 3]));
    expect(m.shape).toEqual([1, 1, 1]);
    expect(Array.from(m.data)).toEqual([7]);
  });
});

describe('pool transposes by hand', () => {
  it('max: all-zero windows route to the first in-input position', () => {
    const p = params('MaxPool', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, [1, 1, 3, 3]);
    const gx = maxPoolBackward.cpu(p, t([1, 1, 3, 3], Array(9).fill(0)), t([1, 1, 3, 3], Array(9).fill(1)));
    expect(Array.from(gx)).toEqual([4, 2, 0, 2, 1, 0, 0, 0, 0]);
  });

  it('avg with count_include_pad divides by the padded count', () => {
    const p = params('AveragePool', { kernel_shape: [3], pads: [1, 1], count_include_pad: 1 }, [1, 1, 2]);
    // two windows (-1..1, 0..2), each of 3 counted taps; every input is in both.
    const gx = avgPoolBackward.cpu(p, t([1, 1, 2], [3, 6]));
    expect(Array.from(gx)).toEqual([3, 3]);
  });
});

interface Case {
  op: string;
  attrs: Record<string, AttrValue>;
  shape: Shape;
}

const CASES: Case[] = [
  { op: 'MaxPool', attrs: { kernel_shape: [3, 3], strides: [2, 2] }, shape: [2, 3, 17, 15] },
  { op: 'MaxPool', attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 2, 1], ceil_mode: 1 }, shape: [1, 5, 14, 13] },
  { op: 'MaxPool', attrs: { kernel_shape: [2, 3], dilations: [2, 1], strides: [1, 2], pads: [1, 1, 1, 1] }, shape: [2, 2, 11, 9] },
  { op: 'MaxPool', attrs: { kernel_shape: [3, 3], auto_pad: 'SAME_UPPER', strides: [2, 2] }, shape: [1, 3, 10, 7] },
  { op: 'MaxPool', attrs: { kernel_shape: [4], strides: [3], pads: [2, 1], ceil_mode: 1 }, shape: [3, 4, 23] },
  { op: 'AveragePool', attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1, ceil_mode: 1 }, shape: [2, 3, 12, 11] },
  { op: 'AveragePool', attrs: { kernel_shape: [3, 2], strides: [2, 1], pads: [2, 0, 0, 1], ceil_mode: 1 }, shape: [1, 4, 13, 9] },
  { op: 'AveragePool', attrs: { kernel_shape: [3, 3], auto_pad: 'SAME_LOWER', count_include_pad: 1 }, shape: [2, 2, 8, 9] },
  { op: 'AveragePool', attrs: { kernel_shape: [2, 2], dilations: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 }, shape: [1, 3, 9, 10] },
  { op: 'AveragePool', attrs: { kernel_shape: [5], strides: [2], auto_pad: 'VALID' }, shape: [2, 3, 31] },
  { op: 'GlobalAveragePool', attrs: {}, shape: [2, 37, 7, 9] },
  { op: 'GlobalMaxPool', attrs: {}, shape: [3, 11, 13, 5] },
  { op: 'GlobalAveragePool', attrs: {}, shape: [2, 5, 300] },
  { op: 'GlobalMaxPool', attrs: {}, shape: [1, 4, 2, 3, 5] },
];

describe('pool GPU vs CPU', () => {
  CASES.forEach((c, i) => {
    it(`${c.op} ${JSON.stringify(c.attrs)} on ${c.shape.join('×')}`, async () => {
      const r = rng(1000 + i);
      const x = c.op.includes('Max') ? ties(c.shape, r) : randn(c.shape, r);
      const node = makeNode(c.op, 1, c.attrs);
      const [yc] = runCpu(ops[c.op], node, [{ tensor: x }]);
      const [yg] = await runGpu(ops[c.op], node, [{ tensor: x }]);
      expect(yg.shape).toEqual(yc.shape);
      expect(diff(yg.data, yc.data).relL2).toBeLessThanOrEqual(TOL);

      // Transposes: GPU matches CPU, and ⟨pool(x), gy⟩ = ⟨x, poolᵀ(gy)⟩.
      if (c.shape.length > 4) return;
      const p = params(c.op, c.attrs, c.shape);
      const gy = randn(yc.shape, r);
      const kind = c.op.includes('Max') ? 'max' : 'avg';
      const gxc = kind === 'max' ? maxPoolBackward.cpu(p, x, gy) : avgPoolBackward.cpu(p, gy);
      const gxg = await gpuBackward(kind, p, x, gy);
      expect(diff(gxg, gxc).relL2).toBeLessThanOrEqual(TOL);
      const lhs = dot(yc.data, gy.data), rhs = dot(x.data, gxc);
      expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-4 * (Math.abs(lhs) + 1));
    });
  });

  it('max transpose tie-breaking matches on the GPU for all-zero input', async () => {
    const shape = [1, 2, 7, 6];
    const p = params('MaxPool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, shape);
    const x = { shape, data: new Float32Array(numel(shape)) };
    const gy = randn([1, 2, p.OH, p.OW], rng(5));
    const gxc = maxPoolBackward.cpu(p, x, gy);
    const gxg = await gpuBackward('max', p, x, gy);
    expect(diff(gxg, gxc).maxAbs).toBeLessThanOrEqual(1e-6);
    // Only window (0,0), which starts at (-1,-1), has (0,0) as its first in-input tap.
    expect(gxc[0]).toBeCloseTo(gy.data[0], 6);
  });
});

describe('pool attribute errors name the node', () => {
  const shape = [1, 1, 5, 5];
  const bad = (op: string, attrs: Record<string, AttrValue>, re: RegExp, nOut = 1, s: Shape = shape) => {
    const node = makeNode(op, 1, attrs, nOut);
    expect(() => prepare(ops[op], node, [{ tensor: { shape: s, data: new Float32Array(0) } }])).toThrow(re);
  };
  it('Indices output', () => bad('MaxPool', { kernel_shape: [2, 2] }, /MaxPool node 'MaxPool_test'.*Indices/, 2));
  it('kernel_shape rank', () => bad('MaxPool', { kernel_shape: [2] }, /kernel_shape.*2 entries/));
  it('missing kernel_shape', () => bad('AveragePool', {}, /AveragePool node 'AveragePool_test'.*kernel_shape/));
  it('pads too large', () => bad('MaxPool', { kernel_shape: [2, 2], pads: [2, 0, 0, 0] }, /smaller than the kernel/));
  it('kernel larger than input', () => bad('AveragePool', { kernel_shape: [7, 7] }, /exceeds the padded input/));
  it('3-D pooling', () => bad('MaxPool', { kernel_shape: [2, 2, 2] }, /only 1-D and 2-D/, 1, [1, 1, 4, 4, 4]));
  it('global pool of a 2-D tensor', () => bad('GlobalAveragePool', {}, /GlobalAveragePool node.*N×C×spatial/, 1, [2, 3]));
});
