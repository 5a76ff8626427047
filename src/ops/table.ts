// The operator table: ONNX op type (default domain) → { forward, rules per method, traits }, one
// row per operator, assembled from one folder per family (src/ops/<family>/index.ts). Every list
// of operators elsewhere in the code is a query on the traits, and a method's rule table is a
// projection of this one (`methodTable`).
import type { OpSpec, Traits } from './op.js';
import type { MethodName, Rule, RuleTable } from './rule.js';
import type { Family } from './family.js';
import activation from './activation/index.js';
import conv from './conv/index.js';
import dense from './dense/index.js';
import elementwise from './elementwise/index.js';
import layout from './layout/index.js';
import norm from './norm/index.js';
import pool from './pool/index.js';
import reduce from './reduce/index.js';
import shape from './shape/index.js';
import softmax from './softmax/index.js';

export type { MethodName };

/**
 * Methods whose table falls back to another method's rule where an op has none of its own: guided
 * backpropagation replaces ReLU's gradient; excitation backprop (TorchRay) patches the layers with
 * weights, average pools, batch norm and skip sums, and leaves every other op its gradient. The
 * LRP composites have no fallback: an op without a rule is refused by name.
 */
const FALLBACK: Partial<Record<MethodName, MethodName>> = { guided: 'gradient', eb: 'gradient' };

export interface OpRow {
  family: string;
  forward: OpSpec;
  rules: Partial<Record<MethodName, Rule>>;
  traits: Traits;
}

const FAMILIES: Family[] = [conv, dense, pool, norm, activation, softmax, elementwise, layout, shape, reduce];

function build(): Record<string, OpRow> {
  const rows: Record<string, OpRow> = {};
  for (const f of FAMILIES) {
    for (const [op, forward] of Object.entries(f.ops)) {
      if (rows[op]) throw new Error(`internal: operator ${op} is declared by families ${rows[op].family} and ${f.name}`);
      const rules: OpRow['rules'] = {};
      for (const [m, table] of Object.entries(f.rules) as [MethodName, RuleTable][]) if (table[op]) rules[m] = table[op];
      rows[op] = { family: f.name, forward, rules, traits: forward.traits ?? {} };
    }
    for (const [m, table] of Object.entries(f.rules)) {
      for (const op of Object.keys(table)) {
        if (!f.ops[op]) throw new Error(`internal: family ${f.name} has a ${m} rule for ${op}, which it does not declare`);
      }
    }
  }
  return rows;
}

export const OPS: Readonly<Record<string, OpRow>> = build();

const has = (op: string): boolean => Object.prototype.hasOwnProperty.call(OPS, op);

export function opFor(opType: string, domain = ''): OpSpec | undefined {
  if (domain !== '' && domain !== 'ai.onnx') return undefined;
  return has(opType) ? OPS[opType].forward : undefined;
}

export function supportedOps(): string[] {
  return Object.keys(OPS).sort();
}

/** The traits of an op type (none for an unknown one). */
export function traitsOf(opType: string): Traits {
  return has(opType) ? OPS[opType].traits : {};
}

/** Op types having a trait, e.g. `opsWith('view')`. */
export function opsWith(trait: keyof Traits): Set<string> {
  return new Set(Object.keys(OPS).filter((op) => OPS[op].traits[trait]));
}

/** A method's rule table: the projection of OPS on that method. */
export function methodTable(method: MethodName): RuleTable {
  const t: RuleTable = {};
  const base = FALLBACK[method];
  for (const [op, row] of Object.entries(OPS)) {
    const rule = row.rules[method] ?? (base && row.rules[base]);
    if (rule) t[op] = rule;
  }
  return t;
}
