/**
 * Standard SQL for each incremental strategy, used by every adapter unless its dialect overrides a strategy
 * (`DdlDialect.incrementalSql`). New rows are staged in `step.source`; aliases follow dbt's, so
 * `incremental_predicates` written for dbt (`DBT_INTERNAL_DEST.day > …`) work unchanged.
 *
 * @example
 * incrementalStatements(adapter, 'delete+insert', { target, source, columns: ['"id"', '"v"'], uniqueKey: ['id'], updateColumns: [], predicates: [] })
 * // delete from "main"."t" as DBT_INTERNAL_DEST where (id) in (select id from "main"."t__kiln_incr")
 * // insert into "main"."t" ("id", "v") select "id", "v" from "main"."t__kiln_incr"
 */
import type { Adapter, IncrementalStrategy, IncrementalStep, RelationRef } from '../adapter.js';

const DEST = 'DBT_INTERNAL_DEST';
const SOURCE = 'DBT_INTERNAL_SOURCE';

/** `insert into <target> (cols) select cols from <staged rows>`: the insert every strategy ends with. */
export function insertAll(render: (rel: RelationRef) => string, step: IncrementalStep): string {
  const cols = step.columns.join(', ');
  return `insert into ${render(step.target)} (${cols})\nselect ${cols} from ${render(step.source)}`;
}

/** incremental_predicates and-ed onto a match condition, one per line. */
export const andPredicates = (predicates: readonly string[]) => predicates.map((p) => `\n  and (${p})`).join('');

export function standardIncrementalSql(adapter: Adapter, strategy: IncrementalStrategy, step: IncrementalStep): string[] {
  const target = adapter.renderRelation(step.target);
  const source = adapter.renderRelation(step.source);
  const keys = step.uniqueKey;
  const insert = insertAll((r) => adapter.renderRelation(r), step);
  switch (strategy) {
    case 'append':
      return [insert];
    case 'delete+insert': {
      if (keys.length === 0) return [insert];
      const match = keys.length === 1
        ? `${DEST}.${keys[0]} in (select ${keys[0]} from ${source})`
        : `exists (select 1 from ${source} as ${SOURCE} where ${keys.map((k) => `${SOURCE}.${k} = ${DEST}.${k}`).join(' and ')})`;
      return [`delete from ${target} as ${DEST}\nwhere ${match}${andPredicates(step.predicates)}`, insert];
    }
    case 'merge': {
      // Without a key every row is new (dbt merges `on false`); an insert says so plainly.
      if (keys.length === 0) return [insert];
      const on = [...keys.map((k) => `${SOURCE}.${k} = ${DEST}.${k}`), ...step.predicates.map((p) => `(${p})`)].join('\n  and ');
      const update = step.updateColumns.length
        ? `\nwhen matched then update set\n  ${step.updateColumns.map((c) => `${c} = ${SOURCE}.${c}`).join(',\n  ')}`
        : '';
      return [
        `merge into ${target} as ${DEST}\nusing ${source} as ${SOURCE}\non ${on}${update}\n`
        + `when not matched then insert (${step.columns.join(', ')})\n  values (${step.columns.map((c) => `${SOURCE}.${c}`).join(', ')})`,
      ];
    }
    case 'insert_overwrite': {
      const p = step.partitionBy!;
      // Every partition value present in the new rows is replaced, the null partition included.
      return [
        `delete from ${target} as ${DEST}\nwhere (${DEST}.${p} in (select distinct ${p} from ${source})`
        + `\n  or (${DEST}.${p} is null and exists (select 1 from ${source} where ${p} is null)))${andPredicates(step.predicates)}`,
        insert,
      ];
    }
    case 'microbatch':
      // A batch replaces its own time window: the engine passes the window as the predicates. Without one
      // this would empty the table, so it is refused.
      if (step.predicates.length === 0) throw new Error('internal: a microbatch step without its window');
      return [`delete from ${target} as ${DEST}\nwhere ${step.predicates.map((p) => `(${p})`).join('\n  and ')}`, insert];
  }
}

/** The statements of one step: the adapter's own for this strategy, else the standard SQL. */
export function incrementalStatements(adapter: Adapter, strategy: IncrementalStrategy, step: IncrementalStep): string[] {
  return adapter.ddl.incrementalSql?.(strategy, step) ?? standardIncrementalSql(adapter, strategy, step);
}
