// Zennit's composites as method names: each composite is its own rule table ('lrp-epsilon-plus',
// …), assembled per family from the family's rules (src/ops/<family>/lrp.ts). Most operators have
// one rule in every composite; the convolutions differ.
export const COMPOSITES = ['epsilon-plus', 'epsilon-plus-flat', 'epsilon-gamma-box', 'epsilon-alpha2-beta1'] as const;
export type Composite = (typeof COMPOSITES)[number];
export const DEFAULT_COMPOSITE: Composite = 'epsilon-plus';

export type LrpMethod = `lrp-${Composite}`;
export const lrpMethod = (c: Composite): LrpMethod => `lrp-${c}`;

/** A family's LRP tables: `common` in every composite, plus what each composite adds or overrides. */
export function composites<T extends object>(common: T, own: Partial<Record<Composite, T>> = {}): Record<LrpMethod, T> {
  return Object.fromEntries(COMPOSITES.map((c) => [lrpMethod(c), { ...common, ...own[c] }])) as Record<LrpMethod, T>;
}
