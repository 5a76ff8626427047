// Attribution methods as evaluated: a label for the table and the explain options that produce it.
// Spec strings: `gradcam`, `ae` (ratio 2), `ae:1.5`, `ae:2:no-shift:no-contrib` (Table II switches);
// the gradient family: `gradient`, `input-x-gradient`, `guided-bp`, `ig` / `ig:STEPS` (zero
// baseline), `smoothgrad` / `smoothgrad:SAMPLES` with optional parts `sq` (magnitude),
// `seed=N`, `noise=σ`; the CAM family: `gradcam++`, `layercam`, `fullgrad`, `scorecam` /
// `scorecam:softmax-gain`; LRP: `lrp` (epsilon-plus) / `lrp:COMPOSITE`, for epsilon-gamma-box optionally
// `low=X:high=Y`; excitation backprop: `eb`, `ceb` (default layers).
import type { ExplainOptions } from '../explain/explainer.js';
import { COMPOSITES, type Composite } from '../ops/shared/composites.js';
import { OptionError } from '../errors.js';

export interface MethodSpec {
  label: string;
  options: ExplainOptions;
}

const SWITCHES = { 'no-contrib': 'contrib', 'no-shift': 'shift', 'no-activated': 'activated', 'no-inactivated': 'inactivated' } as const;

const PLAIN: Record<string, MethodSpec> = {
  gradcam: { label: 'Grad-CAM', options: { method: 'gradcam' } },
  gradient: { label: 'Gradient', options: { method: 'gradient' } },
  'input-x-gradient': { label: 'Input×Gradient', options: { method: 'input-x-gradient' } },
  'guided-bp': { label: 'Guided BP', options: { method: 'guided-bp' } },
  'gradcam++': { label: 'Grad-CAM++', options: { method: 'gradcam++' } },
  layercam: { label: 'LayerCAM', options: { method: 'layercam' } },
  fullgrad: { label: 'FullGrad', options: { method: 'fullgrad' } },
  eb: { label: 'EB', options: { method: 'eb' } },
  ceb: { label: 'cEB', options: { method: 'ceb' } },
};

const int = (spec: string, p: string): number => {
  if (!/^\d+$/.test(p)) throw new OptionError(`method '${spec}': '${p}' is not a positive integer`);
  return Number(p);
};

function smoothgrad(spec: string, rest: string[]): MethodSpec {
  const options: ExplainOptions = { method: 'smoothgrad' };
  for (const p of rest) {
    if (p === 'sq') options.magnitude = true;
    else if (p.startsWith('seed=')) options.seed = int(spec, p.slice(5));
    else if (p.startsWith('noise=') && Number.isFinite(Number(p.slice(6))) && p.length > 6) options.noise = Number(p.slice(6));
    else if (options.samples === undefined && /^\d+$/.test(p)) options.samples = int(spec, p);
    else throw new OptionError(`method '${spec}': '${p}' is none of SAMPLES, sq, seed=N, noise=σ`);
  }
  const n = options.samples ?? 16;
  return { label: `SmoothGrad${options.magnitude ? '²' : ''} n=${n}${options.seed !== undefined ? ` seed ${options.seed}` : ''}${options.noise !== undefined ? ` σ=${options.noise}` : ''}`, options };
}

const num = (spec: string, p: string, key: string): number => {
  const v = p.slice(key.length + 1);
  if (!v.length || !Number.isFinite(Number(v))) throw new OptionError(`method '${spec}': '${p}' needs a number`);
  return Number(v);
};

function lrp(spec: string, rest: string[]): MethodSpec {
  const options: ExplainOptions = { method: 'lrp' };
  for (const p of rest) {
    if (p.startsWith('low=')) options.low = num(spec, p, 'low');
    else if (p.startsWith('high=')) options.high = num(spec, p, 'high');
    else if (options.composite === undefined && (COMPOSITES as readonly string[]).includes(p)) options.composite = p as Composite;
    else throw new OptionError(`method '${spec}': '${p}' is none of the composites (${COMPOSITES.join(', ')}), low=X, high=Y`);
  }
  const c = options.composite ?? 'epsilon-plus';
  return { label: `LRP ${c}${options.low !== undefined || options.high !== undefined ? ` [${options.low}, ${options.high}]` : ''}`, options };
}

export function parseMethod(spec: string): MethodSpec {
  const [name, ...rest] = spec.trim().split(':');
  if (Object.prototype.hasOwnProperty.call(PLAIN, name)) {
    if (rest.length) throw new OptionError(`method '${spec}': ${name} takes no parameters`);
    return PLAIN[name];
  }
  if (name === 'ig') {
    if (rest.length > 1) throw new OptionError(`method '${spec}': ig takes one parameter, the steps`);
    const steps = rest.length ? int(spec, rest[0]) : 16;
    return { label: `IG ${steps} steps`, options: { method: 'ig', steps } };
  }
  if (name === 'smoothgrad') return smoothgrad(spec, rest);
  if (name === 'scorecam') {
    if (rest.length > 1 || (rest.length === 1 && rest[0] !== 'softmax-gain' && rest[0] !== 'logit')) throw new OptionError(`method '${spec}': scorecam takes one optional parameter, logit or softmax-gain`);
    return rest[0] === 'softmax-gain'
      ? { label: 'Score-CAM (softmax gain)', options: { method: 'scorecam', score: 'softmax-gain' } }
      : { label: 'Score-CAM', options: { method: 'scorecam' } };
  }
  if (name === 'lrp') return lrp(spec, rest);
  if (name !== 'ae') throw new OptionError(`unknown method '${spec}' (use ae, ae:RATIO[:no-contrib|no-shift|no-activated|no-inactivated…], gradcam, gradient, input-x-gradient, guided-bp, ig[:STEPS], smoothgrad[:SAMPLES][:sq][:seed=N][:noise=σ], gradcam++, layercam, fullgrad, scorecam[:softmax-gain], lrp[:COMPOSITE][:low=X:high=Y], eb or ceb)`);
  let ratio: number | undefined;
  const terms: NonNullable<ExplainOptions['terms']> = {};
  for (const p of rest) {
    if (p in SWITCHES) terms[SWITCHES[p as keyof typeof SWITCHES]] = false;
    else if (/^-?\d+(\.\d+)?$/.test(p)) {
      if (ratio !== undefined) throw new OptionError(`method '${spec}': two ratios (${ratio} and ${p})`);
      ratio = Number(p);
    }
    else throw new OptionError(`method '${spec}': '${p}' is neither a ratio nor one of ${Object.keys(SWITCHES).join(', ')}`);
  }
  ratio ??= 2;
  const off = Object.keys(terms);
  return { label: `AE r=${ratio}${off.length ? ` −${off.map((k) => k[0].toUpperCase() + k.slice(1)).join(' −')}` : ''}`, options: { method: 'ae', ratio, terms } };
}

/** Every method aeq implements, at its defaults: what `--methods all` runs. */
export const ALL_METHOD_SPECS = ['ae:1', 'ae:2', 'gradcam', 'gradcam++', 'layercam', 'scorecam', 'fullgrad',
  'gradient', 'input-x-gradient', 'guided-bp', 'ig', 'smoothgrad',
  'lrp:epsilon-plus', 'lrp:epsilon-plus-flat', 'lrp:epsilon-gamma-box', 'lrp:epsilon-alpha2-beta1', 'eb', 'ceb'];

export function parseMethods(list: string): MethodSpec[] {
  if (list.trim() === 'all') return ALL_METHOD_SPECS.map(parseMethod);
  const specs = list.split(',').filter((s) => s.trim().length);
  if (!specs.length) throw new OptionError('no methods given');
  return specs.map(parseMethod);
}

export const ALL_METHODS: MethodSpec[] = ALL_METHOD_SPECS.map(parseMethod);

/** The paper's degree-of-evidence sweep: ratio 1.0, 1.1, …, 2.0. */
export function ratioSweep(from = 1, to = 2, step = 0.1): MethodSpec[] {
  const out: MethodSpec[] = [];
  for (let k = 0; from + k * step <= to + 1e-9; k++) out.push(parseMethod(`ae:${+(from + k * step).toFixed(6)}`));
  return out;
}

/**
 * Table II: every term on, each term off alone, and the reduced variants (C without its shift and
 * without A/B; A and B without C) at the given ratio.
 */
export function ablationGrid(ratio = 2): MethodSpec[] {
  return [
    '', ':no-contrib', ':no-shift', ':no-activated', ':no-inactivated',
    ':no-activated:no-inactivated', ':no-shift:no-activated:no-inactivated', ':no-contrib:no-inactivated', ':no-contrib:no-activated',
  ].map((s) => parseMethod(`ae:${ratio}${s}`));
}
