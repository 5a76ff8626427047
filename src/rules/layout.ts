// Layout and structural ops. Views (Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout, Cast)
// pass the signal back reshaped to their input, for the gradient and for AE alike (spec §2.1).
import type { Rule, RuleTable } from './rule.js';

/** Reshape the signal back to the step's input shape; no data moves. */
export const viewBack: Rule = {
  cpu: (ctx, r) => [{ shape: ctx.plan.shapes.get(ctx.step.inputs[0]!)!.map((d, i) => (i === 0 ? r.shape[0] : d)), data: r.data }],
  gpu: (_g, ctx, r) => [{ shape: ctx.plan.shapes.get(ctx.step.inputs[0]!)!.map((d, i) => (i === 0 ? r.shape[0] : d)), buffer: r.buffer }],
};

const views = ['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Identity', 'Dropout', 'Cast'];

export const gradient: RuleTable = Object.fromEntries(views.map((v) => [v, viewBack]));
export const ae: RuleTable = Object.fromEntries(views.map((v) => [v, viewBack]));
