/**
 * BigQuery types: native names for Kiln's portable seed types (dbt-bigquery's choices), the canonical
 * spelling of a type name (GoogleSQL names: `INT64`, `FLOAT64`, `BOOL`, `STRING`, `STRUCT<…>`, `ARRAY<…>`),
 * the type of an API schema field (the REST API still says `INTEGER`, `FLOAT`, `BOOLEAN`, `RECORD`), and
 * result values from the API's `{f:[{v}]}` rows as plain JS.
 *
 * @example
 * bigquerySeedType('number')              // 'FLOAT64'
 * normalizeBigQueryType('integer')        // 'INT64'
 * normalizeBigQueryType('varchar(20)')    // 'STRING(20)'
 * fieldType({ name: 'a', type: 'INTEGER', mode: 'REPEATED' }) // 'ARRAY<INT64>'
 */
import type { SeedColumnType } from '../../src/adapter.js';

const SEED_TYPES: Record<SeedColumnType, string> = {
  integer: 'INT64',
  number: 'FLOAT64',
  boolean: 'BOOL',
  date: 'DATE',
  // dbt-bigquery loads agate DateTime as DATETIME (a civil time, no zone), as Kiln's CSVs carry none.
  timestamp: 'DATETIME',
  text: 'STRING',
};

export function bigquerySeedType(type: SeedColumnType): string {
  return SEED_TYPES[type];
}

/** GoogleSQL aliases (and the ANSI names users bring from other warehouses) → canonical names. */
const ALIASES: Record<string, string> = {
  INT64: 'INT64', INT: 'INT64', INTEGER: 'INT64', BIGINT: 'INT64', SMALLINT: 'INT64', TINYINT: 'INT64', BYTEINT: 'INT64',
  FLOAT64: 'FLOAT64', FLOAT: 'FLOAT64', DOUBLE: 'FLOAT64', 'DOUBLE PRECISION': 'FLOAT64', REAL: 'FLOAT64',
  NUMERIC: 'NUMERIC', DECIMAL: 'NUMERIC', BIGNUMERIC: 'BIGNUMERIC', BIGDECIMAL: 'BIGNUMERIC',
  BOOL: 'BOOL', BOOLEAN: 'BOOL',
  STRING: 'STRING', VARCHAR: 'STRING', TEXT: 'STRING', CHAR: 'STRING', CHARACTER: 'STRING', 'CHARACTER VARYING': 'STRING',
  BYTES: 'BYTES', DATE: 'DATE', DATETIME: 'DATETIME', TIME: 'TIME', TIMESTAMP: 'TIMESTAMP',
  GEOGRAPHY: 'GEOGRAPHY', JSON: 'JSON', INTERVAL: 'INTERVAL', RANGE: 'RANGE',
  RECORD: 'STRUCT', STRUCT: 'STRUCT', ARRAY: 'ARRAY',
};

/** Split `a, b<c, d>, e(1,2)` at top-level commas. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '<' || ch === '(') depth++;
    else if (ch === '>' || ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(s.slice(start).trim());
  return parts.filter(Boolean);
}

/**
 * The canonical GoogleSQL spelling of a type: aliases resolved, upper case, parameters kept without spaces,
 * `STRUCT<name TYPE, …>` and `ARRAY<TYPE>` normalized inside. Unknown names are upper-cased and kept.
 */
export function normalizeBigQueryType(dataType: string): string {
  const s = dataType.trim().replace(/\s+/g, ' ');
  const angle = s.indexOf('<');
  if (angle > 0 && s.endsWith('>')) {
    const head = ALIASES[s.slice(0, angle).trim().toUpperCase()] ?? s.slice(0, angle).trim().toUpperCase();
    const inner = s.slice(angle + 1, -1);
    if (head === 'ARRAY') return `ARRAY<${normalizeBigQueryType(inner)}>`;
    if (head === 'STRUCT') {
      return `STRUCT<${splitTopLevel(inner).map((f) => {
        const m = /^(`[^`]+`|\S+)\s+(.+)$/s.exec(f);
        return m ? `${m[1].replace(/^`|`$/g, '')} ${normalizeBigQueryType(m[2])}` : normalizeBigQueryType(f);
      }).join(', ')}>`;
    }
    return `${head}<${inner}>`;
  }
  const paren = s.indexOf('(');
  const name = (paren > 0 ? s.slice(0, paren) : s).trim().toUpperCase();
  const base = ALIASES[name] ?? name;
  if (paren > 0 && s.endsWith(')')) return `${base}(${s.slice(paren + 1, -1).split(',').map((a) => a.trim()).join(',')})`;
  return base;
}

/** Declared and actual types compare without parameters (`NUMERIC(10,2)` is a `NUMERIC`), as dbt's contracts do. */
export function bigqueryTypesMatch(declared: string, actual: string): boolean {
  const bare = (t: string) => normalizeBigQueryType(t).replace(/\([^)]*\)/g, '');
  return bare(declared) === bare(actual);
}

/** A field of a table or result schema, as the REST API returns it. */
export interface ApiField {
  name: string;
  type: string;
  mode?: 'NULLABLE' | 'REQUIRED' | 'REPEATED';
  fields?: ApiField[];
  description?: string;
}

/** The GoogleSQL type of an API schema field (legacy names translated; RECORD → STRUCT; REPEATED → ARRAY). */
export function fieldType(f: ApiField): string {
  const base = f.type.toUpperCase() === 'RECORD' || f.type.toUpperCase() === 'STRUCT'
    ? `STRUCT<${(f.fields ?? []).map((c) => `${c.name} ${fieldType(c)}`).join(', ')}>`
    : normalizeBigQueryType(f.type);
  return f.mode === 'REPEATED' ? `ARRAY<${base}>` : base;
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

function intValue(s: string): number | string {
  const b = BigInt(s);
  return b <= MAX_EXACT && b >= -MAX_EXACT ? Number(b) : s;
}

/** A NUMERIC as a number when it prints back as the same value; else the exact string. */
function numericValue(s: string): number | string {
  const n = Number(s);
  const [int, frac = ''] = s.replace(/^-/, '').split('.');
  const digits = (int.replace(/^0+/, '') + frac.replace(/0+$/, '')).length;
  return digits <= 15 && Number.isFinite(n) ? n : s;
}

/** One cell of an API row (`v`), typed by its schema field, as a plain JS value. */
export function parseCell(v: unknown, f: ApiField): unknown {
  if (v === null || v === undefined) return null;
  if (f.mode === 'REPEATED') {
    return (v as { v: unknown }[]).map((item) => parseCell(item.v, { ...f, mode: 'NULLABLE' }));
  }
  const type = f.type.toUpperCase();
  if (type === 'RECORD' || type === 'STRUCT') {
    const cells = (v as { f: { v: unknown }[] }).f;
    return Object.fromEntries((f.fields ?? []).map((c, i) => [c.name, parseCell(cells[i]?.v, c)]));
  }
  const s = String(v);
  switch (type) {
    case 'INTEGER': case 'INT64': return intValue(s);
    case 'FLOAT': case 'FLOAT64': return Number(s);
    case 'NUMERIC': case 'BIGNUMERIC': return numericValue(s);
    case 'BOOLEAN': case 'BOOL': return s === 'true';
    // Microseconds since the epoch (formatOptions.useInt64Timestamp), or seconds as a float from older servers.
    case 'TIMESTAMP': return /^-?\d+$/.test(s) ? new Date(Number(BigInt(s) / 1000n)) : new Date(Number(s) * 1000);
    // Civil dates and times carry no zone: read them as UTC so the machine's zone never shifts them.
    case 'DATE': return new Date(`${s}T00:00:00Z`);
    case 'DATETIME': return new Date(`${s.replace(' ', 'T')}Z`);
    case 'JSON': return s;
    default: return s;
  }
}
