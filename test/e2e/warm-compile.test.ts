/**
 * Warm runs: the parse snapshot (nodes restored when nothing the parse read changed), the compiled-file
 * index and manifest reuse. Each change a parse could see must invalidate the snapshot, and an output
 * someone else touched must be written again.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, queryDuckdb, runKiln } from '../helpers/project.js';

const RESTORED = 'nodes restored from the parse snapshot';

const PROJECT = {
  'kiln_project.yml': "name: shop\nmodels:\n  shop:\n    +schema: \"{{ env_var('TREE_SCHEMA', 'tree') }}\"\n",
  'models/a.sql': "select 1 as id, '{{ env_var('REGION', 'eu') }}' as region",
  'models/b.sql': "select * from {{ ref('a') }}",
  'models/c.sql': 'select 3 as id',
  'models/schema.yml': [
    'version: 2',
    'models:',
    '  - name: b',
    '    description: first words',
    '    columns: [{name: id, data_tests: [not_null]}]',
    'unit_tests:',
    '  - name: passes_rows',
    '    model: b',
    '    given:',
    "      - input: ref('a')",
    '        format: csv',
    '        fixture: a_rows',
    '    expect: {rows: [{id: 1}]}',
    '',
  ].join('\n'),
  'tests/fixtures/a_rows.csv': 'id,region\n1,eu\n',
};

const manifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'target/manifest.json'), 'utf8'));
const compiledA = (dir: string) => readFileSync(join(dir, 'target/compiled/shop/models/a.sql'), 'utf8');

async function compile(dir: string, env: Record<string, string> = {}) {
  const r = await runKiln(['compile', '--debug'], dir, env);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

describe('parse snapshot', () => {
  it('restores the nodes only while nothing the parse read has changed', async () => {
    const dir = makeProject(PROJECT);
    expect(await compile(dir)).not.toContain(RESTORED);
    expect(await compile(dir)).toContain(RESTORED);

    // An env var a model read.
    expect(await compile(dir, { REGION: 'us' })).not.toContain(RESTORED);
    expect(compiledA(dir)).toContain("'us' as region");
    expect(await compile(dir, { REGION: 'us' })).toContain(RESTORED);

    // An env var the project file's config tree read (rendered at parse time).
    expect(await compile(dir, { REGION: 'us', TREE_SCHEMA: 'other' })).not.toContain(RESTORED);
    expect(manifest(dir).nodes['model.shop.a'].schema).toBe('main_other');

    // A schema YAML file.
    writeFileSync(join(dir, 'models/schema.yml'), PROJECT['models/schema.yml'].replace('first words', 'second words'));
    expect(await compile(dir, { REGION: 'us', TREE_SCHEMA: 'other' })).not.toContain(RESTORED);
    expect(manifest(dir).nodes['model.shop.b'].description).toBe('second words');

    // A unit test fixture, read at parse time.
    writeFileSync(join(dir, 'tests/fixtures/a_rows.csv'), 'id,region\n7,eu\n');
    expect(await compile(dir, { REGION: 'us', TREE_SCHEMA: 'other' })).not.toContain(RESTORED);
    const unit = Object.values(manifest(dir).unit_tests as Record<string, { given: { rows: unknown } []}>)[0];
    expect(JSON.stringify(unit.given)).toContain('7');

    // A removed model is gone, not restored.
    unlinkSync(join(dir, 'models/c.sql'));
    expect(await compile(dir, { REGION: 'us', TREE_SCHEMA: 'other' })).not.toContain(RESTORED);
    expect(manifest(dir).nodes['model.shop.c']).toBeUndefined();
    expect(manifest(dir).nodes['model.shop.b']).toBeDefined();
  });

  it('keys --threads only when a template read target', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/a.sql': 'select 1 as id' });
    await compile(dir);
    expect((await runKiln(['compile', '--debug', '--threads', '2'], dir)).stdout).toContain(RESTORED);
    writeFileSync(join(dir, 'models/b.sql'), "select {{ target.threads }} as threads");
    await compile(dir);
    expect((await runKiln(['compile', '--debug', '--threads', '3'], dir)).stdout).not.toContain(RESTORED);
    expect(readFileSync(join(dir, 'target/compiled/shop/models/b.sql'), 'utf8')).toContain('select 3 as threads');
  });

  it('is not used with --no-partial-parse', async () => {
    const dir = makeProject(PROJECT);
    await compile(dir);
    const r = await runKiln(['compile', '--debug', '--no-partial-parse'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(RESTORED);
  });
});

describe('schema YAML cache', () => {
  it('finds YAML lines in the project where it is now, after target/ was copied with it', async () => {
    const files = {
      'kiln_project.yml': 'name: mv\n',
      'models/a.sql': 'select 1 as id',
      'models/schema.yml': 'models:\n  - name: a\n    columns:\n      - name: id\n        data_tests: [not_null]\n',
    };
    const first = makeProject(files);
    expect((await runKiln(['compile'], first)).code).toBe(0);
    // A copy elsewhere, target/ and its caches included (as a CI cache restores it); the original is gone.
    const copy = makeProject({});
    cpSync(first, copy, { recursive: true });
    rmSync(first, { recursive: true });
    // A test macro that fails: the error is told at the test's YAML line, read from the cached YAML.
    mkdirSync(join(copy, 'macros'), { recursive: true });
    writeFileSync(join(copy, 'macros', 't.sql'), "{% test not_null(model, column_name) %}{{ exceptions.raise_compiler_error('no nulls today') }}{% endtest %}");
    const r = await runKiln(['compile'], copy);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/schema.yml:5:22: test 'not_null_a_id': no nulls today");
  });

  it('gives back YAML data as written, and keeps no file paths, however often it is saved', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      // A user's `pending:` mapping looks like nothing Kiln writes for itself.
      'models/a.sql': "select '{{ config.get(\"meta\") }}' as m",
      'models/schema.yml': 'models: [{name: a, config: {meta: {pending: {ticket: J-1}}}}]\n',
      'models/b.sql': 'select 1 as id',
      'models/b.yml': 'models: [{name: b}]\n',
    });
    const compiledA = () => readFileSync(join(dir, 'target/compiled/shop/models/a.sql'), 'utf8');
    expect((await runKiln(['compile'], dir)).code).toBe(0);
    expect(compiledA()).toBe("select '{'pending': {'ticket': 'J-1'}}' as m");
    // Another YAML file changes: a whole parse, schema.yml's contents from the cache, the cache saved again.
    writeFileSync(join(dir, 'models/b.yml'), 'models: [{name: b, description: B}]\n');
    expect((await runKiln(['compile'], dir)).code).toBe(0);
    expect(compiledA()).toBe("select '{'pending': {'ticket': 'J-1'}}' as m");
    writeFileSync(join(dir, 'models/b.yml'), 'models: [{name: b, description: C}]\n');
    expect((await runKiln(['compile'], dir)).code).toBe(0);
    expect(readFileSync(join(dir, 'target/kiln_yaml_cache.json'), 'utf8')).not.toContain('absPath');
  });
});

describe('warm outputs', () => {
  it('rewrites a compiled file or manifest someone else changed, and always writes fresh manifest metadata', async () => {
    const dir = makeProject(PROJECT);
    await compile(dir);
    const first = manifest(dir);
    await compile(dir);
    const second = manifest(dir);
    // Reused entries, new metadata.
    expect(second.metadata.invocation_id).not.toBe(first.metadata.invocation_id);
    expect(second.nodes).toEqual(first.nodes);
    expect(second.parent_map).toEqual(first.parent_map);

    // A deleted compiled file (its folder changed) is written again.
    unlinkSync(join(dir, 'target/compiled/shop/models/a.sql'));
    await compile(dir);
    expect(compiledA(dir)).toContain("'eu' as region");

    // In a folder that changed (b.sql removed), each file is checked by its own stat: a.sql, overwritten
    // by another program, is written again.
    rmSync(join(dir, 'target/compiled/shop/models/b.sql'));
    writeFileSync(join(dir, 'target/compiled/shop/models/a.sql'), 'garbage');
    await compile(dir);
    expect(compiledA(dir)).toContain("'eu' as region");
    expect(existsSync(join(dir, 'target/compiled/shop/models/b.sql'))).toBe(true);

    // A manifest edited by someone else is written whole again.
    writeFileSync(join(dir, 'target/manifest.json'), JSON.stringify({ metadata: {}, nodes: {} }));
    await compile(dir);
    expect(Object.keys(manifest(dir).nodes)).toContain('model.shop.b');
  });
});

describe('a compile of the same parse as the last one', () => {
  const SAME = 'the same parse as the last compile';

  it('does nothing while the compiled files and manifest are as that compile left them', async () => {
    const dir = makeProject(PROJECT);
    expect(await compile(dir)).not.toContain(SAME);
    const manifestBefore = manifest(dir);
    expect(await compile(dir)).toContain(SAME);
    expect(manifest(dir).nodes).toEqual(manifestBefore.nodes);
    expect(manifest(dir).metadata.invocation_id).not.toBe(manifestBefore.metadata.invocation_id);

    // A compiled file removed, or the manifest changed, by someone else: compiled and written again.
    unlinkSync(join(dir, 'target/compiled/shop/models/a.sql'));
    expect(await compile(dir)).not.toContain(SAME);
    expect(compiledA(dir)).toContain("'eu' as region");
    expect(await compile(dir)).toContain(SAME);
    writeFileSync(join(dir, 'target/manifest.json'), '{}');
    expect(await compile(dir)).not.toContain(SAME);
    expect(manifest(dir).nodes['model.shop.a']).toBeDefined();

    // Another selection, or another value of an env var the parse read, is another compile.
    const selected = await runKiln(['compile', '--debug', '-s', 'a'], dir);
    expect(selected.stdout).not.toContain(SAME);
    expect((await runKiln(['compile', '--debug', '-s', 'a'], dir)).stdout).toContain(SAME);
    expect(await compile(dir)).not.toContain(SAME);
    expect(await compile(dir, { REGION: 'us' })).not.toContain(SAME);
    expect(compiledA(dir)).toContain("'us' as region");
  });

  it('is not vouched for by a folder another command found changed and recorded again', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/a.sql': 'select 1 as id', 'models/b.sql': "select * from {{ ref('a') }}" });
    await compile(dir);
    unlinkSync(join(dir, 'target/compiled/shop/models/b.sql'));
    // `kiln show` compiles a (in the same folder) and writes nothing, but records the folder's new stat.
    expect((await runKiln(['show', '-s', 'a'], dir)).code).toBe(0);
    expect(await compile(dir)).not.toContain(SAME);
    expect(readFileSync(join(dir, 'target/compiled/shop/models/b.sql'), 'utf8')).toBe('select * from "shop"."main"."a"');
  });

  it('renders again what renders at compile time, and compiles everything when that changed', async () => {
    // The env var is read only at compile time (execute is false while parsing): not part of the parse.
    const c = "{% if execute %}select '{{ env_var('AT_COMPILE', 'one') }}' as v{% else %}select 0 as v{% endif %}";
    const dir = makeProject({ ...PROJECT, 'models/c.sql': c });
    const compiledC = () => readFileSync(join(dir, 'target/compiled/shop/models/c.sql'), 'utf8');
    await compile(dir);
    expect(compiledC()).toBe("select 'one' as v");
    expect(await compile(dir)).toContain(SAME);
    expect(await compile(dir, { AT_COMPILE: 'two' })).not.toContain(SAME);
    expect(compiledC()).toBe("select 'two' as v");
    expect(manifest(dir).nodes['model.shop.c'].compiled_code).toBe("select 'two' as v");
    expect(await compile(dir, { AT_COMPILE: 'two' })).toContain(SAME);
  });
});

describe('kiln compile connects on first use', () => {
  it('opens no warehouse for a project that never queries it, and connects for one that does', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/a.sql': 'select 1 as id' });
    await compile(dir);
    expect(existsSync(join(dir, 'target/shop.duckdb'))).toBe(false);
    writeFileSync(join(dir, 'models/q.sql'), "select {% if execute %}{{ run_query('select 41 + 1 as x').columns[0].values()[0] }}{% else %}0{% endif %} as answer");
    await compile(dir);
    expect(readFileSync(join(dir, 'target/compiled/shop/models/q.sql'), 'utf8')).toContain('select 42 as answer');
    expect(existsSync(join(dir, 'target/shop.duckdb'))).toBe(true);
  });
});

const PARTIAL = 'changed model file(s) parsed again over the parse snapshot';

describe('partial parse (only model files changed)', () => {
  const files = {
    'kiln_project.yml': 'name: shop\n',
    'models/a.sql': 'select 1 as id',
    'models/b.sql': "select * from {{ ref('a') }}",
    'models/c.sql': 'select 3 as id',
    'models/d.sql': "select * from {{ ref('b') }}",
    'models/schema.yml': [
      'version: 2',
      'models:',
      "  - name: b",
      "    config: {tags: [\"{{ env_var('B_TAG', 'plain') }}\"]}",
      '    columns: [{name: id, data_tests: [unique]}]',
      'unit_tests:',
      '  - name: d_passes',
      '    model: d',
      "    given: [{input: ref('b'), rows: [{id: 1}]}]",
      '    expect: {rows: [{id: 1}]}',
      '',
    ].join('\n'),
  };
  const compiled = (dir: string, m: string) => readFileSync(join(dir, `target/compiled/shop/models/${m}.sql`), 'utf8');

  it('parses again only the edited files, and the graph, compiled SQL and manifest follow', async () => {
    const dir = makeProject(files);
    await compile(dir);
    // b now reads c instead of a: its edges, its unit test's edges and the parent/child maps change.
    writeFileSync(join(dir, 'models/b.sql'), "select * from {{ ref('c') }}");
    expect(await compile(dir)).toContain(`1 ${PARTIAL}`);
    const m = manifest(dir);
    expect(m.nodes['model.shop.b'].depends_on.nodes).toEqual(['model.shop.c']);
    expect(m.nodes['model.shop.b'].raw_code).toContain("ref('c')");
    expect(m.parent_map['model.shop.b']).toEqual(['model.shop.c']);
    expect(m.child_map['model.shop.a']).toEqual([]);
    expect(compiled(dir, 'b')).toContain('"shop"."main"."c"');

    // An alias on c renames what b reads: b's compiled SQL and manifest entry follow, though b.sql did not change.
    writeFileSync(join(dir, 'models/c.sql'), "{{ config(alias='c_renamed') }}select 3 as id");
    expect(await compile(dir)).toContain(`1 ${PARTIAL}`);
    expect(compiled(dir, 'b')).toContain('"shop"."main"."c_renamed"');
    expect(manifest(dir).nodes['model.shop.b'].compiled_code).toContain('c_renamed');

    // Nothing changed since: restored whole (the base snapshot and its delta).
    expect(await compile(dir)).toContain(RESTORED);

    // The same as a whole parse would make.
    const partial = manifest(dir);
    await runKiln(['compile', '--no-partial-parse'], dir);
    const whole = manifest(dir);
    for (const id of Object.keys(whole.nodes)) {
      const { created_at: _a, ...w } = whole.nodes[id];
      const { created_at: _b, ...p } = partial.nodes[id];
      expect(p).toEqual(w);
    }
    expect(partial.parent_map).toEqual(whole.parent_map);
  });

  it('reports errors in the edited file as a whole parse does, and falls back to one when a model is disabled', async () => {
    const dir = makeProject(files);
    await compile(dir);
    writeFileSync(join(dir, 'models/c.sql'), "select * from {{ ref('nope') }}");
    const unknown = await runKiln(['compile'], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('models/c.sql:1');
    expect(unknown.stderr).toContain("refers to 'nope'");

    writeFileSync(join(dir, 'models/a.sql'), "select * from {{ ref('d') }}");
    writeFileSync(join(dir, 'models/c.sql'), 'select 3 as id');
    const cycle = await runKiln(['compile'], dir);
    expect(cycle.code).toBe(2);
    expect(cycle.stderr).toContain('dependency cycle');

    writeFileSync(join(dir, 'models/a.sql'), 'select 1 as id');
    writeFileSync(join(dir, 'models/c.sql'), "{{ config(alias='a') }}select 3 as id");
    const clash = await runKiln(['compile'], dir);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain('would both build main.a');

    writeFileSync(join(dir, 'models/c.sql'), 'select 3 as id');
    await compile(dir);
    // d has a unit test, whose inputs must be what d reads: a whole parse checks that.
    writeFileSync(join(dir, 'models/d.sql'), "select * from {{ ref('c') }}");
    const unitInput = await runKiln(['compile', '--debug'], dir);
    expect(unitInput.stdout).not.toContain(PARTIAL);
    expect(unitInput.code).toBe(2);
    expect(unitInput.stderr).toContain("gives ref('b'), which model 'd' does not read");

    writeFileSync(join(dir, 'models/d.sql'), "select * from {{ ref('b') }}");
    await compile(dir);
    writeFileSync(join(dir, 'models/c.sql'), "{{ config(enabled=false) }}select 3 as id");
    const out = await compile(dir);
    expect(out).not.toContain(PARTIAL);
    expect(manifest(dir).nodes['model.shop.c']).toBeUndefined();
  });

  it('writes fresh manifest entries when an env var the parse read changes, even if no SQL does', async () => {
    const dir = makeProject(files);
    await compile(dir);
    expect(manifest(dir).nodes['model.shop.b'].tags).toEqual(['plain']);
    await compile(dir, { B_TAG: 'from_env' });
    expect(manifest(dir).nodes['model.shop.b'].tags).toEqual(['from_env']);
  });
});

/** `n` models in two folders, each with a not_null test: 2n compiled files, enough for the writer thread. */
function manyModels(n: number): Record<string, string> {
  const files: Record<string, string> = { 'kiln_project.yml': 'name: shop\n' };
  const yaml = ['version: 2', 'models:'];
  for (let i = 0; i < n; i++) {
    files[`models/${i % 2 ? 'odd' : 'even'}/m${i}.sql`] = i === 0 ? 'select 1 as id' : `select id + ${i} as id from {{ ref('m${i - 1}') }}`;
    yaml.push(`  - name: m${i}`, '    columns: [{name: id, data_tests: [not_null]}]');
  }
  files['models/schema.yml'] = `${yaml.join('\n')}\n`;
  return files;
}

describe('compiled files', () => {
  it('fail the command with the folder named and a hint when they cannot be written', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/a.sql': 'select 1 as id', 'target/compiled/shop': 'not a folder' });
    const r = await runKiln(['compile'], dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('could not write compiled SQL under target/compiled');
    expect(r.stderr).toContain('writable');
  });

  it('are written on the writer thread for a large project, and only changed ones again', async () => {
    const dir = makeProject(manyModels(400));
    await compile(dir);
    const file = (rel: string) => join(dir, 'target/compiled/shop/models', rel);
    expect(readFileSync(file('odd/m399.sql'), 'utf8')).toBe('select id + 399 as id from "shop"."main"."m398"');
    expect(readFileSync(file('schema.yml/not_null_m0_id.sql'), 'utf8')).toContain('from "shop"."main"."m0"');
    const compiledFiles = readdirSync(file('even')).length + readdirSync(file('odd')).length + readdirSync(file('schema.yml')).length;
    expect(compiledFiles).toBe(800);

    // Nothing changed: nothing is written. One model changed: its file and its test's are.
    const before = statSync(file('even/m0.sql')).mtimeMs;
    writeFileSync(join(dir, 'models/odd/m1.sql'), "select id + 1000 as id from {{ ref('m0') }}");
    await compile(dir);
    expect(statSync(file('even/m0.sql')).mtimeMs).toBe(before);
    expect(readFileSync(file('odd/m1.sql'), 'utf8')).toBe('select id + 1000 as id from "shop"."main"."m0"');

    // A compiled file deleted by someone else is written again, the writer thread's record being the index's.
    unlinkSync(file('schema.yml/not_null_m7_id.sql'));
    await compile(dir);
    expect(existsSync(file('schema.yml/not_null_m7_id.sql'))).toBe(true);
  });

  it('that fail to write on the writer thread fail the command too', async () => {
    const dir = makeProject({ ...manyModels(300), 'target/compiled/shop/models/odd': 'not a folder' });
    const r = await runKiln(['compile'], dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('could not write compiled SQL under target/compiled');
    // The other folders were still written.
    expect(existsSync(join(dir, 'target/compiled/shop/models/even/m0.sql'))).toBe(true);
  });
});

describe('what a cached parse must not freeze', () => {
  it('what a template changes while compiling (the parse state is saved before such renders)', async () => {
    const dir = makeProject({
      'kiln_project.yml': "name: shop\nmodels:\n  shop:\n    +tags: ['base']\n",
      'models/a.sql': "{% if execute %}{% do config.get('tags').append('exec_tag') %}{% endif %}\nselect 1 as x",
    });
    await compile(dir);
    const parse = await runKiln(['parse'], dir);
    expect(parse.code).toBe(0);
    expect(manifest(dir).nodes['model.shop.a'].tags).toEqual(['base']);
    expect((await runKiln(['ls', '--select', 'tag:exec_tag'], dir)).stdout).not.toContain('shop.a');
  });

  it('a list read through config.get and changed in place, which must not reach other nodes', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/a.sql': "{% do config.get('tags').append('leaked') %}{% do model.config.meta.update({'k': 1}) %}select 1 as x",
      'models/b.sql': 'select 2 as y',
      'models/c.sql': "{{ config(tags=['own']) }}select '{{ config.get('tags') | join(',') }}' as t",
    });
    await compile(dir);
    const nodes = manifest(dir).nodes;
    for (const id of ['model.shop.a', 'model.shop.b']) expect(nodes[id].tags).toEqual([]);
    expect(nodes['model.shop.b'].meta).toEqual({});
    expect(nodes['model.shop.c'].tags).toEqual(['own']);
    expect(readFileSync(join(dir, 'target/compiled/shop/models/c.sql'), 'utf8')).toBe("select 'own' as t");
  });

  it('flags, as the command that runs sees them', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/a.sql': "select '{{ flags.WHICH }}' as which, {{ flags.FULL_REFRESH }} as full_refresh",
      'models/schema.yml': 'version: 2\nmodels:\n  - name: a\n    columns: [{name: which, data_tests: [not_null]}]\n',
    });
    await compile(dir);
    expect(compiledA(dir)).toContain("'compile' as which, False as full_refresh");
    expect((await runKiln(['run', '--full-refresh'], dir)).code).toBe(0);
    expect(readFileSync(join(dir, 'target/run/shop/models/a.sql'), 'utf8')).toContain("'run' as which, True as full_refresh");
    // not_null selects whole rows when failures are stored; the compiled test follows --store-failures.
    const test = (await runKiln(['test', '--store-failures', '--debug'], dir));
    expect(test.code).toBe(0);
    expect(test.stdout).not.toContain(RESTORED);
    const compiledTest = readFileSync(join(dir, 'target/compiled/shop/models/schema.yml/not_null_a_which.sql'), 'utf8');
    expect(compiledTest).toMatch(/select \*\s+from/);
  });

  it('the time a template reads through modules, in the model or in a macro it calls', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'macros/stamp.sql': "{% macro stamp() %}{{ modules.datetime.datetime.now().isoformat() }}{% endmacro %}",
      'models/a.sql': "select '{{ modules.datetime.datetime.now().isoformat() }}' as t",
      'models/b.sql': "select '{{ stamp() }}' as t",
    });
    const read = (m: string) => readFileSync(join(dir, `target/compiled/shop/models/${m}.sql`), 'utf8');
    await compile(dir);
    const first = [read('a'), read('b')];
    await new Promise((r) => setTimeout(r, 20));
    expect(await compile(dir)).toContain(RESTORED);
    expect(read('a')).not.toBe(first[0]);
    expect(read('b')).not.toBe(first[1]);
  });

  it('load-time warnings (a Python model file) come from the load, not the snapshot', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/a.sql': 'select 1 as id' });
    await compile(dir);
    writeFileSync(join(dir, 'models/p.py'), 'def model(dbt, session): pass\n');
    const r = await runKiln(['compile', '--debug'], dir);
    expect(r.stdout).toContain(RESTORED);
    expect(r.stdout + r.stderr).toContain('Python models are not supported');
    unlinkSync(join(dir, 'models/p.py'));
    const again = await runKiln(['compile'], dir);
    expect(again.stdout + again.stderr).not.toContain('Python models');
  });

  it('flags read by the naming macros, and the invocation start time read by a config', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'macros/naming.sql': "{% macro generate_alias_name(custom, node) %}{{ node.name ~ ('_fr' if flags.FULL_REFRESH else '') }}{% endmacro %}",
      'models/a.sql': 'select 1 as id',
      'models/ev.sql': "{{ config(alias='ev_' ~ run_started_at.strftime('%H%M%S%f')) }}select 1 as id",
    });
    await compile(dir);
    const first = manifest(dir).nodes['model.shop.ev'].alias;
    expect(manifest(dir).nodes['model.shop.a'].alias).toBe('a');
    expect((await runKiln(['run', '--full-refresh'], dir)).code).toBe(0);
    expect(manifest(dir).nodes['model.shop.a'].alias).toBe('a_fr');
    expect(await queryDuckdb(join(dir, 'target/shop.duckdb'), 'select * from main.a_fr')).toEqual([{ id: 1 }]);
    expect(manifest(dir).nodes['model.shop.ev'].alias).not.toBe(first);
    await compile(dir);
    expect(manifest(dir).nodes['model.shop.a'].alias).toBe('a');
  });

  it('unit tests may override invocation_id, as dbt documents', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/src.sql': 'select 1 as id',
      'models/m.sql': "select id, '{{ invocation_id }}' as inv from {{ ref('src') }}",
      'models/unit.yml': [
        'unit_tests:',
        '  - name: fixed_id',
        '    model: m',
        "    given: [{input: ref('src'), rows: [{id: 1}]}]",
        "    overrides: {macros: {invocation_id: 'abc'}}",
        "    expect: {rows: [{id: 1, inv: 'abc'}]}",
        '',
      ].join('\n'),
    });
    const r = await runKiln(['build'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/PASS=3 WARN=0 ERROR=0/);
  });

  it('--no-partial-parse leaves the compiled-file index true to the files it wrote', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/a.sql': 'select 1 as id' });
    await compile(dir);
    writeFileSync(join(dir, 'models/a.sql'), 'select 2 as id');
    expect((await runKiln(['compile', '--no-partial-parse'], dir)).code).toBe(0);
    writeFileSync(join(dir, 'models/a.sql'), 'select 1 as id');
    await compile(dir);
    expect(compiledA(dir)).toContain('select 1 as id');
  });

  it('--no-partial-parse writes every compiled file, even one edited in place', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/a.sql': 'select 1 as id' });
    await compile(dir);
    writeFileSync(join(dir, 'target/compiled/shop/models/a.sql'), 'garbage');
    expect((await runKiln(['compile', '--no-partial-parse'], dir)).code).toBe(0);
    expect(compiledA(dir)).toContain('select 1 as id');
  });
});
