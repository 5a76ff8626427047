// Backward rules of the layout family, for the gradient and for AE. Views (Flatten, Reshape,
// Squeeze, Unsqueeze, Identity, Dropout, Cast) pass the signal back reshaped to their input
// (spec §2.1): an alias, no data moves. Data movement runs backwards on the forward kernels
// (copy-rules.ts: Transpose, Slice, Concat, Split, Gather; pad-rules.ts: Pad).
import type { Rule, RuleTable } from '../rule.js';
import { concatAe, concatGrad, gatherGrad, sliceBack, splitBack, transposeBack } from './copy-rules.js';
import { padCrop, padGrad } from './pad-rules.js';

export { concatAe, concatGrad, gatherGrad, sliceBack, splitBack, transposeBack, padCrop, padGrad };

/** Reshape the signal back to the step's input shape (the batch axis is the signal's). */
export const viewBack: Rule<null> = {
  plan(ctx, r) {
    const shape = ctx.plan.shapes.get(ctx.step.inputs[0]!)!.map((d, i) => (i === 0 ? r[0] : d));
    return { params: null, signals: [{ shape, alias: true }] };
  },
  cpu() {},
  gpu() {},
};

const views = ['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Identity', 'Dropout', 'Cast'];
const viewTable = (): RuleTable => Object.fromEntries(views.map((v) => [v, viewBack]));

export const gradient: RuleTable = {
  ...viewTable(),
  Transpose: transposeBack,
  Slice: sliceBack,
  Concat: concatGrad,
  Split: splitBack,
  Pad: padGrad,
  Gather: gatherGrad,
};

export const ae: RuleTable = {
  ...viewTable(),
  Transpose: transposeBack,
  Slice: sliceBack,
  Concat: concatAe,
  Split: splitBack,
  Pad: padCrop,
};
