/**
 * DuckDB DDL text. DuckDB has transactional DDL, so the engine swaps relations by rename inside a
 * transaction and a failure rolls back to the previous relation.
 *
 * @example
 * duckdbDdl(q).createTableAs({schema: 'main', identifier: 'orders'}, 'select 1 as id')
 * // create table "main"."orders" as (select 1 as id)
 */
import type { DdlDialect, RelationKind, RelationRef } from '../../src/adapter.js';

export function quoteDuckdbIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function renderDuckdbRelation(rel: RelationRef): string {
  const parts = [rel.database, rel.schema, rel.identifier].filter((p): p is string => !!p);
  return parts.map(quoteDuckdbIdentifier).join('.');
}

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
  createTable(rel, columns, quoteColumns) {
    const cols = columns.map((c) => `${quoteColumns ? quoteDuckdbIdentifier(c.name) : c.name} ${c.type}`);
    return `create table ${renderDuckdbRelation(rel)} (${cols.join(', ')})`;
  },
  dropRelation(rel, kind) {
    return `drop ${KIND_KEYWORD[kind]} if exists ${renderDuckdbRelation(rel)} cascade`;
  },
  renameRelation(from, kind, to) {
    return `alter ${KIND_KEYWORD[kind]} ${renderDuckdbRelation(from)} rename to ${quoteDuckdbIdentifier(to.identifier)}`;
  },
  begin: () => 'begin transaction',
  commit: () => 'commit',
  rollback: () => 'rollback',
};
