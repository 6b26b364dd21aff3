/**
 * BigQuery catalog reads through the REST API, as dbt-bigquery does (tables.list and tables.get cost no
 * query bytes, unlike INFORMATION_SCHEMA queries): a dataset's relations with their kind, and a relation's
 * columns with GoogleSQL type names. An unknown dataset or table reads as empty.
 *
 * @example
 * await listBigQueryRelations(conn, 'my-project', 'analytics') // [{database:'my-project', schema:'analytics', identifier:'orders', kind:'table'}]
 */
import type { ColumnInfo, Connection, RelationInfo, RelationKind, RelationRef } from '../../src/adapter.js';
import { BigQuerySession } from './connection.js';
import { fieldType, type ApiField } from './types.js';

const KINDS: Record<string, RelationKind> = {
  TABLE: 'table', VIEW: 'view', MATERIALIZED_VIEW: 'materialized_view', EXTERNAL: 'external', SNAPSHOT: 'table',
};

export function sessionOf(conn: Connection): BigQuerySession {
  if (!(conn instanceof BigQuerySession)) throw new Error('this needs a connection of the bigquery adapter');
  return conn;
}

const notFound = (e: unknown) => (e as { code?: number }).code === 404;

export async function listBigQueryRelations(conn: Connection, database: string | undefined, schema: string): Promise<RelationInfo[]> {
  const { pool } = sessionOf(conn);
  const project = database ?? pool.settings.project;
  try {
    const [tables] = await pool.client.dataset(schema, { projectId: project }).getTables({ autoPaginate: true, maxResults: 1000 });
    return tables.map((t) => ({
      database: project,
      schema,
      identifier: t.id!,
      kind: KINDS[String((t.metadata as { type?: string }).type ?? 'TABLE')] ?? 'table',
    }));
  } catch (e) {
    if (notFound(e)) return [];
    throw e;
  }
}

/** A relation's table resource (schema, partitioning, clustering, options), or undefined when absent. */
export async function getBigQueryTable(conn: Connection, rel: RelationRef): Promise<Record<string, any> | undefined> {
  const { pool } = sessionOf(conn);
  try {
    const [meta] = await pool.client.dataset(rel.schema, { projectId: rel.database ?? pool.settings.project }).table(rel.identifier).getMetadata();
    return meta as Record<string, any>;
  } catch (e) {
    if (notFound(e)) return undefined;
    throw e;
  }
}

export async function getBigQueryColumns(conn: Connection, rel: RelationRef): Promise<ColumnInfo[]> {
  const meta = await getBigQueryTable(conn, rel);
  const fields = (meta?.schema?.fields ?? []) as ApiField[];
  return fields.map((f) => ({ name: f.name, dataType: fieldType(f) }));
}
