// BatchNormalization under excitation backprop: TorchRay's patched batch_norm hands the signal
// through unchanged. Under LRP it has no rule of its own: the Explainer plans LRP on the graph with
// every BN merged into the Conv or Gemm before it (src/graph/canonize.ts, Zennit's MergeBatchNorm
// canonizer), so a BN that reaches this table is one that cannot be merged, refused by name with
// the reason. (Zennit's composites would give it the Pass rule; aeq does not guess.)
import type { RuleTable } from '../rule.js';
import { composites } from '../shared/composites.js';
import { choose } from '../shared/choose.js';
import { fail } from '../shared/signal.js';
import { passThrough } from '../activation/rules.js';
import { batchNormBlocker } from '../../graph/canonize.js';

const unfolded = choose((ctx) => {
  const why = batchNormBlocker(ctx.plan.model.graph, ctx.step.node, ctx.plan.model.opset);
  throw fail(ctx, why
    ? `LRP cannot merge this BatchNormalization into the layer before it (Zennit's MergeBatchNorm canonizer, which aeq applies before LRP): ${why}; export the model with BN folded, or with each BN right after the Conv or Gemm whose output only it reads`
    : 'LRP needs BatchNormalization merged into the Conv or Gemm before it (Zennit\'s MergeBatchNorm canonizer): this plan was made without the merge (src/graph/canonize.ts mergeBatchNorms; the Explainer applies it for LRP)');
});

export const lrp = composites<RuleTable>({ BatchNormalization: unfolded });
export const eb: RuleTable = { BatchNormalization: passThrough };
