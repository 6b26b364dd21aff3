/**
 * Large parses render models on a worker thread too, both threads taking from one queue; a cold parse
 * starts the worker before schema YAML is read, rendering models as they stand without it. The threshold
 * is lowered here so a small project takes that path, and KILN_PARSE_WORKER_FIRST makes the worker render
 * every node it can (the main thread waits), so what it does is certain. Results, logs and errors must be
 * the same as on one thread.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, runKiln } from '../helpers/project.js';

function project(extra: Record<string, string> = {}) {
  const files: Record<string, string> = {
    'kiln_project.yml': 'name: par\nvars:\n  k: 7\n',
    'macros/m.sql': "{% macro twice(x) %}({{ x }} * 2){% endmacro %}",
  };
  for (let i = 0; i < 12; i++) {
    const parent = i === 0 ? '' : ` from {{ ref('m${String(i - 1).padStart(2, '0')}') }}`;
    files[`models/m${String(i).padStart(2, '0')}.sql`] =
      `{{ config(tags=['t${i % 3}']) }}{% do log('rendering m${i}', info=True) %}select {{ twice(var('k')) }} + ${i} as v${parent}`;
  }
  return makeProject({ ...files, ...extra });
}

const WORKER = { KILN_PARSE_WORKER_MIN_NODES: '2', KILN_PARSE_WORKER_FIRST: '1' };
const ONE_THREAD = { KILN_PARSE_WORKER_MIN_NODES: '100000' };

function manifestNodes(dir: string) {
  const m = JSON.parse(readFileSync(join(dir, 'target/manifest.json'), 'utf8'));
  return Object.fromEntries(Object.entries(m.nodes as Record<string, { compiled_code: string; tags: string[]; depends_on: unknown; config: unknown }>)
    .map(([id, n]) => [id, [n.compiled_code, n.tags, n.depends_on, n.config]]));
}

describe('parse on a worker thread', () => {
  it('produces the same manifest and compiled SQL as a single-threaded parse', async () => {
    const one = project();
    const two = project();
    expect((await runKiln(['compile', '--no-partial-parse'], one, ONE_THREAD)).code).toBe(0);
    const r = await runKiln(['compile', '--no-partial-parse', '--debug'], two, WORKER);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('parse: rendered 12 models, 12 of them on a worker thread');
    // log() calls made on the worker are printed too, once each.
    for (let i = 0; i < 12; i++) expect(r.stdout.split(`rendering m${i}\n`).length).toBe(2);
    expect(manifestNodes(two)).toEqual(manifestNodes(one));
    expect(readFileSync(join(two, 'target/compiled/par/models/m11.sql'), 'utf8')).toBe('select (7 * 2) + 11 as v from "par"."main"."m10"');
  });

  it('renders generic tests on both threads, and a test failing on the worker is told at its YAML line', async () => {
    const yaml = (second: string) => `models:\n  - name: m00\n    columns:\n      - name: v\n        data_tests: [not_null, ${second}]\n`;
    let dir = project({ 'models/schema.yml': yaml('unique') });
    const r = await runKiln(['compile', '--no-partial-parse', '--debug'], dir, WORKER);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('parse: rendered 14 models, 14 of them on a worker thread');
    expect(readFileSync(join(dir, 'target/compiled/par/models/schema.yml/unique_m00_v.sql'), 'utf8')).toContain('group by v');
    dir = project({ 'models/schema.yml': yaml('uniqe') });
    const bad = await runKiln(['parse', '--no-partial-parse'], dir, WORKER);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("models/schema.yml:5:32: unknown generic test 'uniqe'");
  });

  it('gives tests of one shape the render made of the first, as a render of their own would be', async () => {
    const columns = (name: string) => `      - name: v\n        data_tests: [not_null, positive, {relationships: {to: ref('${name}'), field: v}}]\n`;
    const yaml = ['models:', ...Array.from({ length: 12 }, (_, i) => `  - name: m${String(i).padStart(2, '0')}\n    columns:\n${columns('m05')}`)].join('\n');
    const positive = '{% test positive(model, column_name) %}select * from {{ model }} where {{ column_name }} < 0{% endtest %}';
    const one = project({ 'models/schema.yml': yaml, 'macros/positive.sql': positive });
    const two = project({ 'models/schema.yml': yaml, 'macros/positive.sql': positive });
    expect((await runKiln(['compile', '--no-partial-parse'], one, ONE_THREAD)).code).toBe(0);
    const r = await runKiln(['compile', '--no-partial-parse', '--debug'], two, WORKER);
    expect(r.code).toBe(0);
    // The worker renders the models and the first test of each shape; the 11 other `positive` tests take the
    // worker's render. Kiln's own tests share a shape across columns, kept only from a render with a stand-in
    // column (one per shape here, on this thread): the 20 others take that one.
    expect(r.stdout).toContain('parse: rendered 17 models, 15 of them on a worker thread, 31 tests from an earlier one of their shape');
    expect(manifestNodes(two)).toEqual(manifestNodes(one));
    const rel = manifestNodes(two)['test.par.relationships_m05_v__v__ref_m05_.' + Object.keys(manifestNodes(two)).find((k) => k.startsWith('test.par.relationships_m05_'))!.split('.').pop()];
    expect(rel[2]).toEqual({ macros: expect.any(Array), nodes: ['model.par.m05'] });
  });

  it('shares the nodes between both threads when neither waits', async () => {
    const one = project();
    const two = project();
    expect((await runKiln(['compile', '--no-partial-parse'], one, ONE_THREAD)).code).toBe(0);
    const r = await runKiln(['compile', '--no-partial-parse', '--debug'], two, { KILN_PARSE_WORKER_MIN_NODES: '2' });
    expect(r.code).toBe(0);
    // How many each thread takes depends on their speed.
    expect(r.stdout).toMatch(/parse: rendered 12 models, \d+ of them on a worker thread/);
    for (let i = 0; i < 12; i++) expect(r.stdout.split(`rendering m${i}\n`).length).toBe(2);
    expect(manifestNodes(two)).toEqual(manifestNodes(one));
  });

  it('keeps a render made before schema YAML was read only when the YAML did not change what it saw', async () => {
    const extra = {
      // Reads a config the YAML sets: rendered again.
      'models/owned.sql': "{% do log('owner is ' ~ config.get('owner'), info=True) %}select '{{ config.get('owner') }}' as owner",
      // Fails without the YAML's config: rendered again, no error.
      'models/required.sql': "select '{{ config.require('owner') }}' as owner",
      // Versions named by the YAML: other nodes than their files alone make.
      'models/dim_v1.sql': "select 1 as v",
      'models/dim_v2.sql': "select 2 as v, '{{ this.identifier }}' as t",
      // Prints its own schema, which the YAML sets: rendered again, and at compile time (dbt's `schema` is
      // the model's).
      'models/where_am_i.sql': "select '{{ schema }}' as s",
      // YAML config that the render does not read: its worker render is kept.
      'models/schema.yml': [
        'models:',
        '  - name: owned', '    config: {owner: alice}',
        '  - name: required', '    config: {owner: bob}',
        '  - name: where_am_i', '    config: {schema: custom}',
        '  - name: m05', '    config: {tags: [from_yaml]}',
        '  - name: dim', '    latest_version: 2', '    versions: [{v: 1}, {v: 2}]',
        '',
      ].join('\n'),
    };
    const one = project(extra);
    const two = project(extra);
    expect((await runKiln(['compile', '--no-partial-parse'], one, ONE_THREAD)).code).toBe(0);
    const r = await runKiln(['compile', '--no-partial-parse', '--debug'], two, WORKER);
    expect(r.code).toBe(0);
    // owned, required, where_am_i, dim_v1 and dim_v2 were rendered again on the main thread.
    expect(r.stdout).toContain('parse: rendered 17 models, 12 of them on a worker thread');
    expect(r.stdout.split('owner is ').length).toBe(2);
    expect(r.stdout).toContain('owner is alice');
    expect(readFileSync(join(two, 'target/compiled/par/models/required.sql'), 'utf8')).toBe("select 'bob' as owner");
    for (const dir of [one, two]) expect(readFileSync(join(dir, 'target/compiled/par/models/where_am_i.sql'), 'utf8')).toBe("select 'main_custom' as s");
    const nodes = manifestNodes(two);
    expect(nodes).toEqual(manifestNodes(one));
    expect(Object.keys(nodes)).toEqual(expect.arrayContaining(['model.par.dim.v1', 'model.par.dim.v2']));
    expect(nodes['model.par.m05'][1]).toEqual(expect.arrayContaining(['t2', 'from_yaml']));
  });

  it('stops a worker started before the nodes were known after a YAML error', async () => {
    const dir = project({ 'models/schema.yml': 'models:\n  - name: m00\n    columns: [\n' });
    const r = await runKiln(['compile', '--no-partial-parse'], dir, WORKER);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('models/schema.yml');
  });

  it('reports an error from the worker half with its file and line', async () => {
    const dir = project({ 'models/m11.sql': 'select 1\n\n{{ missing_macro() }}' });
    const r = await runKiln(['parse', '--no-partial-parse'], dir, WORKER);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/models\/m11\.sql:3:\d+: Jinja error in model 'm11'/);
  });
});
