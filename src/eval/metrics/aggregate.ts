// Aggregation the way the localisation papers report it: a score per class first, then the mean over
// classes, so frequent classes do not dominate (Zhang et al.'s pointing game, TorchRay's
// `class_accuracies.mean()`). Undefined scores (NaN, e.g. an outside–inside ratio on an image whose
// object covers every pixel) are counted as skipped rather than poisoning the mean.

export interface ClassStat {
  readonly label: number;
  readonly count: number;
  readonly mean: number;
}

export class ClassMeans {
  private readonly sums = new Map<number, { sum: number; count: number }>();
  skipped = 0;

  add(label: number, value: number): void {
    if (Number.isNaN(value)) {
      this.skipped++;
      return;
    }
    const s = this.sums.get(label) ?? { sum: 0, count: 0 };
    s.sum += value;
    s.count++;
    this.sums.set(label, s);
  }

  /** Number of values that entered a mean. */
  get count(): number {
    let n = 0;
    for (const s of this.sums.values()) n += s.count;
    return n;
  }

  /** Per-class means, by ascending label; only classes with at least one value appear. */
  perClass(): ClassStat[] {
    return [...this.sums.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([label, s]) => ({ label, count: s.count, mean: s.sum / s.count }));
  }

  /**
   * Mean of the per-class means over the classes that had values. TorchRay averages over all
   * dataset classes, counting an unseen class as 0; on VOC/COCO every class is seen, so the two agree,
   * and on small benchmarks ours does not penalise a class the split happens to lack. NaN when empty.
   */
  meanOverClasses(): number {
    const per = this.perClass();
    return per.length ? per.reduce((a, s) => a + s.mean, 0) / per.length : NaN;
  }

  /** Plain mean over all values (the per-sample view). NaN when empty. */
  meanOverSamples(): number {
    let sum = 0, n = 0;
    for (const s of this.sums.values()) {
      sum += s.sum;
      n += s.count;
    }
    return n ? sum / n : NaN;
  }
}

export type Cell = string | number | null;

export interface Table {
  readonly title?: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
}

/** Fixed-width text table; numbers with `digits` decimals, NaN/null as "—". */
export function formatTable(table: Table, digits = 3): string {
  // A column of whole numbers (counts) prints without decimals; any fraction makes it a score column.
  const integral = table.columns.map((_, i) =>
    table.rows.every((r) => typeof r[i] !== 'number' || Number.isInteger(r[i])),
  );
  const cells = table.rows.map((r) =>
    table.columns.map((_, i) => formatCell(r[i] ?? null, integral[i] ? 0 : digits)),
  );
  const widths = table.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  // Numbers right-aligned so decimal points line up; labels left-aligned.
  const numeric = table.columns.map((_, i) => table.rows.some((r) => typeof r[i] === 'number'));
  const line = (r: string[]) =>
    r.map((s, i) => (numeric[i] ? s.padStart(widths[i]) : s.padEnd(widths[i]))).join('  ').trimEnd();
  const out = [line([...table.columns]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
  if (table.title) out.unshift(table.title);
  return out.join('\n');
}

function formatCell(v: Cell, digits: number): string {
  if (v === null || (typeof v === 'number' && Number.isNaN(v))) return '—';
  if (typeof v === 'number') return Number.isFinite(v) ? v.toFixed(digits) : String(v);
  return v;
}

/** Rows as objects keyed by column (JSON has no NaN/Infinity: those become null, "Infinity"). */
export function tableJson(table: Table): string {
  const rows = table.rows.map((r) =>
    Object.fromEntries(table.columns.map((c, i) => [c, jsonCell(r[i] ?? null)])),
  );
  return JSON.stringify({ ...(table.title ? { title: table.title } : {}), columns: table.columns, rows }, null, 2);
}

function jsonCell(v: Cell): Cell {
  if (typeof v !== 'number' || Number.isFinite(v)) return v;
  return Number.isNaN(v) ? null : v > 0 ? 'Infinity' : '-Infinity';
}
