// Layout ops under LRP: views pass the relevance reshaped, data movement runs backwards as in the
// gradient (Concat splits it back, Pad crops, Slice scatters): Zennit leaves them to autograd.
// Excitation backprop keeps the gradients too (the table's fallback).
import type { RuleTable } from '../rule.js';
import { composites } from '../shared/composites.js';
import { gradient } from './rules.js';

export const lrp = composites<RuleTable>(gradient);
