// Plan-time limits that operators and the planner share: how much constant folding may allocate
// (Range, ConstantOfShape, and Expand/Tile/… evaluated on constants), checked before the
// allocation so that a hostile model is refused instead of exhausting memory.
import { BudgetError, printable } from '../errors.js';
import type { Node } from './ir.js';

/**
 * Elements one folded constant may hold (16 Mi: 128 MiB as float64), or as many as its largest
 * constant input: folding that does not amplify (Cast, Transpose, Slice of a weight) is always
 * allowed, amplification (Range, ConstantOfShape, Expand, Tile, Pad, broadcasting) only this far.
 */
export const MAX_FOLD_ELEMENTS = 2 ** 24;
/**
 * Elements all constants newly allocated by folding may hold together, beyond the model's own
 * constant data (64 Mi: 512 MiB as float64).
 */
export const MAX_FOLD_TOTAL = 2 ** 26;

/** The per-fold limit for a node whose largest constant input has `largestInput` elements. */
export function foldLimit(largestInput = 0): number {
  return Math.max(MAX_FOLD_ELEMENTS, largestInput);
}

/** Refuse folding `count` elements for `node` (before allocating them). */
export function checkFoldSize(node: Node, count: number, what = 'output'): void {
  if (!(count <= MAX_FOLD_ELEMENTS)) {
    throw new BudgetError(`${node.opType} node '${printable(node.name)}': its ${what} would have ${count} elements, ` +
      `more than the ${MAX_FOLD_ELEMENTS} a constant folded at plan time may hold`);
  }
}
