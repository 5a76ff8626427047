// Element-wise arithmetic under LRP and excitation backprop. A residual Add of two runtime
// tensors: Zennit's Norm, R_i = x_i ⊙ R / stab(x₁ + x₂); TorchRay's skip sum, the same quotient
// unstabilised. An Add of a constant (a bias) or a Sub of one from a runtime tensor passes R on (the
// gradient, which is what autograd gives Zennit there). Anything else (Mul, Div, Pow, Sub of two
// runtime tensors) has no LRP rule and is refused; EB leaves those their gradient, as TorchRay.
import { binaryGrad } from './rules.js';
import type { Rule, RuleTable } from '../rule.js';
import { choose } from '../shared/choose.js';
import { composites } from '../shared/composites.js';
import { stabilised } from '../shared/stabilised.js';
import { type AnyCtx, fail, isRuntime } from '../shared/signal.js';

const both = (ctx: AnyCtx) => isRuntime(ctx, 0) && isRuntime(ctx, 1);

const norm = stabilised(binaryGrad, 'sign');
const add = choose((ctx) => (both(ctx) ? norm : binaryGrad));
const sub = choose((ctx): Rule => {
  if (!isRuntime(ctx, 0) || isRuntime(ctx, 1)) throw fail(ctx, 'LRP has a rule for Sub only where a constant is subtracted from a runtime tensor');
  return binaryGrad;
});

export const lrp = composites<RuleTable>({ Add: add, Sub: sub });

const skipSum = stabilised(binaryGrad, 'none');
export const eb: RuleTable = { Add: choose((ctx) => (both(ctx) ? skipSum : binaryGrad)) };
