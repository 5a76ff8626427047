// The kernel choice (kernel-choice.ts) and the tiled implicit-GEMM kernels: every case runs under
// both variants ('shuffle', the software-adapter default, and 'tiled', the hardware default)
// against the CPU reference, on odd shapes (strides, pads, dilations, groups, batch > 1, sizes
// that are no multiple of the tile, channel counts no multiple of 4, 1×1 planes), and every tile
// the tiled conv can choose is run once explicitly. The strided input gradient runs one GEMM per
// output phase (transposed.ts): its decomposition is checked against brute force on the CPU, and
// on the GPU with strides 2–4, dilations, kernels larger and smaller than the stride (phases that
// no tap reaches), and more phases than one dispatch holds. Tolerance: relative L2 ≤ 1e-5.
import { afterEach, describe, expect, it } from 'vitest';
import { ops as convOps, convForwardCpu, prepareConv, type ConvParams } from '../src/ops/conv/forward.js';
import { convInputGradCpu, convInputGradGpu } from '../src/ops/conv/input-grad.js';
import { chooseTile, MAX_PHASES, tiledConv, tiledInputGrad, type Tile } from '../src/ops/conv/tiled.js';
import { transposedPhases } from '../src/ops/conv/transposed.js';
import { kernelChoiceOverride, kernelVariant, isSoftwareAdapter, parseKernelsEnv, type KernelVariant } from '../src/kernels/gpu/kernel-choice.js';
import { numel } from '../src/graph/tensor.js';
import type { CpuTensor } from '../src/ops/op.js';
import { diff, gpu, makeNode, randn, rng, runCpu, runGpu } from './helpers/ops.js';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import { Explainer } from '../src/explain/explainer.js';

const TOL = 1e-5;
const VARIANTS: KernelVariant[] = ['shuffle', 'tiled'];

afterEach(() => {
  kernelChoiceOverride.force = null;
});

describe('kernel choice', () => {
  it('recognises software adapters by name', () => {
    expect(isSoftwareAdapter('mesa software llvmpipe-llvm-15-0-6-256-bits- llvmpipe: Mesa 25.0.7')).toBe(true);
    expect(isSoftwareAdapter('google swiftshader SwiftShader Device (Subzero)')).toBe(true);
    expect(isSoftwareAdapter('nvidia hopper NVIDIA H200')).toBe(false);
    expect(isSoftwareAdapter('amd rdna-3 AMD Radeon RX 7900 XTX')).toBe(false);
  });

  it('parses AEQ_KERNELS: unset, either variant, or one clear error', () => {
    expect(parseKernelsEnv(undefined)).toEqual({ variant: null });
    expect(parseKernelsEnv('')).toEqual({ variant: null });
    expect(parseKernelsEnv('tiled')).toEqual({ variant: 'tiled' });
    expect(parseKernelsEnv('shuffle')).toEqual({ variant: 'shuffle' });
    expect(parseKernelsEnv('fast')).toEqual({ error: "AEQ_KERNELS must be 'tiled' or 'shuffle', got 'fast'" });
  });

  it('defaults by adapter, AEQ_KERNELS forces either, an invalid value throws', () => {
    const saved = process.env.AEQ_KERNELS;
    try {
      delete process.env.AEQ_KERNELS;
      kernelChoiceOverride.rereadEnv();
      expect(kernelVariant('mesa software llvmpipe')).toBe('shuffle');
      expect(kernelVariant('nvidia hopper NVIDIA H200')).toBe('tiled');
      process.env.AEQ_KERNELS = 'shuffle';
      kernelChoiceOverride.rereadEnv();
      expect(kernelVariant('nvidia hopper NVIDIA H200')).toBe('shuffle');
      process.env.AEQ_KERNELS = 'tiles';
      kernelChoiceOverride.rereadEnv();
      expect(() => kernelVariant('nvidia')).toThrow(/AEQ_KERNELS must be 'tiled' or 'shuffle', got 'tiles'/);
      kernelChoiceOverride.force = 'tiled';
      expect(kernelVariant('mesa software llvmpipe')).toBe('tiled');
    } finally {
      if (saved === undefined) delete process.env.AEQ_KERNELS;
      else process.env.AEQ_KERNELS = saved;
      kernelChoiceOverride.rereadEnv();
    }
  });

  it('shrinks the conv tile when a layer yields few workgroups', () => {
    const L = (n: number, cin: number, kout: number, hw: number) => ({
      n, groups: 1, cin, kout, h: hw, w: hw, oh: hw, ow: hw, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, padT: 1, padL: 1,
    });
    expect(chooseTile(L(1, 64, 64, 224))).toEqual({ bm: 64, bn: 32, bk: 16 });
    expect(chooseTile(L(1, 3, 32, 224))).toEqual({ bm: 32, bn: 64, bk: 8 });
    expect(chooseTile(L(1, 512, 512, 14))).toEqual({ bm: 32, bn: 32, bk: 16 });
  });
});

interface Case {
  name: string;
  x: number[]; k: number; kernel: number[]; group?: number;
  strides?: number[]; dilations?: number[]; pads?: number[]; bias?: boolean;
}

const CASES: Case[] = [
  { name: '3x3 s1 p1 batch 2, 13 channels', x: [2, 5, 13, 11], k: 13, kernel: [3, 3], pads: [1, 1, 1, 1], bias: true },
  { name: '3x3 s1 wide, 70 channels, asym pads', x: [1, 19, 9, 7], k: 70, kernel: [3, 3], pads: [0, 2, 1, 0], bias: true },
  { name: '3x3 s2 p1 batch 3', x: [3, 6, 13, 17], k: 18, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], bias: true },
  { name: '3x3 dil2 p2', x: [1, 17, 11, 9], k: 9, kernel: [3, 3], dilations: [2, 2], pads: [2, 2, 2, 2] },
  { name: '1x1 batch 2', x: [2, 21, 7, 5], k: 33, kernel: [1, 1], bias: true },
  { name: '1x1 s2', x: [1, 12, 13, 17], k: 10, kernel: [1, 1], strides: [2, 2] },
  { name: '1x1 spatial 1×1', x: [3, 40, 1, 1], k: 37, kernel: [1, 1], bias: true },
  { name: '7x7 s2 p3', x: [1, 3, 23, 21], k: 11, kernel: [7, 7], strides: [2, 2], pads: [3, 3, 3, 3], bias: true },
  { name: 'groups 2, 3x3 p1', x: [2, 18, 9, 10], k: 22, kernel: [3, 3], group: 2, pads: [1, 1, 1, 1], bias: true },
  { name: 'groups 4 s2 2x3 dil(2,1)', x: [1, 12, 12, 15], k: 36, kernel: [2, 3], group: 4, dilations: [2, 1], strides: [2, 2], pads: [1, 0, 0, 2] },
  { name: 'depthwise 3x3 (direct kernel in both)', x: [2, 10, 9, 8], k: 10, kernel: [3, 3], group: 10, pads: [1, 1, 1, 1], bias: true },
  { name: '1-D k5 s1', x: [2, 9, 23], k: 14, kernel: [5], pads: [2, 1], bias: true },
  // Strided, with 8 or more input channels per group: the input gradient on the phased GEMM.
  { name: '3x3 s2 p1 batch 2, 12 → 16 (4 phases)', x: [2, 12, 13, 11], k: 16, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], bias: true },
  { name: '4x4 s2 asym pads (2 taps a phase)', x: [1, 9, 12, 15], k: 10, kernel: [4, 4], strides: [2, 2], pads: [1, 2, 0, 1] },
  { name: '3x3 s3 dil2 (9 phases: 3 dispatches)', x: [2, 10, 17, 14], k: 9, kernel: [3, 3], strides: [3, 3], dilations: [2, 2], pads: [2, 1, 0, 2] },
  { name: '2x2 s4 (phases no tap reaches)', x: [1, 8, 13, 9], k: 12, kernel: [2, 2], strides: [4, 4], pads: [0, 1, 1, 0] },
  { name: 'groups 2 s(2,3) 5x3 dil(2,1)', x: [2, 20, 15, 16], k: 22, kernel: [5, 3], group: 2, strides: [2, 3], dilations: [2, 1], pads: [3, 1, 2, 1], bias: true },
  { name: '7x7 s2 p3, 9 → 11', x: [1, 9, 21, 19], k: 11, kernel: [7, 7], strides: [2, 2], pads: [3, 3, 3, 3], bias: true },
  { name: '1-D k5 s3', x: [3, 11, 29], k: 13, kernel: [5], strides: [3], pads: [2, 1] },
];

function attrsOf(c: Case): Record<string, number | number[]> {
  const a: Record<string, number | number[]> = {};
  if (c.group) a.group = c.group;
  if (c.strides) a.strides = c.strides;
  if (c.dilations) a.dilations = c.dilations;
  if (c.pads) a.pads = c.pads;
  return a;
}

function tensorsOf(c: Case, seed: number): { x: CpuTensor; w: CpuTensor; b?: CpuTensor } {
  const r = rng(seed);
  const cg = c.x[1] / (c.group ?? 1);
  return { x: randn(c.x, r), w: randn([c.k, cg, ...c.kernel], r, 0.5), b: c.bias ? randn([c.k], r) : undefined };
}

function paramsOf(c: Case): { p: ConvParams; shape: number[] } {
  const cg = c.x[1] / (c.group ?? 1);
  const { params, shape } = prepareConv(makeNode('Conv', c.bias ? 3 : 2, attrsOf(c)), c.x, [c.k, cg, ...c.kernel], c.bias ? [c.k] : undefined);
  return { p: params, shape };
}

/** Dispatches of kernels whose key starts with `prefix` since `since` (a copy of byKernel). */
function dispatchesOf(byKernel: Map<string, number>, since: Map<string, number>, prefix: string): number {
  let n = 0;
  for (const [k, v] of byKernel) if (k.startsWith(prefix)) n += v - (since.get(k) ?? 0);
  return n;
}

describe.each(VARIANTS)('conv, %s kernels, GPU vs CPU', (variant) => {
  it.each(CASES.map((c, i) => [c.name, c, i] as const))('forward and input gradient: %s', async (_n, c, i) => {
    kernelChoiceOverride.force = variant;
    const g = await gpu();
    const before = new Map(g.stats.byKernel);
    const { x, w, b } = tensorsOf(c, 300 + i);
    const node = makeNode('Conv', c.bias ? 3 : 2, attrsOf(c));
    const inputs = [{ tensor: x }, { tensor: w }, ...(b ? [{ tensor: b }] : [])];
    const [want] = runCpu(convOps.Conv, node, inputs);
    const [got] = await runGpu(convOps.Conv, node, inputs);
    expect(diff(got.data, want.data).relL2).toBeLessThan(TOL);

    const { p, shape } = paramsOf(c);
    const dy = randn(shape, rng(400 + i));
    const wantDx = convInputGradCpu(p, dy, w);
    const dyG = g.upload(dy.data, dy.shape), wG = g.upload(w.data, w.shape);
    const out = g.alloc(c.x);
    g.write(out, new Float32Array(numel(c.x)).fill(NaN));
    convInputGradGpu(g, p, dyG, wG, out);
    const gotDx = await g.read(out);
    [dyG, wG, out].forEach((t) => g.release(t));
    expect(diff(gotDx, wantDx).relL2).toBeLessThan(TOL);
    // The tiled variant serves every launch with ≥ 8 output channels per group: the forward here,
    // and the input gradient when the input side has that many — at stride 1 as one convolution,
    // strided as one GEMM per output phase, MAX_PHASES of them a dispatch.
    const tiled = dispatchesOf(g.stats.byKernel, before, 'conv.tiled.plain.');
    const strided = p.sh !== 1 || p.sw !== 1;
    const wideIn = p.c / p.group >= 8;
    expect(tiled).toBe(variant === 'shuffle' ? 0 : (p.k / p.group >= 8 ? 1 : 0) + (!strided && wideIn ? 1 : 0));
    const phased = dispatchesOf(g.stats.byKernel, before, 'conv.tiled.grad.');
    expect(phased).toBe(variant === 'tiled' && strided && wideIn ? Math.ceil(transposedPhases(p).length / MAX_PHASES) : 0);
    expect(dispatchesOf(g.stats.byKernel, before, 'conv.backward.back_grad.')).toBe(strided && (variant === 'shuffle' || !wideIn) ? 1 : 0);
  });
});

describe('conv, every tile of the tiled kernel', () => {
  const tiles: Tile[] = [];
  for (const bk of [8, 16]) for (const [bm, bn] of [[32, 32], [64, 32], [32, 64]]) tiles.push({ bm, bn, bk });
  const c: Case = { name: 'tile', x: [2, 19, 11, 9], k: 67, kernel: [3, 3], strides: [1, 2], pads: [1, 1, 1, 0], bias: true };
  it.each(tiles.map((t) => [`${t.bm}×${t.bn}, K-slices of ${t.bk}`, t] as const))('%s', async (_n, t) => {
    const { p } = paramsOf(c);
    const { x, w, b } = tensorsOf(c, 7);
    const want = convForwardCpu(p, x, w, b);
    const g = await gpu();
    const [xG, wG, bG] = [x, w, b!].map((v) => g.upload(v.data, v.shape));
    const out = g.alloc([p.n, p.k, p.oh, p.ow]);
    g.write(out, new Float32Array(numel(out.shape)).fill(NaN));
    tiledConv(g, {
      n: p.n, groups: 1, cin: p.c, kout: p.k, h: p.h, w: p.w, oh: p.oh, ow: p.ow,
      kh: p.kh, kw: p.kw, sh: p.sh, sw: p.sw, dh: p.dh, dw: p.dw, padT: p.padT, padL: p.padL,
    }, xG, wG, out, { transposed: false, wk: p.k, wc: p.c }, bG, t);
    const got = await g.read(out);
    [xG, wG, bG, out].forEach((v) => g.release(v));
    expect(diff(got, want).relL2).toBeLessThan(TOL);
  });
});

describe('strided input gradient on the tiled kernel, every tile', () => {
  const tiles: Tile[] = [];
  for (const bk of [8, 16]) for (const [bm, bn] of [[32, 32], [64, 32], [32, 64]]) tiles.push({ bm, bn, bk });
  const c: Case = { name: 'tile', x: [2, 19, 11, 9], k: 67, kernel: [3, 3], strides: [2, 3], pads: [1, 1, 1, 0] };
  it.each(tiles.map((t) => [`${t.bm}×${t.bn}, K-slices of ${t.bk}`, t] as const))('%s', async (_n, t) => {
    const { p, shape } = paramsOf(c);
    const { w } = tensorsOf(c, 8);
    const dy = randn(shape, rng(9));
    const want = convInputGradCpu(p, dy, w);
    const g = await gpu();
    const [dyG, wG] = [dy, w].map((v) => g.upload(v.data, v.shape));
    const out = g.alloc(c.x);
    g.write(out, new Float32Array(numel(c.x)).fill(NaN));
    tiledInputGrad(g, p, dyG, wG, out, t);
    const got = await g.read(out);
    [dyG, wG, out].forEach((v) => g.release(v));
    expect(diff(got, want).relL2).toBeLessThan(TOL);
  });
});

describe('AE end to end on a strided model, tiled kernels', () => {
  // The walker reaches the phased GEMMs: two strided layers (one dilated) under the default
  // layer, and the first convolution's zB rule; GPU = CPU (rel. L2 ≤ 1e-4, as the architecture
  // tests compare whole explanations) on a shared forward pass.
  it('GPU = CPU, and the strided transposed passes ran on the tiled kernel', async () => {
    kernelChoiceOverride.force = 'tiled';
    const b = new OnnxBuilder({ seed: 9 });
    let x = b.input('input', [2, 3, 19, 17]);
    x = b.relu(b.conv(x, 12, 3, { pad: 1 }));
    x = b.relu(b.conv(x, 16, 3, { stride: 2, pad: 1 }));
    x = b.relu(b.conv(x, 20, 3, { stride: 2, pad: 2, dilation: 2 }));
    b.output(b.gemm(b.flatten(b.globalAvgPool(x)), 7));
    const bytes = b.toBytes();
    const gpuEx = await Explainer.create(bytes, { backend: 'webgpu' });
    const cpuEx = await Explainer.create(bytes, { backend: 'cpu' });
    const input = randn([2, 3, 19, 17], rng(21));
    const g = gpuEx.session.gpu!;
    const before = new Map(g.stats.byKernel);
    const o = { method: 'ae' as const, target: { top: 2 } };
    const forward = await gpuEx.forwardValues(input, o);
    const got = await gpuEx.explain(input, o);
    const want = await cpuEx.explain(input, { ...o, forward });
    expect(want.heatmaps.data.some((v) => v !== 0) && got.heatmaps.data.every(Number.isFinite)).toBe(true);
    expect(diff(got.heatmaps.data, want.heatmaps.data).relL2).toBeLessThanOrEqual(1e-4);
    expect(dispatchesOf(g.stats.byKernel, before, 'conv.tiled.back_ae.')).toBeGreaterThanOrEqual(2);
    expect(dispatchesOf(g.stats.byKernel, before, 'conv.tiled.fwd_zb.')).toBe(1);
    expect(dispatchesOf(g.stats.byKernel, before, 'conv.backward.back_ae.')).toBe(0);
    gpuEx.dispose();
    cpuEx.dispose();
  });
});

describe('transposed phases (transposed.ts)', () => {
  // Brute force: every (input pixel, tap) pair whose output pixel exists, per axis, against what
  // the phases enumerate (destination index, the tap recovered from the flipped-kernel index, the
  // source index): each pair exactly once, and every destination index in exactly one phase.
  it('enumerate every (input, tap, output) triple exactly once, on 600 random axes', () => {
    const r = rng(5);
    const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
    for (let trial = 0; trial < 600; trial++) {
      const s = int(1, 5), d = int(1, 4), k = int(1, 7), pad = int(0, 4), size = int(1, 20);
      const out = Math.floor((size + pad + int(0, 3) - d * (k - 1) - 1) / s) + 1;
      if (out < 1) continue;
      const want: string[] = [];
      for (let i = 0; i < size; i++) for (let t = 0; t < k; t++) {
        const o = (i + pad - t * d) / s;
        if (Number.isInteger(o) && o >= 0 && o < out) want.push(`${i},${t},${o}`);
      }
      const got: string[] = [];
      const covered = new Array(size).fill(0);
      const p = { n: 1, c: 1, h: size, w: 1, k: 1, oh: out, ow: 1, kh: k, kw: 1, sh: s, sw: 1, dh: d, dw: 1, padT: pad, padL: 0, padB: 0, padR: 0, group: 1, hasBias: false, is1d: false };
      for (const { y } of transposedPhases(p)) {
        for (let j = 0; j < y.count; j++) {
          const i = y.first + j * s;
          covered[i]++;
          for (let m = 0; m < y.taps; m++) {
            // As the skeleton reads it: source j − pad + m·dil, flipped tap t0 + m·tstep.
            const o = j - y.pad + m * y.dil;
            const t = k - 1 - (y.t0 + m * y.tstep);
            if (o >= 0 && o < out) got.push(`${i},${t},${o}`);
          }
        }
      }
      expect(covered.every((c) => c === 1)).toBe(true);
      expect(got.sort()).toEqual(want.sort());
    }
  });
});

describe.each(VARIANTS)('Gemm/MatMul, %s kernels, GPU vs CPU', (variant) => {
  const cases: [string, 'Gemm' | 'MatMul', Record<string, number>, number[][]][] = [
    ['Gemm transB, bias [N], odd sizes', 'Gemm', { transB: 1 }, [[37, 45], [29, 45], [29]]],
    ['Gemm nn, alpha/beta, C [M,N]', 'Gemm', { alpha: 0.5, beta: 2 }, [[70, 20], [20, 67], [70, 67]]],
    ['Gemm transA, K odd, C column', 'Gemm', { transA: 1 }, [[13, 9], [13, 11], [9, 1]]],
    ['Gemm M=1 (GEMV: direct in both)', 'Gemm', { transB: 1 }, [[1, 40], [21, 40], [21]]],
    ['MatMul batched broadcast', 'MatMul', {}, [[2, 1, 9, 19], [3, 19, 10]]],
  ];
  it.each(cases)('%s', async (_n, opType, attrs, shapes) => {
    kernelChoiceOverride.force = variant;
    const r = rng(shapes.flat().reduce((a, b) => a + b, 0));
    const { ops: denseOps } = await import('../src/ops/dense/forward.js');
    const inputs = shapes.map((s) => ({ tensor: randn(s, r) }));
    const node = makeNode(opType, shapes.length, attrs);
    const g = await gpu();
    const before = new Map(g.stats.byKernel);
    const [want] = runCpu(denseOps[opType], node, inputs);
    const [got] = await runGpu(denseOps[opType], node, inputs);
    expect(diff(got.data, want.data).relL2).toBeLessThan(TOL);
    const tiled = dispatchesOf(g.stats.byKernel, before, 'dense.matmul.tiled');
    expect(tiled > 0).toBe(variant === 'tiled' && want.shape[want.shape.length - 2] >= 8);
  });

  it('binding-split path (slices, K chunks accumulating)', async () => {
    kernelChoiceOverride.force = variant;
    const { ops: denseOps, matmulTuning } = await import('../src/ops/dense/forward.js');
    const r = rng(11);
    const inputs = [[9, 120], [120, 40], [40]].map((s) => ({ tensor: randn(s, r) }));
    const node = makeNode('Gemm', 3, { alpha: 0.75, beta: 0.5 });
    matmulTuning.maxBindingBytes = 2048;
    try {
      const [want] = runCpu(denseOps.Gemm, node, inputs);
      const [got] = await runGpu(denseOps.Gemm, node, inputs);
      expect(diff(got.data, want.data).relL2).toBeLessThan(TOL);
    } finally {
      delete matmulTuning.maxBindingBytes;
    }
  });
});
