// GPU vs CPU for the CAM family's kernels (src/ops/shared/cam.ts) on odd shapes (batch > 1, sizes
// not multiples of the workgroup), and the CPU twins against values worked out by hand.
import { describe, it, expect } from 'vitest';
import { cpuCam, gpuCam, type FullGradTerm } from '../src/ops/shared/cam.js';
import { getGpu, type GpuTensor } from '../src/kernels/gpu/runtime.js';
import { rng, randn, diff } from './helpers/ops.js';
import type { CpuTensor } from '../src/ops/op.js';

const up = async (t: CpuTensor): Promise<GpuTensor> => (await getGpu()).upload(t.data, t.shape);
const down = async (t: GpuTensor) => (await getGpu()).read(t);
const relu = (t: CpuTensor): CpuTensor => ({ shape: t.shape, data: t.data.map((v) => Math.max(v, 0)) });

describe('CAM kernels, GPU vs CPU', () => {
  const r = rng(23);
  // 3 samples × 5 channels × 7×9: a ReLU'd activation and a gradient with exact zeros.
  const a = relu(randn([3, 5, 7, 9], r));
  const g = randn([3, 5, 7, 9], r);
  for (let i = 0; i < g.data.length; i += 7) g.data[i] = 0;

  it("Grad-CAM++ weights and LayerCAM's map", async () => {
    const gg = await getGpu();
    const w = cpuCam.gradcamPlusPlusWeights(a, g);
    expect(w.shape).toEqual([3, 5]);
    expect(diff(await down(gpuCam.gradcamPlusPlusWeights(gg, await up(a), await up(g))), w.data).relL2).toBeLessThan(1e-5);
    const m = cpuCam.layerCam(a, g);
    expect(m.shape).toEqual([3, 1, 7, 9]);
    expect(diff(await down(gpuCam.layerCam(gg, await up(a), await up(g))), m.data).relL2).toBeLessThan(1e-6);
  });

  it('Grad-CAM++ weights by hand: one channel of two pixels', () => {
    // A = [1, 3] (Σ = 4), g = [2, −1]: a = 4/(8 + 4·8 + 1e-6), relu(g)·a = 2·4/40; the −1 pixel adds 0.
    const w = cpuCam.gradcamPlusPlusWeights({ shape: [1, 1, 1, 2], data: Float32Array.from([1, 3]) }, { shape: [1, 1, 1, 2], data: Float32Array.from([2, -1]) });
    expect(w.data[0]).toBeCloseTo(8 / (40 + 1e-6), 6);
    // g = 0 everywhere: weight 0, not 0/0.
    expect(cpuCam.gradcamPlusPlusWeights({ shape: [1, 1, 1, 2], data: Float32Array.from([1, 3]) }, { shape: [1, 1, 1, 2], data: new Float32Array(2) }).data[0]).toBe(0);
  });

  it('Score-CAM: align_corners = true min/max and the masked inputs, with padding by the last mask', async () => {
    const gg = await getGpu();
    const x = randn([3, 2, 19, 23], r);
    for (const [oh, ow] of [[19, 23], [1, 5]]) {
      const xs = oh === 19 ? x : randn([3, 2, oh, ow], r);
      const mm = cpuCam.upsampledMinMax(a, oh, ow);
      const gmm = gpuCam.upsampledMinMax(gg, await up(a), oh, ow);
      expect(diff(await down(gmm), mm.data).relL2).toBeLessThan(1e-6);
      for (const range of [{ img: 1, k0: 0, m: 5, klast: 4 }, { img: 2, k0: 3, m: 4, klast: 4 }]) {
        const want = cpuCam.maskedInputs(a, xs, mm, range);
        expect(want.shape).toEqual([range.m, 2, oh, ow]);
        const got = await down(gpuCam.maskedInputs(gg, await up(a), await up(xs), gmm, range));
        expect(diff(got, want.data).relL2).toBeLessThan(1e-5);
      }
    }
  });

  it('Score-CAM masks by hand: a 2×2 plane upsampled to 3×3 with aligned corners, min-max normalised', () => {
    const a1 = { shape: [1, 1, 2, 2], data: Float32Array.from([0, 2, 4, 6]) };
    // torch: nn.UpsamplingBilinear2d(size=3)(a1) = [[0, 1, 2], [2, 3, 4], [4, 5, 6]].
    const mm = cpuCam.upsampledMinMax(a1, 3, 3);
    expect(Array.from(mm.data)).toEqual([0, 6]);
    const ones = { shape: [1, 1, 3, 3], data: new Float32Array(9).fill(1) };
    const masked = cpuCam.maskedInputs(a1, ones, mm, { img: 0, k0: 0, m: 1, klast: 0 });
    [0, 1, 2, 2, 3, 4, 4, 5, 6].forEach((u, i) => expect(masked.data[i]).toBeCloseTo(u / (6 + 1e-8), 6));
  });

  it('FullGrad: normalised channel sums of each term, and the plain per-sample normalisation', async () => {
    const gg = await getGpu();
    const x = randn([3, 5, 7, 9], r);
    const b = randn([5], r);
    const cases: [FullGradTerm, CpuTensor | undefined][] = [['input', x], ['bias', b], ['plain', undefined]];
    for (const [kind, v] of cases) {
      const want = cpuCam.normalisedSum(kind, g, v);
      expect(want.shape).toEqual([3, 1, 7, 9]);
      const got = await down(gpuCam.normalisedSum(gg, kind, await up(g), v && await up(v)));
      expect(diff(got, want.data).relL2, kind).toBeLessThan(1e-5);
    }
    // By hand: one plane [−1, 0, 3] (plain): (v + 1)/(1e-7 + 4); |b·g| with b = −2, g = [1, 0, −2] → [2, 0, 4] → /4.
    const plain = cpuCam.normalisedSum('plain', { shape: [1, 1, 1, 3], data: Float32Array.from([-1, 0, 3]) });
    [0, 1 / 4, 1].forEach((want, i) => expect(plain.data[i]).toBeCloseTo(want, 6));
    const bias = cpuCam.normalisedSum('bias', { shape: [1, 1, 1, 3], data: Float32Array.from([1, 0, -2]) }, { shape: [1], data: Float32Array.from([-2]) });
    [0.5, 0, 1].forEach((want, i) => expect(bias.data[i]).toBeCloseTo(want, 6));
    // An all-zero plane contributes 0 (0/1e-7), not NaN.
    expect(Array.from(cpuCam.normalisedSum('plain', { shape: [1, 1, 1, 2], data: new Float32Array(2) }).data)).toEqual([0, 0]);
  });
});
