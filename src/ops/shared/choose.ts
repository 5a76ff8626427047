// A rule that is one of several, picked per step from what the rule context knows about it (the
// first convolution, the operand kinds, cEB's negated classifier): how a composite maps
// (operator, position) to a rule while the method table keeps one rule per operator.
import type { Rule, RuleCtx } from '../rule.js';

interface Chosen { rule: Rule; params: unknown }

export function choose(pick: (ctx: RuleCtx<unknown>) => Rule): Rule<Chosen> {
  return {
    plan(ctx, r) {
      const rule = pick(ctx);
      const { params, signals } = rule.plan(ctx, r);
      return { params: { rule, params }, signals };
    },
    cpu: ({ rule, params }, ctx, r, out) => rule.cpu(params, ctx, r, out),
    gpu: ({ rule, params }, g, ctx, r, out) => rule.gpu(params, g, ctx, r, out),
  };
}

/** The first convolution's rule and everyone else's (Zennit's SpecialFirstLayerMapComposite). */
export const firstOr = (first: Rule, rest: Rule): Rule => choose((ctx) => (ctx.firstConv ? first : rest));
