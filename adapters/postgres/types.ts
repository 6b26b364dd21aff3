/**
 * Postgres types: native names for Kiln's portable seed types, the canonical spelling of a type name (for
 * model contracts, as `format_type()` prints it), the names of result columns, and result values as
 * plain JS (bigint and numeric as numbers when exact; dates and timestamps without zone read as UTC).
 *
 * @example
 * postgresSeedType('number')              // 'numeric'
 * normalizePostgresType('int4')           // 'integer'
 * normalizePostgresType('varchar(20)')    // 'character varying(20)'
 * postgresTypesMatch('numeric(10,2)', 'numeric') // true: sizes are not compared (dbt's rule)
 */
import pg from 'pg';
import type { ColumnInfo, SeedColumnType } from '../../src/adapter.js';

const SEED_TYPES: Record<SeedColumnType, string> = {
  integer: 'bigint',
  number: 'numeric',
  boolean: 'boolean',
  date: 'date',
  timestamp: 'timestamp',
  text: 'text',
};

export function postgresSeedType(type: SeedColumnType): string {
  return SEED_TYPES[type];
}

/** Aliases → the name `format_type()` prints. */
const ALIASES: Record<string, string> = {
  int: 'integer', int4: 'integer', integer: 'integer', serial: 'integer', serial4: 'integer',
  int8: 'bigint', bigint: 'bigint', bigserial: 'bigint', serial8: 'bigint',
  int2: 'smallint', smallint: 'smallint', smallserial: 'smallint', serial2: 'smallint',
  float: 'double precision', float8: 'double precision', 'double precision': 'double precision', double: 'double precision',
  float4: 'real', real: 'real',
  numeric: 'numeric', decimal: 'numeric',
  varchar: 'character varying', 'character varying': 'character varying',
  char: 'character', character: 'character', bpchar: 'character',
  text: 'text',
  bool: 'boolean', boolean: 'boolean',
  timestamp: 'timestamp without time zone', 'timestamp without time zone': 'timestamp without time zone',
  timestamptz: 'timestamp with time zone', 'timestamp with time zone': 'timestamp with time zone',
  time: 'time without time zone', 'time without time zone': 'time without time zone',
  timetz: 'time with time zone', 'time with time zone': 'time with time zone',
  date: 'date', interval: 'interval', json: 'json', jsonb: 'jsonb', uuid: 'uuid', bytea: 'bytea',
};

/**
 * The canonical spelling of a Postgres type name: aliases resolved, lower case, arguments without spaces,
 * array suffixes kept (`int[]` → `integer[]`). Unknown names are lower-cased and kept.
 */
export function normalizePostgresType(dataType: string, aliases: Record<string, string> = ALIASES): string {
  let s = dataType.trim().toLowerCase().replace(/\s+/g, ' ');
  let arrays = '';
  const suffix = /((\s*\[\s*\d*\s*\])+)$/.exec(s);
  if (suffix && s.length > suffix[0].length) {
    arrays = suffix[0].replace(/\s+/g, '');
    s = s.slice(0, -suffix[0].length).trim();
  }
  if (s.startsWith('_') && aliases[s.slice(1)]) {
    arrays = '[]' + arrays;
    s = s.slice(1);
  }
  // `timestamp(3) with time zone`: the precision sits before the zone words.
  const m = /^([a-z ]+?)\s*(\(([^)]*)\))?\s*(with time zone|without time zone)?$/.exec(s);
  if (!m) return s + arrays;
  const name = [m[1].trim(), m[4]].filter(Boolean).join(' ');
  const args = m[3]?.split(',').map((a) => a.trim()).join(',');
  const base = aliases[name] ?? name;
  if (!args) return base + arrays;
  const zone = /^(timestamp|time) (with|without) time zone$/.exec(base);
  return (zone ? `${zone[1]}(${args}) ${zone[2]} time zone` : `${base}(${args})`) + arrays;
}

/**
 * Declared and actual types compare without sizes, precision or scale (dbt's contract rule); `text` and
 * `character varying` are one family (a string literal is `text`, and unbounded varchar is text).
 */
export function postgresTypesMatch(declared: string, actual: string, normalize: (t: string) => string = normalizePostgresType): boolean {
  const bare = (t: string) => normalize(t).replace(/\([^)]*\)/g, '').replace(/^text\b/, 'character varying');
  return bare(declared) === bare(actual);
}

/** Names of common built-in types by OID (format_type without modifier). */
const BUILTIN_TYPE_NAMES: Record<number, string> = {
  16: 'boolean', 17: 'bytea', 18: '"char"', 19: 'name', 20: 'bigint', 21: 'smallint', 23: 'integer', 25: 'text', 26: 'oid',
  114: 'json', 700: 'real', 701: 'double precision', 1042: 'character', 1043: 'character varying', 1082: 'date',
  1083: 'time without time zone', 1114: 'timestamp without time zone', 1184: 'timestamp with time zone',
  1186: 'interval', 1266: 'time with time zone', 1700: 'numeric', 2950: 'uuid', 3802: 'jsonb',
};

/** format_type(oid, typmod) for the built-ins whose modifier is a length or precision. */
function builtinWithModifier(oid: number, typmod: number): string | undefined {
  const base = BUILTIN_TYPE_NAMES[oid];
  if (!base) return undefined;
  if (typmod < 0) return base;
  if (oid === 1043 || oid === 1042) return `${base}(${typmod - 4})`;
  if (oid === 1700) {
    const t = typmod - 4;
    return `numeric(${(t >> 16) & 0xffff},${t & 0xffff})`;
  }
  if (oid === 1114 || oid === 1184) return `timestamp(${typmod}) ${oid === 1114 ? 'without' : 'with'} time zone`;
  return undefined;
}

/** Type names the catalog was asked for, per server session family (OIDs of user types are per database). */
const typeNameCache = new Map<string, string>();

/** Result columns with their type names; types that are not built in are looked up once in pg_type. */
export async function columnTypeNames(client: pg.ClientBase, fields: readonly pg.FieldDef[]): Promise<ColumnInfo[]> {
  const key = (f: pg.FieldDef) => `${f.dataTypeID}:${f.dataTypeModifier}`;
  const missing = fields.filter((f) => !builtinWithModifier(f.dataTypeID, f.dataTypeModifier) && !typeNameCache.has(key(f)));
  if (missing.length) {
    try {
      const res = await client.query(
        'select t.oid::int as oid, m.typmod, format_type(t.oid, m.typmod) as name from unnest($1::int[], $2::int[]) as m(oid, typmod) join pg_catalog.pg_type t on t.oid = m.oid',
        [missing.map((f) => f.dataTypeID), missing.map((f) => f.dataTypeModifier)],
      );
      for (const r of res.rows) typeNameCache.set(`${r.oid}:${r.typmod}`, String(r.name));
    } catch {
      // inside a failed transaction: fall back to the OID
    }
  }
  return fields.map((f) => ({
    name: f.name,
    dataType: builtinWithModifier(f.dataTypeID, f.dataTypeModifier) ?? typeNameCache.get(key(f)) ?? `oid:${f.dataTypeID}`,
  }));
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

function parseInt8(s: string): number | string {
  const b = BigInt(s);
  return b <= MAX_EXACT && b >= -MAX_EXACT ? Number(b) : s;
}

/** A numeric as a number when the number prints back as the same value; else the exact string. */
function parseNumeric(s: string): number | string {
  if (!/^-?\d+(\.\d+)?$/.test(s)) return s; // NaN, Infinity
  const n = Number(s);
  const [int, frac = ''] = s.replace(/^-/, '').split('.');
  const digits = (int.replace(/^0+/, '') + frac.replace(/0+$/, '')).length;
  return digits <= 15 ? n : s;
}

/** Dates and timestamps without time zone carry no zone: read them as UTC so the machine's zone never shifts them. */
function parseUtc(s: string): Date | string {
  if (!/^\d{4}-\d{2}-\d{2}/.test(s)) return s; // infinity, BC dates
  const iso = s.length === 10 ? `${s}T00:00:00Z` : `${s.replace(' ', 'T')}Z`;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? s : d;
}

export const pgTypeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (format === 'binary') return pg.types.getTypeParser(oid, 'binary');
    switch (oid) {
      case 20: return parseInt8;
      case 1700: return parseNumeric;
      case 1082: case 1114: return parseUtc;
      default: return pg.types.getTypeParser(oid, 'text');
    }
  }) as pg.CustomTypesConfig['getTypeParser'],
};
