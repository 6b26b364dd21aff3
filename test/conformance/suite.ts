/**
 * The adapter conformance suite: one set of end-to-end behaviours every warehouse adapter must show, run
 * through the real CLI against a real (or faithfully faked) engine. An adapter's test file calls
 * `conformanceSuite({...})` with its factory and a way to make a target; results are read back through the
 * adapter itself, so the suite knows nothing about any one warehouse.
 *
 * @example
 * conformanceSuite({ name: 'duckdb', factory: duckdbAdapterFactory, target: (dir) => ({ type: 'duckdb', path: `${dir}/w.duckdb` }) });
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Adapter, AdapterFactory, QueryResult, RelationKind } from '../../src/adapter.js';
import { makeProject, runKiln, writeFiles, type CliResult } from '../helpers/project.js';

export interface ConformanceTarget {
  /** The adapter type, as profiles.yml names it. */
  name: string;
  factory: AdapterFactory;
  /** Target fields for a fresh project in `dir` (its own database file or schema). */
  target(dir: string): Record<string, unknown>;
  /** Environment for the CLI (credentials, fake endpoints). */
  env?: Record<string, string>;
  /** Drop what a project created, when the engine outlives the test (servers). */
  cleanup?(adapter: Adapter, schema: string): Promise<void>;
}

/** A project on disk for one adapter: write files, run the CLI, read relations back through the adapter. */
export class ConformanceProject {
  readonly dir: string;
  private readonly fields: Record<string, unknown>;

  constructor(private readonly t: ConformanceTarget, files: Record<string, string>) {
    this.dir = makeProject({ 'kiln_project.yml': 'name: conform\nprofile: conform\n', ...files }, `kiln-conform-${t.name}-`);
    this.fields = t.target(this.dir);
    const yaml = Object.entries(this.fields).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`).join('\n');
    writeFiles(this.dir, { 'profiles.yml': `conform:\n  target: test\n  outputs:\n    test:\n${yaml}\n` });
  }

  kiln(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    return runKiln([...args, '--profiles-dir', this.dir], this.dir, { ...(this.t.env ?? {}), ...env });
  }

  write(files: Record<string, string>): void {
    writeFiles(this.dir, files);
  }

  /** Open the adapter on this project's target, run `fn`, close it (so the CLI can take the database again). */
  async withAdapter<T>(fn: (adapter: Adapter, schema: string) => Promise<T>): Promise<T> {
    const config = this.t.factory.validateTarget(this.fields, { file: 'profiles.yml' }, { dir: this.dir, name: 'conform' });
    const adapter = await this.t.factory.open(config, { threads: 1, projectDir: this.dir, projectName: 'conform' });
    try {
      return await fn(adapter, config.schema);
    } finally {
      await adapter.close();
    }
  }

  /** Rows of `select <columns> from <relation> order by 1`, with numbers normalised (drivers differ). */
  async rows(identifier: string, columns = '*', schemaSuffix = ''): Promise<Record<string, unknown>[]> {
    return this.withAdapter(async (adapter, schema) => {
      const rel = adapter.renderRelation({ database: adapter.defaultDatabase, schema: schema + schemaSuffix, identifier });
      const result: QueryResult = await adapter.withConnection((c) => c.execute(`select ${columns} from ${rel} order by 1`));
      return result.rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k.toLowerCase(), typeof v === 'bigint' || (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) && k !== 'name') ? Number(v) : v])));
    });
  }

  /** Relation kinds in the target schema (or schema + suffix), by lower-cased name. */
  async relations(schemaSuffix = ''): Promise<Record<string, RelationKind>> {
    return this.withAdapter(async (adapter, schema) => {
      const list = await adapter.withConnection((c) => adapter.listRelations(c, adapter.defaultDatabase, schema + schemaSuffix));
      return Object.fromEntries(list.map((r) => [r.identifier.toLowerCase(), r.kind]));
    });
  }

  runResults(): Map<string, { status: string; failures: number | null; message: string }> {
    const data = JSON.parse(readFileSync(join(this.dir, 'target', 'run_results.json'), 'utf8')) as { results: { unique_id: string; status: string; failures: number | null; message: string }[] };
    return new Map(data.results.map((r) => [r.unique_id.split('.').slice(0, 3).join('.'), r]));
  }

  /** unique id (without hash) → status, with the failure count for tests. */
  statuses(): Record<string, string> {
    return Object.fromEntries([...this.runResults()].map(([id, r]) => [id, r.failures === null ? r.status : `${r.status} ${r.failures}`]));
  }

  async cleanup(): Promise<void> {
    if (this.t.cleanup) await this.withAdapter((a, s) => this.t.cleanup!(a, s));
  }
}

const SHOP = {
  'seeds/raw_customers.csv': 'id,name,signed_up\n1,"Ann, the first",2024-01-02\n2,"Bob ""B""",2024-02-03\n3,Cy,2024-03-04\n',
  'seeds/raw_orders.csv': 'id,customer_id,amount,status\n10,1,9.5,placed\n11,1,20,shipped\n12,2,7.25,placed\n13,3,1,returned\n',
  'models/staging/stg_orders.sql': "select id as order_id, customer_id, amount, status from {{ ref('raw_orders') }}",
  'models/staging/stg_customers.sql': "{{ config(materialized='ephemeral') }}select id as customer_id, name from {{ ref('raw_customers') }}",
  'models/marts/customer_totals.sql': `{{ config(materialized='table', post_hook="update {{ this }} set total = total where 1 = 0") }}
select c.customer_id, c.name, count(*) as orders, sum(o.amount) as total
from {{ ref('stg_customers') }} c join {{ ref('stg_orders') }} o on o.customer_id = c.customer_id
group by 1, 2`,
  'models/marts/big_spenders.sql': "select customer_id from {{ ref('customer_totals') }} where total > 10",
  'models/schema.yml': `
version: 2
models:
  - name: stg_orders
    columns:
      - name: order_id
        data_tests: [unique, not_null]
      - name: status
        data_tests:
          - accepted_values: {values: [placed, shipped, returned]}
      - name: customer_id
        data_tests:
          - relationships: {to: "ref('customer_totals')", field: customer_id}
  - name: customer_totals
    columns:
      - name: customer_id
        data_tests: [unique]
`,
  'tests/no_negative_totals.sql': "select * from {{ ref('customer_totals') }} where total < 0",
};

export function conformanceSuite(t: ConformanceTarget): void {
  const projects: ConformanceProject[] = [];
  const project = (files: Record<string, string>) => {
    const p = new ConformanceProject(t, files);
    projects.push(p);
    return p;
  };
  afterAll(async () => {
    for (const p of projects) await p.cleanup().catch(() => undefined);
  });

  describe(`conformance: ${t.name}`, () => {
    it('builds seeds, views, tables and ephemeral models, then runs their tests, in one build', async () => {
      const p = project(SHOP);
      const r = await p.kiln(['build']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(await p.relations()).toMatchObject({
        raw_customers: 'table', raw_orders: 'table', stg_orders: 'view', customer_totals: 'table', big_spenders: 'view',
      });
      expect(Object.keys(await p.relations())).not.toContain('stg_customers');
      expect(await p.rows('customer_totals', 'customer_id, name, orders, total')).toEqual([
        { customer_id: 1, name: 'Ann, the first', orders: 2, total: 29.5 },
        { customer_id: 2, name: 'Bob "B"', orders: 1, total: 7.25 },
        { customer_id: 3, name: 'Cy', orders: 1, total: 1 },
      ]);
      expect(await p.rows('big_spenders')).toEqual([{ customer_id: 1 }]);
      expect(p.statuses()).toMatchObject({
        'test.conform.unique_stg_orders_order_id': 'pass 0',
        'test.conform.not_null_stg_orders_order_id': 'pass 0',
        'test.conform.accepted_values_stg_orders_status__placed__shipped__returned': 'pass 0',
        'test.conform.relationships_stg_orders_customer_id__customer_id__ref_customer_totals_': 'pass 0',
        'test.conform.unique_customer_totals_customer_id': 'pass 0',
        'test.conform.no_negative_totals': 'pass 0',
      });
    });

    it('a failing test skips what is downstream, keeps failing rows when asked, and a warning does not skip', async () => {
      const p = project({ ...SHOP, 'seeds/raw_orders.csv': 'id,customer_id,amount,status\n10,1,9.5,placed\n10,1,20,lost\n12,2,7.25,placed\n' });
      let r = await p.kiln(['build', '--store-failures']);
      expect(r.code).toBe(1);
      expect(p.statuses()).toMatchObject({
        'test.conform.unique_stg_orders_order_id': 'fail 1',
        'test.conform.accepted_values_stg_orders_status__placed__shipped__returned': 'fail 1',
        'model.conform.customer_totals': 'skipped',
        'model.conform.big_spenders': 'skipped',
        'seed.conform.raw_customers': 'success',
      });
      expect(await p.rows('unique_stg_orders_order_id', 'unique_field, n_records', '_dbt_test__audit')).toEqual([{ unique_field: 10, n_records: 2 }]);
      expect(await p.rows('accepted_values_stg_orders_status__placed__shipped__returned', 'value_field', '_dbt_test__audit')).toEqual([{ value_field: 'lost' }]);

      p.write({ 'kiln_project.yml': 'name: conform\nprofile: conform\ndata_tests:\n  +severity: warn\n' });
      r = await p.kiln(['build']);
      expect(r.code).toBe(0);
      expect(p.statuses()).toMatchObject({ 'test.conform.unique_stg_orders_order_id': 'warn 1', 'model.conform.big_spenders': 'success' });
    });

    it('a model that fails to rebuild leaves the previous relation and its contents in place', async () => {
      const p = project({
        'models/t.sql': "{{ config(materialized='table') }}select 1 as v",
        'models/w.sql': 'select 2 as v',
      });
      expect((await p.kiln(['run'])).code).toBe(0);
      p.write({
        'models/t.sql': "{{ config(materialized='table') }}select 1 as v union all select no_such_column",
        'models/w.sql': 'select 2 as v from no_such_table',
      });
      const r = await p.kiln(['run']);
      expect(r.code).toBe(1);
      expect(p.statuses()).toEqual({ 'model.conform.t': 'error', 'model.conform.w': 'error' });
      expect(await p.rows('t')).toEqual([{ v: 1 }]);
      expect(await p.rows('w')).toEqual([{ v: 2 }]);
      expect(await p.relations()).toEqual({ t: 'table', w: 'view' });
    });

    it('enforces a contract: typed columns and constraints, and a mismatch leaves the old table', async () => {
      const yaml = (type: string) => `models:
  - name: c
    config: {contract: {enforced: true}, materialized: table}
    columns:
      - name: id
        data_type: ${type}
        constraints: [{type: not_null}]
      - name: label
        data_type: varchar
`;
      const p = project({ 'models/c.sql': "select 1 as id, 'one' as label", 'models/schema.yml': yaml('integer') });
      let r = await p.kiln(['run']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(await p.rows('c')).toEqual([{ id: 1, label: 'one' }]);
      const notNullEnforced = await p.withAdapter(async (adapter, schema) => {
        if (adapter.capabilities.constraintSupport.not_null !== 'enforced') return undefined;
        const rel = adapter.renderRelation({ database: adapter.defaultDatabase, schema, identifier: 'c' });
        return adapter.withConnection((c) => c.execute(`insert into ${rel} (id, label) values (null, 'x')`)).then(() => false, () => true);
      });
      if (notNullEnforced !== undefined) expect(notNullEnforced).toBe(true);

      p.write({ 'models/c.sql': "select 'two' as id, 'two' as label" });
      r = await p.kiln(['run']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("does not match its enforced contract");
      expect(await p.rows('c')).toEqual([{ id: 1, label: 'one' }]);
    });

    it('runs unit tests on the warehouse, before their model in a build', async () => {
      const p = project({
        'models/totals.sql': "select customer_id, sum(amount) as total, count(*) as n from {{ ref('orders') }} group by customer_id",
        'models/orders.sql': 'select 1 as customer_id, 2.5 as amount',
        'models/unit.yml': `
unit_tests:
  - name: sums
    model: totals
    given:
      - input: ref('orders')
        format: csv
        rows: |
          customer_id,amount
          1,2.5
          1,3
          2,4
    expect:
      rows:
        - {customer_id: 1, total: 5.5, n: 2}
        - {customer_id: 2, total: 4, n: 1}
  - name: wrong
    model: totals
    given:
      - input: ref('orders')
        rows: [{customer_id: 7, amount: 1}]
    expect:
      rows: [{customer_id: 7, n: 2}]
`,
      });
      const r = await p.kiln(['build']);
      expect(r.code).toBe(1);
      expect(p.statuses()).toMatchObject({ 'unit_test.conform.totals': expect.anything(), 'model.conform.orders': 'success', 'model.conform.totals': 'skipped' });
      const results = JSON.parse(readFileSync(join(p.dir, 'target', 'run_results.json'), 'utf8')).results as { unique_id: string; status: string }[];
      expect(Object.fromEntries(results.filter((x) => x.unique_id.startsWith('unit_test.')).map((x) => [x.unique_id, x.status]))).toEqual({
        'unit_test.conform.totals.sums': 'pass', 'unit_test.conform.totals.wrong': 'fail',
      });
    });

    it('runs incremental models over several runs with each strategy it supports', async () => {
      const model = (strategy: string, extra = '') => `{{ config(materialized='incremental', incremental_strategy='${strategy}', unique_key='id'${extra}) }}
select id, v from {{ ref('src') }}`;
      const p = project({
        'seeds/src.csv': 'id,v\n1,a\n2,b\n',
        'models/m_merge.sql': model('merge'),
        'models/m_append.sql': `{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns') }}
select * from {{ ref('src') }}{% if is_incremental() %} where id > (select max(id) from {{ this }}){% endif %}`,
      });
      const strategies = await p.withAdapter(async (a) => a.capabilities.incrementalStrategies);
      // A strategy the adapter does not run is a compile error, so its model is only written where it runs (BigQuery has no delete+insert).
      if (strategies.includes('delete+insert')) p.write({ 'models/m_delins.sql': model('delete+insert') });
      const run = async (csv: string) => {
        p.write({ 'seeds/src.csv': csv });
        const r = await p.kiln(['build']);
        expect(r.code, r.stderr).toBe(0);
      };
      await run('id,v\n1,a\n2,b\n');
      await run('id,v\n2,B\n3,c\n');
      await run('id,v,w\n1,A,x\n4,d,y\n');
      const expected = [{ id: 1, v: 'A' }, { id: 2, v: 'B' }, { id: 3, v: 'c' }, { id: 4, v: 'd' }];
      if (strategies.includes('merge')) expect(await p.rows('m_merge', 'id, v')).toEqual(expected);
      if (strategies.includes('delete+insert')) expect(await p.rows('m_delins', 'id, v')).toEqual(expected);
      expect(await p.rows('m_append', 'id, v, w')).toEqual([
        { id: 1, v: 'a', w: null }, { id: 2, v: 'b', w: null }, { id: 3, v: 'c', w: null }, { id: 4, v: 'd', w: 'y' },
      ]);
    });

    it('backfills a microbatch model batch by batch, and kiln retry runs only the failed batch', async () => {
      const p = project({
        'seeds/events.csv': 'ts,v\n2024-01-01 06:00:00,1\n2024-01-01 18:00:00,2\n2024-01-02 06:00:00,3\n2024-01-03 06:00:00,4\n2024-01-04 06:00:00,5\n',
        'seeds/schema.yml': 'seeds:\n  - name: events\n    config: {event_time: ts}\n',
        'models/daily.sql': `{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='day', batch_size='day', begin='2024-01-01') }}
select cast(ts as date) as day, count(*) as n, sum(v) as total
from {{ ref('events') }}
{% if env_var('CONFORM_FAIL_DAY', '') and model.batch and model.batch.event_time_start.startswith(env_var('CONFORM_FAIL_DAY')) %}where no_such_column = 1{% endif %}
group by cast(ts as date)`,
      });
      expect((await p.kiln(['seed'])).code).toBe(0);
      const failing = await p.kiln(['run', '--event-time-start', '2024-01-01', '--event-time-end', '2024-01-04'], { CONFORM_FAIL_DAY: '2024-01-02' });
      expect(failing.code).toBe(1);
      expect(p.statuses()).toEqual({ 'model.conform.daily': 'partial success' });
      expect((await p.rows('daily', 'cast(day as varchar) as day, n, total')).map((r) => r.day)).toEqual(['2024-01-01', '2024-01-03']);
      const retried = await p.kiln(['retry']);
      expect(retried.code, retried.stderr).toBe(0);
      expect(await p.rows('daily', 'cast(day as varchar) as day, n, total')).toEqual([
        { day: '2024-01-01', n: 2, total: 3 }, { day: '2024-01-02', n: 1, total: 3 }, { day: '2024-01-03', n: 1, total: 4 },
      ]);
    });

    it('replaces partitions with insert_overwrite and follows each on_schema_change mode', async () => {
      const inc = (extra: string) => `{{ config(materialized='incremental', ${extra}) }}select * from {{ ref('src') }}`;
      const p = project({
        'seeds/src.csv': 'id,day,v\n1,2024-01-01,10\n2,2024-01-01,20\n3,2024-01-02,30\n',
        'models/m_ignore.sql': inc("unique_key='id', on_schema_change='ignore'"),
        'models/m_append_cols.sql': inc("unique_key='id', on_schema_change='append_new_columns'"),
        'models/m_sync.sql': inc("unique_key='id', on_schema_change='sync_all_columns'"),
        'models/m_fail.sql': inc("unique_key='id', on_schema_change='fail'"),
      });
      const strategies = await p.withAdapter(async (a) => a.capabilities.incrementalStrategies);
      if (strategies.includes('insert_overwrite')) {
        p.write({ 'models/m_overwrite.sql': "{{ config(materialized='incremental', incremental_strategy='insert_overwrite', partition_by={'field': 'day', 'data_type': 'date'}) }}select id, day, v from {{ ref('src') }}" });
      }
      expect((await p.kiln(['build'])).code).toBe(0);
      // Day 2024-01-01 comes again with one row; v is dropped and w arrives.
      p.write({ 'seeds/src.csv': 'id,day,w\n4,2024-01-01,x\n' });
      const r = await p.kiln(['build']);
      expect(r.code).toBe(1);
      expect(p.statuses()).toMatchObject({
        'model.conform.m_ignore': 'success', 'model.conform.m_append_cols': 'success', 'model.conform.m_sync': 'success', 'model.conform.m_fail': 'error',
      });
      expect(r.stderr).toContain("model 'm_fail' changed its columns and has on_schema_change: fail");
      expect(await p.rows('m_ignore', 'id, v')).toEqual([{ id: 1, v: 10 }, { id: 2, v: 20 }, { id: 3, v: 30 }, { id: 4, v: null }]);
      expect(await p.rows('m_append_cols', 'id, v, w')).toEqual([
        { id: 1, v: 10, w: null }, { id: 2, v: 20, w: null }, { id: 3, v: 30, w: null }, { id: 4, v: null, w: 'x' },
      ]);
      expect(await p.rows('m_sync')).toEqual([{ id: 1, day: expect.anything(), w: null }, { id: 2, day: expect.anything(), w: null }, { id: 3, day: expect.anything(), w: null }, { id: 4, day: expect.anything(), w: 'x' }]);
      expect(await p.rows('m_fail', 'id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
      if (strategies.includes('insert_overwrite')) {
        // m_overwrite selects v, which the source no longer has: it failed; rerun with the old columns.
        p.write({ 'seeds/src.csv': 'id,day,v\n4,2024-01-01,40\n' });
        expect((await p.kiln(['build', '-s', '+m_overwrite'])).code).toBe(0);
        expect(await p.rows('m_overwrite', 'id, v')).toEqual([{ id: 3, v: 30 }, { id: 4, v: 40 }]);
      }
    });

    it('a delete+insert step that fails after its delete leaves the table as it was', async () => {
      const p = project({
        'seeds/src.csv': 'id,v\n1,1\n2,2\n',
        'models/m.sql': "{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='id') }}select id, v from {{ ref('src') }}",
      });
      const caps = await p.withAdapter(async (a) => a.capabilities);
      if (!caps.incrementalStrategies.includes('delete+insert')) return;
      expect((await p.kiln(['build'])).code).toBe(0);
      // v turns to text that the integer column cannot take: the insert fails after the delete ran.
      p.write({ 'seeds/src.csv': 'id,v\n2,oops\n' });
      const r = await p.kiln(['build']);
      expect(r.code).toBe(1);
      expect(p.statuses()['model.conform.m']).toBe('error');
      if (caps.transactionalDdl || caps.transactionalDml) expect(await p.rows('m', 'id, v')).toEqual([{ id: 1, v: 1 }, { id: 2, v: 2 }]);
    });

    it('refuses a repeated unique key before an incremental step, leaving the table as it was', async () => {
      const p = project({
        'seeds/src.csv': 'id,v\n1,a\n',
        'models/m.sql': "{{ config(materialized='incremental', incremental_strategy='merge', unique_key='id') }}select id, v from {{ ref('src') }}",
      });
      expect((await p.kiln(['build'])).code).toBe(0);
      p.write({ 'seeds/src.csv': 'id,v\n1,b\n1,c\n' });
      const r = await p.kiln(['build']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("model 'm': the unique_key (id) repeats in the new rows; nothing was changed");
      expect(await p.rows('m', 'id, v')).toEqual([{ id: 1, v: 'a' }]);
    });

    it('replaces a view with a table and back', async () => {
      const p = project({ 'models/m.sql': "{{ config(materialized='view') }}select 1 as v" });
      expect((await p.kiln(['run'])).code).toBe(0);
      p.write({ 'models/m.sql': "{{ config(materialized='table') }}select 2 as v" });
      expect((await p.kiln(['run'])).code).toBe(0);
      expect(await p.relations()).toEqual({ m: 'table' });
      p.write({ 'models/m.sql': "{{ config(materialized='view') }}select 3 as v" });
      expect((await p.kiln(['run'])).code).toBe(0);
      expect(await p.relations()).toEqual({ m: 'view' });
      expect(await p.rows('m')).toEqual([{ v: 3 }]);
    });

    it('keeps snapshot history over several runs (timestamp and check strategies, hard deletes, a new column)', async () => {
      const src = (rows: string[]) => rows.join('\nunion all\n');
      const row = (id: number, status: string, at: string, email?: string) =>
        `select ${id} as id, cast('${status}' as varchar(20)) as status, cast('${at}' as timestamp) as updated_at${email === undefined ? '' : `, cast('${email}' as varchar(20)) as email`}`;
      const p = project({
        'models/src.sql': src([row(1, 'a', '2024-01-01'), row(2, 'b', '2024-01-01')]),
        'snapshots/history.sql': `{% snapshot snap_ts %}
{{ config(unique_key='id', strategy='timestamp', updated_at='updated_at', hard_deletes='invalidate') }}
select * from {{ ref('src') }}
{% endsnapshot %}`,
        'snapshots/snapshots.yml': `snapshots:
  - name: snap_check
    relation: ref('src')
    config: {unique_key: id, strategy: check, check_cols: [status], hard_deletes: new_record}
    columns:
      - name: dbt_scd_id
        data_tests: [unique]
`,
      });
      // One text key per version (id, valid_from date or 'run') so rows read back in one order everywhere.
      const history = (valid: 'date' | 'run') => {
        const from = valid === 'date' ? 'cast(cast(dbt_valid_from as date) as varchar)' : "'run'";
        return `cast(id as varchar) || ' ' || status || ' ' || ${from} || ' ' || case when dbt_valid_to is null then 'current' `
          + `when dbt_valid_to > cast('2025-01-01' as timestamp) then 'closed at run' else 'closed ' || cast(cast(dbt_valid_to as date) as varchar) end as v`;
      };
      const build = async () => {
        const r = await p.kiln(['build']);
        expect(r.code, r.stdout + r.stderr).toBe(0);
      };
      await build();
      p.write({ 'models/src.sql': src([row(1, 'a2', '2024-01-02'), row(3, 'c', '2024-01-02')]) });
      await build();
      p.write({ 'models/src.sql': src([row(1, 'a2', '2024-01-02', 'x'), row(2, 'b2', '2024-01-03', 'y'), row(3, 'c', '2024-01-02', 'z')]) });
      await build();
      // Sorted here, not by the warehouse: text collations differ.
      const texts = async (rel: string, expr: string) => (await p.rows(rel, expr)).map((r) => String(Object.values(r)[0])).sort();
      expect(await texts('snap_ts', history('date'))).toEqual([
        '1 a 2024-01-01 closed 2024-01-02', '1 a2 2024-01-02 current', '2 b 2024-01-01 closed at run', '2 b2 2024-01-03 current', '3 c 2024-01-02 current',
      ]);
      // The new column was added; only the version written after it appeared has a value.
      expect(await texts('snap_ts', "cast(id as varchar) || ' ' || coalesce(email, '-') as v")).toEqual(['1 -', '1 -', '2 -', '2 y', '3 -']);
      expect(await texts('snap_check', `${history('run').replace(/ as v$/, '')} || ' ' || dbt_is_deleted as v`)).toEqual([
        '1 a run closed at run False', '1 a2 run current False',
        '2 b run closed at run False', '2 b run closed at run True', '2 b2 run current False',
        '3 c run current False',
      ]);
      expect(p.statuses()).toMatchObject({ 'snapshot.conform.snap_ts': 'success', 'snapshot.conform.snap_check': 'success', 'test.conform.unique_snap_check_dbt_scd_id': 'pass 0' });
    });

    it('leaves a snapshot as it was when a run fails (repeated key, failing post-hook)', async () => {
      const snap = (hook = '') => `{% snapshot snap %}
{{ config(unique_key='id', strategy='timestamp', updated_at='updated_at', hard_deletes='invalidate'${hook}) }}
select * from {{ ref('src') }}
{% endsnapshot %}`;
      const row = (id: number, status: string, at: string) => `select ${id} as id, cast('${status}' as varchar(20)) as status, cast('${at}' as timestamp) as updated_at`;
      const p = project({ 'models/src.sql': `${row(1, 'a', '2024-01-01')} union all ${row(2, 'b', '2024-01-01')}`, 'snapshots/snap.sql': snap() });
      expect((await p.kiln(['build'])).code).toBe(0);
      const state = () => p.rows('snap', "id, status, case when dbt_valid_to is null then 'current' else 'closed' end as state");
      const before = await state();
      expect(before).toEqual([{ id: 1, status: 'a', state: 'current' }, { id: 2, status: 'b', state: 'current' }]);
      p.write({ 'models/src.sql': `${row(1, 'a2', '2024-01-02')} union all ${row(1, 'a3', '2024-01-02')}` });
      const dup = await p.kiln(['build']);
      expect(dup.code).toBe(1);
      expect(dup.stderr).toContain("unique_key id is not unique in the snapshot's query: 1 (2 rows)");
      expect(await state()).toEqual(before);
      p.write({ 'models/src.sql': row(1, 'a2', '2024-01-02'), 'snapshots/snap.sql': snap(", post_hook=\"select cast('x' as integer)\"") });
      const hook = await p.kiln(['build']);
      expect(hook.code).toBe(1);
      expect(hook.stderr).toContain("post-hook 1 of snapshot 'snap' failed");
      // Without transactional DDL (BigQuery) the post-hook runs after the snapshot's one MERGE has been applied (as in dbt); nothing can roll that back.
      if (await p.withAdapter(async (a) => a.capabilities.transactionalDdl)) expect(await state()).toEqual(before);
      expect(Object.keys(await p.relations()).sort()).toEqual(['snap', 'src']);
    });
  });
}
