// Activations under LRP: Zennit's Pass, relevance unchanged to the input, for every element-wise
// activation (PRelu included). Excitation backprop keeps their gradients (the table's fallback).
import type { RuleTable } from '../rule.js';
import { composites } from '../shared/composites.js';
import { ACTIVATIONS } from './activations.js';
import { passThrough } from './rules.js';

export const lrp = composites<RuleTable>(Object.fromEntries([...Object.keys(ACTIVATIONS), 'PRelu'].map((op) => [op, passThrough])));
