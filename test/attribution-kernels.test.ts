// GPU vs CPU for the small kernels of the backward walks and attribution stage one.
import { describe, it, expect } from 'vitest';
import { cpuAttr, gpuAttr } from '../src/ops/shared/attribution.js';
import { getGpu, type GpuTensor } from '../src/kernels/gpu/runtime.js';
import { rng, randn, diff } from './helpers/ops.js';
import type { CpuTensor } from '../src/ops/op.js';

const up = async (t: CpuTensor): Promise<GpuTensor> => (await getGpu()).upload(t.data, t.shape);
const down = async (t: GpuTensor) => (await getGpu()).read(t);

describe('attribution helper kernels, GPU vs CPU (relative L2 ≤ 1e-6)', () => {
  const r = rng(11);
  const x = randn([3, 5, 7, 9], r);
  const alpha = randn([3, 5], r);

  it('expand, accumulate, one-hot', async () => {
    const g = await getGpu();
    expect(diff(await down(gpuAttr.expand(g, await up(x), 3)), cpuAttr.expand(x, 3).data).maxAbs).toBe(0);
    const a = randn([3, 5, 7, 9], r);
    const ga = await up(a);
    gpuAttr.accumulate(g, ga, await up(x));
    expect(diff(await down(ga), cpuAttr.accumulate({ shape: a.shape, data: a.data.slice() }, x).data).relL2).toBeLessThan(1e-6);
    expect(Array.from(await down(gpuAttr.oneHot(g, [2, 0, 4], 5)))).toEqual(Array.from(cpuAttr.oneHot([2, 0, 4], 5).data));
  });

  it('channel mean, scale, cam, channel sum', async () => {
    const g = await getGpu();
    expect(diff(await down(gpuAttr.channelMean(g, await up(x))), cpuAttr.channelMean(x).data).relL2).toBeLessThan(1e-6);
    expect(diff(await down(gpuAttr.scaleChannels(g, await up(x), await up(alpha))), cpuAttr.scaleChannels(x, alpha).data).relL2).toBeLessThan(1e-6);
    expect(diff(await down(gpuAttr.cam(g, await up(x), await up(alpha))), cpuAttr.cam(x, alpha).data).relL2).toBeLessThan(1e-6);
    expect(diff(await down(gpuAttr.channelSum(g, await up(x))), cpuAttr.channelSum(x).data).relL2).toBeLessThan(1e-6);
  });

  it('per-sample sums in every mode and normalisation, with an all-zero sample', async () => {
    const g = await getGpu();
    const y = randn([4, 3, 50, 30], r);
    y.data.fill(0, 2 * 4500, 3 * 4500);
    for (const mode of ['sum', 'pos', 'neg', 'nonzero'] as const) {
      const want = cpuAttr.sampleSum(y, mode);
      const got = await down(gpuAttr.sampleSum(g, await up(y), mode));
      expect(diff(got, want).relL2).toBeLessThan(1e-5);
    }
    // Both signed sums in one dispatch: the same bits as the two single-mode sums.
    const gy = await up(y);
    const pn = gpuAttr.samplePosNeg(g, gy);
    const both = await down(pn.sums);
    const neg = (pn.neg.offset ?? 0) / 4;
    expect(Array.from(both.subarray(0, 4))).toEqual(Array.from(await down(gpuAttr.sampleSum(g, gy, 'pos'))));
    expect(Array.from(both.subarray(neg, neg + 4))).toEqual(Array.from(await down(gpuAttr.sampleSum(g, gy, 'neg'))));
    expect(cpuAttr.sampleSum(y, 'nonzero')[2]).toBe(0);
    const sums = cpuAttr.sampleSum(y);
    const norm = cpuAttr.divAbsSample(y, sums);
    const gsums = gpuAttr.sampleSum(g, await up(y));
    const gn = await down(gpuAttr.divAbsSample(g, await up(y), gsums));
    expect(diff(gn, norm.data).relL2).toBeLessThan(1e-5);
    expect(gn.every(Number.isFinite)).toBe(true);
    expect(Math.abs(cpuAttr.sampleSum(norm)[0])).toBeCloseTo(1, 5);
  });

  it("the gradient family's sample mean (plain, squared, times a factor) on odd sizes", async () => {
    const g = await getGpu();
    // R = 2 rows of k = 3 samples × T = 2 targets, 3×7×5 per sample (105, not a multiple of the workgroup).
    const grads = randn([12, 3, 7, 5], r);
    const factor = randn([2, 3, 7, 5], r);
    for (const square of [false, true]) {
      for (const f of [undefined, factor]) {
        const want = cpuAttr.sampleMean(grads, 3, 2, square, f);
        expect(want.shape).toEqual([4, 3, 7, 5]);
        const got = await down(gpuAttr.sampleMean(g, await up(grads), 3, 2, square, f && await up(f)));
        expect(diff(got, want.data).relL2).toBeLessThan(1e-6);
      }
    }
    // Row (r = 1, j = 0), element 4: the mean of samples 3, 4, 5 at target 0, times the factor.
    const at = (s: number, j: number) => grads.data[(s * 2 + j) * 105 + 4];
    const m = (at(3, 0) + at(4, 0) + at(5, 0)) / 3;
    expect(cpuAttr.sampleMean(grads, 3, 2, false, factor).data[2 * 105 + 4]).toBeCloseTo(m * factor.data[105 + 4], 6);
  });

  it('bilinear resize matches align_corners=false, up and down', async () => {
    const g = await getGpu();
    const small = { shape: [1, 1, 2, 2], data: Float32Array.from([0, 1, 2, 3]) };
    const big = cpuAttr.resizeBilinear(small, 4, 4);
    // torch.nn.functional.interpolate(t, size=4, mode='bilinear', align_corners=False)
    expect(Array.from(big.data)).toEqual([0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3]);
    for (const [oh, ow] of [[224, 224], [5, 3], [13, 29]]) {
      expect(diff(await down(gpuAttr.resizeBilinear(g, await up(x), oh, ow)), cpuAttr.resizeBilinear(x, oh, ow).data).relL2).toBeLessThan(1e-6);
    }
  });
});
