// Activations under LRP: Zennit's Pass, relevance unchanged to the input, for every element-wise
// activation (trait `activation`, PRelu included). The arithmetic functions of the table (Exp, Neg,
// Sqrt, …) are no activations to Zennit and have no LRP rule. Excitation backprop keeps the
// gradients of all of them (the table's fallback).
import type { RuleTable } from '../rule.js';
import { composites } from '../shared/composites.js';
import { ACTIVATIONS } from './activations.js';
import { passThrough } from './rules.js';

export const lrp = composites<RuleTable>(Object.fromEntries([...Object.keys(ACTIVATIONS).filter((op) => ACTIVATIONS[op].traits?.activation), 'PRelu'].map((op) => [op, passThrough])));
