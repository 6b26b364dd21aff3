/**
 * Golden SQL of the BigQuery adapter: the DDL and DML it emits for each config, pinned as text, and every
 * statement parsed by a GoogleSQL parser (@polyglot-sql/sdk's BigQuery dialect). Plus the network guard's
 * own check: a connect or lookup off loopback fails and is recorded.
 */
import dns from 'node:dns';
import net from 'node:net';
import { parse } from '@polyglot-sql/sdk';
import { describe, expect, it } from 'vitest';
import type { IncrementalStep } from '../../../src/adapter.js';
import { makeBigQueryDdl } from '../../../adapters/bigquery/ddl.js';
import { bigqueryIncrementalSql } from '../../../adapters/bigquery/incremental.js';
import { persistDocsStatements } from '../../../adapters/bigquery/postBuild.js';
import { bigquerySnapshot } from '../../../adapters/bigquery/snapshot.js';
import { normalizeBigQueryType } from '../../../adapters/bigquery/types.js';
import { planStatement, splitStatements } from './translate.js';
import { netViolations } from './netGuard.mjs';

const ddl = makeBigQueryDdl({ location: 'EU' });
const rel = { database: 'my-project', schema: 'analytics', identifier: 'orders' };
const staged = { ...rel, identifier: 'orders__kiln_incr' };

/**
 * GoogleSQL statements the parser (polyglot 0.12) does not cover yet, with BigQuery's documented grammar:
 * `CREATE SCHEMA … OPTIONS(location=…)` and `ALTER TABLE|VIEW … ALTER COLUMN … SET OPTIONS(…)`
 * (cloud.google.com/bigquery/docs/reference/standard-sql/data-definition-language). These are checked by
 * the fake's own planner instead, which recognises exactly these shapes.
 */
const PARSER_GAPS = [/^create schema if not exists \S+\noptions\(location='[\w-]+'\)$/, /^alter (table|view) \S+ alter column `[^`]+` set options\(description='(?:[^'\\]|\\.)*'\)$/];

function parses(sql: string): void {
  for (const st of splitStatements(sql)) {
    if (PARSER_GAPS.some((re) => re.test(st.sql))) {
      expect(planStatement(st.sql, new Set()).kind).not.toBe('sql');
      continue;
    }
    const r = parse(st.sql, 'bigquery' as never) as { success: boolean; error?: string };
    expect(r.success, `${st.sql}\n${r.error}`).toBe(true);
  }
}

const golden: [string, string][] = [
  ['create schema', ddl.createSchema('my-project', 'analytics')],
  ['table, all options', ddl.createTableAs(rel, 'select 1 as id, current_date() as day', {
    replace: true, sqlHeader: 'create temp function f(x int64) as (x + 1);',
    config: {
      partition_by: { field: 'day', data_type: 'date' }, cluster_by: ['id', 'day'], labels: { team: 'data', tier: 'gold' },
      require_partition_filter: true, partition_expiration_days: 7, kms_key_name: 'projects/p/locations/eu/keyRings/r/cryptoKeys/k', hours_to_expiration: 6,
    },
  })],
  ['table, timestamp month', ddl.createTableAs(rel, 'select current_timestamp() as ts', { replace: false, config: { partition_by: { field: 'ts', data_type: 'timestamp', granularity: 'month' } } })],
  ['table, datetime hour', ddl.createTableAs(rel, 'select current_datetime() as dt', { replace: true, config: { partition_by: { field: 'dt', data_type: 'datetime', granularity: 'hour' }, cluster_by: 'dt' } })],
  ['table, int64 range', ddl.createTableAs(rel, 'select 1 as id', { replace: true, config: { partition_by: { field: 'id', data_type: 'int64', range: { start: 0, end: 100, interval: 10 } } } })],
  ['copy over target', ddl.replaceFrom!(rel, { ...rel, identifier: 'orders__kiln_tmp' })],
  ['view with labels', ddl.createViewAs(rel, 'select 1 as id', { replace: true, config: { labels: { team: 'data' } } })],
  ['contracted table', ddl.createTable(rel, [
    { name: 'id', type: 'integer', constraints: [ddl.columnConstraint({ type: 'not_null' })!] },
    { name: 'label', type: 'varchar(20)' },
    { name: 'amount', type: 'numeric(10,2)' },
  ], true, { constraints: [ddl.tableConstraint({ type: 'primary_key', columns: ['id'] })!, ddl.tableConstraint({ type: 'foreign_key', columns: ['id'], to: '`my-project`.`analytics`.`customers`', toColumns: ['id'] })!], config: { partition_by: { field: 'day' } } })],
  ['insert select', ddl.insertSelect(rel, [{ name: 'id' }, { name: 'label' }], 'select 1 as id, "a" as label', { quoteColumns: true })],
  ['add column', ddl.addColumn(rel, '`email`', 'varchar')],
  ['drop column', ddl.dropColumn(rel, '`email`')],
  ['widen column', ddl.alterColumnType(rel, '`id`', 'numeric')],
  ['drop view', ddl.dropRelation(rel, 'view')],
  ['rename table', ddl.renameRelation(rel, 'table', { ...rel, identifier: 'orders__kiln_backup' })],
];

const step: IncrementalStep = { target: rel, source: staged, columns: ['`id`', '`day`', '`v`'], uniqueKey: ['id'], updateColumns: ['`day`', '`v`'], predicates: [] };
const incremental: [string, string[]][] = [
  ['merge', bigqueryIncrementalSql('merge', step)!],
  ['merge with predicates', bigqueryIncrementalSql('merge', { ...step, predicates: ["DBT_INTERNAL_DEST.day >= date '2024-01-01'"] })!],
  ['merge without key', bigqueryIncrementalSql('merge', { ...step, uniqueKey: [], updateColumns: [] })!],
  ['insert_overwrite dynamic', bigqueryIncrementalSql('insert_overwrite', { ...step, uniqueKey: [], partitionBy: 'day', config: { partition_by: { field: 'day', data_type: 'timestamp', granularity: 'day' } } })!],
  ['insert_overwrite static', bigqueryIncrementalSql('insert_overwrite', { ...step, uniqueKey: [], partitionBy: 'day', config: { partition_by: { field: 'day', data_type: 'date' }, partitions: ["date('2024-01-01')", "date('2024-01-02')"] } })!],
  ['microbatch', bigqueryIncrementalSql('microbatch', { ...step, uniqueKey: [], predicates: ["DBT_INTERNAL_DEST.day >= cast('2024-01-01T00:00:00' as timestamp)", "DBT_INTERNAL_DEST.day < cast('2024-01-02T00:00:00' as timestamp)"] })!],
  ['append', bigqueryIncrementalSql('append', step)!],
  ['snapshot merge', bigquerySnapshot.mergeStatements!({
    target: '`my-project`.`analytics`.`snap`', staging: '`my-project`.`analytics`.`snap__kiln_snapshot_staging`', insertColumns: ['`id`', '`dbt_scd_id`', '`dbt_valid_to`'],
    validTo: 'dbt_valid_to', scdId: 'dbt_scd_id', isCurrent: (e) => `${e} is null`,
  })],
  ['persist docs', persistDocsStatements({ relation: rel, kind: 'table', config: { persist_docs: { relation: true, columns: true } }, description: "Ann's orders", columns: [{ name: 'id', description: 'key' }, { name: 'gone', description: 'x' }] }, ['id'])],
];

describe('bigquery golden SQL', () => {
  it('pins the DDL per config, and each statement parses as GoogleSQL', () => {
    for (const [, sql] of golden) parses(sql);
    expect(Object.fromEntries(golden)).toMatchSnapshot();
  });

  it('pins the incremental, snapshot and docs statements, and each parses as GoogleSQL', () => {
    for (const [, stmts] of incremental) for (const s of stmts) parses(s);
    expect(Object.fromEntries(incremental)).toMatchSnapshot();
  });

  it('refuses what BigQuery cannot do, naming it', () => {
    expect(() => ddl.renameRelation(rel, 'view', rel)).toThrow('BigQuery cannot rename a view');
    expect(() => ddl.createTableAs(rel, 'select 1', { replace: true, config: { partition_by: { field: 'd', data_type: 'string' } } })).toThrow("data_type must be one of date, timestamp, datetime, int64, not 'string'");
    expect(() => ddl.createTableAs(rel, 'select 1', { replace: true, config: { cluster_by: ['a', 'b', 'c', 'd', 'e'] } })).toThrow('at most 4');
    expect(() => ddl.createTableAs(rel, 'select 1', { replace: true, config: { partition_by: { field: 'id', data_type: 'int64' } } })).toThrow('range.start');
    expect(ddl.columnConstraint({ type: 'check', expression: 'id > 0' })).toBeUndefined();
    expect(ddl.tableConstraint({ type: 'unique', columns: ['id'] })).toBeUndefined();
  });

  it('normalizes type names to GoogleSQL', () => {
    expect(['int', 'BIGINT', 'integer', 'int64'].map(normalizeBigQueryType)).toEqual(['INT64', 'INT64', 'INT64', 'INT64']);
    expect(normalizeBigQueryType('varchar(20)')).toBe('STRING(20)');
    expect(normalizeBigQueryType('decimal(10, 2)')).toBe('NUMERIC(10,2)');
    expect(normalizeBigQueryType('array<struct<a int, `b` string>>')).toBe('ARRAY<STRUCT<a INT64, b STRING>>');
  });
});

describe('network guard', () => {
  it('fails and records a connect or DNS lookup off loopback, and lets loopback through', async () => {
    const list = (globalThis as { __kilnNetViolations?: string[] }).__kilnNetViolations!;
    try {
      expect(() => net.connect({ host: '10.255.255.1', port: 443 })).toThrow('network guard: socket connect to 10.255.255.1');
      await expect(dns.promises.lookup('bigquery.googleapis.com')).rejects.toThrow('network guard');
      const err = await new Promise<Error | null>((r) => dns.lookup('metadata.google.internal', (e) => r(e)));
      expect(err?.message).toContain('network guard');
      expect(netViolations()).toHaveLength(3);
      const s = net.connect({ host: '127.0.0.1', port: 9 });
      s.on('error', () => undefined);
      s.destroy();
    } finally {
      list.length = 0;
    }
  });
});
