/**
 * Snowflake catalog queries on the database's INFORMATION_SCHEMA, names bound as parameters. Names are
 * compared the way Snowflake resolves them: a part the quote policy leaves unquoted is looked up in its
 * folded (upper-case) spelling, a quoted part exactly. A database that does not exist lists nothing.
 *
 * @example
 * await listSnowflakeRelations(conn, names, 'analytics', 'dbt_ann') // [{database:'ANALYTICS', schema:'DBT_ANN', identifier:'ORDERS', kind:'table'}]
 */
import type { ColumnInfo, Connection, RelationInfo, RelationKind, RelationRef } from '../../src/adapter.js';
import type { SnowflakeNames } from './ddl.js';
import { infoSchemaType } from './types.js';

const KINDS: Record<string, RelationKind> = {
  'BASE TABLE': 'table', 'TEMPORARY TABLE': 'table', 'LOCAL TEMPORARY': 'table', VIEW: 'view',
  'MATERIALIZED VIEW': 'materialized_view', 'EXTERNAL TABLE': 'external', 'DYNAMIC TABLE': 'dynamic_table',
};

/** A row value by column name, whatever case the driver reports it in. */
export function field(row: Record<string, unknown>, name: string): unknown {
  return row[name.toUpperCase()] ?? row[name.toLowerCase()] ?? row[name];
}

function infoSchema(names: SnowflakeNames, database: string | undefined, view: string): string {
  return `${database ? `${names.part(database, names.policy.database)}.` : ''}information_schema.${view}`;
}

/** Snowflake's "does not exist or not authorized" (the database is missing). */
const MISSING = /does not exist|002003|02000/;

export async function listSnowflakeRelations(conn: Connection, names: SnowflakeNames, database: string | undefined, schema: string): Promise<RelationInfo[]> {
  let res;
  try {
    res = await conn.execute(
      `select table_catalog, table_schema, table_name, table_type\n  from ${infoSchema(names, database, 'tables')}\n where table_schema = ?\n order by table_name`,
      { params: [names.stored(schema, names.policy.schema)] },
    );
  } catch (e) {
    if (MISSING.test((e as Error).message)) return [];
    throw e;
  }
  return res.rows.map((r) => ({
    database: String(field(r, 'table_catalog')),
    schema: String(field(r, 'table_schema')),
    identifier: String(field(r, 'table_name')),
    kind: KINDS[String(field(r, 'table_type')).toUpperCase()] ?? 'table',
  }));
}

export async function getSnowflakeColumns(conn: Connection, names: SnowflakeNames, rel: RelationRef): Promise<ColumnInfo[]> {
  let res;
  try {
    res = await conn.execute(
      `select column_name, data_type, numeric_precision, numeric_scale, character_maximum_length, datetime_precision\n`
      + `  from ${infoSchema(names, rel.database, 'columns')}\n where table_schema = ? and table_name = ?\n order by ordinal_position`,
      { params: [names.stored(rel.schema, names.policy.schema), names.stored(rel.identifier, names.policy.identifier)] },
    );
  } catch (e) {
    if (MISSING.test((e as Error).message)) return [];
    throw e;
  }
  return res.rows.map((r) => {
    const dataType = String(field(r, 'data_type'));
    const isTime = /^TIME/i.test(dataType);
    return {
      name: String(field(r, 'column_name')),
      dataType: infoSchemaType({
        dataType,
        precision: field(r, 'numeric_precision') ?? undefined,
        scale: (isTime ? field(r, 'datetime_precision') : field(r, 'numeric_scale')) ?? undefined,
        length: field(r, 'character_maximum_length') ?? undefined,
      }),
    };
  });
}
