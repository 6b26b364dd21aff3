/**
 * BigQuery's snapshot SQL pieces (see SnapshotDialect), as dbt-bigquery writes them: the run's time is
 * `current_timestamp()`, the scd id is `to_hex(md5(concat(…)))` of the values cast to STRING, and the staged
 * changes are applied by one MERGE (dbt's default `snapshot_merge_sql`) — atomic without a transaction.
 *
 * @example
 * bigquerySnapshot.hash(['id', 'updated_at'])
 * // to_hex(md5(concat(coalesce(cast(id as string), ''), '|', coalesce(cast(updated_at as string), ''))))
 */
import type { SnapshotDialect } from '../../src/adapter.js';
import { normalizeBigQueryType } from './types.js';

const CHANGE_TYPE = 'dbt_change_type';

export const bigquerySnapshot: SnapshotDialect = {
  currentTime: () => 'current_timestamp()',
  hash: (exprs) => `to_hex(md5(concat(${exprs.map((e) => `coalesce(cast(${e} as string), '')`).join(", '|', ")})))`,
  mergeStatements: (p) => {
    const cols = p.insertColumns.join(', ');
    return [
      `merge into ${p.target} as DBT_INTERNAL_DEST\nusing ${p.staging} as DBT_INTERNAL_SOURCE\n`
      + `on DBT_INTERNAL_SOURCE.${p.scdId} = DBT_INTERNAL_DEST.${p.scdId}\n`
      + `when matched\n  and ${p.isCurrent(`DBT_INTERNAL_DEST.${p.validTo}`)}\n  and DBT_INTERNAL_SOURCE.${CHANGE_TYPE} in ('update', 'delete')\n`
      + `  then update set ${p.validTo} = DBT_INTERNAL_SOURCE.${p.validTo}\n`
      + `when not matched\n  and DBT_INTERNAL_SOURCE.${CHANGE_TYPE} = 'insert'\n  then insert (${cols})\n  values (${cols})`,
    ];
  },
  addColumn: (relation, column, dataType) => `alter table ${relation} add column ${column} ${normalizeBigQueryType(dataType)}`,
};
