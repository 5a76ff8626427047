// Output file names shared by `aeq explain` and `aeq demo`: one scheme,
// DIR/<stem>__c<class>__<method>.png|.overlay.png|.heatmap.npy|.attribution.npy,
// so that runs of different methods into one folder never overwrite each other.
import type { ExplainOptions } from '../explain/explainer.js';

const SWITCHES = [['contrib', 'no-contrib'], ['shift', 'no-shift'], ['activated', 'no-activated'], ['inactivated', 'no-inactivated']] as const;

/**
 * The method as `aeq eval` spells it, made filename-safe: `gradcam`, `ae-r2`, `ae-r1.5`, with the
 * ablation switches that are off appended in a fixed order (`ae-r2-no-shift-no-contrib` is spelt
 * `ae-r2-no-contrib-no-shift`) and `-proportional` for `--residual proportional`.
 */
export function methodTag(o: ExplainOptions): string {
  if ((o.method ?? 'ae') === 'gradcam') return 'gradcam';
  const ratio = o.ratio ?? 2;
  let tag = `ae-r${String(ratio).replace(/[^0-9.e+-]/g, '_')}`;
  for (const [k, name] of SWITCHES) if (o.terms?.[k] === false) tag += `-${name}`;
  if (o.residual === 'proportional') tag += '-proportional';
  return tag;
}

/** The common part of one (input, target, method)'s file names: `<stem>__c<class>__<tag>`. */
export function outputBase(stem: string, cls: number, tag: string): string {
  return `${stem}__c${cls}__${tag}`;
}
