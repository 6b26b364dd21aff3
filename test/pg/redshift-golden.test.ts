/**
 * Golden Redshift DDL: the exact text Kiln emits for each Redshift config (dist, sort, sort_type, backup,
 * bind), checked for syntax with @polyglot-sql/sdk's Redshift dialect (a sqlglot port, offline WASM).
 * Needs no server: the same DDL without the Redshift-only clauses runs on PostgreSQL in the conformance suite.
 */
import { validate } from '@polyglot-sql/sdk';
import { describe, expect, it } from 'vitest';
import type { RelationRef } from '../../src/adapter.js';
import { redshiftDdl } from '../../adapters/redshift/ddl.js';
import { redshiftAdapterFactory } from '../../adapters/redshift/index.js';
import { normalizeRedshiftType, redshiftSeedType, redshiftTypesMatch } from '../../adapters/redshift/types.js';

const rel: RelationRef = { database: 'dev', schema: 'analytics', identifier: 'orders' };
const ddl = redshiftDdl();
const compat = redshiftDdl({ postgresCompatible: true });
const select = 'select 1 as id, 2 as customer_id';

function expectRedshift(sql: string): void {
  const r = validate(sql, 'redshift');
  expect(r.errors.map((e) => e.message), sql).toEqual([]);
  expect(r.valid).toBe(true);
}

const TABLES: [string, Record<string, unknown>, string][] = [
  ['no config', {}, 'create table "dev"."analytics"."orders"\nas (\nselect 1 as id, 2 as customer_id\n)'],
  ['dist even, compound sort', { dist: 'even', sort: ['id', 'customer_id'] },
    'create table "dev"."analytics"."orders"\n  diststyle even\n  compound sortkey (id, customer_id)\nas (\nselect 1 as id, 2 as customer_id\n)'],
  ['dist key column, interleaved sort', { dist: 'customer_id', sort: ['customer_id', 'id'], sort_type: 'interleaved' },
    'create table "dev"."analytics"."orders"\n  diststyle key distkey (customer_id)\n  interleaved sortkey (customer_id, id)\nas (\nselect 1 as id, 2 as customer_id\n)'],
  ['dist all, backup false', { dist: 'ALL', backup: false },
    'create table "dev"."analytics"."orders"\n  backup no\n  diststyle all\nas (\nselect 1 as id, 2 as customer_id\n)'],
  ['dist auto, one sort column as a string', { dist: 'auto', sort: 'id' },
    'create table "dev"."analytics"."orders"\n  diststyle auto\n  compound sortkey (id)\nas (\nselect 1 as id, 2 as customer_id\n)'],
  ['a mixed-case dist column is quoted', { dist: 'CustomerId' },
    'create table "dev"."analytics"."orders"\n  diststyle key distkey ("CustomerId")\nas (\nselect 1 as id, 2 as customer_id\n)'],
];

describe('redshift DDL (golden)', () => {
  it('the syntax checker is not vacuous', () => {
    expect(validate('create table t diststyle banana as (select 1)', 'redshift').valid).toBe(false);
    expect(validate('create table t compound sortkey id as select 1', 'redshift').valid).toBe(false);
  });

  for (const [name, config, expected] of TABLES) {
    it(`create table as: ${name}`, () => {
      const sql = ddl.createTableAs(rel, select, { replace: false, config });
      expect(sql).toBe(expected);
      expectRedshift(sql);
      // Redshift-on-Postgres: the same statement without the Redshift-only clauses.
      expect(compat.createTableAs(rel, select, { replace: false, config })).toBe('create table "dev"."analytics"."orders"\nas (\nselect 1 as id, 2 as customer_id\n)');
    });
  }

  it('late-binding views for bind: false, bound views otherwise', () => {
    const late = ddl.createViewAs(rel, select, { replace: false, config: { bind: false } });
    expect(late).toBe('create view "dev"."analytics"."orders" as (\nselect 1 as id, 2 as customer_id\n) with no schema binding');
    expectRedshift(late);
    const bound = ddl.createViewAs(rel, select, { replace: false, config: {} });
    expect(bound).toBe('create view "dev"."analytics"."orders" as (\nselect 1 as id, 2 as customer_id\n)');
    expectRedshift(bound);
    expect(compat.createViewAs(rel, select, { replace: false, config: { bind: false } })).toBe(bound);
  });

  it('tables with explicit columns (seeds, contracts) take the same clauses', () => {
    const sql = ddl.createTable(rel, [{ name: 'id', type: 'bigint', constraints: ['not null'] }, { name: 'Name', type: 'varchar(12)' }], true, {
      constraints: ['primary key (id)'], config: { dist: 'id', sort: ['id'], backup: false },
    });
    expect(sql).toBe('create table "dev"."analytics"."orders" (\n    "id" bigint not null,\n    "Name" varchar(12),\n    primary key (id)\n)\n  backup no\n  diststyle key distkey (id)\n  compound sortkey (id)');
    expectRedshift(sql);
  });

  it('renames views with alter table, drops with cascade, and never writes create or replace table', () => {
    const renamed = ddl.renameRelation(rel, 'view', { ...rel, identifier: 'orders__kiln_backup' });
    expect(renamed).toBe('alter table "dev"."analytics"."orders" rename to "orders__kiln_backup"');
    expectRedshift(renamed);
    const dropped = ddl.dropRelation(rel, 'table');
    expect(dropped).toBe('drop table if exists "dev"."analytics"."orders" cascade');
    expectRedshift(dropped);
    expect(ddl.createTableAs(rel, select, { replace: true })).not.toContain('or replace');
  });

  it('rejects bad configs and names over 127 bytes with clear errors', () => {
    expect(() => ddl.createTableAs(rel, select, { replace: false, config: { sort_type: 'zigzag', sort: ['id'] } })).toThrow('invalid Redshift config: sort_type must be compound or interleaved, not "zigzag"');
    expect(() => ddl.createTableAs(rel, select, { replace: false, config: { sort: Array.from({ length: 9 }, (_, i) => `c${i}`), sort_type: 'interleaved' } })).toThrow('an interleaved sort key takes at most 8 columns, not 9');
    expect(() => ddl.createTableAs(rel, select, { replace: false, config: { dist: 3 } })).toThrow('dist must be even, all, auto or a column name, not 3');
    expect(() => ddl.createViewAs(rel, select, { replace: false, config: { bind: 'no' } })).toThrow('bind must be true or false, not "no"');
    // The compatibility switch leaves clauses out only after checking them.
    expect(() => compat.createTableAs(rel, select, { replace: false, config: { backup: 'nope' } })).toThrow('backup must be true or false');
    const long = 'x'.repeat(128);
    expect(() => ddl.createTableAs({ ...rel, identifier: long }, select, { replace: false })).toThrow(`relation name '${long}' is 128 bytes long; Redshift allows at most 127`);
    expect(() => ddl.createTableAs({ ...rel, identifier: 'x'.repeat(127) }, select, { replace: false })).not.toThrow();
  });

  it('defaults the port to 5439 and keeps secrets among the secret fields', () => {
    const t = redshiftAdapterFactory.validateTarget(
      { type: 'redshift', host: 'h', user: 'u', password: 'p', dbname: 'dev', schema: 's' }, { file: 'profiles.yml', line: 4 }, { dir: '/tmp', name: 'x' },
    );
    expect(t.fields).toMatchObject({ port: 5439, sslmode: 'prefer', method: 'database', autocommit: true, ra3_node: false });
    expect(t.secretFields).toContain('password');
    expect(() => redshiftAdapterFactory.validateTarget({ type: 'redshift', host: 'h', user: 'u', password: 'p', dbname: 'dev', schema: 's', port: 'abc' }, { file: 'profiles.yml', line: 4 }, { dir: '/tmp', name: 'x' }))
      .toThrow(/field 'port' must be a whole number from 1 to 65535/);
  });

  it('sizes seed columns and compares contract types the Redshift way', () => {
    expect(redshiftSeedType('text', { maxByteLength: 300, maxScale: 0 })).toBe('varchar(300)');
    expect(redshiftSeedType('number', { maxByteLength: 6, maxScale: 2 })).toBe('numeric(38,2)');
    expect(redshiftSeedType('integer', { maxByteLength: 3, maxScale: 0 })).toBe('bigint');
    expect(normalizeRedshiftType('TEXT')).toBe('character varying');
    expect(redshiftTypesMatch('text', 'character varying(256)')).toBe(true);
    expect(redshiftTypesMatch('int', 'bigint')).toBe(false);
  });
});
