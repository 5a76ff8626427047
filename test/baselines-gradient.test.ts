// The gradient family against Captum (tools/make_baseline_refs.py, Captum v0.6.0, commit
// b398d52e20291dc940f60240a1ded549b32c9807): every method on a VGG-style and a ResNet-style net
// (BN folded), 2 inputs × targets [1, 4], on both backends, relative L2 ≤ 1e-3. Then the methods'
// own properties: IG completeness within the Riemann sum's error bound and converging with more
// steps, SmoothGrad's noise (aeq's generator against the script's re-implementation, determinism
// per seed and independent of batch companions), guided backpropagation on a hand-checked net, IG's path
// points split into passes (GPU binding limit), groups (memory budget) and single inputs (a fixed
// batch of 1), and the CLI's options and output tags.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { aeq, errorLines } from './helpers/cli.js';
import { Explainer, type ExplainOptions } from '../src/explain/explainer.js';
import { defaultSigma, gaussians, pathPoints } from '../src/explain/gradients.js';
import { readNpy } from '../src/io/npy.js';
import type { CpuTensor } from '../src/ops/op.js';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import { DIR, TARGETS, manifest, npy, explainerCache } from './helpers/baselines.js';
import { methodTag } from '../src/cli/output.js';
import { parseMethod } from '../src/eval/methods.js';
import { diff } from './helpers/ops.js';

const TOL = 1e-3;
const x = npy('x.npy');

/** The reference file of each method and the options that reproduce it. */
const CASES: [string, ExplainOptions][] = [
  ['gradient', { method: 'gradient' }],
  ['input-x-gradient', { method: 'input-x-gradient' }],
  ['ig', { method: 'ig' }],
  ['ig-s8-baseline', { method: 'ig', steps: 8, baseline: npy('baseline.npy') }],
  ['smoothgrad', { method: 'smoothgrad', seed: manifest.noise_seed }],
  ['smoothgrad-sq', { method: 'smoothgrad', seed: manifest.noise_seed, magnitude: true }],
  ['guided-bp', { method: 'guided-bp' }],
];

const explainer = explainerCache();

describe('gradient family = Captum', () => {
  for (const model of ['vgg', 'resnet']) {
    for (const backend of ['cpu', 'webgpu'] as const) {
      it.each(CASES)(`${model} · ${backend} · %s`, async (file, o) => {
        const e = await explainer(model, backend);
        const r = await e.explain(x, { ...o, target: TARGETS });
        const ref = npy(`${model}.${file}.npy`);
        expect(r.method).toBe(o.method);
        expect(r.targets).toEqual([TARGETS, TARGETS]);
        expect(r.attribution!.shape).toEqual(ref.shape);
        expect(diff(r.attribution!.data, ref.data).relL2).toBeLessThanOrEqual(TOL);
        // The heatmap is the attribution's channel sum.
        const [b, c, h, w] = ref.shape;
        expect(r.heatmaps.shape).toEqual([b, h, w]);
        const sum = new Float32Array(b * h * w);
        for (let s = 0; s < b; s++) for (let k = 0; k < c; k++) for (let p = 0; p < h * w; p++) sum[s * h * w + p] += r.attribution!.data[(s * c + k) * h * w + p];
        expect(diff(r.heatmaps.data, sum).relL2).toBeLessThan(1e-6);
      });
    }
  }
});

describe('SmoothGrad noise', () => {
  it("aeq's generator draws the noise the reference script drew (mulberry32 + Box–Muller re-implemented in Python)", () => {
    const n = x.shape[0], s = manifest.samples, per = x.data.length / n;
    const z = gaussians(manifest.noise_seed, s * per);
    const eps = new Float32Array(n * s * per);
    for (let i = 0; i < n; i++) {
      const sd = defaultSigma(x.data.subarray(i * per, (i + 1) * per));
      for (let j = 0; j < s * per; j++) eps[i * s * per + j] = Math.fround(sd * z[j]);
    }
    // The first values of each input's noise, N × P.
    const prefix = npy('smoothgrad-noise.npy');
    const p = prefix.shape[1];
    expect(prefix.shape).toEqual([n, p]);
    // Float32 values of float64 draws: equal, or one float32 step apart where a libm rounds differently.
    prefix.data.forEach((v, i) => {
      const mine = eps[Math.floor(i / p) * s * per + (i % p)];
      expect(Math.abs(mine - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -23);
    });
    let sum = 0, sq = 0;
    for (const v of eps) { sum += v; sq += v * v; }
    expect(Math.abs(sum - manifest.noise_sum)).toBeLessThan(1e-6 * Math.sqrt(manifest.noise_sumsq));
    expect(Math.abs(sq - manifest.noise_sumsq)).toBeLessThan(1e-6 * manifest.noise_sumsq);
  });

  for (const backend of ['cpu', 'webgpu'] as const) {
    it(`${backend}: the same seed gives identical bytes, another seed another result`, async () => {
      const e = await explainer('vgg', backend);
      const o: ExplainOptions = { method: 'smoothgrad', samples: 4, target: TARGETS };
      const a = await e.explain(x, { ...o, seed: 3 });
      const b = await e.explain(x, { ...o, seed: 3 });
      const c = await e.explain(x, { ...o, seed: 4 });
      expect(Buffer.from(b.attribution!.data.buffer).equals(Buffer.from(a.attribution!.data.buffer))).toBe(true);
      expect(Buffer.from(b.heatmaps.data.buffer).equals(Buffer.from(a.heatmaps.data.buffer))).toBe(true);
      expect(diff(c.attribution!.data, a.attribution!.data).relL2).toBeGreaterThan(0.05);
    });

    it(`${backend}: an input's SmoothGrad does not depend on the other inputs of its batch`, async () => {
      const e = await explainer('resnet', backend);
      const o: ExplainOptions = { method: 'smoothgrad', samples: 3, seed: 11, target: TARGETS };
      const both = await e.explain(x, o);
      const per = x.data.length / 2;
      const second = await e.explain({ shape: [1, ...x.shape.slice(1)], data: x.data.slice(per) }, o);
      const rows = second.attribution!.data.length;
      expect(diff(second.attribution!.data, both.attribution!.data.subarray(rows)).relL2).toBeLessThan(1e-6);
    });
  }
});

describe('Integrated Gradients', () => {
  /**
   * Completeness: Σ attribution = (1/M) Σ_k f(k/M) with f(α) = ∇y_c(x₀ + α(x − x₀))·(x − x₀), a
   * right Riemann sum of ∫₀¹ f = y_c(x) − y_c(x₀). For f of bounded variation V its error is at
   * most V/M (each of the M sub-intervals errs by at most f's oscillation there, times 1/M). V is
   * measured as the discrete total variation of f over a fine grid (K = 128 points: the gradients of
   * the path points, in one batch), plus a float32 allowance of 1e-4 of the terms' scale. On the
   * WebGPU backend (its agreement with the CPU is tested above), which runs these 1000-sample
   * batches several times faster than the CPU reference. The grid also holds every M's path points,
   * so the attribution's sum must equal their right Riemann sum (not the left one) to float error.
   */
  for (const model of ['vgg', 'resnet']) {
    it(`${model}: Σ attribution ≈ y_c(x) − y_c(0) within V/M, converging as M grows`, async () => {
      const e = await explainer(model, 'webgpu');
      const n = x.shape[0], per = x.data.length / n, t = TARGETS.length;
      const y = (await e.logits(x)).data;
      const y0 = (await e.logits({ shape: x.shape, data: new Float32Array(x.data.length) })).data;
      const classes = y.length / n;
      const K = 128;
      const fine = await e.explain(pathPoints(x, new Float32Array(x.data.length), K), { method: 'gradient', target: { perInput: Array.from({ length: n * K }, () => TARGETS) } });
      for (let s = 0; s < n; s++) {
        for (let j = 0; j < t; j++) {
          const c = TARGETS[j];
          const delta = y[s * classes + c] - y0[s * classes + c];
          const f = Array.from({ length: K }, (_, k) => {
            let v = 0;
            const g = fine.attribution!.data.subarray(((s * K + k) * t + j) * per, ((s * K + k) * t + j + 1) * per);
            for (let i = 0; i < per; i++) v += g[i] * x.data[s * per + i];
            return v;
          });
          let tv = 0;
          for (let k = 1; k < K; k++) tv += Math.abs(f[k] - f[k - 1]);
          const scale = Math.max(...f.map(Math.abs), Math.abs(delta));
          const errs: number[] = [];
          for (const m of [16, 128]) {
            const r = await e.explain(x, { method: 'ig', steps: m, target: TARGETS });
            let total = 0;
            const a = r.attribution!.data.subarray((s * t + j) * per, (s * t + j + 1) * per);
            for (const v of a) total += v;
            const err = Math.abs(total - delta);
            expect(err, `input ${s}, class ${c}, M = ${m}: Σ ${total} vs Δ ${delta}, V ≈ ${tv}`).toBeLessThanOrEqual(tv / m + 1e-4 * scale);
            errs.push(err);
            // The grid holds M's path points (k/M = (K/M)·k/K): the sum is exactly their right Riemann sum.
            let riemann = 0;
            for (let k = 1; k <= m; k++) riemann += f[(K / m) * k - 1] / m;
            expect(Math.abs(total - riemann), `M = ${m}: Σ ${total} vs the grid's right Riemann sum ${riemann}`).toBeLessThanOrEqual(1e-5 * scale);
          }
          expect(errs[1]).toBeLessThanOrEqual(errs[0] + 1e-4 * scale);
        }
      }
    });
  }

  it('webgpu: the mean over the M path points runs on the GPU; only the attribution rows come back', async () => {
    const e = await explainer('resnet', 'webgpu');
    const g = e.session.gpu!;
    const m = 16, [n, c, h, w] = x.shape, t = TARGETS.length;
    const before = g.stats.bytesRead;
    const r = await e.explain(x, { method: 'ig', steps: m, target: TARGETS });
    const read = g.stats.bytesRead - before;
    const classes = r.logits.shape[1];
    // The attribution and heatmap rows, the pass's logits (N·M samples) and the input's logits.
    const rows = 4 * (n * t * (c * h * w + h * w)), logits = 4 * (n * m + n) * classes;
    expect(read).toBeLessThanOrEqual(rows + logits);
    expect(read).toBeLessThan(4 * n * m * t * c * h * w / 4);
  });

  it("webgpu: input × gradient is the gradient's one pass plus its product and channel sum (no forward of its own)", async () => {
    const e = await explainer('resnet', 'webgpu');
    const g = e.session.gpu!;
    const count = async (o: ExplainOptions) => {
      await e.explain(x, o);
      const d0 = g.stats.dispatches;
      const r = await e.explain(x, o);
      return { d: g.stats.dispatches - d0, r };
    };
    const grad = await count({ method: 'gradient', target: TARGETS });
    const ixg = await count({ method: 'input-x-gradient', target: TARGETS });
    expect(ixg.d).toBeLessThanOrEqual(grad.d + 2);
    expect(ixg.r.targets).toEqual(grad.r.targets);
    expect(Array.from(ixg.r.logits.data)).toEqual(Array.from(grad.r.logits.data));
  });

  it('webgpu: the M path points of a batch too large for one pass are split into passes, same result', async () => {
    const e = await explainer('resnet', 'webgpu');
    const o: ExplainOptions = { method: 'ig', steps: 5, target: TARGETS };
    const whole = await e.explain(x, o);
    e.bindingBudget = 1;
    try {
      const split = await e.explain(x, o);
      expect(split.targets).toEqual(whole.targets);
      expect(diff(split.attribution!.data, whole.attribution!.data).relL2).toBeLessThan(1e-6);
    } finally {
      e.bindingBudget = undefined;
    }
  });
});

/** x (1×1×1×3, a fixed batch of 1) → ReLU → Flatten → Gemm(W, b = 0), W = [[2, −3, 5], [−1, 4, 1]]. */
function tinyNet(): Uint8Array {
  const bld = new OnnxBuilder({ opset: 13 });
  const inp = bld.input('x', [1, 1, 1, 3]);
  const h = bld.flatten(bld.relu(inp));
  const w = bld.initializer('W', [2, 3], [2, -3, 5, -1, 4, 1]);
  const b = bld.initializer('b', [2], [0, 0]);
  bld.output(bld.node('Gemm', [h, w, b], { transB: 1 }, [[1, 2]])[0]);
  return bld.toBytes();
}
const tinyInput: CpuTensor = { shape: [1, 1, 1, 3], data: Float32Array.from([1, 2, -1]) };

describe('a model with a fixed batch of 1', () => {
  it("IG's 16 path points run one at a time: x ⊙ W_c·[x > 0] exactly (ReLU then linear: a constant gradient along the path)", async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const e = await Explainer.create(tinyNet(), { backend });
      try {
        const r = await e.explain(tinyInput, { method: 'ig', target: [0, 1] });
        expect(Array.from(r.attribution!.data, (v) => v + 0)).toEqual([2, -6, 0, -1, 8, 0]); // (x₃ = −1)·0 is −0
        const sg = await e.explain(tinyInput, { method: 'smoothgrad', samples: 5, target: [0, 1] });
        expect(sg.attribution!.shape).toEqual([2, 1, 1, 3]);
      } finally {
        e.dispose();
      }
    }
  });
});

describe('memory budget', () => {
  it("IG's path points that do not fit the budget run in groups that do, with the same result (CPU)", async () => {
    const e = await Explainer.create(join(DIR, 'vgg.onnx'), { backend: 'cpu' });
    try {
      const o: ExplainOptions = { method: 'ig', steps: 6, target: TARGETS };
      const whole = await e.explain(x, o);
      const shape = [x.shape[0] * 6, ...x.shape.slice(1)];
      expect(e.gradientGroup(shape, 2)).toBe(shape[0]);
      // The first power-of-two budget that holds a group of more than one input but not all 12.
      let limit = 2 ** 16;
      for (e.session.maxMemory = limit; e.gradientGroup(shape, 2) <= 1; e.session.maxMemory = limit *= 2);
      const group = e.gradientGroup(shape, 2);
      expect(group).toBeGreaterThan(1);
      expect(group).toBeLessThan(shape[0]);
      const split = await e.explain(x, o);
      // Split groups average K/kk partial means on the host: the same up to float32 rounding.
      expect(diff(split.attribution!.data, whole.attribution!.data).relL2).toBeLessThan(1e-6);
    } finally {
      e.dispose();
    }
  });
});

describe('guided backpropagation', () => {
  it('a hand-checked net: ReLU passes max(g, 0)·[x > 0], the gradient passes g·[x > 0]', async () => {
    const input = tinyInput;
    for (const backend of ['cpu', 'webgpu'] as const) {
      const e = await Explainer.create(tinyNet(), { backend });
      try {
        const grad = await e.explain(input, { method: 'gradient', target: [0, 1] });
        const guided = await e.explain(input, { method: 'guided-bp', target: [0, 1] });
        // Class 0: ∂y/∂h = [2, −3, 5], x₃ < 0 → [2, −3, 0]; guided → [2, 0, 0]. Class 1: [−1, 4, 1] → [−1, 4, 0]; guided [0, 4, 0].
        expect(Array.from(grad.attribution!.data)).toEqual([2, -3, 0, -1, 4, 0]);
        expect(Array.from(guided.attribution!.data)).toEqual([2, 0, 0, 0, 4, 0]);
      } finally {
        e.dispose();
      }
    }
  });
});

describe('spellings', () => {
  it('output tags: short, one per setting that changes the result', () => {
    expect(methodTag({ method: 'gradient' })).toBe('gradient');
    expect(methodTag({ method: 'input-x-gradient' })).toBe('input-x-gradient');
    expect(methodTag({ method: 'guided-bp' })).toBe('guided-bp');
    expect(methodTag({ method: 'ig' })).toBe('ig-s16');
    expect(methodTag({ method: 'ig', steps: 32, baseline: x })).toBe('ig-s32-baseline');
    expect(methodTag({ method: 'smoothgrad' })).toBe('smoothgrad-n16');
    expect(methodTag({ method: 'smoothgrad', samples: 8, magnitude: true, noise: 0.1, seed: 7 })).toBe('smoothgrad-n8-sq-sigma0.1-seed7');
  });

  it('aeq eval --methods parses the gradient family', () => {
    expect(parseMethod('gradient').options).toEqual({ method: 'gradient' });
    expect(parseMethod('guided-bp').options).toEqual({ method: 'guided-bp' });
    expect(parseMethod('input-x-gradient').options).toEqual({ method: 'input-x-gradient' });
    expect(parseMethod('ig').options).toEqual({ method: 'ig', steps: 16 });
    expect(parseMethod('ig:32').options).toEqual({ method: 'ig', steps: 32 });
    expect(parseMethod('smoothgrad:8:sq:seed=3:noise=0.2').options).toEqual({ method: 'smoothgrad', samples: 8, magnitude: true, seed: 3, noise: 0.2 });
    expect(() => parseMethod('ig:x')).toThrow(/not a positive integer/);
    expect(() => parseMethod('gradient:2')).toThrow(/takes no parameters/);
    expect(() => parseMethod('smoothgrad:sq:bogus')).toThrow(/none of/);
  });
});

describe('aeq explain', () => {
  it('--method ig / smoothgrad / guided-bp write their tagged files; options of another method are refused', () => {
    const out = mkdtempSync(join(tmpdir(), 'aeq-grad-'));
    try {
      const base = ['explain', join(DIR, 'vgg.onnx'), join(DIR, 'x.npy'), '--target', '4', '--backend', 'cpu', '--save-npy', '--out', out];
      for (const extra of [['--method', 'ig', '--steps', '4', '--baseline', join(DIR, 'baseline.npy')], ['--method', 'smoothgrad', '--samples', '2', '--seed', '9', '--magnitude'], ['--method', 'guided-bp']]) {
        const r = aeq([...base, ...extra]);
        expect(r.code, r.stderr).toBe(0);
      }
      expect(readdirSync(out).filter((f) => f.startsWith('x-0__')).sort()).toEqual([
        'x-0__c4__guided-bp.attribution.npy', 'x-0__c4__guided-bp.heatmap.npy', 'x-0__c4__guided-bp.png',
        'x-0__c4__ig-s4-baseline.attribution.npy', 'x-0__c4__ig-s4-baseline.heatmap.npy', 'x-0__c4__ig-s4-baseline.png',
        'x-0__c4__smoothgrad-n2-sq-seed9.attribution.npy', 'x-0__c4__smoothgrad-n2-sq-seed9.heatmap.npy', 'x-0__c4__smoothgrad-n2-sq-seed9.png',
      ]);
      const ref = npy('vgg.ig-s8-baseline.npy');
      expect(readNpy(join(out, 'x-0__c4__guided-bp.attribution.npy')).shape).toEqual(ref.shape.slice(1));
      for (const [extra, why] of [[['--method', 'smoothgrad', '--steps', '4'], /--steps applies to ig only/], [['--method', 'ig', '--layer', 'x'], /--layer applies to ae, the CAM methods/], [['--method', 'lime'], /--method must be one of ae, gradcam, gradient, /]] as const) {
        const r = aeq([...base, ...extra]);
        expect(r.code).not.toBe(0);
        expect(errorLines(r).join('\n')).toMatch(why);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
