// The one table of element-wise activations. An entry is everything about one activation: its
// forward as a WGSL expression and a CPU twin, its traits, and (where it has one) its gradient as
// a WGSL expression and a CPU twin. The forward operators (forward.ts), the kernels (generated
// from the expressions) and the backward rules (rules.ts) are all built from it; AE passes the
// relevance of every activation with `ae: 'alias'` through unchanged (spec §2.1, §2.11).
import type { Traits } from '../op.js';
import { attrFloat, attrString, type Node } from '../../graph/ir.js';
import { nodeError } from '../../errors.js';
import { uniforms } from '../../kernels/gpu/wgsl.js';

/**
 * The parameters both kernels read: `u.alpha`, `u.beta` (an entry's float attributes, see
 * `Activation.params`), `u.lo`/`u.hi` (Clip bounds).
 */
export const U = uniforms({ total: 'u32', alpha: 'f32', beta: 'f32', lo: 'f32', hi: 'f32' });

export interface ActParams {
  alpha: number;
  beta: number;
  lo: number;
  hi: number;
}

export interface Activation {
  /** WGSL expression of `v` for `fn op(v: f32) -> f32`; `u.alpha`, `u.beta`, `lo()`, `hi()` are the parameters, forward.wgsl's `math` section the helpers. */
  wgsl: string;
  /** The CPU reference (float64, rounded to float32 on store). */
  cpu: (v: number, p: ActParams) => number;
  traits?: Traits;
  /** The node's attributes as `alpha` and `beta` (absent: alpha 0.01, LeakyRelu's default, beta 0). */
  params?: (node: Node) => { alpha?: number; beta?: number };
  /** Gradient dy · f′: `of` names the forward value it reads as `v` (the input x, or the output y). */
  grad?: {
    of: 'x' | 'y';
    /** WGSL expression of `dy` and `v`; `u.alpha`, `u.beta`, `u.lo`, `u.hi` are the parameters. */
    wgsl: string;
    cpu: (dy: number, v: number, p: ActParams) => number;
  };
  /**
   * Guided backpropagation's rule (method 'guided'), where it differs from the gradient: the same
   * form as `grad` (ReLU: max(dy, 0)·[x > 0], Springenberg et al. / Captum GuidedBackprop).
   */
  guided?: NonNullable<Activation['grad']>;
  /** The AE rule: the relevance itself, seen at the input (no data moves). */
  ae?: 'alias';
  /**
   * Takes bounds lo/hi as Clip does: attributes min/max before opset 11, optional inputs 1 and 2
   * from 11 (constant ones travel in the uniforms, runtime ones are read on the device by `lo()`,
   * `hi()`); absent means unbounded.
   */
  bounds?: boolean;
}

/** alpha and beta of an activation node (its entry's `params`, else alpha = attribute 'alpha' or 0.01). */
export function actAttrs(a: Activation, node: Node): { alpha: number; beta: number } {
  const q = a.params ? a.params(node) : { alpha: attrFloat(node, 'alpha', 0.01) };
  return { alpha: q.alpha ?? 0.01, beta: q.beta ?? 0 };
}

// ---------------------------------------------------------------- float64 references

const SQRT1_2 = Math.SQRT1_2;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** erf(x) by its Taylor series (|x| < 2.5: terms fall below 1e-17 of the sum). */
function erfSeries(x: number): number {
  const s = x * x;
  let term = x, sum = x;
  for (let n = 1; n < 80; n++) {
    term *= -s / n;
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/** erfc(z) for z ≥ 2.5 by its continued fraction (Laplace), evaluated bottom-up. */
function erfcFraction(z: number): number {
  let f = z;
  for (let k = 120; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / (Math.sqrt(Math.PI) * f);
}

/** erfc(z) to about 1e-15 relative on both tails. */
export function erfc64(z: number): number {
  if (Math.abs(z) < 2.5) return 1 - erfSeries(z);
  return z > 0 ? erfcFraction(z) : 2 - erfcFraction(-z);
}

export function erf64(x: number): number {
  if (Math.abs(x) < 2.5) return erfSeries(x);
  return x > 0 ? 1 - erfcFraction(x) : erfcFraction(-x) - 1;
}

/** The standard normal CDF Φ(x) = erfc(−x/√2)/2 (accurate on the negative tail). */
const phi64 = (x: number) => 0.5 * erfc64(-x * SQRT1_2);
const SQRT_2_PI = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

const expm1 = Math.expm1;
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const f32 = Math.fround;
const SELU_ALPHA = 1.67326319217681884765625;
const SELU_GAMMA = 1.05070102214813232421875;

export const ACTIVATIONS: Record<string, Activation> = {
  Relu: {
    wgsl: 'max(v, 0.0)', cpu: (v) => Math.max(v, 0), traits: { activation: true, blockOutput: true },
    grad: { of: 'x', wgsl: 'select(0.0, dy, v > 0.0)', cpu: (dy, v) => (v > 0 ? dy : 0) },
    guided: { of: 'x', wgsl: 'select(0.0, max(dy, 0.0), v > 0.0)', cpu: (dy, v) => (v > 0 ? Math.max(dy, 0) : 0) },
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
    ae: 'alias',
  },
  // tanh(±10) is ±1 in float32; clamping keeps exp-based implementations away from inf/inf.
  Tanh: {
    wgsl: 'tanh(clamp(v, -10.0, 10.0))', cpu: (v) => Math.tanh(v), traits: { activation: true },
    grad: { of: 'y', wgsl: 'dy * (1.0 - v * v)', cpu: (dy, v) => dy * (1 - v * v) },
    ae: 'alias',
  },
  // Not activations (no trait, no AE rule: they appear inside exported normalisers, whose
  // statistics receive no relevance, spec §2.11), but with their gradients.
  Exp: { wgsl: 'exp(v)', cpu: (v) => Math.exp(v), grad: { of: 'y', wgsl: 'dy * v', cpu: (dy, v) => dy * v } },
  Abs: { wgsl: 'abs(v)', cpu: (v) => Math.abs(v), grad: { of: 'x', wgsl: 'dy * sign(v)', cpu: (dy, v) => dy * Math.sign(v) } },
  Neg: { wgsl: '-v', cpu: (v) => -v, grad: { of: 'x', wgsl: '-dy', cpu: (dy) => -dy } },
  Sqrt: { wgsl: 'sqrt(v)', cpu: (v) => Math.sqrt(v), grad: { of: 'y', wgsl: 'dy * 0.5 / v', cpu: (dy, v) => (dy * 0.5) / v } },
  Reciprocal: { wgsl: '1.0 / v', cpu: (v) => 1 / v, grad: { of: 'y', wgsl: '-dy * v * v', cpu: (dy, v) => -dy * v * v } },
  // max(0, min(1, αx + β)); HardSwish is x · HardSigmoid(x) with α = 1/6, β = 1/2.
  HardSigmoid: {
    params: (n) => ({ alpha: attrFloat(n, 'alpha', 0.2), beta: attrFloat(n, 'beta', 0.5) }),
    wgsl: 'clamp(u.alpha * v + u.beta, 0.0, 1.0)',
    cpu: (v, p) => Math.min(1, Math.max(0, f32(p.alpha) * v + f32(p.beta))),
    traits: { activation: true },
    grad: {
      of: 'x', wgsl: 'select(0.0, dy * u.alpha, u.alpha * v + u.beta > 0.0 && u.alpha * v + u.beta < 1.0)',
      cpu: (dy, v, p) => {
        const t = f32(p.alpha) * v + f32(p.beta);
        return t > 0 && t < 1 ? dy * f32(p.alpha) : 0;
      },
    },
    ae: 'alias',
  },
  HardSwish: {
    wgsl: 'v * clamp(v / 6.0 + 0.5, 0.0, 1.0)', cpu: (v) => v * Math.min(1, Math.max(0, v / 6 + 0.5)), traits: { activation: true },
    grad: {
      of: 'x', wgsl: 'select(select(dy * (v / 3.0 + 0.5), dy, v >= 3.0), 0.0, v <= -3.0)',
      cpu: (dy, v) => (v <= -3 ? 0 : v >= 3 ? dy : dy * (v / 3 + 0.5)),
    },
    ae: 'alias',
  },
  Erf: {
    wgsl: 'erf_f(v)', cpu: erf64, traits: { activation: true },
    grad: { of: 'x', wgsl: 'dy * 1.1283791670955126 * exp(-v * v)', cpu: (dy, v) => dy * TWO_OVER_SQRT_PI * Math.exp(-v * v) },
    ae: 'alias',
  },
  // Opset 20: approximate 'none' (x Φ(x)) or 'tanh' (x/2 (1 + tanh(√(2/π)(x + 0.044715 x³))),
  // computed as x σ(2z), which has no cancellation on the negative side); alpha = 1 for 'tanh'.
  Gelu: {
    params: (n) => {
      const a = attrString(n, 'approximate', 'none');
      if (a !== 'none' && a !== 'tanh') throw nodeError(n.opType, n.name, `approximate must be 'none' or 'tanh', got '${a}'`);
      return { alpha: a === 'tanh' ? 1 : 0 };
    },
    wgsl: 'gelu(v, u.alpha != 0.0)',
    cpu: (v, p) => (p.alpha ? 0.5 * v * (1 + Math.tanh(SQRT_2_PI * (v + GELU_C * v ** 3))) : v * phi64(v)),
    traits: { activation: true },
    grad: {
      of: 'x', wgsl: 'dy * gelu_grad(v, u.alpha != 0.0)',
      cpu: (dy, v, p) => {
        if (!p.alpha) return dy * (phi64(v) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI));
        const s = sigmoid(2 * SQRT_2_PI * (v + GELU_C * v ** 3));
        return dy * (s + 2 * v * s * (1 - s) * SQRT_2_PI * (1 + 3 * GELU_C * v * v));
      },
    },
    ae: 'alias',
  },
  // exp(x) − 1 without cancellation near 0 (expm1_f) on both sides.
  Elu: {
    params: (n) => ({ alpha: attrFloat(n, 'alpha', 1) }),
    wgsl: 'select(u.alpha * expm1_f(v), v, v > 0.0)', cpu: (v, p) => (v > 0 ? v : f32(p.alpha) * expm1(v)), traits: { activation: true },
    grad: { of: 'x', wgsl: 'select(dy * u.alpha * exp(min(v, 0.0)), dy, v > 0.0)', cpu: (dy, v, p) => (v > 0 ? dy : dy * f32(p.alpha) * Math.exp(v)) },
    ae: 'alias',
  },
  // Celu (opset 12): α·(exp(x/α) − 1) below 0, continuously differentiable for every α.
  Celu: {
    params: (n) => ({ alpha: attrFloat(n, 'alpha', 1) }),
    wgsl: 'select(u.alpha * expm1_f(v / u.alpha), v, v > 0.0)', cpu: (v, p) => (v > 0 ? v : f32(p.alpha) * expm1(v / f32(p.alpha))), traits: { activation: true },
    grad: { of: 'x', wgsl: 'select(dy * exp(min(v, 0.0) / u.alpha), dy, v > 0.0)', cpu: (dy, v, p) => (v > 0 ? dy : dy * Math.exp(v / f32(p.alpha))) },
    ae: 'alias',
  },
  Selu: {
    params: (n) => ({ alpha: attrFloat(n, 'alpha', SELU_ALPHA), beta: attrFloat(n, 'gamma', SELU_GAMMA) }),
    wgsl: 'u.beta * select(u.alpha * expm1_f(v), v, v > 0.0)',
    cpu: (v, p) => f32(p.beta) * (v > 0 ? v : f32(p.alpha) * expm1(v)),
    traits: { activation: true },
    grad: {
      of: 'x', wgsl: 'dy * u.beta * select(u.alpha * exp(min(v, 0.0)), 1.0, v > 0.0)',
      cpu: (dy, v, p) => dy * f32(p.beta) * (v > 0 ? 1 : f32(p.alpha) * Math.exp(v)),
    },
    ae: 'alias',
  },
  // log(1 + eˣ) = max(x, 0) + log1p(e^−|x|): no overflow, no loss on the negative tail.
  Softplus: {
    wgsl: 'max(v, 0.0) + log1p_f(exp(-abs(v)))', cpu: (v) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))), traits: { activation: true },
    grad: { of: 'x', wgsl: 'dy / (1.0 + exp(-v))', cpu: (dy, v) => dy * sigmoid(v) },
    ae: 'alias',
  },
  // x tanh(softplus(x)), with tanh(softplus(x)) = n / (n + 2), n = eˣ(eˣ + 2) (mish_t).
  Mish: {
    wgsl: 'v * mish_t(v)', cpu: (v) => v * Math.tanh(Math.log1p(Math.exp(v))), traits: { activation: true },
    grad: {
      of: 'x', wgsl: 'dy * mish_grad(v)',
      cpu: (dy, v) => {
        const t = Math.tanh(Math.log1p(Math.exp(v)));
        return dy * (t + v * (1 - t * t) * sigmoid(v));
      },
    },
    ae: 'alias',
  },
  Softsign: {
    wgsl: 'v / (1.0 + abs(v))', cpu: (v) => v / (1 + Math.abs(v)), traits: { activation: true },
    grad: { of: 'x', wgsl: 'dy / ((1.0 + abs(v)) * (1.0 + abs(v)))', cpu: (dy, v) => dy / (1 + Math.abs(v)) ** 2 },
    ae: 'alias',
  },
  Clip: {
    bounds: true,
    wgsl: 'min(max(v, lo()), hi())',
    cpu: (v, p) => Math.min(Math.max(v, Math.fround(p.lo)), Math.fround(p.hi)),
    traits: { activation: true, blockOutput: true },
    grad: { of: 'x', wgsl: 'select(0.0, dy, v > u.lo && v < u.hi)', cpu: (dy, v, p) => (v > p.lo && v < p.hi ? dy : 0) },
    ae: 'alias',
  },
};
