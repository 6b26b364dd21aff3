/** The CLI commands other than run/seed/build: init, debug, parse, compile, ls, show, clean; and the parse cache. */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, runKiln } from '../helpers/project.js';

const SHOP = {
  'kiln_project.yml': 'name: shop\nvars:\n  factor: 2\n',
  'models/staging/stg.sql': 'select 1 as id, 10 as amount',
  'models/marts/doubled.sql': "{{ config(materialized='table', tags=['finance']) }}select id, amount * {{ var('factor') }} as amount from {{ ref('stg') }}",
  'models/marts/plain.sql': 'select id from {{ ref("stg") }}',
  'seeds/lookup.csv': 'id,label\n1,one\n',
  'models/sources.yml': 'version: 2\nsources:\n  - name: raw\n    tables: [{name: events}]\n',
};

describe('kiln init', () => {
  it('creates a project that builds', async () => {
    const parent = makeProject({});
    const init = await runKiln(['init', 'my-new'], parent);
    expect(init.code).toBe(0);
    expect(init.stdout).toContain("Created project 'my_new'");
    const dir = join(parent, 'my-new');
    expect(readFileSync(join(dir, 'kiln_project.yml'), 'utf8')).toContain('name: my_new');
    const build = await runKiln(['build'], dir);
    expect(build.code).toBe(0);
    expect(build.stdout).toContain('PASS=2');
    expect((await runKiln(['init', 'my-new'], parent)).code).toBe(2);
  });
});

describe('kiln debug', () => {
  it('shows the target without secrets and tests the connection', async () => {
    const dir = makeProject({
      ...SHOP,
      'profiles.yml': "shop:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: dev.duckdb, threads: 3, settings: {threads: 1}}\n",
    });
    const r = await runKiln(['debug'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('profile: shop, target: dev');
    expect(r.stdout).toContain('threads: 3');
    expect(r.stdout).toContain('connection: OK');
  });
});

describe('kiln ls', () => {
  it('prints selectors, names, paths and JSON, filtered by resource type', async () => {
    const dir = makeProject(SHOP);
    expect((await runKiln(['ls'], dir)).stdout.trim().split('\n')).toEqual([
      'shop.marts.doubled', 'shop.marts.plain', 'shop.staging.stg', 'shop.lookup', 'source:shop.raw.events',
    ]);
    expect((await runKiln(['ls', '--resource-type', 'model', '--output', 'path', '-s', 'stg+'], dir)).stdout.trim().split('\n')).toEqual([
      'models/marts/doubled.sql', 'models/marts/plain.sql', 'models/staging/stg.sql',
    ]);
    const json = (await runKiln(['ls', '-s', 'tag:finance', '--output', 'json', '--output-keys', 'name', 'unique_id'], dir)).stdout.trim();
    expect(JSON.parse(json)).toEqual({ name: 'doubled', unique_id: 'model.shop.doubled' });
    expect((await runKiln(['ls', '-s', 'path:models/marts,config.materialized:view', '--output', 'name'], dir)).stdout.trim()).toBe('plain');
  });

  it('uses YAML selectors, including the default one', async () => {
    const dir = makeProject({
      ...SHOP,
      'selectors.yml': [
        'selectors:',
        '  - name: finance',
        '    definition: {method: tag, value: finance, parents: true}',
        '  - name: everything_but_marts',
        '    default: true',
        '    definition:',
        '      union:',
        '        - method: path',
        '          value: models',
        '        - exclude: ["path:models/marts"]',
      ].join('\n'),
    });
    expect((await runKiln(['ls', '--selector', 'finance', '--output', 'name'], dir)).stdout.trim().split('\n')).toEqual(['doubled', 'stg']);
    // Sources are found by path: too (their file is the YAML), as in dbt.
    expect((await runKiln(['ls', '--output', 'name'], dir)).stdout.trim().split('\n')).toEqual(['stg', 'events']);
  });
});

describe('kiln compile, show, parse and clean', () => {
  it('compile prints the SQL of one selected model and writes the manifest', async () => {
    const dir = makeProject(SHOP);
    const r = await runKiln(['compile', '-s', 'doubled', '--vars', 'factor: 3'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('select id, amount * 3 as amount from "shop"."main"."stg"');
    const manifest = JSON.parse(readFileSync(join(dir, 'target/manifest.json'), 'utf8'));
    expect(manifest.nodes['model.shop.doubled'].compiled_code).toContain('amount * 3');
    expect(manifest.sources['source.shop.raw.events'].relation_name).toBe('"shop"."raw"."events"');
    expect(manifest.metadata.adapter_type).toBe('duckdb');
    const inline = await runKiln(['compile', '--inline', "select * from {{ ref('plain') }}"], dir);
    expect(inline.stdout.trim()).toBe('select * from "shop"."main"."plain"');
  });

  it('show runs a model or inline SQL and prints a table, also as JSON', async () => {
    const dir = makeProject(SHOP);
    expect((await runKiln(['run'], dir)).code).toBe(0);
    const r = await runKiln(['show', '-s', 'doubled'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('| id | amount |');
    expect(r.stdout).toContain('| 1  | 20     |');
    const json = await runKiln(['show', '--inline', 'select 41 + 1 as answer', '--log-format', 'json', '-q'], dir);
    expect(JSON.parse(json.stdout.trim().split('\n').pop()!)).toMatchObject({ event: 'show', columns: ['answer'], rows: [{ answer: 42 }] });
    expect((await runKiln(['show', '-s', 'stg+'], dir)).code).toBe(2);
  });

  it('parse writes a manifest without touching the warehouse; clean removes target/', async () => {
    const dir = makeProject(SHOP);
    const r = await runKiln(['parse'], dir);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'target/manifest.json'))).toBe(true);
    expect(existsSync(join(dir, 'target/shop.duckdb'))).toBe(false);
    expect((await runKiln(['clean'], dir)).code).toBe(0);
    expect(existsSync(join(dir, 'target'))).toBe(false);
  });

  it('refuses to clean outside the project', async () => {
    const dir = makeProject({ 'kiln_project.yml': "name: shop\nclean-targets: ['../elsewhere']\n" });
    const r = await runKiln(['clean'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('outside the project directory');
  });
});

describe('parse cache', () => {
  it('re-renders only models whose file or read vars changed', async () => {
    const dir = makeProject(SHOP);
    const first = await runKiln(['parse', '--debug'], dir);
    expect(first.stdout).toContain('parse cache: 0 hits, 3 misses');
    // Nothing changed: the whole parse comes from the snapshot, not even the per-model cache is read.
    const warm = await runKiln(['parse', '--debug'], dir);
    expect(warm.stdout).toContain('nodes restored from the parse snapshot');
    expect(warm.stdout).not.toContain('parse cache:');
    const changedVar = await runKiln(['parse', '--debug', '--vars', 'factor: 5'], dir);
    expect(changedVar.stdout).toContain('parse cache: 2 hits, 1 miss');
    // Only a model file changed: it alone is parsed again, over the snapshot.
    writeFileSync(join(dir, 'models/marts/plain.sql'), 'select id, 1 as x from {{ ref("stg") }}');
    const changedFile = await runKiln(['parse', '--debug', '--vars', 'factor: 5'], dir);
    expect(changedFile.stdout).toContain('parse: 1 changed model file(s) parsed again over the parse snapshot');
    // The cached parse still compiles to the right SQL.
    const compiled = await runKiln(['compile', '-s', 'doubled', '--vars', 'factor: 5'], dir);
    expect(compiled.stdout).toContain('amount * 5');
    const fresh = await runKiln(['parse', '--debug', '--no-partial-parse'], dir);
    expect(fresh.stdout).not.toContain('parse cache');
  });
});

describe('parse cache and naming macros', () => {
  it('re-derives relation names when a var or env var read by generate_schema_name changes', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'macros/naming.sql': "{% macro generate_schema_name(custom, node) %}{{ var('sch', 'main') }}{{ env_var('SCH_SUFFIX', '') }}{% endmacro %}",
      'models/a.sql': 'select 1 as id',
      'models/b.sql': "select * from {{ ref('a') }}",
    });
    expect((await runKiln(['compile', '-s', 'b'], dir)).stdout).toContain('"shop"."main"."a"');
    expect((await runKiln(['compile', '-s', 'b', '--vars', '{sch: x2}'], dir)).stdout).toContain('"shop"."x2"."a"');
    expect((await runKiln(['compile', '-s', 'b', '--vars', '{sch: x2}'], dir, { SCH_SUFFIX: '_dev' })).stdout).toContain('"shop"."x2_dev"."a"');
  });

  it('re-derives a relation name from the folder a model moved to', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'macros/naming.sql': '{% macro generate_schema_name(custom, node) %}{{ target.schema }}_{{ node.fqn[1] }}{% endmacro %}',
      'models/staging/a.sql': 'select 1 as id',
      'models/staging/schema.yml': 'models: [{name: a, columns: [{name: id, data_tests: [not_null]}]}]\n',
      'models/b.sql': "select * from {{ ref('a') }}",
    });
    expect((await runKiln(['compile', '-s', 'b'], dir)).stdout).toContain('"shop"."main_staging"."a"');
    // Moved as it is (no other change), and the YAML with it: a whole parse, through the parse cache.
    mkdirSync(join(dir, 'models/marts'));
    for (const f of ['a.sql', 'schema.yml']) renameSync(join(dir, 'models/staging', f), join(dir, 'models/marts', f));
    expect((await runKiln(['compile', '-s', 'b'], dir)).stdout).toContain('"shop"."main_marts"."a"');
    const test = await runKiln(['compile', '-s', 'not_null_a_id'], dir);
    expect(test.stdout).toContain('"shop"."main_marts"."a"');
  });
});

describe('inline SQL', () => {
  it('inlines ephemeral models and reports Jinja errors at (inline)', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/eph.sql': "{{ config(materialized='ephemeral') }}select 7 as n",
    });
    const r = await runKiln(['show', '--inline', "select n * 6 as answer from {{ ref('eph') }}"], dir);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('| 42     |');
    const compiled = await runKiln(['compile', '--inline', "select * from {{ ref('eph') }}"], dir);
    expect(compiled.stdout).toContain('with __dbt__cte__eph as (');
    const bad = await runKiln(['show', '--inline', 'select {{ nope() }}'], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/\(inline\):1:\d+: Jinja error/);
  });
});

describe('source fqn', () => {
  it("includes the YAML file's folders (as dbt's does); name selection still leaves sources out, as dbt's does", async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/staging/src.yml': 'version: 2\nsources:\n  - name: raw\n    tables: [{name: t}]\n',
      'models/staging/stg.sql': "select * from {{ source('raw', 't') }}",
      'models/marts/m.sql': 'select 1 as x',
    });
    expect((await runKiln(['ls', '-s', 'staging'], dir)).stdout.trim().split('\n')).toEqual(['shop.staging.stg']);
    expect((await runKiln(['ls', '-s', 'source:raw+'], dir)).stdout.trim().split('\n')).toEqual(['shop.staging.stg', 'source:shop.staging.raw.t']);
  });
});
