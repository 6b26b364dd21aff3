/**
 * The SQL of a snapshot (dbt's SCD type 2), written once for every adapter; warehouses change only the pieces
 * in {@link SnapshotDialect} (current time, hash, merge statements, add column). The semantics are dbt's
 * (dbt-adapters `snapshot_staging_table`, `build_snapshot_table`, the timestamp and check strategies,
 * `snapshot_merge_sql`):
 *
 * - first run: the source rows plus `dbt_scd_id` (md5 of key and updated_at), `dbt_updated_at`,
 *   `dbt_valid_from` (= updated_at, or the run's time for `check`), `dbt_valid_to` (null, or
 *   dbt_valid_to_current) and, with hard_deletes 'new_record', `dbt_is_deleted` ('False').
 * - later runs stage the changes, each row tagged `dbt_change_type`:
 *   insert — keys not in the current rows, changed rows' new versions (and with 'new_record', keys coming
 *   back after a delete); update — the current version of a changed row, closed at the new version's time;
 *   delete — current rows whose key left the source (hard_deletes invalidate/new_record), closed now;
 *   with 'new_record' also an inserted deletion record (`dbt_is_deleted = 'True'`).
 *   Then, in one transaction: close the update/delete rows by dbt_scd_id, insert the insert rows.
 *
 * Names in the SQL are written as dbt writes them: the unique_key, updated_at and check_cols as configured
 * (they may be expressions), meta columns as configured, source columns quoted.
 */
import type { SnapshotDialect, SnapshotMerge } from '../adapter.js';
import type { SnapshotSpec } from '../compile/snapshotNodes.js';

/** Internal columns of the staging table, never copied into the snapshot. */
export const CHANGE_TYPE = 'dbt_change_type';
export const keyColumn = (i: number) => `dbt_unique_key_${i + 1}`;
const TS = 'dbt_kiln_updated_at';
const SCD = 'dbt_kiln_scd_id';

/** dbt's default `snapshot_hash_arguments`: md5 of the values as text joined with '|'. */
export function defaultHash(exprs: readonly string[]): string {
  return `md5(${exprs.map((e) => `coalesce(cast(${e} as varchar), '')`).join(" || '|' || ")})`;
}

/** dbt's default `snapshot_merge_sql` as two statements (update, then insert), as dbt-postgres and dbt-duckdb run it. */
export function defaultMergeStatements(p: SnapshotMerge): string[] {
  const cols = p.insertColumns.join(', ');
  return [
    `update ${p.target} as DBT_INTERNAL_TARGET\nset ${p.validTo} = DBT_INTERNAL_SOURCE.${p.validTo}\nfrom ${p.staging} as DBT_INTERNAL_SOURCE\n`
      + `where DBT_INTERNAL_SOURCE.${p.scdId} = DBT_INTERNAL_TARGET.${p.scdId}\n`
      + `  and DBT_INTERNAL_SOURCE.${CHANGE_TYPE} in ('update', 'delete')\n`
      + `  and ${p.isCurrent(`DBT_INTERNAL_TARGET.${p.validTo}`)}`,
    `insert into ${p.target} (${cols})\nselect ${cols}\nfrom ${p.staging} as DBT_INTERNAL_SOURCE\nwhere DBT_INTERNAL_SOURCE.${CHANGE_TYPE} = 'insert'`,
  ];
}

/** The adapter's snapshot dialect with Kiln's portable defaults filled in. */
export function snapshotDialect(d: SnapshotDialect | undefined): Required<SnapshotDialect> {
  return {
    currentTime: d?.currentTime?.bind(d) ?? (() => 'cast(current_timestamp as timestamp)'),
    hash: d?.hash?.bind(d) ?? defaultHash,
    mergeStatements: d?.mergeStatements?.bind(d) ?? defaultMergeStatements,
    addColumn: d?.addColumn?.bind(d) ?? ((rel, col, type) => `alter table ${rel} add column ${col} ${type}`),
  };
}

export interface SnapshotSqlContext {
  spec: SnapshotSpec;
  dialect: Required<SnapshotDialect>;
  quote(name: string): string;
}

/** The row time of the strategy: updated_at, or (check without updated_at) the run's time. */
function rowTime(ctx: SnapshotSqlContext): string {
  return ctx.spec.updatedAt ?? ctx.dialect.currentTime();
}

/** `dbt_valid_to` of a current row: null typed like the row time, or dbt_valid_to_current (dbt's get_dbt_valid_to_current). */
function currentValidTo(ctx: SnapshotSqlContext, ts: string): string {
  return `coalesce(nullif(${ts}, ${ts}), ${ctx.spec.validToCurrent ?? 'null'})`;
}

/** Whether a `dbt_valid_to` expression marks a current row (null, or dbt_valid_to_current). */
export function isCurrent(spec: SnapshotSpec, expr: string): string {
  return spec.validToCurrent ? `(${expr} = ${spec.validToCurrent} or ${expr} is null)` : `${expr} is null`;
}

/** The first run: the source with meta columns (dbt's build_snapshot_table). */
export function buildSnapshotTableSql(ctx: SnapshotSqlContext, sourceSql: string): string {
  const { spec } = ctx;
  const c = spec.columns;
  const ts = rowTime(ctx);
  const lines = [
    `${ctx.dialect.hash([...spec.uniqueKey, ts])} as ${c.dbt_scd_id}`,
    `${ts} as ${c.dbt_updated_at}`,
    `${ts} as ${c.dbt_valid_from}`,
    `${currentValidTo(ctx, ts)} as ${c.dbt_valid_to}`,
    ...(spec.hardDeletes === 'new_record' ? [`'False' as ${c.dbt_is_deleted}`] : []),
  ];
  return `select *,\n    ${lines.join(',\n    ')}\nfrom (\n${sourceSql}\n) as sbq`;
}

/**
 * The staging select of a later run (dbt's snapshot_staging_table), with explicit column lists.
 * `sourceColumns` are the query's columns; `targetColumns` the snapshot table's (for check_cols 'all', for
 * deletion records, and to tell whether dbt_is_deleted exists yet).
 */
export function stagingSql(ctx: SnapshotSqlContext, sourceSql: string, target: string, sourceColumns: readonly string[], targetColumns: readonly string[]): string {
  const { spec, quote } = ctx;
  const c = spec.columns;
  const has = new Set(targetColumns.map((n) => n.toLowerCase()));
  const now = ctx.dialect.currentTime();
  const keys = spec.uniqueKey.map((k, i) => `${k} as ${keyColumn(i)}`).join(', ');
  const join = spec.uniqueKey.map((_, i) => `snapshotted_data.${keyColumn(i)} = source_data.${keyColumn(i)}`).join(' and ');
  const newRecord = spec.hardDeletes === 'new_record';
  const withDeletes = spec.hardDeletes !== 'ignore';
  // An older snapshot table switched to hard_deletes 'new_record' has no dbt_is_deleted yet: its rows are not deletion records.
  const isDeletedCol = has.has(c.dbt_is_deleted.toLowerCase()) ? '' : `, 'False' as ${c.dbt_is_deleted}`;
  const wasDeleted = newRecord ? ` or snapshotted_data.${c.dbt_is_deleted} = 'True'` : '';

  const src = (table: string) => sourceColumns.map((n) => `${table}.${quote(n)}`);
  const keyCols = (table: string) => spec.uniqueKey.map((_, i) => `${table}.${keyColumn(i)}`);

  const rowChanged = (() => {
    if (spec.strategy === 'timestamp') return `(snapshotted_data.${c.dbt_valid_from} < source_data.${TS})`;
    // check: compare the configured columns; a column new to the snapshot table makes every row a change (dbt).
    const names = spec.checkCols === 'all' ? sourceColumns.map((n) => ({ name: n, sql: quote(n) })) : spec.checkCols!.map((n) => ({ name: unquote(n), sql: n }));
    if (names.some((n) => !has.has(n.name.toLowerCase()))) return '(true)';
    const parts = names.map(({ sql }) => {
      const a = `snapshotted_data.${sql}`;
      const b = `source_data.${sql}`;
      return `${a} != ${b} or ((${a} is null) and not (${b} is null)) or ((not ${a} is null) and (${b} is null))`;
    });
    return `(${parts.join('\n        or ')})`;
  })();

  const branches: string[] = [];
  const select = (changeType: string, cols: string[], from: string) => {
    branches.push(`select '${changeType}' as ${CHANGE_TYPE},\n        ${cols.join(',\n        ')}\n    ${from}`);
  };
  select('insert', [
    ...src('source_data'), ...keyCols('source_data'),
    `source_data.${TS} as ${c.dbt_updated_at}`, `source_data.${TS} as ${c.dbt_valid_from}`,
    `${currentValidTo(ctx, `source_data.${TS}`)} as ${c.dbt_valid_to}`, `source_data.${SCD} as ${c.dbt_scd_id}`,
    ...(newRecord ? [`'False' as ${c.dbt_is_deleted}`] : []),
  ], `from source_data\n    left outer join snapshotted_data on ${join}\n    where snapshotted_data.${keyColumn(0)} is null\n       or (${rowChanged}${wasDeleted})`);
  select('update', [
    ...src('source_data'), ...keyCols('source_data'),
    `source_data.${TS} as ${c.dbt_updated_at}`, `source_data.${TS} as ${c.dbt_valid_from}`, `source_data.${TS} as ${c.dbt_valid_to}`,
    `snapshotted_data.${c.dbt_scd_id} as ${c.dbt_scd_id}`,
    ...(newRecord ? [`snapshotted_data.${c.dbt_is_deleted} as ${c.dbt_is_deleted}`] : []),
  ], `from source_data\n    join snapshotted_data on ${join}\n    where (${rowChanged}${wasDeleted})`);
  const notAlreadyDeleted = newRecord ? `\n      and not (snapshotted_data.${c.dbt_is_deleted} = 'True')` : '';
  if (withDeletes) {
    select('delete', [
      ...src('source_data'), ...keyCols('source_data'),
      `${now} as ${c.dbt_updated_at}`, `${now} as ${c.dbt_valid_from}`, `${now} as ${c.dbt_valid_to}`,
      `snapshotted_data.${c.dbt_scd_id} as ${c.dbt_scd_id}`,
      ...(newRecord ? [`snapshotted_data.${c.dbt_is_deleted} as ${c.dbt_is_deleted}`] : []),
    ], `from snapshotted_data\n    left join source_data on ${join}\n    where source_data.${keyColumn(0)} is null${notAlreadyDeleted}`);
  }
  if (newRecord) {
    // The deletion record keeps the last known values of the columns the snapshot table has.
    select('insert', [
      ...sourceColumns.map((n) => `${has.has(n.toLowerCase()) ? 'snapshotted_data' : 'source_data'}.${quote(n)}`), ...keyCols('snapshotted_data'),
      `${now} as ${c.dbt_updated_at}`, `${now} as ${c.dbt_valid_from}`, `snapshotted_data.${c.dbt_valid_to} as ${c.dbt_valid_to}`,
      `${ctx.dialect.hash([`snapshotted_data.${c.dbt_scd_id}`, now])} as ${c.dbt_scd_id}`, `'True' as ${c.dbt_is_deleted}`,
    ], `from snapshotted_data\n    left join source_data on ${join}\n    where source_data.${keyColumn(0)} is null${notAlreadyDeleted}`);
  }
  const ts = rowTime(ctx);
  return [
    `with snapshot_query as (\n${sourceSql}\n),`,
    `snapshotted_data as (\n    select *${isDeletedCol}, ${spec.uniqueKey.map((k, i) => `${k} as ${keyColumn(i)}`).join(', ')}\n    from ${target}\n    where ${isCurrent(spec, c.dbt_valid_to)}\n),`,
    `source_data as (\n    select *, ${keys}, ${ts} as ${TS}, ${ctx.dialect.hash([...spec.uniqueKey, ts])} as ${SCD}\n    from snapshot_query\n)`,
    branches.join('\nunion all\n'),
  ].join('\n');
}

/** `select … limit 0` that reports the query's columns. */
export function probeSql(sourceSql: string): string {
  return `select * from (\n${sourceSql}\n) as dbt_kiln_sbq where false limit 0`;
}

/** Key values that occur more than once in the source (at most `limit` of them, most repeated first). */
export function duplicateKeysSql(spec: SnapshotSpec, sourceSql: string, limit = 5): string {
  const keys = spec.uniqueKey.map((k, i) => `${k} as ${keyColumn(i)}`).join(', ');
  return `select ${keys}, count(*) as dbt_kiln_rows\nfrom (\n${sourceSql}\n) as dbt_kiln_sbq\ngroup by ${spec.uniqueKey.join(', ')}\nhaving count(*) > 1\norder by count(*) desc, ${spec.uniqueKey.map((_, i) => i + 1).join(', ')}\nlimit ${limit}`;
}

/** How many source rows have a null in a key column. */
export function nullKeysSql(spec: SnapshotSpec, sourceSql: string): string {
  return `select count(*) as dbt_kiln_rows\nfrom (\n${sourceSql}\n) as dbt_kiln_sbq\nwhere ${spec.uniqueKey.map((k) => `${k} is null`).join(' or ')}`;
}

/** A name as written in config, without identifier quotes (`"Status"` → `Status`). */
export function unquote(name: string): string {
  const t = name.trim();
  const m = /^(["`\[])(.*)["`\]]$/.exec(t);
  return m ? m[2] : t;
}

/** Whether a configured name is a plain (or quoted) column name rather than an expression. */
export function isPlainName(name: string): boolean {
  return /^([A-Za-z_][A-Za-z0-9_$]*|"[^"]+"|`[^`]+`)$/.test(name.trim());
}
