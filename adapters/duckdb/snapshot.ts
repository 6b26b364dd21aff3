/**
 * DuckDB's snapshot SQL pieces (see SnapshotDialect): the run's time as a plain timestamp, as dbt-duckdb's
 * `snapshot_get_time` writes it, and dbt's md5 scd id. Merging uses Kiln's default update-then-insert,
 * which is what dbt-duckdb's `snapshot_merge_sql` runs too.
 *
 * @example
 * duckdbSnapshot.currentTime()            // now()::timestamp
 * duckdbSnapshot.hash(['id', 'updated_at']) // md5(coalesce(cast(id as varchar), '') || '|' || coalesce(cast(updated_at as varchar), ''))
 */
import type { SnapshotDialect } from '../../src/adapter.js';

export const duckdbSnapshot: SnapshotDialect = {
  currentTime: () => 'now()::timestamp',
  hash: (exprs) => `md5(${exprs.map((e) => `coalesce(cast(${e} as varchar), '')`).join(" || '|' || ")})`,
  addColumn: (relation, column, dataType) => `alter table ${relation} add column ${column} ${dataType}`,
};
