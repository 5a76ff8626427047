// Output file names shared by `aeq explain` and `aeq demo`: one scheme,
// DIR/<stem>__c<class>__<method>.png|.overlay.png|.heatmap.npy|.attribution.npy,
// so that runs of different methods into one folder never overwrite each other.
import type { ExplainOptions } from '../explain/explainer.js';

const SWITCHES = [['contrib', 'no-contrib'], ['shift', 'no-shift'], ['activated', 'no-activated'], ['inactivated', 'no-inactivated']] as const;

const num = (x: number) => String(x).replace(/[^0-9.e+-]/g, '_');

/**
 * The method as `aeq eval` spells it, made filename-safe: `gradcam`, `ae-r2`, `ae-r1.5`, with the
 * ablation switches that are off appended in a fixed order (`ae-r2-no-shift-no-contrib` is spelt
 * `ae-r2-no-contrib-no-shift`) and `-proportional` for `--residual proportional`. The gradient
 * family: `gradient`, `input-x-gradient`, `guided-bp`, `ig-s16` (steps; `-baseline` for a
 * baseline tensor), `smoothgrad-n16` (samples; then `-sq` for --magnitude, `-sigma0.1` for a given
 * --noise, `-seed7` for a seed other than 0). The CAM family: `gradcam++`, `layercam`, `fullgrad`,
 * `scorecam` (`scorecam-softmax-gain` with --score softmax-gain). LRP: `lrp-epsilon-plus` (the
 * composite; then `-low<x>-high<y>` for given ZBox bounds); excitation backprop: `eb`, `ceb`.
 */
export function methodTag(o: ExplainOptions): string {
  const m = o.method ?? 'ae';
  if (m === 'gradcam' || m === 'gradient' || m === 'input-x-gradient' || m === 'guided-bp') return m;
  if (m === 'gradcam++' || m === 'layercam' || m === 'fullgrad') return m;
  if (m === 'scorecam') return o.score === 'softmax-gain' ? 'scorecam-softmax-gain' : 'scorecam';
  if (m === 'eb' || m === 'ceb') return m;
  if (m === 'lrp') return `lrp-${o.composite ?? 'epsilon-plus'}${o.low !== undefined ? `-low${num(o.low)}-high${num(o.high ?? NaN)}` : ''}`;
  if (m === 'ig') return `ig-s${num(o.steps ?? 16)}${o.baseline !== undefined && o.baseline !== 'zero' ? '-baseline' : ''}`;
  if (m === 'smoothgrad') {
    let tag = `smoothgrad-n${num(o.samples ?? 16)}`;
    if (o.magnitude) tag += '-sq';
    if (o.noise !== undefined) tag += `-sigma${num(o.noise)}`;
    if (o.seed) tag += `-seed${num(o.seed)}`;
    return tag;
  }
  const ratio = o.ratio ?? 2;
  let tag = `ae-r${num(ratio)}`;
  for (const [k, name] of SWITCHES) if (o.terms?.[k] === false) tag += `-${name}`;
  if (o.residual === 'proportional') tag += '-proportional';
  return tag;
}

/** The common part of one (input, target, method)'s file names: `<stem>__c<class>__<tag>`. */
export function outputBase(stem: string, cls: number, tag: string): string {
  return `${stem}__c${cls}__${tag}`;
}
