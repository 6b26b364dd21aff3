/**
 * Redshift types: seed columns sized from their values (Redshift's `varchar` is 256 bytes by default and
 * `numeric` has scale 0, so both are sized), and canonical type names for contracts — Postgres's, plus
 * Redshift's aliases (`text` and `varchar` are both `character varying`; `float` is `double precision`).
 *
 * @example
 * redshiftSeedType('text', { maxByteLength: 12, maxScale: 0 })  // 'varchar(12)'
 * redshiftSeedType('number', { maxByteLength: 6, maxScale: 2 }) // 'numeric(38,2)'
 */
import type { SeedColumnStats, SeedColumnType } from '../../src/adapter.js';
import { normalizePostgresType, postgresTypesMatch } from '../postgres/types.js';

const REDSHIFT_MAX_VARCHAR = 65535;

export function redshiftSeedType(type: SeedColumnType, stats: SeedColumnStats): string {
  switch (type) {
    case 'integer': return 'bigint';
    case 'number': return stats.maxScale > 37 ? 'double precision' : `numeric(38,${stats.maxScale})`;
    case 'boolean': return 'boolean';
    case 'date': return 'date';
    case 'timestamp': return 'timestamp';
    case 'text': return `varchar(${Math.min(REDSHIFT_MAX_VARCHAR, Math.max(1, stats.maxByteLength))})`;
  }
}

const REDSHIFT_ALIASES: Record<string, string> = {
  int: 'integer', int4: 'integer', integer: 'integer',
  int8: 'bigint', bigint: 'bigint',
  int2: 'smallint', smallint: 'smallint',
  float: 'double precision', float8: 'double precision', 'double precision': 'double precision',
  float4: 'real', real: 'real',
  numeric: 'numeric', decimal: 'numeric',
  varchar: 'character varying', 'character varying': 'character varying', nvarchar: 'character varying', text: 'character varying',
  char: 'character', character: 'character', bpchar: 'character', nchar: 'character',
  bool: 'boolean', boolean: 'boolean',
  timestamp: 'timestamp without time zone', 'timestamp without time zone': 'timestamp without time zone',
  timestamptz: 'timestamp with time zone', 'timestamp with time zone': 'timestamp with time zone',
  time: 'time without time zone', 'time without time zone': 'time without time zone',
  timetz: 'time with time zone', 'time with time zone': 'time with time zone',
  date: 'date', super: 'super', geometry: 'geometry', varbyte: 'varbyte',
};

export function normalizeRedshiftType(dataType: string): string {
  return normalizePostgresType(dataType, REDSHIFT_ALIASES);
}

export function redshiftTypesMatch(declared: string, actual: string): boolean {
  return postgresTypesMatch(declared, actual, normalizeRedshiftType);
}
