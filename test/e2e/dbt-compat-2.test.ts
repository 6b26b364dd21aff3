/**
 * Constructs found in public dbt projects and packages (jaffle-shop, dbt_date, Fivetran packages,
 * dbt-project-evaluator, audit_helper, codegen) that Kiln must accept unchanged. Each case is a small
 * project of our own reproducing what those projects write.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, queryDuckdb, runKiln, writeFiles } from '../helpers/project.js';

const PROFILES = "shop:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: dev.duckdb, threads: \"{{ env_var('SHOP_THREADS', '2') | as_number }}\"}\n";

describe('dbt constructs from public projects', () => {
  it('renders Jinja in the project config tree, with target and vars', async () => {
    const dir = makeProject({
      'dbt_project.yml': [
        'name: shop', 'profile: shop', 'vars:', '  load_source_data: false',
        'models:', '  shop:',
        "    +materialized: \"{{ 'table' if target.name == 'dev' else 'view' }}\"",
        "    +schema: \"{{ 'marts' }}\"",
        'seeds:', '  shop:', "    +enabled: \"{{ var('load_source_data', false) }}\"",
      ].join('\n'),
      'profiles.yml': PROFILES,
      'models/m.sql': 'select 1 as id',
      'seeds/raw.csv': 'a\n1\n',
    });
    const r = await runKiln(['build'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('TOTAL=1');
    expect(await queryDuckdb(join(dir, 'dev.duckdb'), "select table_schema, table_type from information_schema.tables where table_name = 'm'"))
      .toEqual([{ table_schema: 'main_marts', table_type: 'BASE TABLE' }]);
  });

  it('accepts trailing commas in calls, chained inline ifs and expression dict keys', async () => {
    const dir = makeProject({
      'dbt_project.yml': 'name: shop\nprofile: shop\n',
      'profiles.yml': PROFILES,
      'macros/f.sql': '{% macro f(a, b=2) %}{{ a }} + {{ b }}{% endmacro %}',
      'models/m.sql': [
        "{{ config(materialized='table',) }}",
        '{%- set d = {"k" | upper: 1, "a" ~ "b": 2} -%}',
        "select {{ f(\n  1,\n  b=3,\n) }} as s,",
        "  '{{ 'a' if target.type in ['x'] else 'b' if target.type in ['duckdb'] else 'c' }}' as t,",
        "  {{ d['K'] + d['ab'] }} as k",
      ].join('\n'),
    });
    const r = await runKiln(['run'], dir);
    expect(r.stderr).toBe('');
    expect(await queryDuckdb(join(dir, 'dev.duckdb'), 'select * from main.m')).toEqual([{ s: 4, t: 'b', k: 3 }]);
  });

  it("uses a package's own scoped vars, dispatches without a namespace, and leaves semantic-layer filters alone", async () => {
    const dir = makeProject({
      'dbt_project.yml': 'name: shop\nprofile: shop\n',
      'profiles.yml': PROFILES,
      'dbt_packages/pkg/dbt_project.yml': 'name: pkg\nvars:\n  pkg:\n    pass_through: [extra]\n    factor: 3\n',
      'dbt_packages/pkg/macros/agg.sql': "{% macro agg(x) %}{{ adapter.dispatch('agg')(x) }}{% endmacro %}{% macro default__agg(x) %}{{ x }} * {{ var('factor') }}{% endmacro %}",
      'dbt_packages/pkg/models/pkg_model.sql': "select {{ pkg.agg('2') }} as v, '{{ var('pass_through') | join(',') }}' as cols",
      'models/metrics.yml': [
        'version: 2',
        'metrics:',
        '  - name: big_orders',
        '    label: Big orders',
        '    type: simple',
        '    type_params: {measure: order_count}',
        "    filter: \"{{ Dimension('order_id__is_big') }} = true\"",
      ].join('\n'),
      'models/m.sql': "select * from {{ ref('pkg_model') }}",
    });
    const r = await runKiln(['run'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await queryDuckdb(join(dir, 'dev.duckdb'), 'select * from main.m')).toEqual([{ v: 6, cols: 'extra' }]);
  });

  it('renders target in schema YAML (source schemas built from the target)', async () => {
    const dir = makeProject({
      'dbt_project.yml': "name: shop\nprofile: shop\non-run-start: ['create schema if not exists main_raw', 'create or replace table main_raw.t as select 5 as n']\n",
      'profiles.yml': PROFILES,
      'models/src.yml': "version: 2\nsources:\n  - name: raw\n    schema: \"{{ target.schema ~ '_raw' }}\"\n    tables: [{name: t}]\n",
      'models/m.sql': "select n from {{ source('raw', 't') }}",
    });
    const r = await runKiln(['run'], dir);
    expect(r.stderr).toBe('');
    expect(await queryDuckdb(join(dir, 'dev.duckdb'), 'select * from main.m')).toEqual([{ n: 5 }]);
  });

  it("dbt's global helpers: date_spine, array_construct, equals, get_columns_in_query, query results as a dict", async () => {
    const dir = makeProject({
      'dbt_project.yml': 'name: shop\nprofile: shop\n',
      'profiles.yml': PROFILES,
      'models/spine.sql': "{{ config(materialized='table') }}{{ dbt.date_spine('day', \"cast('2024-01-01' as date)\", \"cast('2024-01-05' as date)\") }}",
      'models/misc.sql': [
        "{{ config(materialized='table') }}",
        "{% set cols = dbt.get_columns_in_query('select 1 as a, 2 as b') %}",
        "{% set res = run_query('select 10 as x, 20 as y') %}",
        "{% set as_dict = {} %}{% if execute %}{% for name, col in res.columns.items() %}{% do as_dict.update({name: col.values()[0]}) %}{% endfor %}{% endif %}",
        "select {{ dbt.array_construct(['1', '2']) }} as arr, {{ dbt.equals('null', 'null') }} as same,",
        "  '{{ cols | join(',') }}' as cols, {{ as_dict.get('y', 0) }} as y",
      ].join('\n'),
    });
    const r = await runKiln(['run'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const days = await queryDuckdb(join(dir, 'dev.duckdb'), 'select strftime(date_day, \'%Y-%m-%d\') as d from main.spine order by 1');
    expect(days.map((x) => x.d)).toEqual(['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04']);
    expect(await queryDuckdb(join(dir, 'dev.duckdb'), 'select arr, same, cols, y from main.misc')).toEqual([{ arr: [1, 2], same: true, cols: 'a,b', y: 20 }]);
  });
});

describe('model versions', () => {
  it('builds each version, refs the latest by default and a pinned one with v=', async () => {
    const dir = makeProject({
      'dbt_project.yml': 'name: shop\nprofile: shop\n',
      'profiles.yml': PROFILES,
      'models/dim_customers_v1.sql': 'select 1 as id',
      'models/dim_customers_v2.sql': "select 1 as id, 'new' as segment",
      'models/legacy_v.sql': 'select 3 as id',
      'models/schema.yml': [
        'version: 2',
        'models:',
        '  - name: dim_customers',
        '    latest_version: 2',
        '    config: {materialized: table}',
        '    versions:',
        '      - v: 1',
        '      - v: 2',
        '      - v: 3',
        '        defined_in: legacy_v',
        '        config: {materialized: view}',
      ].join('\n'),
      'models/latest.sql': "select * from {{ ref('dim_customers') }}",
      'models/pinned.sql': "select * from {{ ref('dim_customers', v=1) }}",
    });
    const r = await runKiln(['run'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const kinds = await queryDuckdb(join(dir, 'dev.duckdb'), "select table_name, table_type from information_schema.tables where table_schema = 'main' order by 1");
    expect(kinds).toEqual([
      { table_name: 'dim_customers_v1', table_type: 'BASE TABLE' },
      { table_name: 'dim_customers_v2', table_type: 'BASE TABLE' },
      { table_name: 'dim_customers_v3', table_type: 'VIEW' },
      { table_name: 'latest', table_type: 'VIEW' },
      { table_name: 'pinned', table_type: 'VIEW' },
    ]);
    expect(await queryDuckdb(join(dir, 'dev.duckdb'), 'select * from main.latest')).toEqual([{ id: 1, segment: 'new' }]);
    const ls = await runKiln(['ls', '-s', 'dim_customers', '--output', 'json', '--output-keys', 'unique_id'], dir);
    expect(ls.stdout.trim().split('\n').map((l) => JSON.parse(l).unique_id)).toEqual([
      'model.shop.dim_customers.v1', 'model.shop.dim_customers.v2', 'model.shop.dim_customers.v3',
    ]);
    expect((await runKiln(['ls', '-s', 'dim_customers_v1'], dir)).stdout.trim()).toBe('shop.dim_customers.v1');
    expect((await runKiln(['ls', '-s', 'dim_customers.v2'], dir)).stdout.trim()).toBe('shop.dim_customers.v2');
    expect((await runKiln(['ls', '-s', 'v1'], dir)).stdout.trim()).toBe('');
    const bad = makeProject({
      'dbt_project.yml': 'name: shop\nprofile: shop\n', 'profiles.yml': PROFILES,
      'models/d_v1.sql': 'select 1 as id',
      'models/schema.yml': 'version: 2\nmodels:\n  - name: d\n    versions: [{v: 1}]\n',
      'models/x.sql': "select * from {{ ref('d', v=7) }}",
    });
    const e = await runKiln(['parse'], bad);
    expect(e.code).toBe(2);
    expect(e.stderr).toContain("model 'x' refers to version 7 of 'd', which has versions 1");
    writeFiles(bad, { 'models/d.sql': 'select 0 as id', 'models/x.sql': "select * from {{ ref('d') }}" });
    const mixed = await runKiln(['parse'], bad);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain("'d' is both a versioned model and an unversioned model");
  });
});

describe('adapter macros called through the dbt namespace', () => {
  it('dbt.get_columns_in_relation, dbt.load_cached_relation and adapter.drop_relation work at execute time', async () => {
    const dir = makeProject({
      'dbt_project.yml': "name: shop\nprofile: shop\non-run-start: ['create or replace table main.scratch as select 1 as a']\n",
      'profiles.yml': PROFILES,
      'models/src.sql': "{{ config(materialized='table') }}select 1 as id, 'x' as label",
      'models/m.sql': [
        "{{ config(materialized='table') }}",
        "-- depends_on: {{ ref('src') }}",
        '{% if execute %}',
        "{% set cols = dbt.get_columns_in_relation(ref('src')) %}",
        "{% set scratch = dbt.load_cached_relation(api.Relation.create(database=target.database, schema='main', identifier='scratch')) %}",
        '{% do adapter.drop_relation(scratch) %}',
        '{% endif %}',
        "select '{{ cols | map(attribute='name') | join(',') if execute else '' }}' as cols",
      ].join('\n'),
    });
    const r = await runKiln(['run', '--threads', '1'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await queryDuckdb(join(dir, 'dev.duckdb'), 'select cols from main.m')).toEqual([{ cols: 'id,label' }]);
    expect(await queryDuckdb(join(dir, 'dev.duckdb'), "select count(*) as n from information_schema.tables where table_name = 'scratch'")).toEqual([{ n: 0 }]);
  });

  it('a ref() made only inside {% if execute %} is refused with the depends_on hint, as dbt does', async () => {
    const dir = makeProject({
      'dbt_project.yml': 'name: shop\nprofile: shop\n',
      'profiles.yml': PROFILES,
      'models/a_reader.sql': "{% if execute %}{% set r = run_query('select count(*) from ' ~ ref('z_source')) %}{% endif %}select 1 as x",
      'models/z_source.sql': 'select 1 as id',
    });
    const r = await runKiln(['run', '--threads', '1'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("model 'a_reader' refers to 'z_source' only at execute time");
    expect(r.stderr).toContain("-- depends_on: {{ ref('z_source') }}");
  });
});

describe('from a second sweep of public projects', () => {
  it('YAML values use the same Jinja as models (chained inline ifs), and seeds accept quotes inside unquoted fields', async () => {
    const dir = makeProject({
      'dbt_project.yml': 'name: shop\nprofile: shop\n',
      'profiles.yml': PROFILES,
      'seeds/receipts.csv': 'id,receipt\n1,{ "a": 1 }\n2,plain\n',
      'seeds/seeds.yml': [
        'version: 2',
        'seeds:',
        '  - name: receipts',
        '    config:',
        '      column_types:',
        "        receipt: \"{{ 'varchar' if target.type in ['redshift'] else 'String' if target.type in ['clickhouse'] else 'varchar' }}\"",
      ].join('\n'),
    });
    const r = await runKiln(['seed'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await queryDuckdb(join(dir, 'dev.duckdb'), 'select receipt from main.receipts order by id')).toEqual([{ receipt: '{ "a": 1 }' }, { receipt: 'plain' }]);
  });
});
