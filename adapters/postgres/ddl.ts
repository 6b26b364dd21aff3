/**
 * Postgres DDL text. DDL is transactional, so the engine swaps relations by rename inside a transaction;
 * `drop … cascade` also drops views bound to the dropped relation (the engine reports them).
 * Identifiers longer than the server keeps (63 bytes; Postgres would silently truncate them, so two models
 * could land on one relation) are refused before any SQL is sent.
 *
 * @example
 * postgresDdl.createTableAs({ schema: 'analytics', identifier: 'orders' }, 'select 1 as id', { replace: false })
 * // create table "analytics"."orders" as (\nselect 1 as id\n)
 */
import type { DdlDialect, RelationKind, RelationRef } from '../../src/adapter.js';
import { standardConstraintSql } from '../../src/run/constraintSql.js';

export function quotePostgresIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function renderPostgresRelation(rel: RelationRef): string {
  return [rel.database, rel.schema, rel.identifier].filter((p): p is string => !!p).map(quotePostgresIdentifier).join('.');
}

/** A SQL string literal; `standard_conforming_strings` is on (the default since 9.1, and on Redshift). */
export function postgresLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Throw when `name` is longer than the warehouse keeps; the engine reports it against the model. */
export function checkIdentifierLength(name: string, maxBytes: number, warehouse: string, what = 'relation name'): void {
  const bytes = Buffer.byteLength(name);
  if (bytes > maxBytes) {
    throw new Error(
      `${what} '${name}' is ${bytes} bytes long; ${warehouse} allows at most ${maxBytes} `
      + `(set a shorter alias or schema in the model's config)`,
    );
  }
}

export function columnName(c: { name: string; quote?: boolean }, quoteColumns: boolean): string {
  return (c.quote ?? quoteColumns) ? quotePostgresIdentifier(c.name) : c.name;
}

const constraintSql = standardConstraintSql(quotePostgresIdentifier);

export const KIND_KEYWORD: Record<RelationKind, string> = {
  table: 'table',
  view: 'view',
  materialized_view: 'materialized view',
  external: 'foreign table',
  dynamic_table: 'table',
};

function header(sqlHeader: string | undefined): string {
  return sqlHeader ? `${sqlHeader.trim()};\n` : '';
}

/** Postgres DDL, with the identifier limit and the adapter name for messages as parameters (Redshift reuses it). */
export function makePostgresDdl(maxIdentifierBytes = 63, warehouse = 'Postgres'): DdlDialect {
  const check = (rel: RelationRef) => {
    checkIdentifierLength(rel.identifier, maxIdentifierBytes, warehouse);
    checkIdentifierLength(rel.schema, maxIdentifierBytes, warehouse, 'schema name');
  };
  return {
    createSchema(_database, schema) {
      checkIdentifierLength(schema, maxIdentifierBytes, warehouse, 'schema name');
      // Postgres cannot create a schema in another database; the database part is left out.
      return `create schema if not exists ${quotePostgresIdentifier(schema)}`;
    },
    createTableAs(rel, selectSql, opts) {
      check(rel);
      const unlogged = opts.config?.unlogged === true ? 'unlogged ' : '';
      return `${header(opts.sqlHeader)}create ${unlogged}table ${renderPostgresRelation(rel)} as (\n${selectSql}\n)`;
    },
    createViewAs(rel, selectSql, opts) {
      check(rel);
      return `${header(opts.sqlHeader)}create ${opts.replace ? 'or replace ' : ''}view ${renderPostgresRelation(rel)} as (\n${selectSql}\n)`;
    },
    createTable(rel, columns, quoteColumns, opts) {
      check(rel);
      const cols = columns.map((c) => [columnName(c, quoteColumns), c.type, ...(c.constraints ?? [])].join(' '));
      const clauses = [...cols, ...(opts?.constraints ?? [])];
      const unlogged = opts?.config?.unlogged === true ? 'unlogged ' : '';
      return `create ${unlogged}table ${renderPostgresRelation(rel)} (\n    ${clauses.join(',\n    ')}\n)`;
    },
    insertSelect(rel, columns, selectSql, opts) {
      const names = columns.map((c) => columnName(c, opts.quoteColumns)).join(', ');
      return `${header(opts.sqlHeader)}insert into ${renderPostgresRelation(rel)} (${names})\nselect ${names} from (\n${selectSql}\n) as __kiln_sbq`;
    },
    columnConstraint: (c) => constraintSql.column(c),
    tableConstraint: (c) => constraintSql.table(c),
    dropRelation(rel, kind) {
      return `drop ${KIND_KEYWORD[kind]} if exists ${renderPostgresRelation(rel)} cascade`;
    },
    renameRelation(from, kind, to) {
      checkIdentifierLength(to.identifier, maxIdentifierBytes, warehouse);
      return `alter ${KIND_KEYWORD[kind]} ${renderPostgresRelation(from)} rename to ${quotePostgresIdentifier(to.identifier)}`;
    },
    addColumn: (rel, column, type) => `alter table ${renderPostgresRelation(rel)} add column ${column} ${type}`,
    // No cascade: a view reading the column makes the step fail and roll back, rather than vanish silently.
    dropColumn: (rel, column) => `alter table ${renderPostgresRelation(rel)} drop column ${column}`,
    alterColumnType: (rel, column, type) => `alter table ${renderPostgresRelation(rel)} alter column ${column} type ${type} using ${column}::${type}`,
    begin: () => 'begin',
    commit: () => 'commit',
    rollback: () => 'rollback',
  };
}

export const postgresDdl = makePostgresDdl();
