/**
 * Postgres catalog queries on pg_catalog, values bound as parameters: one query lists a schema's relations
 * with their kind (the engine's RelationCache calls it at most once per schema and run), one lists a
 * relation's columns with `format_type` names, and one finds the views `drop … cascade` would take along.
 *
 * @example
 * await listPostgresRelations(conn, 'analytics', 'public') // [{database:'analytics', schema:'public', identifier:'orders', kind:'table'}]
 */
import type { ColumnInfo, Connection, RelationInfo, RelationKind, RelationRef } from '../../src/adapter.js';

const KINDS: Record<string, RelationKind> = { r: 'table', p: 'table', v: 'view', m: 'materialized_view', f: 'external' };

export async function listPostgresRelations(conn: Connection, database: string | undefined, schema: string): Promise<RelationInfo[]> {
  // A session sees one database: relations of another are never listed (and cannot be queried).
  const res = await conn.execute(
    `select current_database() as db, c.relname, c.relkind
       from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relkind in ('r', 'p', 'v', 'm', 'f')
        and ($2::text is null or $2::text = current_database())`,
    { params: [schema, database ?? null] },
  );
  return res.rows.map((r) => ({ database: String(r.db), schema, identifier: String(r.relname), kind: KINDS[String(r.relkind)] ?? 'table' }));
}

export async function getPostgresColumns(conn: Connection, rel: RelationRef): Promise<ColumnInfo[]> {
  const res = await conn.execute(
    `select a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) as data_type
       from pg_catalog.pg_attribute a
       join pg_catalog.pg_class c on c.oid = a.attrelid
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = $2 and a.attnum > 0 and not a.attisdropped
        and ($3::text is null or $3::text = current_database())
      order by a.attnum`,
    { params: [rel.schema, rel.identifier, rel.database ?? null] },
  );
  return res.rows.map((r) => ({ name: String(r.attname), dataType: String(r.data_type) }));
}

/** Views and materialized views bound to `rel`, directly or through other views. */
export async function postgresDependentViews(conn: Connection, rel: RelationRef): Promise<RelationInfo[]> {
  const res = await conn.execute(
    `with recursive deps(oid) as (
       select c.oid from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relname = $2
       union
       select r.ev_class
         from pg_catalog.pg_depend d
         join pg_catalog.pg_rewrite r on r.oid = d.objid
         join deps on d.refobjid = deps.oid
        where d.classid = 'pg_catalog.pg_rewrite'::regclass and r.ev_class <> deps.oid
     )
     select current_database() as db, n.nspname, c.relname, c.relkind
       from deps join pg_catalog.pg_class c on c.oid = deps.oid join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where not (n.nspname = $1 and c.relname = $2)
      order by 2, 3`,
    { params: [rel.schema, rel.identifier] },
  );
  return res.rows.map((r) => ({ database: String(r.db), schema: String(r.nspname), identifier: String(r.relname), kind: KINDS[String(r.relkind)] ?? 'view' }));
}
