/**
 * DuckDB type names for Kiln's portable seed types, and conversion of DuckDB result values to plain JS.
 *
 * @example
 * duckdbSeedType('timestamp') // 'TIMESTAMP'
 */
import type { SeedColumnType } from '../../src/adapter.js';

const SEED_TYPES: Record<SeedColumnType, string> = {
  integer: 'BIGINT',
  number: 'DOUBLE',
  boolean: 'BOOLEAN',
  date: 'DATE',
  timestamp: 'TIMESTAMP',
  text: 'VARCHAR',
};

export function duckdbSeedType(type: SeedColumnType): string {
  return SEED_TYPES[type];
}

/** BIGINT/HUGEINT arrive as bigint; keep them numbers when they fit so templates and JSON see numbers. */
export function toPlainValue(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (Array.isArray(value)) return value.map(toPlainValue);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toPlainValue(v);
    return out;
  }
  return value;
}
