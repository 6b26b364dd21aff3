/**
 * Snowflake DDL text and relation names.
 *
 * Names: Snowflake folds unquoted identifiers to upper case. With dbt-snowflake's default quote policy (all
 * parts unquoted) a relation renders as `analytics.orders` and lands as ANALYTICS.ORDERS; a part the
 * project's `quoting:` quotes renders as `"orders"` and keeps its case. A name that is not a plain
 * identifier is quoted in its folded (upper-case) spelling, so it still means what the unquoted name would.
 *
 * DDL: tables are `create or replace [transient] table … as (…)` (transient by default, as in dbt), with
 * `cluster_by` (one or a list of expressions; the rows are also ordered by it, as dbt does),
 * `automatic_clustering` (`alter table … resume|suspend recluster` after the build) and `copy_grants`;
 * views may be `secure`. A model's `snowflake_warehouse` and `query_tag` are statements placed before its
 * build statement (`use warehouse …`, `alter session set query_tag = …`); the connection puts the profile's
 * warehouse and query tag back when the model's connection is released.
 *
 * @example
 * const ddl = snowflakeDdl(new SnowflakeNames({ database: false, schema: false, identifier: false }));
 * ddl.createTableAs({ database: 'db', schema: 'analytics', identifier: 'orders' }, 'select 1 as id', { replace: true, config: { cluster_by: 'id' } })
 * // create or replace transient table db.analytics.orders\n  cluster by (id)\nas (\nselect * from (\nselect 1 as id\n) order by (id)\n)
 */
import type { DdlDialect, IncrementalStep, IncrementalStrategy, NodeConfigView, QuotePolicy, RelationKind, RelationRef, SnapshotDialect } from '../../src/adapter.js';
import { standardConstraintSql } from '../../src/run/constraintSql.js';
import { andPredicates, insertAll as standardInsert } from '../../src/run/incrementalSql.js';

export const SNOWFLAKE_MAX_IDENTIFIER = 255;

/** Names Snowflake accepts unquoted (and folds to upper case). */
const PLAIN = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** dbt-snowflake's default: nothing quoted. */
export const DEFAULT_QUOTE_POLICY: QuotePolicy = { database: false, schema: false, identifier: false };

export function quoteSnowflakeIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A SQL string literal (backslash is an escape character in Snowflake string literals). */
export function snowflakeLiteral(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** Relation names under one quote policy, and how Snowflake stores each part. */
export class SnowflakeNames {
  constructor(readonly policy: QuotePolicy = DEFAULT_QUOTE_POLICY) {}

  /** One part as SQL text: quoted as configured; unquoted parts that need quotes are quoted upper-cased. */
  part(name: string, quoted: boolean): string {
    if (quoted) return quoteSnowflakeIdentifier(name);
    return PLAIN.test(name) ? name : quoteSnowflakeIdentifier(name.toUpperCase());
  }

  /** The name as Snowflake stores it (what information_schema shows): upper-cased unless quoted. */
  stored(name: string, quoted: boolean): string {
    return quoted ? name : name.toUpperCase();
  }

  render(rel: RelationRef): string {
    const parts: string[] = [];
    if (rel.database) parts.push(this.part(rel.database, this.policy.database));
    if (rel.schema) parts.push(this.part(rel.schema, this.policy.schema));
    parts.push(this.part(rel.identifier, this.policy.identifier));
    return parts.join('.');
  }

  /** `db.schema` (or the schema alone). */
  renderSchema(database: string | undefined, schema: string): string {
    return [database ? this.part(database, this.policy.database) : undefined, this.part(schema, this.policy.schema)].filter(Boolean).join('.');
  }
}

/** The Snowflake options of a node's config, checked. */
export interface SnowflakeTableOptions {
  transient: boolean;
  clusterBy: string[];
  automaticClustering?: boolean;
  copyGrants: boolean;
  secure: boolean;
  warehouse?: string;
  queryTag?: string;
}

function bad(message: string): never {
  throw new Error(`invalid Snowflake config: ${message}`);
}

function optionalBool(c: NodeConfigView, key: string): boolean | undefined {
  const v = c[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') bad(`${key} must be true or false, not ${JSON.stringify(v)}`);
  return v;
}

export function snowflakeTableOptions(config: NodeConfigView | undefined): SnowflakeTableOptions {
  const c = config ?? {};
  const raw = c.cluster_by === undefined || c.cluster_by === null ? [] : Array.isArray(c.cluster_by) ? c.cluster_by : [c.cluster_by];
  if (!raw.every((x) => typeof x === 'string' && x.trim() !== '')) bad(`cluster_by must be an expression or a list of them, not ${JSON.stringify(c.cluster_by)}`);
  const warehouse = c.snowflake_warehouse;
  if (warehouse !== undefined && warehouse !== null && (typeof warehouse !== 'string' || warehouse.trim() === '')) bad(`snowflake_warehouse must be a warehouse name, not ${JSON.stringify(warehouse)}`);
  const tag = c.query_tag;
  if (tag !== undefined && tag !== null && typeof tag !== 'string') bad(`query_tag must be a string, not ${JSON.stringify(tag)}`);
  const automatic = optionalBool(c, 'automatic_clustering');
  return {
    transient: optionalBool(c, 'transient') ?? true,
    clusterBy: (raw as string[]).map((x) => x.trim()),
    automaticClustering: automatic,
    copyGrants: optionalBool(c, 'copy_grants') ?? false,
    secure: optionalBool(c, 'secure') ?? false,
    warehouse: typeof warehouse === 'string' ? warehouse.trim() : undefined,
    queryTag: typeof tag === 'string' ? tag : undefined,
  };
}

/** A warehouse name as written in `use warehouse`: plain names as they are, others quoted. */
function warehouseName(name: string): string {
  return PLAIN.test(name) || /^".*"$/.test(name) ? name : quoteSnowflakeIdentifier(name);
}

/** The statements that switch the session to a model's warehouse and query tag (before its build). */
export function sessionPrefix(o: SnowflakeTableOptions): string {
  const out: string[] = [];
  if (o.warehouse) out.push(`use warehouse ${warehouseName(o.warehouse)};\n`);
  if (o.queryTag !== undefined) out.push(`alter session set query_tag = ${snowflakeLiteral(o.queryTag)};\n`);
  return out.join('');
}

const header = (sqlHeader: string | undefined) => (sqlHeader ? `${sqlHeader.trim().replace(/;\s*$/, '')};\n` : '');

const KIND_KEYWORD: Record<RelationKind, string> = {
  table: 'table',
  view: 'view',
  materialized_view: 'materialized view',
  external: 'external table',
  dynamic_table: 'dynamic table',
};

function checkLength(name: string, what: string): void {
  if (name.length > SNOWFLAKE_MAX_IDENTIFIER) {
    throw new Error(`${what} '${name}' is ${name.length} characters long; Snowflake allows at most ${SNOWFLAKE_MAX_IDENTIFIER} (set a shorter alias or schema in the model's config)`);
  }
}

const DEST = 'DBT_INTERNAL_DEST';
const SOURCE = 'DBT_INTERNAL_SOURCE';

export function snowflakeDdl(names: SnowflakeNames): DdlDialect {
  const rel = (r: RelationRef) => {
    checkLength(r.identifier, 'relation name');
    checkLength(r.schema, 'schema name');
    return names.render(r);
  };
  const column = (c: { name: string; quote?: boolean }, quoteColumns: boolean) => ((c.quote ?? quoteColumns) ? quoteSnowflakeIdentifier(c.name) : names.part(c.name, false));
  const constraintSql = standardConstraintSql(quoteSnowflakeIdentifier);
  /** After a table build: clustering keys kept up by Snowflake, or not (dbt's automatic_clustering). */
  const clusteringTail = (target: string, o: SnowflakeTableOptions) => {
    if (o.automaticClustering === undefined || o.clusterBy.length === 0) return '';
    return `;\nalter table ${target} ${o.automaticClustering ? 'resume' : 'suspend'} recluster`;
  };
  const insertAll = (step: IncrementalStep) => standardInsert((r) => names.render(r), step);

  return {
    createSchema(database, schema) {
      checkLength(schema, 'schema name');
      return `create schema if not exists ${names.renderSchema(database, schema)}`;
    },
    // A clone keeps the column constraints (not null) of the table built aside; it is one atomic statement.
    replaceFrom: (target, built) => `create or replace table ${rel(target)} clone ${rel(built)}`,
    createTableAs(r, selectSql, opts) {
      const o = snowflakeTableOptions(opts.config);
      const target = rel(r);
      const clauses = [
        ...(o.clusterBy.length ? [`cluster by (${o.clusterBy.join(', ')})`] : []),
        ...(o.copyGrants && opts.replace ? ['copy grants'] : []),
      ];
      const body = o.clusterBy.length ? `select * from (\n${selectSql}\n) order by (${o.clusterBy.join(', ')})` : selectSql;
      return `${header(opts.sqlHeader)}${sessionPrefix(o)}create ${opts.replace ? 'or replace ' : ''}${o.transient ? 'transient ' : ''}table ${target}`
        + `${clauses.map((c) => `\n  ${c}`).join('')}\nas (\n${body}\n)${clusteringTail(target, o)}`;
    },
    createViewAs(r, selectSql, opts) {
      const o = snowflakeTableOptions(opts.config);
      return `${header(opts.sqlHeader)}${sessionPrefix(o)}create ${opts.replace ? 'or replace ' : ''}${o.secure ? 'secure ' : ''}view ${rel(r)}`
        + `${o.copyGrants && opts.replace ? '\n  copy grants' : ''}\nas (\n${selectSql}\n)`;
    },
    createTable(r, columns, quoteColumns, opts) {
      const o = snowflakeTableOptions(opts?.config);
      const target = rel(r);
      const cols = columns.map((c) => [column(c, quoteColumns), c.type, ...(c.constraints ?? [])].join(' '));
      const clauses = [...cols, ...(opts?.constraints ?? [])];
      const cluster = o.clusterBy.length ? `\ncluster by (${o.clusterBy.join(', ')})` : '';
      return `${sessionPrefix(o)}create or replace ${o.transient ? 'transient ' : ''}table ${target} (\n    ${clauses.join(',\n    ')}\n)${cluster}${clusteringTail(target, o)}`;
    },
    insertSelect(r, columns, selectSql, opts) {
      const list = columns.map((c) => column(c, opts.quoteColumns)).join(', ');
      return `${header(opts.sqlHeader)}insert into ${rel(r)} (${list})\nselect ${list} from (\n${selectSql}\n) as __kiln_sbq`;
    },
    incrementalSql(strategy: IncrementalStrategy, step: IncrementalStep): string[] | undefined {
      const target = names.render(step.target);
      const source = names.render(step.source);
      const keys = step.uniqueKey;
      switch (strategy) {
        case 'delete+insert': {
          if (keys.length === 0) return [insertAll(step)];
          // Snowflake's DELETE takes an alias without AS (as dbt-snowflake writes it).
          const match = keys.length === 1
            ? `${DEST}.${keys[0]} in (select ${keys[0]} from ${source})`
            : `exists (select 1 from ${source} as ${SOURCE} where ${keys.map((k) => `${SOURCE}.${k} = ${DEST}.${k}`).join(' and ')})`;
          return [`delete from ${target} ${DEST}\nwhere ${match}${andPredicates(step.predicates)}`, insertAll(step)];
        }
        case 'insert_overwrite': {
          const p = step.partitionBy!;
          return [
            `delete from ${target} ${DEST}\nwhere (${DEST}.${p} in (select distinct ${p} from ${source})`
            + `\n  or (${DEST}.${p} is null and exists (select 1 from ${source} where ${p} is null)))${andPredicates(step.predicates)}`,
            insertAll(step),
          ];
        }
        case 'microbatch':
          if (step.predicates.length === 0) throw new Error('internal: a microbatch step without its window');
          return [`delete from ${target} ${DEST}\nwhere ${step.predicates.map((p) => `(${p})`).join('\n  and ')}`, insertAll(step)];
        default:
          // append and merge: the standard SQL is Snowflake SQL.
          return undefined;
      }
    },
    begin: () => 'begin',
    commit: () => 'commit',
    rollback: () => 'rollback',
    addColumn: (r, col, type) => `alter table ${rel(r)} add column ${col} ${type}`,
    dropColumn: (r, col) => `alter table ${rel(r)} drop column ${col}`,
    alterColumnType: (r, col, type) => `alter table ${rel(r)} alter column ${col} set data type ${type}`,
    // Snowflake has no check constraints; everything else is standard SQL.
    columnConstraint: (c) => (c.type === 'check' ? undefined : constraintSql.column(c)),
    tableConstraint: (c) => (c.type === 'check' ? undefined : constraintSql.table(c)),
    dropRelation: (r, kind) => `drop ${KIND_KEYWORD[kind]} if exists ${rel(r)}`,
    renameRelation(from, kind, to) {
      checkLength(to.identifier, 'relation name');
      // Snowflake renames with the full target name (a bare name would land in the session's schema).
      return `alter ${kind === 'view' ? 'view' : 'table'} ${rel(from)} rename to ${names.render({ ...from, identifier: to.identifier })}`;
    },
  };
}

/** Snowflake's snapshot time: the current UTC time without zone (dbt-snowflake's snapshot_get_time). */
export const snowflakeSnapshot: SnapshotDialect = {
  currentTime: () => "to_timestamp_ntz(convert_timezone('UTC', current_timestamp()))",
};
