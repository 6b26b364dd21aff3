/**
 * Warm runs: the parse snapshot (nodes restored when nothing the parse read changed), the compiled-file
 * index and manifest reuse. Each change a parse could see must invalidate the snapshot, and an output
 * someone else touched must be written again.
 */
import { existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, runKiln } from '../helpers/project.js';

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

  it('is not used with --no-partial-parse', async () => {
    const dir = makeProject(PROJECT);
    await compile(dir);
    const r = await runKiln(['compile', '--debug', '--no-partial-parse'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(RESTORED);
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
