// The gradient family's host-side stages (baselines.md, "Gradient family"; reference Captum):
// the batch of inputs whose gradients a method averages — Integrated Gradients' path points,
// SmoothGrad's noisy copies. Their gradients come from batched walks to the model input
// (pipeline.ts) and are reduced on the backend (combined.ts, batch.ts).
import type { CpuTensor } from '../ops/op.js';
import { numel } from '../graph/tensor.js';
import { mulberry32 } from '../rng.js';
import { OptionError } from '../errors.js';

/**
 * Standard normal draws, deterministic in `seed`: mulberry32 uniforms u1, u2 → Box–Muller
 * r = √(−2 ln(1 − u1)), z = r·cos(2π u2), then r·sin(2π u2) (float64). tools/make_baseline_refs.py
 * re-implements it bit for bit.
 */
export function gaussians(seed: number, count: number): Float64Array {
  const r = mulberry32(seed);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = 1 - r(), u2 = r();
    const rad = Math.sqrt(-2 * Math.log(u1));
    out[i] = rad * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[i + 1] = rad * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** The baseline x₀ for every input: zero, or a C×H×W / 1×C×H×W tensor shared by all, or one per input (N×C×H×W). */
export function baselineFor(x: CpuTensor, baseline: 'zero' | CpuTensor | undefined): Float32Array {
  const out = new Float32Array(x.data.length);
  if (baseline === undefined || baseline === 'zero') return out;
  const per = numel(x.shape) / x.shape[0];
  const b = baseline.data;
  const fits = b.length === per || b.length === x.data.length;
  const same = baseline.shape.slice(-3).join() === x.shape.slice(1).join();
  if (!fits || !same) throw new OptionError(`the baseline's shape [${baseline.shape.join('×')}] fits neither one input [${x.shape.slice(1).join('×')}] nor the batch [${x.shape.join('×')}]`);
  if (!b.every(Number.isFinite)) throw new OptionError('the baseline holds non-finite values');
  for (let i = 0; i < out.length; i++) out[i] = b.length === per ? b[i % per] : b[i];
  return out;
}

/** Integrated Gradients' path points: sample n·M + (k − 1) = x₀ + (k/M)·(x − x₀), k = 1 … M (right Riemann sum). */
export function pathPoints(x: CpuTensor, x0: Float32Array, m: number): CpuTensor {
  const n = x.shape[0];
  const per = numel(x.shape) / n;
  const out = new Float32Array(n * m * per);
  for (let s = 0; s < n; s++) {
    for (let k = 1; k <= m; k++) {
      const a = k / m, o = (s * m + k - 1) * per;
      for (let i = 0; i < per; i++) {
        const j = s * per + i;
        out[o + i] = x0[j] + a * (x.data[j] - x0[j]);
      }
    }
  }
  return { shape: [n * m, ...x.shape.slice(1)], data: out };
}

/** SmoothGrad's default noise level: 0.15·(max x − min x) of one input. */
export function defaultSigma(x: Float32Array): number {
  let lo = Infinity, hi = -Infinity;
  for (const v of x) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return 0.15 * (hi - lo);
}

/**
 * SmoothGrad's noisy copies: sample n·S + s = x_n + ε, ε = σ_n·z_s (rounded to float32), the
 * z = z_0 … z_{S−1} drawn by `gaussians(seed, S·C·H·W)` in that order, the same for every input:
 * an input's explanation depends on the seed, S and its shape only, never on which other inputs
 * share its batch (aeq explain --batch). σ_n = `sigma`, or defaultSigma(x_n).
 */
export function noisyCopies(x: CpuTensor, samples: number, sigma: number | undefined, seed: number): CpuTensor {
  const n = x.shape[0];
  const per = numel(x.shape) / n;
  const z = gaussians(seed, samples * per);
  const out = new Float32Array(n * samples * per);
  for (let s = 0; s < n; s++) {
    const xs = x.data.subarray(s * per, (s + 1) * per);
    const sd = sigma ?? defaultSigma(xs);
    for (let k = 0; k < samples; k++) {
      const o = (s * samples + k) * per;
      for (let i = 0; i < per; i++) out[o + i] = xs[i] + Math.fround(sd * z[k * per + i]);
    }
  }
  return { shape: [n * samples, ...x.shape.slice(1)], data: out };
}
