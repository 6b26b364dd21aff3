/**
 * BigQuery's incremental SQL (dbt-bigquery's semantics). BigQuery has no transactional DDL, so each
 * strategy is one atomic statement (a MERGE) or one script:
 *
 * - merge: `merge … on <unique_key match> [and predicates] when matched then update … when not matched then
 *   insert …`; without a unique_key, `on FALSE` (every new row is inserted), as dbt writes it.
 * - insert_overwrite, static (`partitions: [...]` in the config): one MERGE that deletes the listed
 *   partitions of the target (`when not matched by source and <partition> in (…) then delete`) and inserts
 *   the new rows.
 * - insert_overwrite, dynamic: a script that collects the partitions of the new rows into
 *   `dbt_partitions_for_replacement` (an array variable, so BigQuery prunes the target's partitions), then
 *   the same MERGE with `in unnest(dbt_partitions_for_replacement)`.
 * - microbatch: one MERGE that deletes the batch's time window from the target (the engine's window
 *   predicates) and inserts the batch's rows — a failure leaves the window as it was.
 * - append: an insert.
 *
 * @example
 * bigqueryIncrementalSql('merge', { target, source, columns: ['`id`', '`v`'], uniqueKey: ['id'], updateColumns: ['`v`'], predicates: [] })
 * // ['merge into `p`.`d`.`t` as DBT_INTERNAL_DEST\nusing `p`.`d`.`t__kiln_incr` as DBT_INTERNAL_SOURCE\non (DBT_INTERNAL_SOURCE.id = DBT_INTERNAL_DEST.id)\n…']
 */
import type { IncrementalStrategy, IncrementalStep, NodeConfigView } from '../../src/adapter.js';
import { partitionConfig, partitionExpression, renderBigQueryRelation, type PartitionConfig } from './ddl.js';

const DEST = 'DBT_INTERNAL_DEST';
const SOURCE = 'DBT_INTERNAL_SOURCE';
/** The script variable of dynamic insert_overwrite, named as dbt-bigquery names it. */
export const PARTITIONS_VARIABLE = 'dbt_partitions_for_replacement';

function insertClause(step: IncrementalStep): string {
  const cols = step.columns.join(', ');
  return `when not matched then insert\n  (${cols})\nvalues\n  (${cols})`;
}

function mergeHead(step: IncrementalStep, on: string): string {
  return `merge into ${renderBigQueryRelation(step.target)} as ${DEST}\nusing ${renderBigQueryRelation(step.source)} as ${SOURCE}\non ${on}`;
}

/** The node's config (partition type and granularity, static partitions). */
function stepConfig(step: IncrementalStep): NodeConfigView | undefined {
  return step.config;
}

function partitionOf(step: IncrementalStep): PartitionConfig {
  const fromConfig = partitionConfig(stepConfig(step));
  if (fromConfig) return fromConfig;
  if (!step.partitionBy) throw new Error('insert_overwrite needs partition_by');
  return { field: step.partitionBy, dataType: 'date', granularity: 'day' };
}

function merge(step: IncrementalStep): string[] {
  const matches = step.uniqueKey.map((k) => `${SOURCE}.${k} = ${DEST}.${k}`);
  const on = [...step.predicates.map((p) => `(${p})`), ...(matches.length ? [`(${matches.join(' and ')})`] : ['FALSE'])].join('\n  and ');
  const update = step.uniqueKey.length && step.updateColumns.length
    ? `\nwhen matched then update set\n  ${step.updateColumns.map((c) => `${c} = ${SOURCE}.${c}`).join(',\n  ')}`
    : '';
  return [`${mergeHead(step, on)}${update}\n${insertClause(step)}`];
}

function insertOverwrite(step: IncrementalStep): string[] {
  const p = partitionOf(step);
  const predicates = step.predicates.map((x) => `\n  and (${x})`).join('');
  const statics = stepConfig(step)?.partitions;
  if (Array.isArray(statics) && statics.length) {
    return [`${mergeHead(step, 'FALSE')}\nwhen not matched by source\n  and ${partitionExpression(p, DEST)} in (${statics.map(String).join(', ')})${predicates}\n  then delete\n${insertClause(step)}`];
  }
  const arrayType = p.dataType;
  return [
    `declare ${PARTITIONS_VARIABLE} array<${arrayType}>;\n`
    + `set (${PARTITIONS_VARIABLE}) = (\n  select as struct\n    array_agg(distinct ${partitionExpression(p)} ignore nulls)\n  from ${renderBigQueryRelation(step.source)}\n);\n`
    + `${mergeHead(step, 'FALSE')}\nwhen not matched by source\n  and ${partitionExpression(p, DEST)} in unnest(${PARTITIONS_VARIABLE})${predicates}\n  then delete\n${insertClause(step)}`,
  ];
}

function microbatch(step: IncrementalStep): string[] {
  const window = step.predicates.map((x) => `(${x})`).join('\n  and ') || 'true';
  return [`${mergeHead(step, 'FALSE')}\nwhen not matched by source\n  and ${window}\n  then delete\n${insertClause(step)}`];
}

export function bigqueryIncrementalSql(strategy: IncrementalStrategy, step: IncrementalStep): string[] | undefined {
  switch (strategy) {
    case 'merge': return merge(step);
    case 'insert_overwrite': return insertOverwrite(step);
    case 'microbatch': return microbatch(step);
    case 'append': {
      const cols = step.columns.join(', ');
      return [`insert into ${renderBigQueryRelation(step.target)} (${cols})\nselect ${cols} from ${renderBigQueryRelation(step.source)}`];
    }
    default: return undefined;
  }
}
