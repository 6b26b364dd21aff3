/**
 * DuckDB type names for Kiln's portable seed types, canonical spellings of type names (for model
 * contracts), and conversion of DuckDB result values to plain JS.
 *
 * @example
 * duckdbSeedType('timestamp')          // 'TIMESTAMP'
 * normalizeDuckdbType('struct(a int)') // 'STRUCT("a" INTEGER)'
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

/** DuckDB's aliases for its types (its own `duckdb_types()` list), by upper-cased name. */
const TYPE_ALIASES: Record<string, string> = {
  INT: 'INTEGER', INT4: 'INTEGER', INT32: 'INTEGER', SIGNED: 'INTEGER', INTEGER: 'INTEGER',
  INT8: 'BIGINT', INT64: 'BIGINT', LONG: 'BIGINT', BIGINT: 'BIGINT',
  INT2: 'SMALLINT', INT16: 'SMALLINT', SHORT: 'SMALLINT', SMALLINT: 'SMALLINT',
  INT1: 'TINYINT', TINYINT: 'TINYINT',
  INT128: 'HUGEINT', HUGEINT: 'HUGEINT',
  UINT8: 'UTINYINT', UINT16: 'USMALLINT', UINT32: 'UINTEGER', UINT64: 'UBIGINT', UINT128: 'UHUGEINT',
  FLOAT: 'FLOAT', FLOAT4: 'FLOAT', REAL: 'FLOAT',
  DOUBLE: 'DOUBLE', FLOAT8: 'DOUBLE', 'DOUBLE PRECISION': 'DOUBLE',
  VARCHAR: 'VARCHAR', CHAR: 'VARCHAR', BPCHAR: 'VARCHAR', TEXT: 'VARCHAR', STRING: 'VARCHAR', NVARCHAR: 'VARCHAR',
  CHARACTER: 'VARCHAR', 'CHARACTER VARYING': 'VARCHAR',
  BOOL: 'BOOLEAN', BOOLEAN: 'BOOLEAN', LOGICAL: 'BOOLEAN',
  BLOB: 'BLOB', BYTEA: 'BLOB', BINARY: 'BLOB', VARBINARY: 'BLOB',
  DATETIME: 'TIMESTAMP', TIMESTAMP: 'TIMESTAMP', 'TIMESTAMP WITHOUT TIME ZONE': 'TIMESTAMP', TIMESTAMP_US: 'TIMESTAMP',
  TIMESTAMPTZ: 'TIMESTAMP WITH TIME ZONE', 'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP WITH TIME ZONE',
  TIME: 'TIME', 'TIME WITHOUT TIME ZONE': 'TIME', TIMETZ: 'TIME WITH TIME ZONE', 'TIME WITH TIME ZONE': 'TIME WITH TIME ZONE',
  BITSTRING: 'BIT', BIT: 'BIT',
  DECIMAL: 'DECIMAL', NUMERIC: 'DECIMAL',
};

const STRING_TYPES = new Set(['VARCHAR']);

/** Split `a, b(c, d), 'e,f'` at top-level commas. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(s.slice(start).trim());
  return parts.filter((p) => p !== '');
}

/** `"a"` or `a` → `"a"` (DuckDB prints struct and union field names quoted). */
function fieldName(raw: string): string {
  const bare = /^"(.*)"$/s.exec(raw)?.[1]?.replace(/""/g, '"') ?? raw;
  return `"${bare.replace(/"/g, '""')}"`;
}

/**
 * DuckDB's canonical spelling of a type name, as it reports result columns: aliases resolved
 * (`int` → `INTEGER`, `text` → `VARCHAR`, `timestamptz` → `TIMESTAMP WITH TIME ZONE`), `numeric` without
 * arguments → `DECIMAL(18,3)`, string lengths dropped (DuckDB ignores them), nested types normalized
 * inside. Names it does not know are upper-cased and kept.
 *
 * @example
 * normalizeDuckdbType('numeric(10, 2)')       // 'DECIMAL(10,2)'
 * normalizeDuckdbType('varchar(20)[]')        // 'VARCHAR[]'
 * normalizeDuckdbType('map(text, int8)')      // 'MAP(VARCHAR, BIGINT)'
 */
export function normalizeDuckdbType(dataType: string): string {
  let s = dataType.trim();
  // Array suffixes: INTEGER[] or INTEGER[3], possibly repeated.
  const suffix = /((\[\s*\d*\s*\])+)$/.exec(s);
  let arrays = '';
  if (suffix && s.length > suffix[0].length) {
    arrays = suffix[0].replace(/\s+/g, '');
    s = s.slice(0, -suffix[0].length).trim();
  }
  const open = s.indexOf('(');
  const hasArgs = open > 0 && s.endsWith(')');
  const name = (hasArgs ? s.slice(0, open) : s).trim().replace(/\s+/g, ' ').toUpperCase();
  const args = hasArgs ? splitTopLevel(s.slice(open + 1, -1)) : [];
  const base = TYPE_ALIASES[name] ?? name;
  let out: string;
  if (base === 'DECIMAL') {
    const [p = '18', sc = args.length ? '0' : '3'] = args;
    out = `DECIMAL(${p.trim()},${sc.trim()})`;
  } else if (STRING_TYPES.has(base)) {
    out = base;
  } else if (base === 'STRUCT' || base === 'UNION') {
    out = `${base}(${args.map((field) => {
      const m = /^("(?:[^"]|"")*"|\S+)\s+(.*)$/s.exec(field);
      return m ? `${fieldName(m[1])} ${normalizeDuckdbType(m[2])}` : field;
    }).join(', ')})`;
  } else if (base === 'MAP') {
    out = `MAP(${args.map(normalizeDuckdbType).join(', ')})`;
  } else if (hasArgs) {
    out = `${base}(${args.join(', ')})`;
  } else {
    out = base;
  }
  return out + arrays;
}

/**
 * A declared contract type against the type DuckDB reports for the model's column: equal after
 * normalisation, without comparing decimal precision and scale (dbt's contracts compare neither size,
 * precision nor scale; string lengths are already dropped by the normalisation).
 *
 * @example
 * duckdbTypesMatch('numeric(10,2)', 'DECIMAL(18,3)') // true
 * duckdbTypesMatch('int', 'BIGINT')                  // false
 */
export function duckdbTypesMatch(declared: string, actual: string): boolean {
  const base = (t: string) => normalizeDuckdbType(t).replace(/DECIMAL\(\d+,\d+\)/g, 'DECIMAL');
  return base(declared) === base(actual);
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
