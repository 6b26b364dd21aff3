/**
 * The incremental materialization. The first run (or --full-refresh, or a view in the way) builds the table
 * like a table model. Later runs stage the model's new rows in a table beside the target, check them
 * (unique_key neither null nor repeated, where the strategy matches on it), reconcile the schema
 * (on_schema_change), and apply the strategy's statements in one transaction: a failure leaves the target
 * as it was. Adapters supply only the SQL dialect (src/run/incrementalSql.ts, DdlDialect).
 */
import type { Adapter, ColumnInfo, Connection, IncrementalStrategy, IncrementalStep, NodeConfigView, RelationRef } from '../adapter.js';
import { KilnError } from '../errors.js';
import type { SqlNode } from '../project/nodes.js';
import { formatTable } from '../table.js';
import type { ExecuteServices } from './executeNode.js';
import { incrementalStatements } from './incrementalSql.js';
import { suffixedName, type SqlLog, type StepResult } from './materialize.js';

export const INCREMENTAL_SUFFIX = '__kiln_incr';

const SCHEMA_CHANGE_MODES = ['ignore', 'fail', 'append_new_columns', 'sync_all_columns'] as const;
type SchemaChangeMode = (typeof SCHEMA_CHANGE_MODES)[number];

export interface IncrementalOptions {
  sqlHeader?: string;
  config?: NodeConfigView;
  beforeCommit?: (o?: { fresh?: boolean }) => Promise<void>;
  /** Microbatch: conditions that select the batch's window in the target (replaced by the new rows). */
  windowPredicates?: readonly string[];
  /** The table is known to exist (a later microbatch batch of a full build): never rebuild it. */
  incrementalOnly?: boolean;
  /** Suffix of the staging table (batches running side by side each need their own). */
  stagingSuffix?: string;
}

function configError(node: SqlNode, message: string, hint: string): KilnError {
  return new KilnError('compile', message, { location: { file: node.originalFilePath }, node: node.uniqueId, hint });
}

/** The model's strategy, checked against what the adapter runs. */
export function incrementalStrategy(node: SqlNode, adapter: Adapter): IncrementalStrategy {
  const supported = adapter.capabilities.incrementalStrategies;
  const asked = node.config.incremental_strategy;
  if (asked === null || asked === undefined) {
    // dbt-postgres and dbt-duckdb: append by default, delete+insert when the model has a unique_key.
    return supported[0] === 'append' && uniqueKeyOf(node).length && supported.includes('delete+insert') ? 'delete+insert' : supported[0];
  }
  const name = String(asked).toLowerCase();
  if (!(supported as readonly string[]).includes(name)) {
    throw configError(node, `model '${node.name}' asks for incremental_strategy '${String(asked)}', which the ${adapter.type} adapter does not run`,
      `Strategies on ${adapter.type}: ${supported.join(', ')}.`);
  }
  return name as IncrementalStrategy;
}

/** unique_key as a list of column expressions (a string, a list, or none). */
export function uniqueKeyOf(node: SqlNode): string[] {
  const k = node.config.unique_key;
  if (k === null || k === undefined || k === '') return [];
  const list = Array.isArray(k) ? k : [k];
  return list.map((x) => String(x).trim()).filter(Boolean);
}

function schemaChangeMode(node: SqlNode): SchemaChangeMode {
  const v = String(node.config.on_schema_change ?? 'ignore');
  if ((SCHEMA_CHANGE_MODES as readonly string[]).includes(v)) return v as SchemaChangeMode;
  throw configError(node, `model '${node.name}' has on_schema_change '${v}'`, `Use one of: ${SCHEMA_CHANGE_MODES.join(', ')}.`);
}

function stringList(node: SqlNode, key: string): string[] | undefined {
  const v = node.config[key];
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') return [v];
  throw configError(node, `model '${node.name}' has ${key} that is not a list`, `Write ${key} as a list, e.g. ${key}: ['status'].`);
}

/** insert_overwrite's partition column: `partition_by: day` or BigQuery's `{field: day, data_type: date}`. */
function partitionColumn(node: SqlNode): string {
  const p = node.config.partition_by;
  const field = typeof p === 'string' ? p : p && typeof p === 'object' ? (p as { field?: unknown }).field : undefined;
  if (typeof field !== 'string' || !field) {
    throw configError(node, `model '${node.name}' uses insert_overwrite without partition_by`,
      "Name the column whose values are replaced: {{ config(incremental_strategy='insert_overwrite', partition_by='order_date') }}.");
  }
  return field;
}

/** How many staged rows have a null key part. */
async function countNullKeys(adapter: Adapter, conn: Connection, staged: RelationRef, keys: readonly string[], log: SqlLog): Promise<number> {
  const nullSql = `select count(*) as n from ${adapter.renderRelation(staged)} where ${keys.map((k) => `${k} is null`).join(' or ')}`;
  log(nullSql);
  return Number((await conn.execute(nullSql)).rows[0]?.n ?? 0);
}

async function warnNullKeys(services: ExecuteServices, conn: Connection, node: SqlNode, staged: RelationRef, keys: readonly string[], log: SqlLog): Promise<void> {
  const nulls = await countNullKeys(services.adapter, conn, staged, keys, log);
  if (nulls === 0) return;
  services.warn?.({
    message: `model '${node.name}': ${nulls} new row${nulls === 1 ? ' has' : 's have'} a null unique_key (${keys.join(', ')}); delete+insert adds such rows again on every run`,
    location: { file: node.originalFilePath },
    hint: 'Filter those rows out, or coalesce the key.',
  });
}

/** Stop before a merge corrupts the target: keys must be present and distinct. */
async function checkUniqueKey(adapter: Adapter, conn: Connection, node: SqlNode, staged: RelationRef, keys: readonly string[], log: SqlLog): Promise<void> {
  const rel = adapter.renderRelation(staged);
  const nulls = await countNullKeys(adapter, conn, staged, keys, log);
  if (nulls > 0) {
    throw new KilnError('runtime', `model '${node.name}': ${nulls} new row${nulls === 1 ? ' has' : 's have'} a null unique_key (${keys.join(', ')}); nothing was changed`, {
      location: { file: node.originalFilePath }, node: node.uniqueId,
      hint: 'A null key never matches an existing row, so each run would add it again. Filter those rows out, or coalesce the key.',
    });
  }
  const dupSql = `select ${keys.map((k, i) => `${k} as k${i}`).join(', ')}, count(*) as n from ${rel} group by ${keys.join(', ')} having count(*) > 1 order by count(*) desc limit 5`;
  log(dupSql);
  const dups = await conn.execute(dupSql);
  if (dups.rows.length) {
    const rows = dups.rows.map((r) => Object.fromEntries([...keys.map((k, i) => [k, r[`k${i}`]]), ['rows', r.n]]));
    throw new KilnError('runtime', `model '${node.name}': the unique_key (${keys.join(', ')}) repeats in the new rows; nothing was changed`, {
      location: { file: node.originalFilePath }, node: node.uniqueId,
      hint: [formatTable([...keys, 'rows'], rows), 'Deduplicate the model\'s rows (e.g. keep the latest per key), or choose a key that identifies one row.']
        .join('\n').split('\n').join('\n  '),
    });
  }
}

interface SchemaPlan {
  columns: string[];
  statements: string[];
  note?: string;
}

/** Reconcile the target's columns with the new rows' (on_schema_change). */
function planSchemaChange(adapter: Adapter, node: SqlNode, target: RelationRef, mode: SchemaChangeMode, dest: ColumnInfo[], src: ColumnInfo[]): SchemaPlan {
  const find = (cols: ColumnInfo[], name: string) => cols.find((c) => c.name.toLowerCase() === name.toLowerCase());
  const added = src.filter((c) => !find(dest, c.name));
  const removed = dest.filter((c) => !find(src, c.name));
  const changed = dest.filter((c) => {
    const s = find(src, c.name);
    return s && !adapter.typesMatch(c.dataType, s.dataType);
  });
  const q = (name: string) => adapter.quoteIdentifier(name);
  const shared = dest.filter((c) => find(src, c.name)).map((c) => q(c.name));
  if (!added.length && !removed.length && !changed.length) return { columns: dest.map((c) => q(c.name)), statements: [] };
  const describe = () => [
    added.length ? `new column${added.length === 1 ? '' : 's'} ${added.map((c) => `${c.name} (${c.dataType})`).join(', ')}` : '',
    removed.length ? `missing column${removed.length === 1 ? '' : 's'} ${removed.map((c) => c.name).join(', ')}` : '',
    changed.length ? `type change${changed.length === 1 ? '' : 's'} ${changed.map((c) => `${c.name} ${c.dataType} -> ${find(src, c.name)!.dataType}`).join(', ')}` : '',
  ].filter(Boolean).join('; ');
  switch (mode) {
    case 'ignore':
      return { columns: shared, statements: [] };
    case 'fail':
      throw new KilnError('runtime', `model '${node.name}' changed its columns and has on_schema_change: fail: ${describe()}; nothing was changed`, {
        location: { file: node.originalFilePath }, node: node.uniqueId,
        hint: 'Set on_schema_change to append_new_columns or sync_all_columns, or rebuild with --full-refresh.',
      });
    case 'append_new_columns':
      if (!added.length) return { columns: shared, statements: [] };
      return {
        columns: [...shared, ...added.map((c) => q(c.name))],
        statements: added.map((c) => adapter.ddl.addColumn(target, q(c.name), c.dataType)),
        note: `added ${added.map((c) => c.name).join(', ')}`,
      };
    case 'sync_all_columns':
      return {
        columns: [...shared, ...added.map((c) => q(c.name))],
        statements: [
          ...added.map((c) => adapter.ddl.addColumn(target, q(c.name), c.dataType)),
          ...removed.map((c) => adapter.ddl.dropColumn(target, q(c.name))),
          ...changed.map((c) => adapter.ddl.alterColumnType(target, q(c.name), find(src, c.name)!.dataType)),
        ],
        note: [
          added.length ? `added ${added.map((c) => c.name).join(', ')}` : '',
          removed.length ? `dropped ${removed.map((c) => c.name).join(', ')}` : '',
          changed.length ? `retyped ${changed.map((c) => c.name).join(', ')}` : '',
        ].filter(Boolean).join(', '),
      };
  }
}

/** Whether this run builds the table from scratch: no table yet, a view in its place, or a full refresh. */
export async function needsFullBuild(services: ExecuteServices, conn: Connection, node: SqlNode, target: RelationRef): Promise<boolean> {
  const configured = node.config.full_refresh;
  const fullRefresh = configured === null || configured === undefined ? services.parsed.renderer.shared.fullRefresh : configured === true;
  const existing = await services.relations.get(target, conn);
  return fullRefresh || !existing || existing.kind !== 'table';
}

/**
 * Build one incremental model on `conn`. Returns the warehouse's response to the final statement, with the
 * schema change (if any) in the message.
 */
export async function buildIncremental(
  services: ExecuteServices, conn: Connection, node: SqlNode, target: RelationRef, sql: string, opts: IncrementalOptions, log: SqlLog,
): Promise<StepResult> {
  const { adapter, materializer } = services;
  const strategy = incrementalStrategy(node, adapter);
  const keys = uniqueKeyOf(node);
  const mode = schemaChangeMode(node);
  const predicates = [...(stringList(node, 'incremental_predicates') ?? []), ...(opts.windowPredicates ?? [])];
  const partitionBy = strategy === 'insert_overwrite' ? partitionColumn(node) : undefined;
  if (!opts.incrementalOnly && await needsFullBuild(services, conn, node, target)) {
    return materializer.fromSelect(conn, 'table', target, sql, { sqlHeader: opts.sqlHeader, config: opts.config, beforeCommit: opts.beforeCommit }, log);
  }

  const run = async (stmt: string) => {
    log(stmt);
    return conn.execute(stmt);
  };
  const staged: RelationRef = { ...target, identifier: suffixedName(target.identifier, opts.stagingSuffix ?? INCREMENTAL_SUFFIX, adapter.capabilities.maxIdentifierLength) };
  const stale = await services.relations.get(staged, conn);
  if (stale) await run(adapter.ddl.dropRelation(staged, stale.kind));
  await run(adapter.ddl.createTableAs(staged, sql, { replace: false, sqlHeader: opts.sqlHeader }));
  const transactional = adapter.capabilities.transactionalDdl;
  const dmlTransactions = !transactional && adapter.capabilities.transactionalDml === true && !!adapter.ddl.begin;
  let open = false;
  try {
    // A merge needs each key once and present; delete+insert replaces every row of a key, so repeated keys are
    // its normal use (unique_key='date_day'), but a null key would be added again on every run.
    if (keys.length && strategy === 'merge') await checkUniqueKey(adapter, conn, node, staged, keys, log);
    if (keys.length && strategy === 'delete+insert') await warnNullKeys(services, conn, node, staged, keys, log);
    const [dest, src] = [await adapter.getColumns(conn, target), await adapter.getColumns(conn, staged)];
    const schema = planSchemaChange(adapter, node, target, mode, dest, src);
    const exclude = new Set((stringList(node, 'merge_exclude_columns') ?? []).map((c) => c.toLowerCase()));
    const only = stringList(node, 'merge_update_columns');
    const unquote = (c: string) => c.replace(/^["`](.*)["`]$/, '$1').toLowerCase();
    const updateColumns = only
      ? only.map((c) => adapter.quoteIdentifier(c))
      : schema.columns.filter((c) => !exclude.has(unquote(c)));
    const step: IncrementalStep = { target, source: staged, columns: schema.columns, uniqueKey: keys, updateColumns, predicates, partitionBy, config: opts.config };
    // Where DDL commits by itself (Snowflake), the schema changes go first and only the data statements
    // share the transaction; grants and post-hooks then follow the commit.
    if (!transactional) for (const stmt of schema.statements) await run(stmt);
    const statements = [...(transactional ? schema.statements : []), ...incrementalStatements(adapter, strategy, step)];

    if (transactional || dmlTransactions) {
      await run(adapter.ddl.begin!());
      open = true;
    }
    let last: StepResult = { message: 'OK' };
    for (const stmt of statements) last = await run(stmt);
    if (transactional) await opts.beforeCommit?.({ fresh: false });
    if (open) {
      await run(adapter.ddl.commit!());
      open = false;
    }
    if (!transactional) await opts.beforeCommit?.({ fresh: false });
    const verb = strategy === 'merge' && keys.length ? 'MERGE' : 'INSERT';
    const message = `${verb} ${last.rowsAffected ?? ''}`.trim() + (schema.note ? ` (${schema.note})` : '');
    return { ...last, message };
  } catch (e) {
    if (open) await conn.execute(adapter.ddl.rollback!()).catch(() => undefined);
    throw e;
  } finally {
    await run(adapter.ddl.dropRelation(staged, 'table')).catch(() => undefined);
    await services.relations.dropped(staged);
  }
}
