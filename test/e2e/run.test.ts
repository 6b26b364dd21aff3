/** `kiln run/seed/build` semantics through the real CLI, asserting table contents in DuckDB. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, queryDuckdb, runKiln } from '../helpers/project.js';

const db = (dir: string, name = 'shop') => join(dir, 'target', `${name}.duckdb`);

/** One event of `--log-format json` output. */
interface LogEvent {
  event: string;
  status?: string;
  node: { name: string };
  [key: string]: unknown;
}

const events = (stdout: string): LogEvent[] => stdout.trim().split('\n').map((l) => JSON.parse(l) as LogEvent);

describe('materializations and safety', () => {
  it('a failing rebuild leaves the previous table and view in place', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/numbers.sql': "{{ config(materialized='table') }}\nselect 1 as n union all select 2",
      'models/numbers_view.sql': 'select n * 10 as n from {{ ref("numbers") }}',
    });
    expect((await runKiln(['run'], dir)).code).toBe(0);
    writeFileSync(join(dir, 'models/numbers.sql'), "{{ config(materialized='table') }}\nselect 1 as n union all select 'x'::integer");
    writeFileSync(join(dir, 'models/numbers_view.sql'), 'select no_such_column from {{ ref("numbers") }}');
    const r = await runKiln(['run', '--threads', '1'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ERROR=1 SKIP=1/);
    expect(await queryDuckdb(db(dir), 'select n from main.numbers order by n')).toEqual([{ n: 1 }, { n: 2 }]);
    expect(await queryDuckdb(db(dir), 'select n from main.numbers_view order by n')).toEqual([{ n: 10 }, { n: 20 }]);
    const leftovers = await queryDuckdb(db(dir), "select table_name from information_schema.tables where table_name like '%kiln%'");
    expect(leftovers).toEqual([]);
  });

  it('switching a model from view to table replaces the relation kind', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/m.sql': 'select 1 as id' });
    expect((await runKiln(['run'], dir)).code).toBe(0);
    expect(await queryDuckdb(db(dir), "select table_type from information_schema.tables where table_name = 'm'")).toEqual([{ table_type: 'VIEW' }]);
    writeFileSync(join(dir, 'models/m.sql'), "{{ config(materialized='table') }}select 2 as id");
    expect((await runKiln(['run'], dir)).code).toBe(0);
    expect(await queryDuckdb(db(dir), "select table_type from information_schema.tables where table_name = 'm'")).toEqual([{ table_type: 'BASE TABLE' }]);
    expect(await queryDuckdb(db(dir), 'select id from main.m')).toEqual([{ id: 2 }]);
  });

  it('nested ephemerals become ordered CTEs', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\nmodels:\n  shop:\n    eph:\n      +materialized: ephemeral\n',
      'models/eph/e1.sql': 'select 1 as id',
      'models/eph/e2.sql': 'with x as (select id + 1 as id from {{ ref("e1") }}) select * from x',
      'models/final.sql': "{{ config(materialized='table') }}select * from {{ ref('e2') }} union all select * from {{ ref('e1') }}",
    });
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/TOTAL=1/);
    expect(await queryDuckdb(db(dir), 'select id from main.final order by id')).toEqual([{ id: 1 }, { id: 2 }]);
    const compiled = readFileSync(join(dir, 'target/compiled/shop/models/final.sql'), 'utf8');
    expect(compiled.indexOf('__dbt__cte__e1 as')).toBeLessThan(compiled.indexOf('__dbt__cte__e2 as'));
  });
});

describe('scheduling', () => {
  const diamond = {
    'kiln_project.yml': 'name: shop\n',
    'models/root.sql': 'select 1 as id',
    'models/left.sql': 'select id from {{ ref("root") }}',
    'models/right.sql': 'select broken from {{ ref("root") }}',
    'models/bottom.sql': 'select l.id from {{ ref("left") }} l join {{ ref("right") }} r using (id)',
    'models/after_right.sql': 'select * from {{ ref("right") }}',
    'models/independent.sql': 'select 42 as answer',
  };

  it('a failure skips its descendants while other branches continue', async () => {
    const dir = makeProject(diamond);
    const r = await runKiln(['run', '--log-format', 'json'], dir);
    expect(r.code).toBe(1);
    const all = events(r.stdout);
    const finished = Object.fromEntries(all.filter((e) => e.event === 'node_finish').map((e) => [e.node.name, e.status]));
    expect(finished).toEqual({ root: 'success', left: 'success', right: 'error', bottom: 'skipped', after_right: 'skipped', independent: 'success' });
    const summary = all.find((e) => e.event === 'summary');
    expect(summary).toMatchObject({ PASS: 3, ERROR: 1, SKIP: 2, TOTAL: 6 });
    const results = JSON.parse(readFileSync(join(dir, 'target/run_results.json'), 'utf8'));
    const bottom = results.results.find((x: { unique_id: string }) => x.unique_id === 'model.shop.bottom');
    expect(bottom.status).toBe('skipped');
    expect(bottom.message).toContain('upstream right failed');
  });

  it('--fail-fast stops everything after the first failure', async () => {
    const dir = makeProject(diamond);
    const r = await runKiln(['run', '--fail-fast', '--threads', '1', '--log-format', 'json'], dir);
    expect(r.code).toBe(1);
    const all = events(r.stdout);
    const summary = all.find((e) => e.event === 'summary')!;
    expect(summary.ERROR).toBe(1);
    // One thread runs ready nodes in file order: independent, root, left, right (fails); the rest never start.
    const started = all.filter((e) => e.event === 'node_start').map((e) => e.node.name);
    expect(started).toEqual(['independent', 'root', 'left', 'right']);
    expect(summary.SKIP).toBe(2);
  });

  it('--select with graph operators runs only the selection, in DAG order', async () => {
    const dir = makeProject({ ...diamond, 'models/right.sql': 'select id from {{ ref("root") }}' });
    expect((await runKiln(['run'], dir)).code).toBe(0);
    const r = await runKiln(['run', '-s', '+bottom', '--exclude', 'left', '--threads', '1', '--log-format', 'json'], dir);
    expect(r.code).toBe(0);
    const started = events(r.stdout).filter((e) => e.event === 'node_start').map((e) => e.node.name);
    expect(started).toEqual(['root', 'right', 'bottom']);
  });
});

describe('configuration', () => {
  it('config() beats schema YAML beats the project tree; custom schemas follow generate_schema_name', async () => {
    const dir = makeProject({
      'kiln_project.yml': [
        'name: shop',
        'models:',
        '  shop:',
        '    +materialized: table',
        '    +tags: [all]',
        '    marts:',
        '      +schema: analytics',
        '      +tags: [marts]',
      ].join('\n'),
      'models/marts/a.sql': 'select 1 as id',
      'models/marts/b.sql': "{{ config(materialized='view', tags=['b']) }}select 2 as id",
      'models/marts/c.sql': 'select 3 as id',
      'models/marts/schema.yml': 'version: 2\nmodels:\n  - name: c\n    config:\n      materialized: view\n      alias: c_renamed\n',
    });
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(0);
    const rows = await queryDuckdb(db(dir), "select table_schema, table_name, table_type from information_schema.tables where table_schema <> 'information_schema' order by 2");
    expect(rows).toEqual([
      { table_schema: 'main_analytics', table_name: 'a', table_type: 'BASE TABLE' },
      { table_schema: 'main_analytics', table_name: 'b', table_type: 'VIEW' },
      { table_schema: 'main_analytics', table_name: 'c_renamed', table_type: 'VIEW' },
    ]);
    const manifest = JSON.parse(readFileSync(join(dir, 'target/manifest.json'), 'utf8'));
    expect(manifest.nodes['model.shop.b'].tags).toEqual(['all', 'marts', 'b']);
    const tagged = await runKiln(['ls', '-s', 'tag:b', '--output', 'name'], dir);
    expect(tagged.stdout.trim()).toBe('b');
  });

  it('a project generate_schema_name macro overrides the built-in', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\nmodels:\n  shop:\n    +schema: reporting\n',
      'macros/naming.sql': '{% macro generate_schema_name(custom_schema_name, node) %}{{ custom_schema_name or target.schema }}{% endmacro %}',
      'models/a.sql': 'select 1 as id',
    });
    expect((await runKiln(['run'], dir)).code).toBe(0);
    expect(await queryDuckdb(db(dir), "select table_schema from information_schema.tables where table_name = 'a'")).toEqual([{ table_schema: 'reporting' }]);
  });

  it('vars from the project and --vars, env_var in profiles.yml, and target in templates', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\nprofile: shop\nvars:\n  rate: 2\n  label: project\n',
      'profiles.yml': "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: \"{{ env_var('SHOP_DB', 'fallback.duckdb') }}\"\n      schema: \"{{ env_var('SHOP_SCHEMA') }}\"\n      threads: 2\n",
      'models/m.sql': "{{ config(materialized='table') }}select {{ var('rate') }} * 10 as v, '{{ var('label') }}' as label, '{{ target.name }}/{{ target.schema }}' as t, '{{ var('missing', 'dflt') }}' as d",
    });
    const r = await runKiln(['run', '--vars', '{label: cli}'], dir, { SHOP_DB: 'custom.duckdb', SHOP_SCHEMA: 'sales' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await queryDuckdb(join(dir, 'custom.duckdb'), 'select * from sales.m')).toEqual([{ v: 20, label: 'cli', t: 'dev/sales', d: 'dflt' }]);
  });

  it('a required var that is not set is a compile error', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/m.sql': "select {{ var('start_date') }}" });
    const r = await runKiln(['compile'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/m.sql:1: required var 'start_date' is not set");
  });
});

describe('seeds', () => {
  it('infers types, honours column_types, delimiter and quote_columns, and fully reloads', async () => {
    const dir = makeProject({
      'kiln_project.yml': "name: shop\nseeds:\n  shop:\n    people:\n      +delimiter: ';'\n      +column_types:\n        zip: varchar\n",
      'seeds/people.csv': 'id;name;zip;joined;active;score;seen_at\n1;Ann;02139;2024-01-02;true;1.5;2024-01-02 10:00:00\n2;"Bo; Jr";94110;2024-02-03;false;;2024-02-03 11:30:00\n',
      'seeds/codes.csv': 'code,Label\n007,Secret\n',
    });
    const r = await runKiln(['seed'], dir);
    expect(r.code).toBe(0);
    const cols = await queryDuckdb(db(dir), "select table_name, column_name, data_type from information_schema.columns where table_schema = 'main' order by table_name, ordinal_position");
    expect(cols).toEqual([
      { table_name: 'codes', column_name: 'code', data_type: 'VARCHAR' },
      { table_name: 'codes', column_name: 'Label', data_type: 'VARCHAR' },
      { table_name: 'people', column_name: 'id', data_type: 'BIGINT' },
      { table_name: 'people', column_name: 'name', data_type: 'VARCHAR' },
      { table_name: 'people', column_name: 'zip', data_type: 'VARCHAR' },
      { table_name: 'people', column_name: 'joined', data_type: 'DATE' },
      { table_name: 'people', column_name: 'active', data_type: 'BOOLEAN' },
      { table_name: 'people', column_name: 'score', data_type: 'DOUBLE' },
      { table_name: 'people', column_name: 'seen_at', data_type: 'TIMESTAMP' },
    ]);
    expect(await queryDuckdb(db(dir), 'select name, zip, score from main.people order by id')).toEqual([
      { name: 'Ann', zip: '02139', score: 1.5 },
      { name: 'Bo; Jr', zip: '94110', score: null },
    ]);
    writeFileSync(join(dir, 'seeds/codes.csv'), 'code,Label\n008,Other\n009,Third\n');
    expect((await runKiln(['seed', '-s', 'codes'], dir)).code).toBe(0);
    expect(await queryDuckdb(db(dir), 'select code from main.codes order by 1')).toEqual([{ code: '008' }, { code: '009' }]);
  });

  it('a ragged CSV names the seed file and line', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'seeds/bad.csv': 'a,b\n1,2\n3\n' });
    const r = await runKiln(['seed'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/seeds\/bad\.csv:3: cannot read seed CSV/);
  });
});

describe('hooks and warehouse calls in templates', () => {
  it('runs pre/post hooks and on-run-start/end, and run_query/statement answer at execute time', async () => {
    const dir = makeProject({
      'kiln_project.yml': [
        'name: shop',
        'on-run-start:',
        '  - "create table if not exists main.audit (event varchar)"',
        '  - "insert into main.audit values (\'start\')"',
        'on-run-end:',
        '  - "insert into main.audit select \'end \' || {{ results | length }}"',
      ].join('\n'),
      'models/src.sql': "{{ config(materialized='table', post_hook=\"insert into main.audit values ('post ' || (select count(*) from {{ this }}))\") }}select 1 as id union all select 2",
      'models/pivot.sql': [
        "{{ config(materialized='table', pre_hook=\"insert into main.audit values ('pre pivot')\") }}",
        "{% set ids = run_query('select id from ' ~ ref('src') ~ ' order by id') %}",
        '{% call statement("total", fetch_result=True) %}select sum(id) as s from {{ ref("src") }}{% endcall %}',
        "{% set total = load_result('total')['data'][0][0] if execute else 0 %}",
        'select',
        "{% if execute %}{% for id in ids.columns[0].values() %}{{ id }} as c{{ id }}, {% endfor %}{% endif %}",
        '{{ total }} as total',
      ].join('\n'),
    });
    const r = await runKiln(['run', '--threads', '1'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await queryDuckdb(db(dir), 'select * from main.pivot')).toEqual([{ c1: 1, c2: 2, total: 3 }]);
    // What ran is kept in target/run/: the pre-hook, the build under a temporary name and the swap.
    const ran = readFileSync(join(dir, 'target/run/shop/models/pivot.sql'), 'utf8');
    expect(ran).toContain("insert into main.audit values ('pre pivot');");
    expect(ran).toMatch(/create table "shop"."main"."pivot__kiln_tmp" as \(/);
    expect(ran).toContain('alter table "shop"."main"."pivot__kiln_tmp" rename to "pivot";');
    expect(await queryDuckdb(db(dir), 'select event from main.audit')).toEqual([
      { event: 'start' }, { event: 'post 2' }, { event: 'pre pivot' }, { event: 'end 2' },
    ]);
  });

  it('is_incremental() is false outside incremental models and an unsupported materialization is a clear error', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/a.sql': "select {% if is_incremental() %}1{% else %}0{% endif %} as inc",
      'models/b.sql': "{{ config(materialized='materialized_view') }}select 1 as id",
    });
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(1);
    expect(await queryDuckdb(db(dir), 'select inc from main.a')).toEqual([{ inc: 0 }]);
    expect(r.stderr).toContain("materialization 'materialized_view' is not available in this version of Kiln");
  });
});

describe('snapshots in a build', () => {
  it('run with the models and their data tests, without the old "not run by this version" warning', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/a.sql': 'select 1 as id',
      'models/schema.yml': 'version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        tests: [unique, not_null]\n',
      'tests/no_negative.sql': 'select * from {{ ref("a") }} where id < 0',
      'snapshots/snap.sql': "{% snapshot snap %}{{ config(unique_key='id', strategy='check', check_cols='all') }}select 1 as id{% endsnapshot %}",
    });
    const r = await runKiln(['build'], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('not run by this version of Kiln');
    expect(r.stdout).toContain('PASS=5 WARN=0 ERROR=0 SKIP=0 TOTAL=5');
  });
});

describe('interruption', () => {
  it('SIGINT cancels the running query, starts nothing more, writes run_results and exits 130', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/a_slow.sql': "{{ config(materialized='table') }}select count(*) as n from range(20000000000) t(i) where i % 7 = 3",
      'models/b_after.sql': 'select * from {{ ref("a_slow") }}',
      'models/c_other.sql': 'select 1 as x',
    });
    const { spawn } = await import('node:child_process');
    const { KILN_BIN } = await import('../helpers/project.js');
    const child = spawn(process.execPath, [KILN_BIN, 'run', '--threads', '1', '--log-format', 'json'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let sent = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (!sent && stdout.includes('"node_start"') && stdout.includes('a_slow')) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), 300);
      }
    });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code).toBe(130);
    const results = JSON.parse(readFileSync(join(dir, 'target/run_results.json'), 'utf8')) as { results: { unique_id: string; status: string; message: string }[] };
    const byId = Object.fromEntries(results.results.map((r) => [r.unique_id, r]));
    expect(byId['model.shop.a_slow'].status).toBe('error');
    expect(byId['model.shop.a_slow'].message).toMatch(/interrupt/i);
    expect(byId['model.shop.b_after'].status).toBe('skipped');
    expect(byId['model.shop.c_other']).toMatchObject({ status: 'skipped', message: 'SKIP (interrupted)' });
  });
});

describe('hooks and the build share one connection and one transaction', () => {
  it('a hook that queries the warehouse does not wait for a second connection (one thread)', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/a.sql': "{{ config(materialized='table', post_hook=\"{% set r = run_query('select 41 as n') %}create table main.hook_saw as select {{ r.columns[0].values()[0] if execute else 0 }} + 1 as n\") }}select 1 as id",
    });
    const r = await runKiln(['run', '--threads', '1'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await queryDuckdb(db(dir), 'select n from main.hook_saw')).toEqual([{ n: 42 }]);
  });

  it('a failing post-hook rolls the new relation back; transaction: false hooks run outside', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/a.sql': "{{ config(materialized='table') }}select 1 as v" });
    expect((await runKiln(['run'], dir)).code).toBe(0);
    writeFileSync(join(dir, 'models/a.sql'), "{{ config(materialized='table', post_hook='select * from no_such_table') }}select 2 as v");
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("post-hook 1 of model '");
    expect(await queryDuckdb(db(dir), 'select v from main.a')).toEqual([{ v: 1 }]);
    writeFileSync(join(dir, 'models/a.sql'), "{{ config(materialized='table', post_hook=[{'sql': 'create table main.outside as select 1 as x', 'transaction': false}]) }}select 3 as v");
    expect((await runKiln(['run'], dir)).code).toBe(0);
    expect(await queryDuckdb(db(dir), 'select v from main.a')).toEqual([{ v: 3 }]);
    expect(await queryDuckdb(db(dir), 'select x from main.outside')).toEqual([{ x: 1 }]);
  });

  it('a statement whose SQL changes between renders (now()) runs once', async () => {
    const dir = makeProject({
      'kiln_project.yml': "name: shop\non-run-start: ['create table if not exists main.audit (stamp varchar)']\n",
      'models/src.sql': 'select 1 as id',
      'models/m.sql': [
        '{% if execute %}',
        "{% call statement('stamp') %}insert into main.audit values ('{{ modules.datetime.datetime.now().isoformat() }}'){% endcall %}",
        "{% set cols = adapter.get_columns_in_relation(ref('src')) %}",
        '{% endif %}',
        "select 1 as one from {{ ref('src') }}",
      ].join('\n'),
    });
    const r = await runKiln(['run', '--threads', '1'], dir);
    expect(r.code).toBe(0);
    expect(await queryDuckdb(db(dir), 'select count(*) as n from main.audit')).toEqual([{ n: 1 }]);
  });
});

describe('sql_header', () => {
  it('runs before the DDL, from set_sql_header and from config(sql_header=…), also from the parse cache', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/a.sql': "{{ config(materialized='table') }}{% call set_sql_header(config) %}create or replace macro plus_one(x) as x + 1{% endcall %}select plus_one(1) as v",
      'models/b.sql': "{{ config(materialized='table', sql_header='create or replace macro times_ten(x) as x * 10') }}select times_ten(2) as v",
    });
    for (let i = 0; i < 2; i++) {
      const r = await runKiln(['run', '--threads', '1'], dir);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    expect(await queryDuckdb(db(dir), 'select v from main.a')).toEqual([{ v: 2 }]);
    expect(await queryDuckdb(db(dir), 'select v from main.b')).toEqual([{ v: 20 }]);
  });
});

describe('filters on relations', () => {
  it('apply to the relation name, not to a parse-time placeholder', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/a.sql': 'select 1 as id',
      'models/b.sql': "select '{{ ref(\"a\") | replace('\"', '') }}' as plain, '{{ this | string | length }}' as len, {{ ref('a') }}.id from {{ ref('a') }}",
    });
    const r = await runKiln(['compile', '-s', 'b'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`select 'shop.main.a' as plain, '${'"shop"."main"."b"'.length}' as len, "shop"."main"."a".id from "shop"."main"."a"`);
  });
});

describe('one session per node', () => {
  it('execute-time queries run on the connection the node is built on (temp tables carry over)', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/a.sql': "{{ config(materialized='table') }}{% if execute %}{% do run_query('create or replace temp table staging_rows as select 5 as n') %}{% endif %}select n from staging_rows",
      'models/b.sql': 'select 1 as x',
      'models/c.sql': 'select 2 as y',
    });
    const r = await runKiln(['run', '--threads', '3'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await queryDuckdb(db(dir), 'select n from main.a')).toEqual([{ n: 5 }]);
  });
});
