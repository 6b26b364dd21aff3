/**
 * Comparing a unit test's actual rows with the expected ones as multisets: order does not matter,
 * duplicates count. The diff lists expected rows missing from actual and actual rows not expected.
 *
 * @example
 * const d = diffRows(['id'], [{ id: 1 }, { id: 1 }], [{ id: 1 }, { id: 2 }]);
 * // d.missing = [{ id: 2 }], d.unexpected = [{ id: 1 }]
 */
import { formatTable } from '../table.js';

export interface RowDiff {
  columns: string[];
  /** Expected rows with no matching actual row (as many times as they are short). */
  missing: Record<string, unknown>[];
  /** Actual rows with no matching expected row. */
  unexpected: Record<string, unknown>[];
  expectedCount: number;
  actualCount: number;
}

/** A value in a form where equal warehouse values are equal strings (Dates, bigints, nested values). */
function canonical(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return { date: v.toISOString() };
  if (typeof v === 'bigint') return { big: v.toString() };
  if (typeof v === 'number' && !Number.isFinite(v)) return { num: String(v) };
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, canonical(x)]));
  return v;
}

function rowKey(row: Record<string, unknown>, columns: readonly string[]): string {
  return JSON.stringify(columns.map((c) => canonical(row[c])));
}

export function diffRows(columns: readonly string[], actual: readonly Record<string, unknown>[], expected: readonly Record<string, unknown>[]): RowDiff {
  const pool = new Map<string, number>();
  for (const r of actual) {
    const k = rowKey(r, columns);
    pool.set(k, (pool.get(k) ?? 0) + 1);
  }
  const missing: Record<string, unknown>[] = [];
  for (const r of expected) {
    const k = rowKey(r, columns);
    const n = pool.get(k) ?? 0;
    if (n > 0) pool.set(k, n - 1);
    else missing.push(r);
  }
  const unexpected = actual.filter((r) => {
    const k = rowKey(r, columns);
    const n = pool.get(k) ?? 0;
    if (n === 0) return false;
    pool.set(k, n - 1);
    return true;
  });
  return { columns: [...columns], missing, unexpected, expectedCount: expected.length, actualCount: actual.length };
}

const MAX_ROWS = 20;

const rowsWord = (n: number) => `${n} row${n === 1 ? '' : 's'}`;

/** The diff as text for the test result: counts, then a small table for each side that differs. */
export function formatDiff(d: RowDiff): string {
  const lines = [
    `actual differs from expected: expected ${rowsWord(d.expectedCount)}, got ${rowsWord(d.actualCount)}; `
      + `${d.missing.length} expected ${d.missing.length === 1 ? 'row is' : 'rows are'} missing, ${d.unexpected.length} actual ${d.unexpected.length === 1 ? 'row was' : 'rows were'} not expected`,
  ];
  if (d.missing.length) lines.push('', `expected but missing from actual (${d.missing.length}):`, formatTable(d.columns, d.missing, { indent: '  ', maxRows: MAX_ROWS }));
  if (d.unexpected.length) lines.push('', `in actual but not expected (${d.unexpected.length}):`, formatTable(d.columns, d.unexpected, { indent: '  ', maxRows: MAX_ROWS }));
  return lines.join('\n');
}
