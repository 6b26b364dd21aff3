/**
 * Unit test rows as SQL: each row a `select cast(<literal> as <type>) as <column>, …`, rows joined with
 * `union all`. Values are literals by necessity (a fixture is SQL text in a CTE), so they are written only
 * through sqlLiteral(), and typed with a cast to the column's warehouse type.
 *
 * Types come from the real relation when it exists in the warehouse (its columns; columns the rows leave out
 * are NULL of that type), else from the values, like seed columns (see seedTypes.ts).
 *
 * @example
 * fixtureSelect([{ id: 1, name: "O'Hara" }], [{ name: 'id', type: 'INTEGER' }, { name: 'name', type: 'VARCHAR' }], q)
 * // select cast(1 as INTEGER) as "id", cast('O''Hara' as VARCHAR) as "name"
 */
import type { SeedColumnStats, SeedColumnType } from '../adapter.js';
import { inferColumnType } from './seedTypes.js';

export interface FixtureColumn {
  name: string;
  /** The warehouse's type name, as a cast writes it. */
  type: string;
}

/**
 * A SQL string literal in the standard form: single quotes, a quote inside doubled. Backslashes and
 * newlines stand for themselves (DuckDB, Postgres with standard_conforming_strings, Snowflake and
 * Redshift read them so); a NUL cannot be written in SQL text and is refused.
 */
export function sqlStringLiteral(value: string): string {
  if (value.includes('\u0000')) throw new Error('a text value contains a NUL character, which SQL text cannot hold');
  return `'${value.replace(/'/g, "''")}'`;
}

/** A JS value as SQL literal text (before the cast that types it); `text` writes string literals. */
export function sqlLiteral(value: unknown, text: (s: string) => string = sqlStringLiteral): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return text('NaN');
    if (!Number.isFinite(value)) return text(value > 0 ? 'Infinity' : '-Infinity');
    return String(value);
  }
  if (typeof value === 'string') return text(value);
  if (value instanceof Date) return text(value.toISOString());
  return text(JSON.stringify(value));
}

export function castLiteral(value: unknown, type: string, text?: (s: string) => string): string {
  return `cast(${sqlLiteral(value, text)} as ${type})`;
}

/** Case-insensitive lookup of `key` among `columns` (exact spelling first). */
export function findColumn<T extends { name: string }>(columns: readonly T[], key: string): T | undefined {
  return columns.find((c) => c.name === key) ?? columns.find((c) => c.name.toLowerCase() === key.toLowerCase());
}

/** Keys of `rows` in order of first appearance (one spelling per name, case-insensitively). */
export function rowKeys(rows: readonly Record<string, unknown>[]): string[] {
  const keys: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.some((x) => x.toLowerCase() === k.toLowerCase())) keys.push(k);
  return keys;
}

/** The value of `column` in `row`, matched case-insensitively; undefined when the row leaves it out. */
export function valueOf(row: Record<string, unknown>, column: string): unknown {
  if (column in row) return row[column];
  const key = Object.keys(row).find((k) => k.toLowerCase() === column.toLowerCase());
  return key === undefined ? undefined : row[key];
}

/** CSV fields are text; an empty field is NULL, as in seeds (dbt 1.8). */
export function normalizeRows(rows: readonly Record<string, unknown>[], format: 'dict' | 'csv' | 'sql'): Record<string, unknown>[] {
  if (format !== 'csv') return rows.map((r) => ({ ...r }));
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === '' ? null : v])));
}

/** Portable type of a column from its values: seed rules for text (csv), JS types for YAML values. */
export function inferValueType(values: readonly unknown[]): SeedColumnType {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) return 'text';
  if (present.every((v) => typeof v === 'boolean')) return 'boolean';
  if (present.every((v) => typeof v === 'number' || typeof v === 'bigint')) {
    return present.every((v) => typeof v === 'bigint' || Number.isInteger(v)) ? 'integer' : 'number';
  }
  if (present.every((v) => typeof v === 'string')) {
    const t = inferColumnType(present as string[]);
    return t === 'date' || t === 'timestamp' || t === 'text' ? t : 'text';
  }
  return 'text';
}

function statsOf(values: readonly unknown[]): SeedColumnStats {
  let maxByteLength = 0;
  let maxScale = 0;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    const s = typeof v === 'string' ? v : String(v);
    maxByteLength = Math.max(maxByteLength, Buffer.byteLength(s));
    const dot = s.indexOf('.');
    if (typeof v === 'number' && dot >= 0) maxScale = Math.max(maxScale, s.length - dot - 1);
  }
  return { maxByteLength, maxScale };
}

/**
 * Columns typed from the rows themselves (the input's relation is not in the warehouse): `csv` text with
 * the seed rules (integer, number, date, timestamp, boolean, text), YAML values by their type.
 */
export function columnsFromValues(
  rows: readonly Record<string, unknown>[], format: 'dict' | 'csv', nativeType: (t: SeedColumnType, stats: SeedColumnStats) => string,
): FixtureColumn[] {
  return rowKeys(rows).map((name) => {
    const values = rows.map((r) => valueOf(r, name));
    const type = format === 'csv'
      ? inferColumnType(values.filter((v): v is string => typeof v === 'string'))
      : inferValueType(values);
    return { name, type: nativeType(type, statsOf(values)) };
  });
}

/**
 * The rows as one select per row joined by `union all`; every column of `columns` in every row (NULL of
 * its type when a row leaves it out). No rows: one row of NULLs filtered out, so the columns still exist.
 */
export function fixtureSelect(
  rows: readonly Record<string, unknown>[], columns: readonly FixtureColumn[], quote: (name: string) => string, text?: (s: string) => string,
): string {
  const select = (row: Record<string, unknown> | undefined) =>
    `select ${columns.map((c) => `${castLiteral(row ? valueOf(row, c.name) : null, c.type, text)} as ${quote(c.name)}`).join(', ')}`;
  if (rows.length === 0) return `${select(undefined)} where 1 = 0`;
  return rows.map(select).join('\nunion all\n');
}
