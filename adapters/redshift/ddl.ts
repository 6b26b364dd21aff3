/**
 * Redshift DDL: Postgres DDL plus the table clauses Redshift has — `dist` (even|all|auto|<column>), `sort`
 * (a column or a list) with `sort_type` compound (default) or interleaved, `backup: false` — and late-binding
 * views for `bind: false` (`with no schema binding`). Redshift has no `create or replace table` (the engine
 * swaps by rename in a transaction), renames views with `alter table`, and keeps identifiers up to 127 bytes.
 *
 * With `postgresCompatible` (tests only: Redshift-on-Postgres), the clauses PostgreSQL cannot parse are left
 * out after they have been checked; everything else is the same text.
 *
 * @example
 * redshiftDdl().createTableAs(rel, 'select 1 as id', { replace: false, config: { dist: 'id', sort: ['id'] } })
 * // create table "db"."s"."t"\n  diststyle key distkey ("id")\n  compound sortkey ("id")\nas (\nselect 1 as id\n)
 */
import type { DdlDialect, IncrementalStep, IncrementalStrategy, NodeConfigView, RelationKind } from '../../src/adapter.js';
import { andPredicates, insertAll } from '../../src/run/incrementalSql.js';
import type { RelationRef } from '../../src/adapter.js';
import { checkIdentifierLength, KIND_KEYWORD, makePostgresDdl, quotePostgresIdentifier, renderPostgresRelation } from '../postgres/ddl.js';

export const REDSHIFT_MAX_IDENTIFIER = 127;

/** The Redshift table clauses of a node's config, checked. */
export interface RedshiftTableOptions {
  dist?: string;
  sort: string[];
  sortType: 'compound' | 'interleaved';
  backup: boolean;
}

function bad(message: string): never {
  throw new Error(`invalid Redshift config: ${message}`);
}

/** A column named in dist/sort: written as given when it is a plain lower-case name, else quoted. */
function column(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : quotePostgresIdentifier(name);
}

export function redshiftTableOptions(config: NodeConfigView | undefined): RedshiftTableOptions {
  const c = config ?? {};
  let dist: string | undefined;
  if (c.dist !== undefined && c.dist !== null) {
    if (typeof c.dist !== 'string' || c.dist.trim() === '') bad(`dist must be even, all, auto or a column name, not ${JSON.stringify(c.dist)}`);
    dist = c.dist.trim();
  }
  const rawSort = c.sort === undefined || c.sort === null ? [] : Array.isArray(c.sort) ? c.sort : [c.sort];
  if (!rawSort.every((s) => typeof s === 'string' && s.trim() !== '')) bad(`sort must be a column name or a list of them, not ${JSON.stringify(c.sort)}`);
  const sort = (rawSort as string[]).map((s) => s.trim());
  const sortType = c.sort_type === undefined || c.sort_type === null ? 'compound' : String(c.sort_type).toLowerCase();
  if (sortType !== 'compound' && sortType !== 'interleaved') bad(`sort_type must be compound or interleaved, not ${JSON.stringify(c.sort_type)}`);
  if (sortType === 'interleaved' && sort.length > 8) bad(`an interleaved sort key takes at most 8 columns, not ${sort.length}`);
  if (c.sort_type !== undefined && c.sort_type !== null && sort.length === 0) bad('sort_type needs sort: the sort key columns');
  if (c.backup !== undefined && c.backup !== null && typeof c.backup !== 'boolean') bad(`backup must be true or false, not ${JSON.stringify(c.backup)}`);
  return { dist, sort, sortType, backup: c.backup !== false };
}

/** `backup no`, `diststyle …`, `… sortkey (…)` — one clause per line, in Redshift's order. */
export function redshiftTableClauses(o: RedshiftTableOptions): string[] {
  const out: string[] = [];
  if (!o.backup) out.push('backup no');
  if (o.dist) {
    const lower = o.dist.toLowerCase();
    out.push(['even', 'all', 'auto'].includes(lower) ? `diststyle ${lower}` : `diststyle key distkey (${column(o.dist)})`);
  }
  if (o.sort.length) out.push(`${o.sortType} sortkey (${o.sort.map(column).join(', ')})`);
  return out;
}

function bindFlag(config: NodeConfigView | undefined): boolean {
  const bind = config?.bind;
  if (bind === undefined || bind === null) return true;
  if (typeof bind !== 'boolean') bad(`bind must be true or false, not ${JSON.stringify(bind)}`);
  return bind;
}

const header = (sqlHeader: string | undefined) => (sqlHeader ? `${sqlHeader.trim()};\n` : '');

/**
 * Redshift's DELETE takes no alias for its table, so the strategies that delete (delete+insert, microbatch)
 * name the target itself, and predicates written against DBT_INTERNAL_DEST are pointed at it. Merge and
 * append use the standard SQL.
 *
 * @example
 * // delete+insert on id:
 * // delete from "s"."t" where id in (select id from "s"."t__kiln_incr")
 */
export function redshiftIncrementalSql(strategy: IncrementalStrategy, step: IncrementalStep): string[] | undefined {
  if (strategy !== 'delete+insert' && strategy !== 'microbatch') return undefined;
  const target = renderPostgresRelation(step.target);
  const source = renderPostgresRelation(step.source);
  const dest = (p: string) => p.split('DBT_INTERNAL_DEST.').join(`${target}.`);
  const insert = insertAll(renderPostgresRelation, step);
  const keys = step.uniqueKey;
  if (strategy === 'microbatch') {
    if (step.predicates.length === 0) throw new Error('internal: a microbatch step without its window');
    return [`delete from ${target}\nwhere ${step.predicates.map((p) => `(${dest(p)})`).join('\n  and ')}`, insert];
  }
  if (keys.length === 0) return [insert];
  const predicates = andPredicates(step.predicates.map(dest));
  const del = keys.length === 1
    ? `delete from ${target}\nwhere ${keys[0]} in (select ${keys[0]} from ${source})${predicates}`
    : `delete from ${target}\nusing ${source} as DBT_INTERNAL_SOURCE\nwhere ${keys.map((k) => `DBT_INTERNAL_SOURCE.${k} = ${target}.${k}`).join(' and ')}${predicates}`;
  return [del, insert];
}

export function redshiftDdl(opts: { postgresCompatible?: boolean } = {}): DdlDialect {
  const base = makePostgresDdl(REDSHIFT_MAX_IDENTIFIER, 'Redshift');
  const compat = !!opts.postgresCompatible;
  const check = (rel: RelationRef) => {
    checkIdentifierLength(rel.identifier, REDSHIFT_MAX_IDENTIFIER, 'Redshift');
    checkIdentifierLength(rel.schema, REDSHIFT_MAX_IDENTIFIER, 'Redshift', 'schema name');
  };
  const clauses = (config: NodeConfigView | undefined) => {
    const list = redshiftTableClauses(redshiftTableOptions(config));
    return compat || list.length === 0 ? '' : `\n  ${list.join('\n  ')}`;
  };
  return {
    ...base,
    incrementalSql: redshiftIncrementalSql,
    // Redshift changes a column's type only to a longer varchar, and has no USING clause.
    alterColumnType: (rel, column, type) => `alter table ${renderPostgresRelation(rel)} alter column ${column} type ${type}`,
    createTableAs(rel, selectSql, o) {
      check(rel);
      // No `create or replace table` on Redshift: the engine swaps by rename instead.
      return `${header(o.sqlHeader)}create table ${renderPostgresRelation(rel)}${clauses(o.config)}\nas (\n${selectSql}\n)`;
    },
    createViewAs(rel, selectSql, o) {
      check(rel);
      const lateBinding = !bindFlag(o.config) && !compat ? ' with no schema binding' : '';
      return `${header(o.sqlHeader)}create ${o.replace ? 'or replace ' : ''}view ${renderPostgresRelation(rel)} as (\n${selectSql}\n)${lateBinding}`;
    },
    createTable(rel, columns, quoteColumns, o) {
      return base.createTable(rel, columns, quoteColumns, { constraints: o?.constraints }) + clauses(o?.config);
    },
    renameRelation(from, kind: RelationKind, to) {
      base.renameRelation(from, kind, to);
      // Redshift renames views (and tables) with ALTER TABLE; it cannot rename materialized views.
      const keyword = kind === 'view' ? 'table' : KIND_KEYWORD[kind];
      return `alter ${keyword} ${renderPostgresRelation(from)} rename to ${quotePostgresIdentifier(to.identifier)}`;
    },
    dropRelation(rel, kind) {
      return `drop ${kind === 'external' ? 'table' : KIND_KEYWORD[kind]} if exists ${renderPostgresRelation(rel)} cascade`;
    },
  };
}
