import type { RuleTable } from './rule.js';

export const gradient: RuleTable = {};
export const ae: RuleTable = {};
