// `aeq bench --json` (issue 9's fields, for every method spelling aeq eval accepts) and `aeq verify
// --method` (any method compared GPU vs CPU), through the CLI in-process.
import { describe, it, expect } from 'vitest';
import { aeqInProcess } from './helpers/cli.js';
import { shared } from './helpers/shared.js';

const resnet20 = () => shared('models/resnet20_cifar10.onnx');

describe('aeq bench --json', () => {
  it('prints one JSON object per (backend, method, batch) with the documented fields', async () => {
    const r = await aeqInProcess(['bench', resnet20(), '--method', 'forward,ae,gradcam,ig:2', '--reps', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((o) => `${o.tag}/${o.batch}`)).toEqual(['forward/1', 'ae-r2/1', 'gradcam/1', 'ig-s2/1']);
    for (const o of rows) {
      expect(o.backend).toBe('webgpu');
      for (const k of ['ms_per_image', 'images_per_s', 'gflop_per_image', 'tflops', 'dispatches_per_image', 'host_us_per_dispatch', 'submit_us_per_dispatch']) {
        expect(Number.isFinite(o[k]) && o[k] > 0, `${o.tag} ${k} = ${o[k]}`).toBe(true);
      }
      expect(o.tflops).toBeCloseTo(o.gflop_per_image / o.ms_per_image, 12);
      expect(Object.values(o.dispatches_by_kernel as Record<string, number>).reduce((a, b) => a + b, 0)).toBeCloseTo(o.dispatches_per_image, 9);
    }
    const at = (tag: string) => rows.find((o) => o.tag === tag && o.batch === 1)!;
    // ResNet-20 at 32²: Grad-CAM ≈ 1× the forward FLOPs (its layer is the last block's output: the
    // gradient walk crosses only the classifier), AE > 4× (its walk crosses every conv); IG with 2
    // path points = 1 forward + 2 × (forward + walk to the input) ≈ 5×.
    const f = at('forward').gflop_per_image;
    expect(at('gradcam').gflop_per_image / f).toBeGreaterThan(1);
    expect(at('gradcam').gflop_per_image / f).toBeLessThan(1.01);
    expect(at('ae-r2').gflop_per_image / f).toBeGreaterThan(4);
    expect(at('ig-s2').gflop_per_image / f).toBeCloseTo(5, 1);
  });

  it('refuses an unknown method before loading the model', async () => {
    const r = await aeqInProcess(['bench', 'no-such-model.onnx', '--method', 'lime']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^aeq: unknown method 'lime'/m);
  });
});

describe('aeq verify --method', () => {
  it('compares any method GPU vs CPU: traced signals, heatmap and input attribution', async () => {
    const r = await aeqInProcess(['verify', resnet20(), '--method', 'gradient,smoothgrad:2']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^gradient\/gradient +input/m);
    expect(r.stdout).toMatch(/^gradient +attribution +\[1×3×32×32\]/m);
    expect(r.stdout).toMatch(/^smoothgrad-n2 +heatmap +\[1×32×32\]/m);
    expect(r.stdout).not.toMatch(/^ae /m);
    expect(r.stdout).toMatch(/tensors within tolerance/);
  });
});
