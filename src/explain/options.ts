// The options of Explainer.explain, and their validation into the pipeline's method and AE settings.
import type { CpuTensor } from '../ops/op.js';
import { DEFAULT_AE, type AeOptions, type LrpOptions, type ResidualMode } from '../ops/rule.js';
import { COMPOSITES, DEFAULT_COMPOSITE, type Composite } from '../ops/shared/composites.js';
import { GRADIENT_METHODS, type Method } from './pipeline.js';
import { CAM_METHODS, SCORE_MODES, type ScoreMode } from './cam.js';
import type { Target } from './targets.js';
import { OptionError } from '../errors.js';

export interface ExplainOptions {
  method?: Method;
  target?: Target;
  ratio?: number;
  /** The layer AE and Grad-CAM start from (default: spec §1.3); the gradient family explains the model input. */
  layer?: string;
  terms?: Partial<Pick<AeOptions, 'contrib' | 'shift' | 'activated' | 'inactivated'>>;
  residual?: ResidualMode;
  /** Integrated Gradients: path points M of the right Riemann sum (default 16). */
  steps?: number;
  /** Integrated Gradients: the baseline x₀, zero (default) or a C×H×W / N×C×H×W tensor. */
  baseline?: 'zero' | CpuTensor;
  /** SmoothGrad: noisy copies per input (default 16). */
  samples?: number;
  /** SmoothGrad: the noise's standard deviation σ (default 0.15·(max x − min x) per input). */
  noise?: number;
  /** SmoothGrad: the noise's seed (default 0); the same seed gives the same noise on every backend. */
  seed?: number;
  /** SmoothGrad: the mean of squared gradients (Captum's smoothgrad_sq) instead of the mean. */
  magnitude?: boolean;
  /**
   * Score-CAM's channel score: 'logit' (default, pytorch-grad-cam: softmax over channels of the
   * target's logit) or 'softmax-gain' (the paper's rise of the class probability over the zero image).
   */
  score?: ScoreMode;
  /** Diagnostics: also return every intermediate signal of both walks (used by `aeq verify`). */
  trace?: boolean;
  /**
   * Diagnostics (CPU backend): use these forward values — from another backend's
   * `forwardValues()` — instead of running the forward pass, so that two backends' backward passes
   * can be compared on identical activations (the rules' exact-zero and arg-max decisions are
   * discontinuous in the activations; last-bit forward differences can flip them).
   */
  forward?: Record<string, CpuTensor>;
  /** LRP: the Zennit composite (default epsilon-plus). */
  composite?: Composite;
  /** LRP, epsilon-gamma-box: ZBox's bounds, both or neither (default: each input's own min and max over C, H, W). */
  low?: number;
  high?: number;
  /** Contrastive excitation backprop: the contrast layer K (default: the input of the last Conv or Gemm, through views: the ReLU feeding the last Gemm on VGG, the global pool on ResNets). */
  contrastLayer?: string;
}

/** AE is defined for ratio ≥ 1; the upper bound keeps ratio·P (Σ P = 1) far from float32's range. */
export const RATIO_MIN = 1;
export const RATIO_MAX = 1000;

/** The gradient family's settings, defaults filled in. */
export interface GradientSettings {
  steps: number;
  baseline: 'zero' | CpuTensor;
  samples: number;
  noise?: number;
  seed: number;
  magnitude: boolean;
}

export const DEFAULT_STEPS = 16;
export const DEFAULT_SAMPLES = 16;
/** Path points / noisy copies per input: each is one backward sample per target. */
export const MAX_STEPS = 4096;

export const METHODS: readonly Method[] = ['ae', 'gradcam', ...GRADIENT_METHODS, ...CAM_METHODS, 'lrp', 'eb', 'ceb'];

function count(v: unknown, name: string, dflt: number): number {
  const x = v ?? dflt;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > MAX_STEPS) throw new OptionError(`${name} must be an integer from 1 to ${MAX_STEPS}, got '${v}'`);
  return x;
}

export function gradientSettings(o: ExplainOptions): GradientSettings {
  const noise = o.noise;
  if (noise !== undefined && (typeof noise !== 'number' || !Number.isFinite(noise) || noise < 0)) throw new OptionError(`noise must be a finite number ≥ 0, got '${noise}'`);
  const seed = o.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new OptionError(`seed must be an integer from 0 to ${0xffffffff}, got '${seed}'`);
  const baseline = o.baseline ?? 'zero';
  if (baseline !== 'zero' && !(typeof baseline === 'object' && baseline.data instanceof Float32Array)) throw new OptionError(`baseline must be 'zero' or a tensor`);
  return { steps: count(o.steps, 'steps', DEFAULT_STEPS), baseline, samples: count(o.samples, 'samples', DEFAULT_SAMPLES), noise, seed, magnitude: !!o.magnitude };
}

export function resolveOptions(o: ExplainOptions): { method: Method; opts: AeOptions; score: ScoreMode } {
  const method = o.method ?? 'ae';
  if (!METHODS.includes(method)) throw new OptionError(`unknown method '${method}' (use ${METHODS.join(', ')})`);
  const score = o.score ?? 'logit';
  if (!SCORE_MODES.includes(score)) throw new OptionError(`score must be ${SCORE_MODES.map((s) => `'${s}'`).join(' or ')}, got '${score}'`);
  if (o.score !== undefined && method !== 'scorecam') throw new OptionError(`score applies to scorecam only, not method '${method}'`);
  const ratio = o.ratio ?? DEFAULT_AE.ratio;
  if (typeof ratio !== 'number' || !Number.isFinite(ratio)) throw new OptionError(`ratio must be a finite number, got '${ratio}'`);
  if (!(ratio >= RATIO_MIN && ratio <= RATIO_MAX)) {
    throw new OptionError(`ratio must be a number from ${RATIO_MIN} to ${RATIO_MAX} (AE's degree of evidence; the paper uses 1–2), got '${ratio}'`);
  }
  const residual = o.residual ?? DEFAULT_AE.residual;
  if (residual !== 'main' && residual !== 'proportional') throw new OptionError(`residual must be 'main' or 'proportional', got '${residual}'`);
  return { method, opts: { ...DEFAULT_AE, ...o.terms, ratio, residual }, score };
}

/** LRP's settings, defaults filled in; refused for other methods (they would be ignored). */
export function lrpSettings(o: ExplainOptions, method: Method): { composite: Composite; lrp: LrpOptions } {
  if (method !== 'lrp') {
    for (const k of ['composite', 'low', 'high'] as const) if (o[k] !== undefined) throw new OptionError(`${k} applies to method lrp only, not ${method}`);
  }
  const composite = o.composite ?? DEFAULT_COMPOSITE;
  if (!COMPOSITES.includes(composite)) throw new OptionError(`unknown composite '${composite}' (use ${COMPOSITES.join(', ')})`);
  const { low, high } = o;
  if ((low === undefined) !== (high === undefined)) throw new OptionError('low and high (the ZBox bounds) must be given together');
  for (const [k, v] of [['low', low], ['high', high]] as const) {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) throw new OptionError(`${k} must be a finite number, got '${v}'`);
  }
  if (low !== undefined && !(low < high!)) throw new OptionError(`low (${low}) must be below high (${high})`);
  if (low !== undefined && composite !== 'epsilon-gamma-box') throw new OptionError(`low and high are the ZBox bounds of composite epsilon-gamma-box, not ${composite}`);
  return { composite, lrp: low === undefined ? {} : { low, high } };
}
