// The one table of element-wise activations. An entry is everything about one activation: its
// forward as a WGSL expression and a CPU twin, its traits, and (where it has one) its gradient as
// a WGSL expression and a CPU twin. The forward operators (forward.ts), the kernels (generated
// from the expressions) and the backward rules (rules.ts) are all built from it; AE passes the
// relevance of every activation with `ae: 'alias'` through unchanged (spec §2.1).
import type { Traits } from '../op.js';
import { uniforms } from '../../kernels/gpu/wgsl.js';

/** The parameters both kernels read: `u.alpha` (LeakyRelu slope), `u.lo`/`u.hi` (Clip bounds). */
export const U = uniforms({ total: 'u32', alpha: 'f32', lo: 'f32', hi: 'f32' });

export interface ActParams {
  alpha: number;
  lo: number;
  hi: number;
}

export interface Activation {
  /** WGSL expression of `v` for `fn op(v: f32) -> f32`; `u.alpha`, `lo()`, `hi()` are the parameters. */
  wgsl: string;
  /** The CPU reference (float64, rounded to float32 on store). */
  cpu: (v: number, p: ActParams) => number;
  traits?: Traits;
  /** Gradient dy · f′: `of` names the forward value it reads as `v` (the input x, or the output y). */
  grad?: {
    of: 'x' | 'y';
    /** WGSL expression of `dy` and `v`; `u.alpha`, `u.lo`, `u.hi` are the parameters. */
    wgsl: string;
    cpu: (dy: number, v: number, p: ActParams) => number;
  };
  /** The AE rule: the relevance itself, seen at the input (no data moves). */
  ae?: 'alias';
  /**
   * Takes bounds lo/hi as Clip does: attributes min/max before opset 11, optional inputs 1 and 2
   * from 11 (constant ones travel in the uniforms, runtime ones are read on the device by `lo()`,
   * `hi()`); absent means unbounded.
   */
  bounds?: boolean;
}

export const ACTIVATIONS: Record<string, Activation> = {
  Relu: {
    wgsl: 'max(v, 0.0)', cpu: (v) => Math.max(v, 0), traits: { activation: true, blockOutput: true },
    grad: { of: 'x', wgsl: 'select(0.0, dy, v > 0.0)', cpu: (dy, v) => (v > 0 ? dy : 0) },
    ae: 'alias',
  },
  LeakyRelu: {
    wgsl: 'select(u.alpha * v, v, v >= 0.0)', cpu: (v, p) => (v >= 0 ? v : Math.fround(p.alpha) * v), traits: { activation: true },
    grad: { of: 'x', wgsl: 'select(dy * u.alpha, dy, v > 0.0)', cpu: (dy, v, p) => (v > 0 ? dy : dy * p.alpha) },
    ae: 'alias',
  },
  // exp(-v) overflowing to +inf still gives the right limit 0. The gradient reads y: f′ = y (1 − y).
  Sigmoid: {
    wgsl: '1.0 / (1.0 + exp(-v))', cpu: (v) => 1 / (1 + Math.exp(-v)), traits: { activation: true, scoreHead: true },
    grad: { of: 'y', wgsl: 'dy * v * (1.0 - v)', cpu: (dy, v) => dy * v * (1 - v) },
  },
  // tanh(±10) is ±1 in float32; clamping keeps exp-based implementations away from inf/inf.
  Tanh: { wgsl: 'tanh(clamp(v, -10.0, 10.0))', cpu: (v) => Math.tanh(v), traits: { activation: true } },
  Exp: { wgsl: 'exp(v)', cpu: (v) => Math.exp(v) },
  Abs: { wgsl: 'abs(v)', cpu: (v) => Math.abs(v) },
  Neg: { wgsl: '-v', cpu: (v) => -v },
  Sqrt: { wgsl: 'sqrt(v)', cpu: (v) => Math.sqrt(v) },
  Clip: {
    bounds: true,
    wgsl: 'min(max(v, lo()), hi())',
    cpu: (v, p) => Math.min(Math.max(v, Math.fround(p.lo)), Math.fround(p.hi)),
    traits: { activation: true, blockOutput: true },
    grad: { of: 'x', wgsl: 'select(0.0, dy, v > u.lo && v < u.hi)', cpu: (dy, v, p) => (v > p.lo && v < p.hi ? dy : 0) },
    ae: 'alias',
  },
};
