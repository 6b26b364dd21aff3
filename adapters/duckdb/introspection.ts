/**
 * DuckDB catalog queries through information_schema, with values bound as parameters.
 *
 * @example
 * await listDuckdbRelations(conn, 'shop', 'main') // [{database:'shop', schema:'main', identifier:'orders', kind:'table'}]
 */
import type { ColumnInfo, Connection, RelationInfo, RelationRef } from '../../src/adapter.js';

export async function listDuckdbRelations(
  conn: Connection,
  database: string | undefined,
  schema: string,
): Promise<RelationInfo[]> {
  const res = await conn.execute(
    `select table_catalog, table_schema, table_name, table_type
       from information_schema.tables
      where table_schema = $1 and ($2::varchar is null or table_catalog = $2)`,
    { params: [schema, database ?? null] },
  );
  return res.rows.map((r) => ({
    database: String(r.table_catalog),
    schema: String(r.table_schema),
    identifier: String(r.table_name),
    kind: r.table_type === 'VIEW' ? 'view' : 'table',
  }));
}

export async function getDuckdbColumns(conn: Connection, rel: RelationRef): Promise<ColumnInfo[]> {
  const res = await conn.execute(
    `select column_name, data_type
       from information_schema.columns
      where table_schema = $1 and table_name = $2 and ($3::varchar is null or table_catalog = $3)
      order by ordinal_position`,
    { params: [rel.schema, rel.identifier, rel.database ?? null] },
  );
  return res.rows.map((r) => ({ name: String(r.column_name), dataType: String(r.data_type) }));
}
