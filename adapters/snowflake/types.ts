/**
 * Snowflake types: native names for Kiln's portable seed types, the canonical spelling of a type name (as
 * Snowflake reports it in `describe table`: `NUMBER(38,0)`, `VARCHAR(16777216)`, `TIMESTAMP_NTZ(9)`), and
 * the type name of a result column from the driver's column metadata.
 *
 * @example
 * snowflakeSeedType('integer')              // 'integer'
 * normalizeSnowflakeType('int')             // 'NUMBER(38,0)'
 * normalizeSnowflakeType('string')          // 'VARCHAR(16777216)'
 * snowflakeTypesMatch('varchar', 'VARCHAR(16777216)') // true: sizes are not compared (dbt's rule)
 */
import type { SeedColumnType } from '../../src/adapter.js';

/** dbt-snowflake's seed types: whole numbers as integer, other numbers as float. */
const SEED_TYPES: Record<SeedColumnType, string> = {
  integer: 'integer',
  number: 'float',
  boolean: 'boolean',
  date: 'date',
  timestamp: 'timestamp_ntz',
  text: 'varchar',
};

export function snowflakeSeedType(type: SeedColumnType): string {
  return SEED_TYPES[type];
}

const MAX_VARCHAR = 16777216;

/** Snowflake's synonyms → its canonical name (without arguments). */
const ALIASES: Record<string, string> = {
  number: 'NUMBER', numeric: 'NUMBER', decimal: 'NUMBER',
  int: 'NUMBER', integer: 'NUMBER', bigint: 'NUMBER', smallint: 'NUMBER', tinyint: 'NUMBER', byteint: 'NUMBER',
  float: 'FLOAT', float4: 'FLOAT', float8: 'FLOAT', double: 'FLOAT', 'double precision': 'FLOAT', real: 'FLOAT',
  varchar: 'VARCHAR', string: 'VARCHAR', text: 'VARCHAR', 'character varying': 'VARCHAR', nvarchar: 'VARCHAR', nvarchar2: 'VARCHAR',
  char: 'VARCHAR', character: 'VARCHAR', nchar: 'VARCHAR',
  boolean: 'BOOLEAN', bool: 'BOOLEAN',
  date: 'DATE', time: 'TIME', datetime: 'TIMESTAMP_NTZ',
  timestamp: 'TIMESTAMP_NTZ', timestamp_ntz: 'TIMESTAMP_NTZ', 'timestamp without time zone': 'TIMESTAMP_NTZ',
  timestamp_ltz: 'TIMESTAMP_LTZ', timestamp_tz: 'TIMESTAMP_TZ', 'timestamp with time zone': 'TIMESTAMP_TZ', timestamptz: 'TIMESTAMP_TZ',
  variant: 'VARIANT', object: 'OBJECT', array: 'ARRAY', binary: 'BINARY', varbinary: 'BINARY', geography: 'GEOGRAPHY', geometry: 'GEOMETRY',
};

/**
 * The canonical spelling of a Snowflake type: synonyms resolved, upper case, default sizes filled in as
 * `describe table` prints them (integers are NUMBER(38,0), text is VARCHAR(16777216), timestamps (9)).
 * Unknown names are upper-cased and kept.
 */
export function normalizeSnowflakeType(dataType: string): string {
  const s = dataType.trim().toLowerCase().replace(/\s+/g, ' ');
  const m = /^([a-z_0-9 ]+?)\s*(\(([^)]*)\))?$/.exec(s);
  if (!m) return dataType.trim().toUpperCase();
  const name = m[1].trim();
  const args = m[3]?.split(',').map((a) => a.trim()).filter(Boolean) ?? [];
  const base = ALIASES[name] ?? name.toUpperCase();
  switch (base) {
    case 'NUMBER':
      if (name !== 'number' && name !== 'numeric' && name !== 'decimal') return 'NUMBER(38,0)';
      return `NUMBER(${args[0] ?? '38'},${args[1] ?? '0'})`;
    case 'VARCHAR':
      if (name === 'char' || name === 'character' || name === 'nchar') return `VARCHAR(${args[0] ?? '1'})`;
      return `VARCHAR(${args[0] ?? MAX_VARCHAR})`;
    case 'TIMESTAMP_NTZ': case 'TIMESTAMP_LTZ': case 'TIMESTAMP_TZ': case 'TIME':
      return `${base}(${args[0] ?? '9'})`;
    default:
      return args.length ? `${base}(${args.join(',')})` : base;
  }
}

/** Declared and actual types compare without sizes, precision or scale (dbt's contract rule). */
export function snowflakeTypesMatch(declared: string, actual: string): boolean {
  const bare = (t: string) => normalizeSnowflakeType(t).replace(/\(.*\)$/, '');
  return bare(declared) === bare(actual);
}

/** What the driver says about a result column (snowflake-sdk's Column). */
export interface DriverColumn {
  getName(): string;
  getType(): string;
  getPrecision?(): number;
  getScale?(): number;
  getLength?(): number;
}

/** A result column's type in `describe table` spelling, from the driver's metadata (`fixed` → NUMBER(p,s)). */
export function driverColumnType(c: DriverColumn): string {
  const t = c.getType().toLowerCase();
  switch (t) {
    case 'fixed': return `NUMBER(${c.getPrecision?.() ?? 38},${c.getScale?.() ?? 0})`;
    case 'real': return 'FLOAT';
    case 'text': return `VARCHAR(${c.getLength?.() ?? MAX_VARCHAR})`;
    case 'boolean': return 'BOOLEAN';
    case 'date': return 'DATE';
    case 'time': return `TIME(${c.getScale?.() ?? 9})`;
    case 'timestamp_ntz': case 'timestamp_ltz': case 'timestamp_tz': return `${t.toUpperCase()}(${c.getScale?.() ?? 9})`;
    default: return t.toUpperCase();
  }
}

/** A type from information_schema.columns (DATA_TYPE plus sizes) in `describe table` spelling. */
export function infoSchemaType(r: { dataType: string; precision?: unknown; scale?: unknown; length?: unknown }): string {
  const t = r.dataType.toUpperCase();
  if (t === 'NUMBER') return `NUMBER(${r.precision ?? 38},${r.scale ?? 0})`;
  if (t === 'TEXT' || t === 'VARCHAR') return `VARCHAR(${r.length ?? MAX_VARCHAR})`;
  if (/^TIMESTAMP_(NTZ|LTZ|TZ)$/.test(t) || t === 'TIME') return `${t}(${r.scale ?? 9})`;
  return normalizeSnowflakeType(t);
}
