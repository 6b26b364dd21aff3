/** Project loading: the project file, config tree, schema YAML, profiles search and vars. */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KilnError, resolveLocation } from '../../src/errors.js';
import { Diagnostics } from '../../src/project/diagnostics.js';
import { loadProject } from '../../src/project/loadProject.js';
import { ConfigTree, mergeConfig } from '../../src/project/nodeConfig.js';
import { profileSearchPath, resolveTarget } from '../../src/project/profiles.js';
import { loadProjectFile } from '../../src/project/projectFile.js';
import { Vars } from '../../src/project/vars.js';
import { YamlFile } from '../../src/project/yamlFile.js';
import { makeProject } from '../helpers/project.js';
import { thrown } from '../helpers/errors.js';


describe('project file', () => {
  it('prefers kiln_project.yml and falls back to dbt_project.yml', () => {
    const both = makeProject({ 'kiln_project.yml': 'name: kiln_one\n', 'dbt_project.yml': 'name: dbt_one\n' });
    expect(loadProjectFile(both, new Diagnostics(), {}).name).toBe('kiln_one');
    const dbtOnly = makeProject({ 'dbt_project.yml': 'name: dbt_one\n' });
    const pf = loadProjectFile(dbtOnly, new Diagnostics(), {});
    expect(pf.name).toBe('dbt_one');
    expect(pf.file).toBe('dbt_project.yml');
    expect(pf.modelPaths).toEqual(['models']);
    expect(pf.targetPath).toBe('target');
  });

  it('reads older dbt spellings: source-paths, data-paths, modules-path', () => {
    const dir = makeProject({ 'dbt_project.yml': "name: old\nconfig-version: 2\nsource-paths: ['src_models']\ndata-paths: ['data']\nmodules-path: deps\n" });
    const diags = new Diagnostics();
    const pf = loadProjectFile(dir, diags, {});
    expect(pf.modelPaths).toEqual(['src_models']);
    expect(pf.seedPaths).toEqual(['data']);
    expect(pf.packagesInstallPath).toBe('deps');
    expect(diags.warnings).toEqual([]);
  });

  it('renders env_var in the project file and reports a missing one at its line', () => {
    const ok = makeProject({ 'kiln_project.yml': "name: p\ntarget-path: \"{{ env_var('KILN_TEST_TARGET_DIR', 'out') }}\"\n" });
    expect(loadProjectFile(ok, new Diagnostics(), {}).targetPath).toBe('out');
    const bad = makeProject({ 'kiln_project.yml': "name: p\n\ntarget-path: \"{{ env_var('KILN_TEST_SURELY_UNSET') }}\"\n" });
    const err = thrown(() => loadProjectFile(bad, new Diagnostics(), {}));
    expect(err.location).toMatchObject({ file: 'kiln_project.yml', line: 3 });
    expect(err.message).toContain("environment variable 'KILN_TEST_SURELY_UNSET' is not set");
  });

  it('rejects a bad project name and a missing name with the location', () => {
    expect(thrown(() => loadProjectFile(makeProject({ 'kiln_project.yml': 'version: 1\n' }), new Diagnostics(), {})).message).toContain("has no 'name'");
    const bad = thrown(() => loadProjectFile(makeProject({ 'kiln_project.yml': 'name: my-project\n' }), new Diagnostics(), {}));
    expect(bad.message).toContain('letters, digits and underscores');
    expect(bad.location?.line).toBe(1);
  });
});

describe('config tree', () => {
  const yaml = YamlFile.parse(
    [
      'models:',
      '  +materialized: view',
      '  shop:',
      '    +tags: [all]',
      '    +meta: {owner: data}',
      '    staging:',
      '      materialized: table', // old style, no +
      '      +tags: staging',
      '      +meta: {tier: 2}',
      '      stg_orders:',
      '        +enabled: false',
      '    marts:',
      '      +persist_docs: {relation: true}',
    ].join('\n'),
    'kiln_project.yml',
  );
  const tree = new ConfigTree((yaml.data as { models: Record<string, unknown> }).models, yaml, ['models']);

  it('merges folder levels: innermost wins, tags append, meta merges', () => {
    expect(tree.resolve(['shop', 'staging', 'stg_orders'])).toEqual({
      materialized: 'table',
      tags: ['all', 'staging'],
      meta: { owner: 'data', tier: 2 },
      enabled: false,
    });
    expect(tree.resolve(['shop', 'marts', 'orders'])).toEqual({
      materialized: 'view',
      tags: ['all'],
      meta: { owner: 'data' },
      persist_docs: { relation: true },
    });
    expect(tree.resolve(['other_pkg', 'x'])).toEqual({ materialized: 'view' });
  });

  it('reports paths that matched nothing, at their line', () => {
    const fresh = new ConfigTree((yaml.data as { models: Record<string, unknown> }).models, yaml, ['models']);
    fresh.resolve(['shop', 'staging', 'stg_customers']);
    const diags = new Diagnostics();
    fresh.reportUnused(diags, 'models');
    expect(diags.warnings.map((w) => [w.message, w.location?.line])).toEqual([
      ["configuration path 'models.shop.staging.stg_orders' does not apply to any resource", 10],
      ["configuration path 'models.shop.marts' does not apply to any resource", 12],
    ]);
  });

  it('mergeConfig normalizes pre_hook to pre-hook and appends hooks', () => {
    expect(mergeConfig({ 'pre-hook': ['a'] }, { pre_hook: 'b', post_hook: ['c'] })).toEqual({ 'pre-hook': ['a', 'b'], 'post-hook': ['c'] });
  });
});

describe('schema YAML and sources', () => {
  it('loads models, columns, tests in both spellings, and sources with defaults', () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/orders.sql': 'select 1',
      'models/schema.yml': [
        'version: 2',
        'models:',
        '  - name: orders',
        '    description: Orders.',
        '    config: {materialized: table, tags: [x]}',
        '    columns:',
        '      - name: id',
        '        data_type: integer',
        '        tests: [unique]',
        '        data_tests: [not_null]',
        'sources:',
        '  - name: raw',
        '    database: lake',
        '    loaded_at_field: _loaded',
        '    tables:',
        '      - name: orders',
        '      - name: people',
        '        identifier: persons',
        '        schema: ignored_here',
      ].join('\n'),
    });
    const project = loadProject({ projectDir: dir });
    const patch = project.patches.get('models:shop:orders')!;
    expect(patch.config).toEqual({ materialized: 'table', tags: ['x'] });
    expect(patch.columns[0]).toMatchObject({ name: 'id', dataType: 'integer', tests: ['not_null', 'unique'] });
    expect(resolveLocation(patch.location)).toEqual({ file: 'models/schema.yml', line: 3, column: 5 });
    expect(project.sources.map((s) => [s.sourceName, s.name, s.database, s.schema, s.identifier, s.loadedAtField])).toEqual([
      ['raw', 'orders', 'lake', 'raw', 'orders', '_loaded'],
      ['raw', 'people', 'lake', 'raw', 'persons', '_loaded'],
    ]);
    expect(project.diagnostics.warnings.map((w) => w.message)).toEqual(["unknown key 'schema' in source table 'raw.people'; it is ignored"]);
  });

  it('a model described twice is an error naming both places', () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/a.yml': 'version: 2\nmodels:\n  - name: orders\n',
      'models/b.yml': 'version: 2\nmodels:\n  - name: orders\n',
    });
    // Schema YAML is interpreted on first use (a restored parse never needs it).
    const err = thrown(() => loadProject({ projectDir: dir }).patches);
    expect(err.format()).toContain("models/b.yml:3:5: model 'orders' is described twice");
    expect(err.hint).toContain('models/a.yml:3');
  });

  it('renders var() in source fields', () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\nvars:\n  raw_schema: landing\n',
      'models/s.yml': "version: 2\nsources:\n  - name: raw\n    schema: \"{{ var('raw_schema') }}\"\n    tables: [{name: t}]\n",
    });
    expect(loadProject({ projectDir: dir }).sources[0].schema).toBe('landing');
  });
});

describe('profiles.yml', () => {
  const home = mkdtempSync(join(tmpdir(), 'kiln-home-'));

  it('searches --profiles-dir, KILN_PROFILES_DIR, DBT_PROFILES_DIR, the project, ~/.kiln, ~/.dbt in that order', () => {
    expect(profileSearchPath({ projectDir: '/p', env: { KILN_PROFILES_DIR: '/k', DBT_PROFILES_DIR: '/d' }, home }).map((d) => d.dir)).toEqual([
      '/k', '/d', '/p', join(home, '.kiln'), join(home, '.dbt'),
    ]);
    expect(profileSearchPath({ projectDir: '/p', profilesDir: '/explicit', env: { KILN_PROFILES_DIR: '/k' }, home }).map((d) => d.dir)).toEqual(['/explicit']);
  });

  it('takes the first profiles.yml found and renders env_var in it', () => {
    const project = makeProject({ 'profiles.yml': "shop:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: \"{{ env_var('X_PATH') }}\", threads: \"{{ env_var('X_THREADS') }}\"}\n" });
    mkdirSync(join(home, '.dbt'), { recursive: true });
    writeFileSync(join(home, '.dbt', 'profiles.yml'), 'shop:\n  outputs:\n    dev: {type: postgres}\n');
    const t = resolveTarget({ projectDir: project, profileName: 'shop', cliVars: {}, env: { X_PATH: 'a.duckdb', X_THREADS: '8' }, home });
    expect(t).toMatchObject({ type: 'duckdb', targetName: 'dev', fields: { type: 'duckdb', path: 'a.duckdb', threads: 8 } });
  });

  it('falls back to the embedded DuckDB default when there is no profiles.yml at all', () => {
    const project = makeProject({ 'kiln_project.yml': 'name: x\n' });
    const emptyHome = mkdtempSync(join(tmpdir(), 'kiln-home-'));
    const t = resolveTarget({ projectDir: project, profileName: 'x', cliVars: {}, env: {}, home: emptyHome });
    expect(t).toMatchObject({ type: 'duckdb', targetName: 'dev' });
    expect(t.file).toBeUndefined();
  });

  it('--profiles-dir without a profiles.yml is an error', () => {
    const err = thrown(() => resolveTarget({ projectDir: '/nowhere', profilesDir: tmpdir(), profileName: 'x', cliVars: {}, env: {}, home }));
    expect(err.message).toContain('no profiles.yml in');
  });
});

describe('vars', () => {
  it('resolves --vars over package-scoped over global project vars, else the default, else an error', () => {
    const vars = new Vars({ cli: 'c' }, { global: 'g', cli: 'project', shop: { scoped: 's', global: 'scoped wins' } }, new Set(['shop']));
    expect(vars.get('cli', 'shop')).toBe('c');
    expect(vars.get('global', 'shop')).toBe('scoped wins');
    expect(vars.get('global', 'other')).toBe('g');
    expect(vars.get('scoped', 'shop')).toBe('s');
    expect(vars.get('nope', 'shop', 'd')).toBe('d');
    expect(vars.get('nope', 'shop', null, true)).toBe(null);
    expect(thrown(() => vars.get('nope', 'shop')).message).toBe("required var 'nope' is not set");
  });
});

describe('profiles.yml, missing', () => {
  it('a --target other than dev with no profiles.yml is an error, not the embedded DuckDB', () => {
    const project = makeProject({ 'kiln_project.yml': 'name: x\n' });
    const home = mkdtempSync(join(tmpdir(), 'kiln-home-'));
    const err = thrown(() => resolveTarget({ projectDir: project, profileName: 'x', targetName: 'prod', cliVars: {}, env: {}, home }));
    expect(err.message).toBe("no profiles.yml was found, so target 'prod' cannot be resolved");
    expect(resolveTarget({ projectDir: project, profileName: 'x', targetName: 'dev', cliVars: {}, env: {}, home }).type).toBe('duckdb');
  });
});
