// The options of Explainer.explain, and their validation into the pipeline's method and AE settings.
import type { CpuTensor } from '../ops/op.js';
import { DEFAULT_AE, type AeOptions, type ResidualMode } from '../ops/rule.js';
import type { Method } from './pipeline.js';
import type { Target } from './targets.js';
import { OptionError } from '../errors.js';

export interface ExplainOptions {
  method?: Method;
  target?: Target;
  ratio?: number;
  layer?: string;
  terms?: Partial<Pick<AeOptions, 'contrib' | 'shift' | 'activated' | 'inactivated'>>;
  residual?: ResidualMode;
  /** Diagnostics: also return every intermediate signal of both walks (used by `aeq verify`). */
  trace?: boolean;
  /**
   * Diagnostics (CPU backend): use these forward values — from another backend's
   * `forwardValues()` — instead of running the forward pass, so that two backends' backward passes
   * can be compared on identical activations (the rules' exact-zero and arg-max decisions are
   * discontinuous in the activations; last-bit forward differences can flip them).
   */
  forward?: Record<string, CpuTensor>;
}

/** AE is defined for ratio ≥ 1; the upper bound keeps ratio·P (Σ P = 1) far from float32's range. */
export const RATIO_MIN = 1;
export const RATIO_MAX = 1000;

export function resolveOptions(o: ExplainOptions): { method: Method; opts: AeOptions } {
  const method = o.method ?? 'ae';
  if (method !== 'ae' && method !== 'gradcam') throw new OptionError(`unknown method '${method}' (use ae or gradcam)`);
  const ratio = o.ratio ?? DEFAULT_AE.ratio;
  if (typeof ratio !== 'number' || !Number.isFinite(ratio)) throw new OptionError(`ratio must be a finite number, got '${ratio}'`);
  if (!(ratio >= RATIO_MIN && ratio <= RATIO_MAX)) {
    throw new OptionError(`ratio must be a number from ${RATIO_MIN} to ${RATIO_MAX} (AE's degree of evidence; the paper uses 1–2), got '${ratio}'`);
  }
  const residual = o.residual ?? DEFAULT_AE.residual;
  if (residual !== 'main' && residual !== 'proportional') throw new OptionError(`residual must be 'main' or 'proportional', got '${residual}'`);
  return { method, opts: { ...DEFAULT_AE, ...o.terms, ratio, residual } };
}
