// One operator family: its forward operators (with their traits) and its rules for every method.
// Each src/ops/<family>/index.ts default-exports one; src/ops/table.ts joins them into OPS.
import type { OpTable, Traits } from './op.js';
import type { MethodName, RuleTable } from './rule.js';

export interface Family {
  name: string;
  ops: OpTable;
  /** Rules per method; a 'guided' or 'eb' table holds only the rules that differ from the gradient's. */
  rules: Partial<Record<MethodName, RuleTable>>;
}

export function family(name: string, ops: OpTable, rules: Family['rules'] = {}): Family {
  return { name, ops, rules };
}

/** The same op specs with traits added (for families whose specs are built by one factory). */
export function withTraits(ops: OpTable, traits: Record<string, Traits>): OpTable {
  return Object.fromEntries(Object.entries(ops).map(([k, s]) => [k, traits[k] ? { ...s, traits: { ...s.traits, ...traits[k] } } : s]));
}
