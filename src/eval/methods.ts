// Attribution methods as evaluated: a label for the table and the explain options that produce it.
// Spec strings: `gradcam`, `ae` (ratio 2), `ae:1.5`, `ae:2:no-shift:no-contrib` (Table II switches).
import type { ExplainOptions } from '../explain/explainer.js';
import { OptionError } from '../errors.js';

export interface MethodSpec {
  label: string;
  options: ExplainOptions;
}

const SWITCHES = { 'no-contrib': 'contrib', 'no-shift': 'shift', 'no-activated': 'activated', 'no-inactivated': 'inactivated' } as const;

export function parseMethod(spec: string): MethodSpec {
  const [name, ...rest] = spec.trim().split(':');
  if (name === 'gradcam') {
    if (rest.length) throw new OptionError(`method '${spec}': gradcam takes no parameters`);
    return { label: 'Grad-CAM', options: { method: 'gradcam' } };
  }
  if (name !== 'ae') throw new OptionError(`unknown method '${spec}' (use ae, ae:RATIO[:no-contrib|no-shift|no-activated|no-inactivated…] or gradcam)`);
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

export function parseMethods(list: string): MethodSpec[] {
  const specs = list.split(',').filter((s) => s.trim().length);
  if (!specs.length) throw new OptionError('no methods given');
  return specs.map(parseMethod);
}

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
