// Pooling under LRP and excitation backprop. Max pools keep their gradient in both (Zennit has no
// rule for them, TorchRay does not patch them). Average pools: Zennit's Norm, x ⊙ ∇(R / stab(pool(x)))
// (the gradient spreads over the window ÷ its size); TorchRay's EB the same quotient with + 1e-20.
import { gradient } from './rules.js';
import type { RuleTable } from '../rule.js';
import { composites } from '../shared/composites.js';
import { stabilised } from '../shared/stabilised.js';

const norm = stabilised(gradient.AveragePool, 'sign');

export const lrp = composites<RuleTable>({
  MaxPool: gradient.MaxPool, GlobalMaxPool: gradient.GlobalMaxPool, AveragePool: norm, GlobalAveragePool: norm,
});

const excitation = stabilised(gradient.AveragePool, 'tiny');
export const eb: RuleTable = { AveragePool: excitation, GlobalAveragePool: excitation };
