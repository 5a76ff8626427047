// Conv forward and input gradient: CPU reference checked by hand and by the adjoint identity,
// GPU checked against the CPU on odd shapes. Tolerance: relative L2 ≤ 1e-5.
import { describe, expect, it } from 'vitest';
import { ops, convForwardCpu, convForwardGpu, prepareConv, type ConvParams } from '../src/ops/conv/forward.js';
import { convInputGradCpu, convInputGradGpu } from '../src/ops/conv/input-grad.js';
import { numel } from '../src/graph/tensor.js';
import type { CpuTensor } from '../src/ops/op.js';
import { diff, gpu, makeNode, prepare, randn, rng, runCpu, runGpu } from './helpers/ops.js';

const Conv = ops.Conv;
const TOL = 1e-5;

interface Case {
  name: string;
  x: number[]; // N, C, H, W (or N, C, L)
  k: number; kernel: number[]; group?: number;
  strides?: number[]; dilations?: number[]; pads?: number[]; autoPad?: string; bias?: boolean;
}

function attrsOf(c: Case): Record<string, number | number[] | string> {
  const a: Record<string, number | number[] | string> = {};
  if (c.group) a.group = c.group;
  if (c.strides) a.strides = c.strides;
  if (c.dilations) a.dilations = c.dilations;
  if (c.pads) a.pads = c.pads;
  if (c.autoPad) a.auto_pad = c.autoPad;
  return a;
}

function tensorsOf(c: Case, seed: number): { x: CpuTensor; w: CpuTensor; b?: CpuTensor } {
  const r = rng(seed);
  const cg = c.x[1] / (c.group ?? 1);
  return {
    x: randn(c.x, r),
    w: randn([c.k, cg, ...c.kernel], r, 0.5),
    b: c.bias ? randn([c.k], r) : undefined,
  };
}

function paramsOf(c: Case): { p: ConvParams; shape: number[] } {
  const node = makeNode('Conv', c.bias ? 3 : 2, attrsOf(c));
  const cg = c.x[1] / (c.group ?? 1);
  const { params, shape } = prepareConv(node, c.x, [c.k, cg, ...c.kernel], c.bias ? [c.k] : undefined);
  return { p: params, shape };
}

const CASES: Case[] = [
  { name: '3x3 s1 p1 odd channels', x: [1, 5, 13, 17], k: 7, kernel: [3, 3], pads: [1, 1, 1, 1], bias: true },
  { name: '3x3 s1 p1 batch 3', x: [3, 8, 9, 10], k: 20, kernel: [3, 3], pads: [1, 1, 1, 1], bias: true },
  { name: '3x3 s1 no pad', x: [2, 3, 11, 6], k: 17, kernel: [3, 3] },
  { name: '3x3 s1 asym pads', x: [1, 6, 10, 13], k: 9, kernel: [3, 3], pads: [0, 2, 1, 0] },
  { name: '3x3 s2 p1', x: [2, 6, 13, 17], k: 18, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], bias: true },
  { name: '3x3 s3 asym', x: [1, 4, 17, 13], k: 5, kernel: [3, 3], strides: [3, 3], pads: [2, 0, 1, 1] },
  { name: '3x3 dil2 p2', x: [1, 5, 13, 17], k: 6, kernel: [3, 3], dilations: [2, 2], pads: [2, 2, 2, 2], bias: true },
  { name: '2x3 dil(2,1) s(1,2)', x: [2, 3, 12, 15], k: 7, kernel: [2, 3], dilations: [2, 1], strides: [1, 2], pads: [1, 0, 0, 2] },
  { name: '1x1', x: [2, 13, 9, 7], k: 21, kernel: [1, 1], bias: true },
  { name: '1x1 s2', x: [1, 12, 13, 17], k: 10, kernel: [1, 1], strides: [2, 2] },
  { name: '7x7 s2 p3', x: [1, 3, 29, 31], k: 10, kernel: [7, 7], strides: [2, 2], pads: [3, 3, 3, 3], bias: true },
  { name: 'groups 2', x: [2, 6, 11, 13], k: 10, kernel: [3, 3], group: 2, pads: [1, 1, 1, 1], bias: true },
  { name: 'groups 2 stride 2', x: [1, 8, 13, 11], k: 6, kernel: [3, 3], group: 2, strides: [2, 2], pads: [1, 0, 1, 2] },
  { name: 'depthwise 3x3', x: [2, 10, 13, 17], k: 10, kernel: [3, 3], group: 10, pads: [1, 1, 1, 1], bias: true },
  { name: 'depthwise s2', x: [1, 9, 14, 15], k: 9, kernel: [3, 3], group: 9, strides: [2, 2], pads: [0, 0, 1, 1] },
  { name: 'depthwise multiplier 2', x: [1, 5, 9, 8], k: 10, kernel: [3, 3], group: 5, pads: [1, 1, 1, 1] },
  { name: 'kernel = input (FC-like)', x: [2, 4, 5, 5], k: 9, kernel: [5, 5] },
  { name: 'auto_pad SAME_UPPER s2', x: [1, 3, 10, 11], k: 5, kernel: [3, 3], strides: [2, 2], autoPad: 'SAME_UPPER' },
  { name: 'auto_pad SAME_LOWER s2', x: [1, 3, 10, 11], k: 5, kernel: [4, 4], strides: [2, 2], autoPad: 'SAME_LOWER' },
  { name: 'auto_pad VALID', x: [1, 3, 10, 11], k: 5, kernel: [3, 2], autoPad: 'VALID' },
  { name: '1-D', x: [2, 5, 23], k: 6, kernel: [5], strides: [2], pads: [2, 1], dilations: [1], bias: true },
  { name: '1-D dilated same', x: [1, 4, 19], k: 5, kernel: [3], dilations: [2], autoPad: 'SAME_UPPER' },
  // Wide enough (≥ 16 output channels per group, both ways) for the channel-lane 3×3 kernel.
  { name: '3x3 s1 wide, 2 channel blocks', x: [2, 17, 11, 13], k: 70, kernel: [3, 3], pads: [1, 1, 1, 1], bias: true },
  { name: '3x3 s1 wide groups 2 asym pads', x: [2, 40, 9, 7], k: 36, kernel: [3, 3], group: 2, pads: [0, 2, 1, 0], bias: true },
  { name: '3x3 s1 wide pad 3', x: [1, 17, 6, 9], k: 19, kernel: [3, 3], pads: [3, 3, 3, 3] },
  { name: '1x1 plane of whole vec4s', x: [2, 7, 16, 20], k: 33, kernel: [1, 1], bias: true },
  { name: '1x1 s2 padded, large plane', x: [1, 6, 37, 35], k: 20, kernel: [1, 1], strides: [2, 2], pads: [1, 0, 0, 1] },
];

describe('Conv CPU reference', () => {
  it('matches a hand-computed example', () => {
    const x = { shape: [1, 1, 3, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]) };
    const w = { shape: [2, 1, 2, 2], data: Float32Array.from([1, 1, 1, 1, 1, 0, 0, -1]) };
    const b = { shape: [2], data: Float32Array.from([0.5, -1]) };
    const node = makeNode('Conv', 3, { pads: [0, 0, 1, 1] });
    const [y] = runCpu(Conv, node, [{ tensor: x }, { tensor: w }, { tensor: b }]);
    expect(y.shape).toEqual([1, 2, 3, 3]);
    // Channel 0: 2×2 box sums (zero pad bottom/right) + 0.5; channel 1: x[i,j] − x[i+1,j+1] − 1.
    expect(Array.from(y.data)).toEqual([
      12.5, 16.5, 9.5, 24.5, 28.5, 15.5, 15.5, 17.5, 9.5,
      -5, -5, 2, -5, -5, 5, 6, 7, 8,
    ]);
  });

  it('handles stride, dilation and groups by hand', () => {
    // 1×2×4×4, two groups, each a dilated 2×2 kernel with stride 2 → 1×2×1×1.
    const x = { shape: [1, 2, 4, 4], data: Float32Array.from({ length: 32 }, (_, i) => i) };
    const w = { shape: [2, 1, 2, 2], data: Float32Array.from([1, 0, 0, 1, 0, 1, 1, 0]) };
    const node = makeNode('Conv', 2, { group: 2, strides: [2, 2], dilations: [2, 2] });
    const [y] = runCpu(Conv, node, [{ tensor: x }, { tensor: w }]);
    expect(y.shape).toEqual([1, 2, 1, 1]);
    // group 0 taps x[0,0]+x[2,2] = 0+10; group 1 taps x[0,2]+x[2,0] = 18+24.
    expect(Array.from(y.data)).toEqual([10, 42]);
  });

  it('input gradient is the adjoint: ⟨conv(x), dy⟩ = ⟨x, convT(dy)⟩', () => {
    for (const [i, c] of CASES.entries()) {
      const { p, shape } = paramsOf(c);
      const { x, w } = tensorsOf(c, 100 + i);
      const dy = randn(shape, rng(200 + i));
      const y = convForwardCpu(p, x, w);
      const dx = convInputGradCpu(p, dy, w);
      expect(dx.length).toBe(numel(c.x));
      let lhs = 0, rhs = 0, scale = 0;
      for (let k = 0; k < y.length; k++) { lhs += y[k] * dy.data[k]; scale += Math.abs(y[k] * dy.data[k]); }
      for (let k = 0; k < dx.length; k++) rhs += x.data[k] * dx[k];
      expect(Math.abs(lhs - rhs) / scale, c.name).toBeLessThan(1e-5);
    }
  });

  it('the adjoint matches an explicit dense matrix on a small case', () => {
    const c: Case = { name: 'dense', x: [1, 4, 5, 6], k: 4, kernel: [3, 2], group: 2, strides: [2, 1], dilations: [1, 2], pads: [1, 0, 2, 1] };
    const { p, shape } = paramsOf(c);
    const { w } = tensorsOf(c, 7);
    const nIn = numel(c.x), nOut = numel(shape);
    // Column j of the conv matrix is conv(e_j); its transpose applied to dy must equal convT(dy).
    const M: Float32Array[] = [];
    for (let j = 0; j < nIn; j++) {
      const e = new Float32Array(nIn); e[j] = 1;
      M.push(convForwardCpu(p, { shape: c.x, data: e }, w));
    }
    const dy = randn(shape, rng(8));
    const dx = convInputGradCpu(p, dy, w);
    const want = new Float32Array(nIn);
    for (let j = 0; j < nIn; j++) { let s = 0; for (let i = 0; i < nOut; i++) s += M[j][i] * dy.data[i]; want[j] = s; }
    expect(diff(dx, want).relL2).toBeLessThan(1e-6);
  });

  it('auto_pad SAME matches the equivalent explicit pads', () => {
    const r = rng(3);
    const x = randn([1, 2, 10, 11], r), w = randn([3, 2, 4, 3], r);
    const same = (mode: string, pads: number[]) => {
      const a = runCpu(Conv, makeNode('Conv', 2, { auto_pad: mode, strides: [2, 2] }), [{ tensor: x }, { tensor: w }])[0];
      const b = runCpu(Conv, makeNode('Conv', 2, { pads, strides: [2, 2] }), [{ tensor: x }, { tensor: w }])[0];
      expect(a.shape).toEqual([1, 3, 5, 6]);
      expect(diff(a.data, b.data).maxAbs).toBe(0);
    };
    // H: out 5, total pad max(0, 4·2+4−10)=2 → 1|1; W: out 6, total 10+3−11=2 → 1|1 — and an odd total:
    same('SAME_UPPER', [1, 1, 1, 1]);
    const x2 = randn([1, 2, 9, 9], r), w2 = randn([3, 2, 4, 4], r);
    const s = (mode: string, extra: Record<string, unknown>) => runCpu(Conv, makeNode('Conv', 2, { ...extra } as never), [{ tensor: x2 }, { tensor: w2 }])[0];
    // total = 4·2+4−9 = 3: SAME_UPPER pads 1|2, SAME_LOWER pads 2|1.
    expect(diff(s('u', { auto_pad: 'SAME_UPPER', strides: [2, 2] }).data, s('u', { pads: [1, 1, 2, 2], strides: [2, 2] }).data).maxAbs).toBe(0);
    expect(diff(s('l', { auto_pad: 'SAME_LOWER', strides: [2, 2] }).data, s('l', { pads: [2, 2, 1, 1], strides: [2, 2] }).data).maxAbs).toBe(0);
    const v = prepare(Conv, makeNode('Conv', 2, { auto_pad: 'VALID', strides: [2, 3] }), [{ tensor: x2 }, { tensor: w2 }]);
    expect(v.shapes[0]).toEqual([1, 3, 3, 2]);
  });

  it('infers kernel_shape from W and checks it when given', () => {
    const x = randn([1, 3, 8, 8], rng(1)), w = randn([4, 3, 3, 5], rng(2));
    expect(prepare(Conv, makeNode('Conv', 2), [{ tensor: x }, { tensor: w }]).shapes[0]).toEqual([1, 4, 6, 4]);
    expect(() => prepare(Conv, makeNode('Conv', 2, { kernel_shape: [3, 3] }), [{ tensor: x }, { tensor: w }]))
      .toThrow(/kernel_shape \[3,3\] does not match weights \[4×3×3×5\]/);
  });

  it('rejects 3-D convolution and inconsistent channels with clear messages', () => {
    const x5 = randn([1, 2, 4, 4, 4], rng(1)), w5 = randn([3, 2, 2, 2, 2], rng(2));
    expect(() => prepare(Conv, makeNode('Conv', 2), [{ tensor: x5 }, { tensor: w5 }]))
      .toThrow(/Conv node 'Conv_test': 3-D convolution is not supported/);
    const x = randn([1, 6, 5, 5], rng(1));
    expect(() => prepare(Conv, makeNode('Conv', 2), [{ tensor: x }, { tensor: randn([4, 4, 3, 3], rng(2)) }]))
      .toThrow(/Conv node 'Conv_test': weights \[4×4×3×3\] expect 4×1=4 input channels .* input \[1×6×5×5\] has 6/);
    expect(() => prepare(Conv, makeNode('Conv', 2, { group: 4 }), [{ tensor: x }, { tensor: randn([4, 2, 3, 3], rng(2)) }]))
      .toThrow(/input channels 6 .* not divisible by group=4/);
    expect(() => prepare(Conv, makeNode('Conv', 2, { group: 3 }), [{ tensor: x }, { tensor: randn([4, 2, 3, 3], rng(2)) }]))
      .toThrow(/output channels 4 .* not divisible by group=3/);
    expect(() => prepare(Conv, makeNode('Conv', 3), [{ tensor: x }, { tensor: randn([4, 6, 3, 3], rng(2)) }, { tensor: randn([5], rng(3)) }]))
      .toThrow(/bias \[5\] must be \[4\]/);
    expect(() => prepare(Conv, makeNode('Conv', 2), [{ tensor: x }, { tensor: randn([4, 6, 7, 3], rng(2)) }]))
      .toThrow(/larger than the input/);
  });

  it('accepts an omitted bias input', () => {
    const x = randn([1, 2, 5, 5], rng(1)), w = randn([3, 2, 3, 3], rng(2));
    const node = makeNode('Conv', 3);
    const [a] = runCpu(Conv, node, [{ tensor: x }, { tensor: w }, { omitted: true }]);
    const [b] = runCpu(Conv, makeNode('Conv', 2), [{ tensor: x }, { tensor: w }]);
    expect(diff(a.data, b.data).maxAbs).toBe(0);
  });
});

describe('Conv GPU vs CPU', () => {
  it.each(CASES.map((c, i) => [c.name, c, i] as const))('forward: %s', async (_name, c, i) => {
    const { x, w, b } = tensorsOf(c, i + 1);
    const node = makeNode('Conv', c.bias ? 3 : 2, attrsOf(c));
    const inputs = [{ tensor: x }, { tensor: w }, ...(b ? [{ tensor: b }] : [])];
    const [want] = runCpu(Conv, node, inputs);
    const [got] = await runGpu(Conv, node, inputs);
    expect(got.shape).toEqual(want.shape);
    expect(diff(got.data, want.data).relL2).toBeLessThan(TOL);
  });

  it.each(CASES.map((c, i) => [c.name, c, i] as const))('input gradient: %s', async (_name, c, i) => {
    const { p, shape } = paramsOf(c);
    const { w } = tensorsOf(c, i + 50);
    const dy = randn(shape, rng(i + 90));
    const want = convInputGradCpu(p, dy, w);
    const g = await gpu();
    const dyG = g.upload(dy.data, dy.shape), wG = g.upload(w.data, w.shape);
    const out = g.alloc(c.x);
    g.write(out, new Float32Array(numel(c.x)).fill(NaN));
    convInputGradGpu(g, p, dyG, wG, out);
    const got = await g.read(out);
    [dyG, wG, out].forEach((t) => g.release(t));
    expect(diff(got, want).relL2).toBeLessThan(TOL);
  });

  it('forward with an arbitrary weight tensor and no bias (convForward)', async () => {
    const c: Case = { name: 'abs', x: [1, 6, 12, 9], k: 8, kernel: [3, 3], pads: [1, 1, 1, 1], bias: true };
    const { p } = paramsOf(c);
    const { x, w } = tensorsOf(c, 77);
    const absW = { shape: w.shape, data: w.data.map(Math.abs) };
    const want = convForwardCpu(p, x, absW);
    const g = await gpu();
    const xG = g.upload(x.data, x.shape), wG = g.upload(absW.data, absW.shape);
    const out = g.alloc([1, 8, 12, 9]);
    g.write(out, new Float32Array(8 * 12 * 9).fill(NaN));
    convForwardGpu(g, p, xG, wG, out);
    const got = await g.read(out);
    [xG, wG, out].forEach((t) => g.release(t));
    expect(diff(got, want).relL2).toBeLessThan(TOL);
  });

  it('a VGG-like layer (64→64 channels, 28×28)', async () => {
    const c: Case = { name: 'vgg', x: [1, 64, 28, 28], k: 64, kernel: [3, 3], pads: [1, 1, 1, 1], bias: true };
    const { x, w, b } = tensorsOf(c, 5);
    const node = makeNode('Conv', 3, attrsOf(c));
    const inputs = [{ tensor: x }, { tensor: w }, { tensor: b! }];
    const [want] = runCpu(Conv, node, inputs);
    const [got] = await runGpu(Conv, node, inputs);
    expect(diff(got.data, want.data).relL2).toBeLessThan(TOL);
  });
});
