/**
 * BigQuery DDL text (GoogleSQL). BigQuery has no transactional DDL and cannot rename views, so the engine
 * replaces tables and views in place with `create or replace`, which BigQuery does atomically. Table
 * options come from the model's config as dbt-bigquery reads them: `partition_by` ({field, data_type:
 * date|timestamp|datetime|int64, granularity, range}), `cluster_by`, `labels`, `require_partition_filter`,
 * `partition_expiration_days`, `kms_key_name`, `hours_to_expiration`. Descriptions (persist_docs) are set
 * after the build (postBuild.ts). Datasets are created with the target's `location`.
 *
 * @example
 * const ddl = makeBigQueryDdl({ location: 'EU' });
 * ddl.createTableAs({ database: 'p', schema: 'd', identifier: 't' }, 'select 1 as id', { replace: true, config: { cluster_by: 'id' } })
 * // create or replace table `p`.`d`.`t`
 * // cluster by `id`
 * // as (
 * // select 1 as id
 * // )
 */
import type { DdlDialect, NodeConfigView, RelationKind, RelationRef, TableColumnDef } from '../../src/adapter.js';
import { bigqueryIncrementalSql } from './incremental.js';
import { normalizeBigQueryType } from './types.js';

/** `` `name` ``: backticks, with a backtick or backslash inside escaped by a backslash. */
export function quoteBigQueryIdentifier(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

/** `` `project`.`dataset`.`table` `` (the parts present). */
export function renderBigQueryRelation(rel: RelationRef): string {
  return [rel.database, rel.schema, rel.identifier].filter((p): p is string => !!p).map(quoteBigQueryIdentifier).join('.');
}

/** A GoogleSQL string literal: single quotes, with quote, backslash and control characters escaped. */
export function bigqueryLiteral(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}'`;
}

/** dbt-bigquery's `partition_by` config, validated. */
export interface PartitionConfig {
  field: string;
  dataType: 'date' | 'timestamp' | 'datetime' | 'int64';
  granularity: 'hour' | 'day' | 'month' | 'year';
  range?: { start: number; end: number; interval: number };
}

const DATA_TYPES = ['date', 'timestamp', 'datetime', 'int64'] as const;
const GRANULARITIES = ['hour', 'day', 'month', 'year'] as const;

/** Read `partition_by` from a config (a dict as dbt-bigquery takes it; a bare column name means a date column). */
export function partitionConfig(config: NodeConfigView | undefined): PartitionConfig | undefined {
  const raw = config?.partition_by;
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw === 'string') return { field: raw, dataType: 'date', granularity: 'day' };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`partition_by must be a mapping such as {field: created_at, data_type: timestamp}, not ${JSON.stringify(raw)}`);
  const p = raw as Record<string, unknown>;
  if (typeof p.field !== 'string' || !p.field) throw new Error('partition_by needs a field (the column to partition on)');
  const dataType = String(p.data_type ?? 'date').toLowerCase();
  if (!(DATA_TYPES as readonly string[]).includes(dataType)) throw new Error(`partition_by data_type must be one of ${DATA_TYPES.join(', ')}, not '${dataType}'`);
  const granularity = String(p.granularity ?? 'day').toLowerCase();
  if (!(GRANULARITIES as readonly string[]).includes(granularity)) throw new Error(`partition_by granularity must be one of ${GRANULARITIES.join(', ')}, not '${granularity}'`);
  if (dataType === 'date' && granularity === 'hour') throw new Error('partition_by: a date column cannot be partitioned by hour');
  const out: PartitionConfig = { field: p.field, dataType: dataType as PartitionConfig['dataType'], granularity: granularity as PartitionConfig['granularity'] };
  if (dataType === 'int64') {
    const r = p.range as Record<string, unknown> | undefined;
    const num = (k: string) => {
      const v = r?.[k];
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`partition_by with data_type int64 needs range.${k} (a whole number)`);
      return v;
    };
    out.range = { start: num('start'), end: num('end'), interval: num('interval') };
  }
  return out;
}

/**
 * The partition of a row, as dbt-bigquery's PartitionConfig.render writes it: the column itself for
 * int64 and day-granular dates, else `<type>_trunc(column, granularity)`.
 */
export function partitionExpression(p: PartitionConfig, alias?: string): string {
  const column = `${alias ? `${alias}.` : ''}${quoteBigQueryIdentifier(p.field)}`;
  if (p.dataType === 'int64' || (p.dataType === 'date' && p.granularity === 'day')) return column;
  return `${p.dataType}_trunc(${column}, ${p.granularity})`;
}

/** The `partition by` clause of a table. */
function partitionClause(p: PartitionConfig): string {
  if (p.dataType === 'int64') {
    const r = p.range!;
    return `partition by range_bucket(${quoteBigQueryIdentifier(p.field)}, generate_array(${r.start}, ${r.end}, ${r.interval}))`;
  }
  return `partition by ${partitionExpression(p)}`;
}

function clusterClause(config: NodeConfigView | undefined): string | undefined {
  const raw = config?.cluster_by;
  if (raw === undefined || raw === null || raw === '') return undefined;
  const cols = (Array.isArray(raw) ? raw : [raw]).map(String);
  if (cols.length > 4) throw new Error(`cluster_by names ${cols.length} columns; BigQuery clusters by at most 4`);
  return `cluster by ${cols.map(quoteBigQueryIdentifier).join(', ')}`;
}

/** `options(…)` of a table or view from its config; undefined when there are none. */
export function optionsClause(config: NodeConfigView | undefined, kind: 'table' | 'view', extra: Record<string, string> = {}): string | undefined {
  const opts: [string, string][] = [];
  const labels = config?.labels;
  if (labels && typeof labels === 'object' && !Array.isArray(labels) && Object.keys(labels).length) {
    opts.push(['labels', `[${Object.entries(labels as Record<string, unknown>).map(([k, v]) => `(${bigqueryLiteral(k)}, ${bigqueryLiteral(String(v))})`).join(', ')}]`]);
  }
  const hours = config?.hours_to_expiration;
  if (typeof hours === 'number' && hours > 0) opts.push(['expiration_timestamp', `timestamp_add(current_timestamp(), interval ${Math.floor(hours)} hour)`]);
  if (kind === 'table') {
    if (config?.require_partition_filter === true) opts.push(['require_partition_filter', 'true']);
    const days = config?.partition_expiration_days;
    if (typeof days === 'number' && days > 0) opts.push(['partition_expiration_days', String(days)]);
    const kms = config?.kms_key_name;
    if (typeof kms === 'string' && kms) opts.push(['kms_key_name', bigqueryLiteral(kms)]);
  }
  for (const [k, v] of Object.entries(extra)) opts.push([k, v]);
  return opts.length ? `options(\n  ${opts.map(([k, v]) => `${k}=${v}`).join(',\n  ')}\n)` : undefined;
}

/** The clauses between a table's name (or column list) and `as`, in BigQuery's order. */
function tableClauses(config: NodeConfigView | undefined): string[] {
  const p = partitionConfig(config);
  return [p ? partitionClause(p) : undefined, clusterClause(config), optionsClause(config, 'table')].filter((c): c is string => !!c);
}

function header(sqlHeader: string | undefined): string {
  return sqlHeader ? `${sqlHeader.trim().replace(/;\s*$/, '')};\n` : '';
}

function columnDef(c: TableColumnDef, quoteColumns: boolean): string {
  const name = (c.quote ?? quoteColumns) ? quoteBigQueryIdentifier(c.name) : c.name;
  return [name, normalizeBigQueryType(c.type), ...(c.constraints ?? [])].join(' ');
}

const KIND_KEYWORD: Record<RelationKind, string> = {
  table: 'table',
  view: 'view',
  materialized_view: 'materialized view',
  external: 'external table',
  dynamic_table: 'table',
};

export interface BigQueryDdlOptions {
  /** Where datasets are created (the target's `location`); BigQuery's default (US) when absent. */
  location?: string;
}

export function makeBigQueryDdl(o: BigQueryDdlOptions): DdlDialect {
  return {
    createSchema(database, schema) {
      const name = [database, schema].filter((p): p is string => !!p).map(quoteBigQueryIdentifier).join('.');
      return `create schema if not exists ${name}${o.location ? `\noptions(location=${bigqueryLiteral(o.location)})` : ''}`;
    },
    // A staged table (a seed, a contracted model) replaces its target by `copy`, which keeps its column
    // modes (NOT NULL), partitioning and clustering.
    replaceFrom: (target, built) => `create or replace table ${renderBigQueryRelation(target)}\ncopy ${renderBigQueryRelation(built)}`,
    createTableAs(rel, selectSql, opts) {
      const clauses = tableClauses(opts.config);
      return `${header(opts.sqlHeader)}create ${opts.replace ? 'or replace ' : ''}table ${renderBigQueryRelation(rel)}\n`
        + `${clauses.map((c) => `${c}\n`).join('')}as (\n${selectSql}\n)`;
    },
    createViewAs(rel, selectSql, opts) {
      const options = optionsClause(opts.config, 'view');
      return `${header(opts.sqlHeader)}create ${opts.replace ? 'or replace ' : ''}view ${renderBigQueryRelation(rel)}\n`
        + `${options ? `${options}\n` : ''}as (\n${selectSql}\n)`;
    },
    createTable(rel, columns, quoteColumns, opts) {
      const defs = [...columns.map((c) => columnDef(c, quoteColumns)), ...(opts?.constraints ?? [])];
      const clauses = tableClauses(opts?.config);
      return `create table ${renderBigQueryRelation(rel)} (\n    ${defs.join(',\n    ')}\n)${clauses.map((c) => `\n${c}`).join('')}`;
    },
    insertSelect(rel, columns, selectSql, opts) {
      const names = columns.map((c) => ((c.quote ?? opts.quoteColumns) ? quoteBigQueryIdentifier(c.name) : c.name)).join(', ');
      return `${header(opts.sqlHeader)}insert into ${renderBigQueryRelation(rel)} (${names})\nselect ${names} from (\n${selectSql}\n) as __kiln_sbq`;
    },
    incrementalSql: bigqueryIncrementalSql,
    addColumn: (rel, column, type) => `alter table ${renderBigQueryRelation(rel)} add column ${column} ${normalizeBigQueryType(type)}`,
    dropColumn: (rel, column) => `alter table ${renderBigQueryRelation(rel)} drop column ${column}`,
    // BigQuery only widens types in place (INT64 → NUMERIC → BIGNUMERIC/FLOAT64); it refuses the rest.
    alterColumnType: (rel, column, type) => `alter table ${renderBigQueryRelation(rel)} alter column ${column} set data type ${normalizeBigQueryType(type)}`,
    columnConstraint(c) {
      const expr = c.expression?.trim() ?? '';
      switch (c.type) {
        case 'not_null': return `not null ${expr}`.trim();
        case 'primary_key': return 'primary key not enforced';
        case 'foreign_key':
          if (c.to && c.toColumns?.length) return `references ${c.to}(${c.toColumns.join(', ')}) not enforced`;
          return expr ? `references ${expr} not enforced` : undefined;
        case 'custom': return expr || undefined;
        // BigQuery has neither unique nor check constraints.
        case 'unique': case 'check': return undefined;
      }
    },
    tableConstraint(c) {
      const cols = (c.columns ?? []).join(', ');
      switch (c.type) {
        case 'primary_key': return `primary key (${cols}) not enforced`;
        case 'foreign_key':
          if (c.to && c.toColumns?.length) return `foreign key (${cols}) references ${c.to}(${c.toColumns.join(', ')}) not enforced`;
          return c.expression?.trim() ? `foreign key (${cols}) references ${c.expression.trim()} not enforced` : undefined;
        case 'custom': return c.expression?.trim() || undefined;
        case 'unique': case 'check': case 'not_null': return undefined;
      }
    },
    dropRelation(rel, kind) {
      return `drop ${KIND_KEYWORD[kind]} if exists ${renderBigQueryRelation(rel)}`;
    },
    renameRelation(from, kind, to) {
      if (kind !== 'table') throw new Error(`BigQuery cannot rename a ${kind.replace('_', ' ')} (${renderBigQueryRelation(from)})`);
      return `alter table ${renderBigQueryRelation(from)} rename to ${quoteBigQueryIdentifier(to.identifier)}`;
    },
  };
}
