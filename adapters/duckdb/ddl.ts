/**
 * DuckDB DDL text. DuckDB has transactional DDL, so the engine swaps relations by rename inside a
 * transaction and a failure rolls back to the previous relation. Constraint clauses follow dbt's
 * rendering (`check (…)`, `primary key (a, b)`, `references t (id)`).
 *
 * @example
 * duckdbDdl.createTableAs({schema: 'main', identifier: 'orders'}, 'select 1 as id', { replace: false })
 * // create table "main"."orders" as (select 1 as id)
 * duckdbDdl.columnConstraint({ type: 'check', expression: 'id > 0' }) // check (id > 0)
 */
import type { DdlDialect, RelationKind, RelationRef } from '../../src/adapter.js';
import { standardConstraintSql } from '../../src/run/constraintSql.js';

export function quoteDuckdbIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function renderDuckdbRelation(rel: RelationRef): string {
  const parts = [rel.database, rel.schema, rel.identifier].filter((p): p is string => !!p);
  return parts.map(quoteDuckdbIdentifier).join('.');
}

function columnName(c: { name: string; quote?: boolean }, quoteColumns: boolean): string {
  return (c.quote ?? quoteColumns) ? quoteDuckdbIdentifier(c.name) : c.name;
}

const constraintSql = standardConstraintSql(quoteDuckdbIdentifier);

const KIND_KEYWORD: Record<RelationKind, string> = {
  table: 'table',
  view: 'view',
  materialized_view: 'view',
  external: 'table',
  dynamic_table: 'table',
};

export const duckdbDdl: DdlDialect = {
  createSchema(database, schema) {
    const name = [database, schema].filter((p): p is string => !!p).map(quoteDuckdbIdentifier).join('.');
    return `create schema if not exists ${name}`;
  },
  createTableAs(rel, selectSql, opts) {
    const head = opts.sqlHeader ? `${opts.sqlHeader.trim()};\n` : '';
    return `${head}create ${opts.replace ? 'or replace ' : ''}table ${renderDuckdbRelation(rel)} as (\n${selectSql}\n)`;
  },
  createViewAs(rel, selectSql, opts) {
    const head = opts.sqlHeader ? `${opts.sqlHeader.trim()};\n` : '';
    return `${head}create ${opts.replace ? 'or replace ' : ''}view ${renderDuckdbRelation(rel)} as (\n${selectSql}\n)`;
  },
  createTable(rel, columns, quoteColumns, opts) {
    const cols = columns.map((c) => [columnName(c, quoteColumns), c.type, ...(c.constraints ?? [])].join(' '));
    const clauses = [...cols, ...(opts?.constraints ?? [])];
    const constrained = clauses.length > cols.length || columns.some((c) => c.constraints?.length);
    if (constrained) return `create table ${renderDuckdbRelation(rel)} (\n    ${clauses.join(',\n    ')}\n)`;
    return `create table ${renderDuckdbRelation(rel)} (${clauses.join(', ')})`;
  },
  insertSelect(rel, columns, selectSql, opts) {
    const head = opts.sqlHeader ? `${opts.sqlHeader.trim()};\n` : '';
    const names = columns.map((c) => columnName(c, opts.quoteColumns)).join(', ');
    return `${head}insert into ${renderDuckdbRelation(rel)} (${names})\nselect ${names} from (\n${selectSql}\n) as __kiln_sbq`;
  },
  columnConstraint: (c) => constraintSql.column(c),
  tableConstraint: (c) => constraintSql.table(c),
  dropRelation(rel, kind) {
    return `drop ${KIND_KEYWORD[kind]} if exists ${renderDuckdbRelation(rel)} cascade`;
  },
  renameRelation(from, kind, to) {
    return `alter ${KIND_KEYWORD[kind]} ${renderDuckdbRelation(from)} rename to ${quoteDuckdbIdentifier(to.identifier)}`;
  },
  addColumn: (rel, column, type) => `alter table ${renderDuckdbRelation(rel)} add column ${column} ${type}`,
  dropColumn: (rel, column) => `alter table ${renderDuckdbRelation(rel)} drop column ${column}`,
  alterColumnType: (rel, column, type) => `alter table ${renderDuckdbRelation(rel)} alter column ${column} set data type ${type}`,
  begin: () => 'begin transaction',
  commit: () => 'commit',
  rollback: () => 'rollback',
};
