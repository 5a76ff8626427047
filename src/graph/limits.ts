// Plan-time limits that operators and the planner share: how much constant folding may allocate
// (Range, ConstantOfShape, and Expand/Tile/… evaluated on constants), checked before the
// allocation so that a hostile model is refused instead of exhausting memory.
import { BudgetError, printable } from '../errors.js';
import type { Node } from './ir.js';

/** Elements one folded constant may hold (16 Mi: 128 MiB as float64). */
export const MAX_FOLD_ELEMENTS = 2 ** 24;
/** Elements all folded constants of one plan may hold together (64 Mi: 512 MiB as float64). */
export const MAX_FOLD_TOTAL = 2 ** 26;

/** Refuse folding `count` elements for `node` (before allocating them). */
export function checkFoldSize(node: Node, count: number, what = 'output'): void {
  if (!(count <= MAX_FOLD_ELEMENTS)) {
    throw new BudgetError(`${node.opType} node '${printable(node.name)}': its ${what} would have ${count} elements, ` +
      `more than the ${MAX_FOLD_ELEMENTS} a constant folded at plan time may hold`);
  }
}
