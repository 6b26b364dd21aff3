/**
 * Snapshots (SCD type 2) through the real CLI on DuckDB: multi-run histories asserted row by row after each
 * run, for both strategies and every hard_deletes mode, the configs that shape the table, YAML-defined and
 * legacy snapshots, snapshots inside `kiln build`, atomicity, and the errors.
 *
 * Times the snapshot stamps itself (check strategy rows, hard deletes) are the run's clock; the tests name
 * them `@<run>`, the run in which each first appeared, so whole tables can be compared exactly.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, queryDuckdb, runKiln, writeFiles } from '../helpers/project.js';

const db = (dir: string) => join(dir, 'target', 'shop.duckdb');
type Row = [number, string, string];

/** A source model with columns (id, status, updated_at) holding `rows` (dates as 'YYYY-MM-DD'). */
function source(rows: Row[], extra?: { column: string; values: string[] }): string {
  const cols = `id, status, updated_at${extra ? `, ${extra.column}` : ''}`;
  if (rows.length === 0) return `select 1 as id, 'x' as status, timestamp '2024-01-01' as updated_at where false`;
  const values = rows.map(([id, status, at], i) => `(${id}, '${status}', timestamp '${at}'${extra ? `, '${extra.values[i]}'` : ''})`);
  return `select * from (values ${values.join(', ')}) as t(${cols})`;
}

/** A project history: write the source, run kiln, read the snapshot with run times named by run. */
class History {
  readonly dir: string;
  private run = 0;
  private readonly runTimes = new Map<number, string>();

  constructor(files: Record<string, string>, private readonly table = 'main.snap') {
    this.dir = makeProject({ 'kiln_project.yml': 'name: shop\n', ...files });
  }

  /** Write the source rows and run `args` (default `kiln snapshot` after building the source view). */
  async next(rows: Row[] | string, args: string[] = ['build']): Promise<void> {
    writeFiles(this.dir, { 'models/src.sql': typeof rows === 'string' ? rows : source(rows) });
    const r = await runKiln(args, this.dir);
    this.run++;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // Name the times this run stamped now, before a later run adds its own.
    await this.rows('*', '1');
  }

  /** The snapshot's rows, ordered, with run-stamped times as `@<run>` and data dates as 'YYYY-MM-DD'. */
  async rows(columns = 'id, status, dbt_valid_from, dbt_valid_to', order = '1, 3'): Promise<unknown[][]> {
    const rows = await queryDuckdb(db(this.dir), `select ${columns} from ${this.table} order by ${order}`);
    return rows.map((r) => Object.values(r).map((v) => this.label(v)));
  }

  private label(v: unknown): unknown {
    if (!(v instanceof Date)) return v;
    // Source data is dated 2024 (and the far future); anything else is a time a snapshot run stamped.
    if (v.getUTCFullYear() <= 2024 || v.getUTCFullYear() >= 9000) return v.toISOString().slice(0, 10);
    const ms = v.getTime();
    for (const [run, t] of this.runTimes) if (t === String(ms)) return `@${run}`;
    this.runTimes.set(this.run, String(ms));
    return `@${this.run}`;
  }
}

const TIMESTAMP = (extra = '') => `{% snapshot snap %}
{{ config(unique_key='id', strategy='timestamp', updated_at='updated_at'${extra}) }}
select * from {{ ref('src') }}
{% endsnapshot %}
`;
const CHECK = (extra = '') => `{% snapshot snap %}
{{ config(unique_key='id', strategy='check', check_cols=['status']${extra}) }}
select * from {{ ref('src') }}
{% endsnapshot %}
`;

/** The source over four runs: update 1, delete 2 and insert 3; 2 comes back changed; 1 changes again. */
const RUN1: Row[] = [[1, 'a', '2024-01-01'], [2, 'b', '2024-01-01']];
const RUN2: Row[] = [[1, 'a2', '2024-01-02'], [3, 'c', '2024-01-02']];
const RUN3: Row[] = [[1, 'a2', '2024-01-02'], [2, 'b2', '2024-01-03'], [3, 'c', '2024-01-02']];
const RUN4: Row[] = [[1, 'a3', '2024-01-04'], [2, 'b2', '2024-01-03']];

describe('timestamp strategy', () => {
  it('hard_deletes ignore (the default): deleted rows stay current; changes close the old version at updated_at', async () => {
    const h = new History({ 'snapshots/snap.sql': TIMESTAMP() });
    await h.next(RUN1);
    expect(await h.rows()).toEqual([[1, 'a', '2024-01-01', null], [2, 'b', '2024-01-01', null]]);
    await h.next(RUN2);
    expect(await h.rows()).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02'], [1, 'a2', '2024-01-02', null],
      [2, 'b', '2024-01-01', null],
      [3, 'c', '2024-01-02', null],
    ]);
    await h.next(RUN3);
    expect(await h.rows()).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02'], [1, 'a2', '2024-01-02', null],
      [2, 'b', '2024-01-01', '2024-01-03'], [2, 'b2', '2024-01-03', null],
      [3, 'c', '2024-01-02', null],
    ]);
    await h.next(RUN4);
    expect(await h.rows()).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02'], [1, 'a2', '2024-01-02', '2024-01-04'], [1, 'a3', '2024-01-04', null],
      [2, 'b', '2024-01-01', '2024-01-03'], [2, 'b2', '2024-01-03', null],
      [3, 'c', '2024-01-02', null],
    ]);
    // The meta columns as dbt computes them: scd id = md5(key|updated_at), dbt_updated_at = updated_at.
    const meta = await queryDuckdb(db(h.dir), "select dbt_scd_id, dbt_updated_at = updated_at as same from main.snap where id = 1 and status = 'a'");
    expect(meta).toEqual([{ dbt_scd_id: md5('1|2024-01-01 00:00:00'), same: true }]);
    // A run with no changes changes nothing.
    await h.next(RUN4);
    expect((await h.rows()).length).toBe(6);
  });

  it('hard_deletes invalidate: a deleted row is closed at the run time; when it comes back it starts a new version', async () => {
    const h = new History({ 'snapshots/snap.sql': TIMESTAMP(", hard_deletes='invalidate'") });
    await h.next(RUN1);
    await h.next(RUN2);
    expect(await h.rows()).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02'], [1, 'a2', '2024-01-02', null],
      [2, 'b', '2024-01-01', '@2'],
      [3, 'c', '2024-01-02', null],
    ]);
    await h.next(RUN3);
    expect(await h.rows()).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02'], [1, 'a2', '2024-01-02', null],
      [2, 'b', '2024-01-01', '@2'], [2, 'b2', '2024-01-03', null],
      [3, 'c', '2024-01-02', null],
    ]);
    await h.next(RUN4);
    expect(await h.rows()).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02'], [1, 'a2', '2024-01-02', '2024-01-04'], [1, 'a3', '2024-01-04', null],
      [2, 'b', '2024-01-01', '@2'], [2, 'b2', '2024-01-03', null],
      [3, 'c', '2024-01-02', '@4'],
    ]);
  });

  it('legacy invalidate_hard_deletes: true behaves as hard_deletes invalidate', async () => {
    const h = new History({ 'snapshots/snap.sql': TIMESTAMP(', invalidate_hard_deletes=true') });
    await h.next(RUN1);
    await h.next(RUN2);
    expect(await h.rows()).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02'], [1, 'a2', '2024-01-02', null],
      [2, 'b', '2024-01-01', '@2'],
      [3, 'c', '2024-01-02', null],
    ]);
  });

  it('hard_deletes new_record: a delete adds a deletion record; a returning row closes it', async () => {
    const h = new History({ 'snapshots/snap.sql': TIMESTAMP(", hard_deletes='new_record'") });
    const cols = 'id, status, dbt_valid_from, dbt_valid_to, dbt_is_deleted';
    await h.next(RUN1);
    expect(await h.rows(cols)).toEqual([[1, 'a', '2024-01-01', null, 'False'], [2, 'b', '2024-01-01', null, 'False']]);
    await h.next(RUN2);
    expect(await h.rows(cols)).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02', 'False'], [1, 'a2', '2024-01-02', null, 'False'],
      [2, 'b', '2024-01-01', '@2', 'False'], [2, 'b', '@2', null, 'True'],
      [3, 'c', '2024-01-02', null, 'False'],
    ]);
    await h.next(RUN3);
    expect(await h.rows(cols)).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02', 'False'], [1, 'a2', '2024-01-02', null, 'False'],
      [2, 'b', '2024-01-01', '@2', 'False'], [2, 'b2', '2024-01-03', null, 'False'], [2, 'b', '@2', '2024-01-03', 'True'],
      [3, 'c', '2024-01-02', null, 'False'],
    ]);
    await h.next(RUN4);
    const after4 = [
      [1, 'a', '2024-01-01', '2024-01-02', 'False'], [1, 'a2', '2024-01-02', '2024-01-04', 'False'], [1, 'a3', '2024-01-04', null, 'False'],
      [2, 'b', '2024-01-01', '@2', 'False'], [2, 'b2', '2024-01-03', null, 'False'], [2, 'b', '@2', '2024-01-03', 'True'],
      [3, 'c', '2024-01-02', '@4', 'False'], [3, 'c', '@4', null, 'True'],
    ];
    expect(await h.rows(cols)).toEqual(after4);
    // Still deleted on the next run: no second deletion record.
    await h.next(RUN4);
    expect(await h.rows(cols)).toEqual(after4);
  });
});

describe('check strategy', () => {
  it('hard_deletes ignore: a change in a checked column makes a new version at the run time; other columns do not', async () => {
    const h = new History({ 'snapshots/snap.sql': CHECK() });
    await h.next(RUN1);
    expect(await h.rows()).toEqual([[1, 'a', '@1', null], [2, 'b', '@1', null]]);
    // id 1: status changes; id 2 deleted (ignored); id 3 new.
    await h.next(RUN2);
    expect(await h.rows()).toEqual([[1, 'a', '@1', '@2'], [1, 'a2', '@2', null], [2, 'b', '@1', null], [3, 'c', '@2', null]]);
    // Only updated_at changes for 3 (not a checked column): no new version. 2 changes.
    await h.next([[1, 'a2', '2024-01-02'], [2, 'b2', '2024-01-03'], [3, 'c', '2024-02-02']]);
    expect(await h.rows()).toEqual([
      [1, 'a', '@1', '@2'], [1, 'a2', '@2', null], [2, 'b', '@1', '@3'], [2, 'b2', '@3', null], [3, 'c', '@2', null],
    ]);
    // dbt_updated_at is the run time too, and the scd id hashes key and run time.
    const m = await queryDuckdb(db(h.dir), "select dbt_updated_at = dbt_valid_from as same, dbt_scd_id = md5(cast(id as varchar) || '|' || cast(dbt_valid_from as varchar)) as scd from main.snap");
    expect(m.every((r) => r.same === true && r.scd === true)).toBe(true);
  });

  it('hard_deletes invalidate and new_record over four runs', async () => {
    const inv = new History({ 'snapshots/snap.sql': CHECK(", hard_deletes='invalidate'") });
    const rec = new History({ 'snapshots/snap.sql': CHECK(", hard_deletes='new_record'") });
    for (const rows of [RUN1, RUN2, RUN3, RUN4]) {
      await inv.next(rows);
      await rec.next(rows);
    }
    expect(await inv.rows()).toEqual([
      [1, 'a', '@1', '@2'], [1, 'a2', '@2', '@4'], [1, 'a3', '@4', null],
      [2, 'b', '@1', '@2'], [2, 'b2', '@3', null],
      [3, 'c', '@2', '@4'],
    ]);
    expect(await rec.rows('id, status, dbt_valid_from, dbt_valid_to, dbt_is_deleted')).toEqual([
      [1, 'a', '@1', '@2', 'False'], [1, 'a2', '@2', '@4', 'False'], [1, 'a3', '@4', null, 'False'],
      [2, 'b', '@1', '@2', 'False'], [2, 'b', '@2', '@3', 'True'], [2, 'b2', '@3', null, 'False'],
      [3, 'c', '@2', '@4', 'False'], [3, 'c', '@4', null, 'True'],
    ]);
  });

  it("check_cols 'all' compares every column, and a new source column makes a new version of every row", async () => {
    const h = new History({ 'snapshots/snap.sql': CHECK().replace("check_cols=['status']", "check_cols='all'") });
    await h.next(RUN1);
    // A change in updated_at alone is a change under 'all'.
    await h.next([[1, 'a', '2024-01-05'], [2, 'b', '2024-01-01']]);
    expect(await h.rows('id, status, updated_at, dbt_valid_from, dbt_valid_to')).toEqual([
      [1, 'a', '2024-01-01', '@1', '@2'], [1, 'a', '2024-01-05', '@2', null], [2, 'b', '2024-01-01', '@1', null],
    ]);
    await h.next(source([[1, 'a', '2024-01-05'], [2, 'b', '2024-01-01']], { column: 'email', values: ['x@a', 'y@b'] }));
    expect(await h.rows('id, email, dbt_valid_from, dbt_valid_to', '1, 3')).toEqual([
      [1, null, '@1', '@2'], [1, null, '@2', '@3'], [1, 'x@a', '@3', null], [2, null, '@1', '@3'], [2, 'y@b', '@3', null],
    ]);
  });
});

describe('snapshot configs', () => {
  it('composite unique_key: rows are matched on every key column', async () => {
    const h = new History({
      'snapshots/snap.sql': `{% snapshot snap %}
{{ config(unique_key=['id', 'status'], strategy='timestamp', updated_at='updated_at', hard_deletes='invalidate') }}
select * from {{ ref('src') }}
{% endsnapshot %}`,
    });
    await h.next([[1, 'a', '2024-01-01'], [1, 'b', '2024-01-01'], [2, 'a', '2024-01-01']]);
    await h.next([[1, 'a', '2024-01-02'], [1, 'b', '2024-01-01'], [2, 'b', '2024-01-01']]);
    expect(await h.rows('id, status, dbt_valid_from, dbt_valid_to', '1, 2, 3')).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02'], [1, 'a', '2024-01-02', null], [1, 'b', '2024-01-01', null],
      [2, 'a', '2024-01-01', '@2'], [2, 'b', '2024-01-01', null],
    ]);
    const scd = await queryDuckdb(db(h.dir), "select dbt_scd_id from main.snap where id = 1 and status = 'b'");
    expect(scd).toEqual([{ dbt_scd_id: md5('1|b|2024-01-01 00:00:00') }]);
  });

  it('dbt_valid_to_current gives current rows that value, and later runs still recognise them as current', async () => {
    const h = new History({ 'snapshots/snap.sql': TIMESTAMP(", hard_deletes='invalidate', dbt_valid_to_current=\"cast('9999-12-31' as timestamp)\"") });
    await h.next(RUN1);
    expect(await h.rows()).toEqual([[1, 'a', '2024-01-01', '9999-12-31'], [2, 'b', '2024-01-01', '9999-12-31']]);
    await h.next(RUN2);
    expect(await h.rows()).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02'], [1, 'a2', '2024-01-02', '9999-12-31'],
      [2, 'b', '2024-01-01', '@2'],
      [3, 'c', '2024-01-02', '9999-12-31'],
    ]);
    await h.next(RUN3);
    expect(await h.rows()).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02'], [1, 'a2', '2024-01-02', '9999-12-31'],
      [2, 'b', '2024-01-01', '@2'], [2, 'b2', '2024-01-03', '9999-12-31'],
      [3, 'c', '2024-01-02', '9999-12-31'],
    ]);
  });

  it('snapshot_meta_column_names renames every meta column (set in the project file tree)', async () => {
    const h = new History({
      'kiln_project.yml': `name: shop
snapshots:
  shop:
    +snapshot_meta_column_names:
      dbt_valid_from: start_at
      dbt_valid_to: end_at
      dbt_scd_id: version_id
      dbt_updated_at: seen_at
      dbt_is_deleted: deleted
`,
      'snapshots/snap.sql': TIMESTAMP(", hard_deletes='new_record'"),
    });
    await h.next(RUN1);
    await h.next(RUN2);
    const columns = await queryDuckdb(db(h.dir), "select column_name from information_schema.columns where table_name = 'snap' order by ordinal_position");
    expect(columns.map((c) => c.column_name)).toEqual(['id', 'status', 'updated_at', 'version_id', 'seen_at', 'start_at', 'end_at', 'deleted']);
    expect(await h.rows('id, status, start_at, end_at, deleted')).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02', 'False'], [1, 'a2', '2024-01-02', null, 'False'],
      [2, 'b', '2024-01-01', '@2', 'False'], [2, 'b', '@2', null, 'True'],
      [3, 'c', '2024-01-02', null, 'False'],
    ]);
  });

  it('a column new in the source is added to the snapshot table (earlier versions have null)', async () => {
    const h = new History({ 'snapshots/snap.sql': TIMESTAMP() });
    await h.next(RUN1);
    await h.next(source([[1, 'a2', '2024-01-02'], [2, 'b', '2024-01-01']], { column: 'email', values: ['x@a', 'y@b'] }));
    expect(await h.rows('id, status, email, dbt_valid_to', '1, 2')).toEqual([
      [1, 'a', null, '2024-01-02'], [1, 'a2', 'x@a', null], [2, 'b', null, null],
    ]);
    const runFile = readFileSync(join(h.dir, 'target/run/shop/snapshots/snap.sql'), 'utf8');
    expect(runFile).toContain('alter table "shop"."main"."snap" add column "email" VARCHAR');
  });

  it('--full-refresh does not rebuild a snapshot: its history is kept', async () => {
    const h = new History({ 'snapshots/snap.sql': TIMESTAMP() });
    await h.next(RUN1, ['build']);
    await h.next(RUN2, ['build', '--full-refresh']);
    await h.next(RUN2, ['snapshot', '--full-refresh']);
    expect(await h.rows()).toEqual([
      [1, 'a', '2024-01-01', '2024-01-02'], [1, 'a2', '2024-01-02', null], [2, 'b', '2024-01-01', null], [3, 'c', '2024-01-02', null],
    ]);
  });
});

describe('defining snapshots', () => {
  it('legacy blocks: several in one file, target_schema used as written, and kiln snapshot runs only snapshots', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/src.sql': source(RUN1),
      'snapshots/history.sql': `{% snapshot snap_a %}
    {{ config(target_schema='history', unique_key='id', strategy='timestamp', updated_at='updated_at') }}
    select * from {{ ref('src') }}
{% endsnapshot %}

{%- snapshot snap_b -%}
{{ config(target_schema='history', alias='snap_b_by_status', unique_key='status', strategy='check', check_cols='all') }}
select status, count(*) as n from {{ ref('src') }} group by status
{%- endsnapshot -%}
`,
    });
    expect((await runKiln(['run'], dir)).code).toBe(0);
    const r = await runKiln(['snapshot'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('snapshot history.snap_a');
    expect(r.stdout).toContain('snapshot history.snap_b_by_status');
    expect(r.stdout).toContain('PASS=2 WARN=0 ERROR=0 SKIP=0 TOTAL=2');
    expect(await queryDuckdb(db(dir), 'select id, status from history.snap_a order by id')).toEqual([{ id: 1, status: 'a' }, { id: 2, status: 'b' }]);
    expect(await queryDuckdb(db(dir), 'select status, n from history.snap_b_by_status order by status')).toEqual([{ status: 'a', n: 1 }, { status: 'b', n: 1 }]);
    const manifest = JSON.parse(readFileSync(join(dir, 'target/manifest.json'), 'utf8')) as { nodes: Record<string, { resource_type: string; schema: string; fqn: string[] }> };
    expect(manifest.nodes['snapshot.shop.snap_a']).toMatchObject({ resource_type: 'snapshot', schema: 'history', fqn: ['shop', 'history', 'snap_a'] });
    // -s picks one snapshot.
    const one = await runKiln(['snapshot', '-s', 'snap_b'], dir);
    expect(one.stdout).toContain('PASS=1 WARN=0 ERROR=0 SKIP=0 TOTAL=1');
  });

  it('YAML snapshots (relation: + config:) build in DAG order with models, schema through generate_schema_name, and run their tests', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/src.sql': source(RUN1),
      'snapshots/snapshots.yml': `snapshots:
  - name: orders_history
    relation: ref('src')
    config:
      schema: hist
      unique_key: id
      strategy: timestamp
      updated_at: updated_at
      hard_deletes: invalidate
    columns:
      - name: dbt_scd_id
        data_tests: [unique, not_null]
`,
      'models/current_orders.sql': "select id, status from {{ ref('orders_history') }} where dbt_valid_to is null",
    });
    const r = await runKiln(['build'], dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const order = r.stdout.split('\n').filter((l) => l.includes(' START ')).map((l) => l.replace(/.* START /, '').replace(/ \.+.*/, ''));
    expect([...order].sort()).toEqual([
      'snapshot main_hist.orders_history', 'sql view model main.current_orders', 'sql view model main.src',
      'test not_null_orders_history_dbt_scd_id', 'test unique_orders_history_dbt_scd_id',
    ]);
    expect(order.indexOf('snapshot main_hist.orders_history')).toBeGreaterThan(order.indexOf('sql view model main.src'));
    expect(order.indexOf('sql view model main.current_orders')).toBeGreaterThan(order.indexOf('test unique_orders_history_dbt_scd_id'));
    expect(r.stdout).toContain('PASS=5 WARN=0 ERROR=0 SKIP=0 TOTAL=5');
    writeFiles(dir, { 'models/src.sql': source(RUN2) });
    expect((await runKiln(['build'], dir)).code).toBe(0);
    expect(await queryDuckdb(db(dir), 'select id, status from main.current_orders order by id')).toEqual([{ id: 1, status: 'a2' }, { id: 3, status: 'c' }]);
    expect(await queryDuckdb(db(dir), 'select count(*) as n from main_hist.orders_history')).toEqual([{ n: 4 }]);
  });
});

describe('atomicity', () => {
  it('a failing post-hook rolls the whole run back: the table is as it was, and no staging table is left', async () => {
    const h = new History({ 'snapshots/snap.sql': TIMESTAMP(", hard_deletes='invalidate'") });
    await h.next(RUN1);
    const before = await h.rows();
    // The source also gains a column: adding it is part of the transaction, so it is rolled back too.
    writeFiles(h.dir, {
      'models/src.sql': source(RUN2, { column: 'email', values: ['x@a', 'z@c'] }),
      'snapshots/snap.sql': TIMESTAMP(", hard_deletes='invalidate', post_hook=\"select error('boom')\""),
    });
    const r = await runKiln(['build'], h.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('post-hook 1 of snapshot');
    expect(r.stderr).toContain('boom');
    expect(await h.rows()).toEqual(before);
    const columns = await queryDuckdb(db(h.dir), "select column_name from information_schema.columns where table_name = 'snap' order by ordinal_position");
    expect(columns.map((c) => c.column_name)).toEqual(['id', 'status', 'updated_at', 'dbt_scd_id', 'dbt_updated_at', 'dbt_valid_from', 'dbt_valid_to']);
    const leftovers = await queryDuckdb(db(h.dir), "select table_name from information_schema.tables where table_name like '%kiln%'");
    expect(leftovers).toEqual([]);
  });

  it('a query that fails at run time leaves the table as it was', async () => {
    const h = new History({ 'snapshots/snap.sql': TIMESTAMP() });
    await h.next(RUN1);
    const before = await h.rows('*');
    writeFiles(h.dir, { 'models/src.sql': `${source(RUN2)} union all select 9, 'z', cast('not a time' as timestamp)` });
    expect((await runKiln(['build'], h.dir)).code).toBe(1);
    expect(await h.rows('*')).toEqual(before);
  });
});

describe('errors', () => {
  const parseError = async (config: string) => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/src.sql': source(RUN1),
      'snapshots/bad.sql': `-- a snapshot\n{% snapshot bad %}\n{{ config(${config}) }}\nselect * from {{ ref('src') }}\n{% endsnapshot %}\n`,
    });
    const r = await runKiln(['snapshot'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('snapshots/bad.sql:2');
    return r.stderr;
  };

  it('names the file, line and fix for incomplete configs', async () => {
    expect(await parseError("strategy='timestamp', updated_at='updated_at'")).toContain("snapshot 'bad': no unique_key is configured");
    expect(await parseError("unique_key='id'")).toContain("snapshot 'bad': no strategy is configured");
    const noUpdatedAt = await parseError("unique_key='id', strategy='timestamp'");
    expect(noUpdatedAt).toContain('the timestamp strategy needs updated_at');
    expect(noUpdatedAt).toContain('Set updated_at');
    expect(await parseError("unique_key='id', strategy='timestamp', updated_at='updated_at', check_cols=['status']")).toContain('check_cols is set, but the timestamp strategy does not use it');
    expect(await parseError("unique_key='id', strategy='check'")).toContain('the check strategy needs check_cols');
    expect(await parseError("unique_key='id', strategy='timestamp', updated_at='updated_at', hard_deletes='purge'")).toContain("hard_deletes is 'purge'");
  });

  it('refuses duplicate keys in the source, naming them, and leaves the table as it was', async () => {
    const h = new History({ 'snapshots/snap.sql': TIMESTAMP() });
    await h.next(RUN1);
    const before = await h.rows();
    writeFiles(h.dir, { 'models/src.sql': source([[1, 'a', '2024-01-02'], [1, 'b', '2024-01-02'], [2, 'b', '2024-01-01'], [2, 'c', '2024-01-03'], [3, 'x', '2024-01-03']]) });
    const r = await runKiln(['build'], h.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("snapshot 'snap': unique_key id is not unique in the snapshot's query: 1 (2 rows), 2 (2 rows)");
    expect(r.stderr).toContain('snapshots/snap.sql:1');
    expect(await h.rows()).toEqual(before);
  });

  it('says when updated_at is not a column of the query', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/src.sql': source(RUN1),
      'snapshots/s.sql': "{% snapshot s %}{{ config(unique_key='id', strategy='timestamp', updated_at='changed_at') }}select * from {{ ref('src') }}{% endsnapshot %}",
    });
    const r = await runKiln(['build'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("snapshot 's': updated_at names 'changed_at', which is not a column of the snapshot's query");
    expect(r.stderr).toContain('id, status, updated_at');
  });

  it('refuses to write into a table that is not a snapshot table', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/src.sql': source(RUN1), 'models/plain.sql': "{{ config(materialized='table') }} select 1 as id" });
    expect((await runKiln(['run'], dir)).code).toBe(0);
    rmSync(join(dir, 'models/plain.sql'));
    writeFiles(dir, { 'snapshots/t.sql': "{% snapshot t %}{{ config(alias='plain', unique_key='id', strategy='check', check_cols='all') }}select * from {{ ref('src') }}{% endsnapshot %}" });
    const r = await runKiln(['snapshot'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"shop"."main"."plain" exists but is not a snapshot table of \'t\': it has no columns dbt_scd_id, dbt_valid_from, dbt_valid_to, dbt_updated_at');
    expect(await queryDuckdb(db(dir), 'select * from main.plain')).toEqual([{ id: 1 }]);
  });
});

function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}
