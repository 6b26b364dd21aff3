/**
 * Golden SQL of the Snowflake adapter: the DDL/DML text it emits for each config, pinned, and each statement
 * checked to parse as Snowflake SQL (@polyglot-sql/sdk). polyglot 0.12 does not know three Snowflake
 * clauses (`cluster by` in CREATE TABLE … AS, `copy grants`, `resume|suspend recluster`); statements with
 * them are checked with those clauses taken out, and the clauses themselves are pinned by the golden text.
 */
import { Dialect, parse } from '@polyglot-sql/sdk';
import { describe, expect, it } from 'vitest';
import type { IncrementalStep, RelationRef } from '../../src/adapter.js';
import { snowflakeDdl, SnowflakeNames } from '../../adapters/snowflake/ddl.js';
import { splitStatements } from '../../adapters/snowflake/connection.js';
import { normalizeSnowflakeType, snowflakeTypesMatch } from '../../adapters/snowflake/types.js';

const names = new SnowflakeNames();
const ddl = snowflakeDdl(names);
const rel: RelationRef = { database: 'analytics', schema: 'dbt_ann', identifier: 'orders' };
const select = 'select id, amount from analytics.raw.orders';

function parsesAsSnowflake(text: string): void {
  for (const s of splitStatements(text)) {
    const sql = s.sql
      .replace(/\n\s*cluster by \([^)]*\)/i, '')
      .replace(/\n\s*copy grants/i, '')
      .replace(/^alter table (\S+) (resume|suspend) recluster$/i, 'alter table $1 add column x int');
    const r = parse(sql, Dialect.Snowflake);
    expect(r.success, `${sql}\n${r.error}`).toBe(true);
  }
}

const emitted: Record<string, string> = {
  'table (transient by default)': ddl.createTableAs(rel, select, { replace: true }),
  'table transient: false, cluster_by, automatic_clustering, copy_grants': ddl.createTableAs(rel, select, {
    replace: true, config: { transient: false, cluster_by: ['id', 'amount'], automatic_clustering: true, copy_grants: true },
  }),
  'table with query_tag and snowflake_warehouse': ddl.createTableAs(rel, select, { replace: true, config: { query_tag: "kiln's", snowflake_warehouse: 'BIG_WH' } }),
  'table with sql_header': ddl.createTableAs(rel, select, { replace: true, sqlHeader: 'alter session set timezone = \'UTC\';' }),
  'staging table': ddl.createTableAs({ ...rel, identifier: 'orders__kiln_incr' }, select, { replace: false }),
  'view': ddl.createViewAs(rel, select, { replace: true }),
  'secure view with copy grants': ddl.createViewAs(rel, select, { replace: true, config: { secure: true, copy_grants: true } }),
  'table with columns and constraints': ddl.createTable(rel, [
    { name: 'id', type: 'integer', constraints: [ddl.columnConstraint({ type: 'not_null' })!] },
    { name: 'amount', type: 'number(10,2)' },
  ], false, { constraints: [ddl.tableConstraint({ type: 'primary_key', name: 'pk_orders', columns: ['id'] })!] }),
  'insert select': ddl.insertSelect(rel, [{ name: 'id' }, { name: 'amount' }], select, { quoteColumns: false }),
  'add column': ddl.addColumn(rel, '"EMAIL"', 'VARCHAR(16777216)'),
  'drop column': ddl.dropColumn(rel, '"EMAIL"'),
  'alter column type': ddl.alterColumnType(rel, '"AMOUNT"', 'NUMBER(12,2)'),
  'drop table': ddl.dropRelation(rel, 'table'),
  'drop view': ddl.dropRelation(rel, 'view'),
  'rename table': ddl.renameRelation({ ...rel, identifier: 'orders__kiln_tmp' }, 'table', rel),
  'schema': ddl.createSchema('analytics', 'dbt_ann'),
};

const step: IncrementalStep = {
  target: rel, source: { ...rel, identifier: 'orders__kiln_incr' }, columns: ['"ID"', '"AMOUNT"'], uniqueKey: ['id'], updateColumns: ['"AMOUNT"'],
  predicates: ["DBT_INTERNAL_DEST.day >= '2024-01-01'"], partitionBy: 'day',
};
for (const strategy of ['delete+insert', 'insert_overwrite', 'microbatch'] as const) {
  emitted[`incremental ${strategy}`] = ddl.incrementalSql!(strategy, step)!.join(';\n');
}
emitted['incremental delete+insert, two keys'] = ddl.incrementalSql!('delete+insert', { ...step, uniqueKey: ['id', 'day'], predicates: [] })!.join(';\n');

describe('snowflake golden SQL', () => {
  it('pins the DDL and DML for each config', () => {
    expect(emitted).toMatchSnapshot();
  });

  it('every statement parses as Snowflake SQL', () => {
    for (const text of Object.values(emitted)) parsesAsSnowflake(text);
  });

  it('merge and append keep the standard SQL', () => {
    expect(ddl.incrementalSql!('merge', step)).toBeUndefined();
    expect(ddl.incrementalSql!('append', step)).toBeUndefined();
  });

  it('honours the quote policy, and quotes names that are not plain identifiers in their folded spelling', () => {
    expect(new SnowflakeNames({ database: false, schema: false, identifier: true }).render(rel)).toBe('analytics.dbt_ann."orders"');
    expect(names.render({ database: 'analytics', schema: 'dbt-ann', identifier: 'orders' })).toBe('analytics."DBT-ANN".orders');
    expect(names.stored('orders', false)).toBe('ORDERS');
    expect(names.stored('orders', true)).toBe('orders');
  });

  it('rejects invalid Snowflake config', () => {
    expect(() => ddl.createTableAs(rel, select, { replace: true, config: { transient: 'yes' } })).toThrow(/transient must be true or false/);
    expect(() => ddl.createTableAs(rel, select, { replace: true, config: { cluster_by: [1] } })).toThrow(/cluster_by/);
  });

  it('normalizes types as describe table prints them', () => {
    expect(normalizeSnowflakeType('int')).toBe('NUMBER(38,0)');
    expect(normalizeSnowflakeType('numeric(10, 2)')).toBe('NUMBER(10,2)');
    expect(normalizeSnowflakeType('string')).toBe('VARCHAR(16777216)');
    expect(normalizeSnowflakeType('timestamp')).toBe('TIMESTAMP_NTZ(9)');
    expect(snowflakeTypesMatch('integer', 'NUMBER(38,0)')).toBe(true);
    expect(snowflakeTypesMatch('varchar', 'NUMBER(38,0)')).toBe(false);
  });

  it('splits statements outside strings, identifiers, $$ blocks and comments, keeping their lines', () => {
    expect(splitStatements("select ';' as a;\n-- x;\nselect \"a;b\" from t;\ncreate function f() returns int as $$ 1; $$")).toEqual([
      { sql: "select ';' as a", line: 1 },
      { sql: '-- x;\nselect "a;b" from t', line: 2 },
      { sql: 'create function f() returns int as $$ 1; $$', line: 4 },
    ]);
  });
});
