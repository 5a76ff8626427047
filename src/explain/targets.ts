// Which classes an explanation explains: the `target` option resolved against a batch's logits.
import type { CpuTensor } from '../ops/op.js';
import { numel } from '../graph/tensor.js';
import { OptionError } from '../errors.js';

/**
 * 'top' (the top class per input), a class index, a list of classes (the same T for every input),
 * { top: k }, or { perInput: lists } with one list of T classes per input (T equal across inputs) —
 * e.g. each image's ground-truth labels in an evaluation.
 */
export type Target = 'top' | number | number[] | { top: number } | { perInput: number[][] };

/** The k highest-scoring classes of one logit row, ties broken by the lower index. */
export function topK(row: Float32Array, k: number): number[] {
  return Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
}

/** targets[n] = the T classes to explain for input n (T equal across inputs). */
export function resolveTargets(target: Target, logits: CpuTensor): number[][] {
  const n = logits.shape[0];
  const classes = numel(logits.shape) / n;
  const row = (i: number) => logits.data.subarray(i * classes, (i + 1) * classes);
  const check = (c: number) => {
    if (!Number.isInteger(c) || c < 0 || c >= classes) throw new OptionError(`target ${c} is out of range: the model has ${classes} classes (0–${classes - 1})`);
    return c;
  };
  if (target === 'top') return Array.from({ length: n }, (_, i) => topK(row(i), 1));
  if (typeof target === 'number') return Array.from({ length: n }, () => [check(target)]);
  if (Array.isArray(target)) {
    if (!target.length) throw new OptionError('target list is empty');
    target.forEach(check);
    return Array.from({ length: n }, () => [...target]);
  }
  if (typeof target === 'object' && target && 'perInput' in target) {
    const lists = target.perInput;
    if (!Array.isArray(lists) || lists.length !== n) throw new OptionError(`perInput targets: ${Array.isArray(lists) ? lists.length : 'no'} lists for ${n} inputs`);
    const t = lists[0]?.length ?? 0;
    if (!t || lists.some((l) => !Array.isArray(l) || l.length !== t)) throw new OptionError('perInput targets: every input needs the same number (≥ 1) of targets');
    return lists.map((l) => l.map(check));
  }
  if (typeof target === 'object' && target && 'top' in target && Number.isInteger(target.top) && target.top >= 1) {
    if (target.top > classes) throw new OptionError(`top ${target.top} exceeds the model's ${classes} classes`);
    return Array.from({ length: n }, (_, i) => topK(row(i), target.top));
  }
  throw new OptionError(`invalid target ${JSON.stringify(target)} (use 'top', a class index, a list of indices or { top: k })`);
}

/** Targets per input (T) of a target option, known before the forward pass (for splitting batches). */
export function targetsPerInput(t: Target | undefined): number {
  if (Array.isArray(t)) return t.length;
  if (typeof t === 'object' && t) return 'perInput' in t ? (t.perInput[0]?.length ?? 1) : t.top;
  return 1;
}

/** The target option for inputs i … i+m−1 of a batch (only per-input lists depend on the input). */
export function sliceTarget(t: Target, i: number, m: number): Target {
  return typeof t === 'object' && !Array.isArray(t) && 'perInput' in t ? { perInput: t.perInput.slice(i, i + m) } : t;
}
