// BatchNormalization under excitation backprop: TorchRay's patched batch_norm hands the signal
// through unchanged. Under LRP it has no rule of its own: Zennit's canonizer merges it into the
// preceding convolution first, which aeq does not do on the graph yet, so it is refused by name.
import type { RuleTable } from '../rule.js';
import { composites } from '../shared/composites.js';
import { choose } from '../shared/choose.js';
import { fail } from '../shared/signal.js';
import { passThrough } from '../activation/rules.js';

const unfolded = choose((ctx) => {
  throw fail(ctx, 'LRP needs BatchNormalization merged into the preceding convolution (Zennit\'s MergeBatchNorm canonizer); export the model with BN folded');
});

export const lrp = composites<RuleTable>({ BatchNormalization: unfolded });
export const eb: RuleTable = { BatchNormalization: passThrough };
