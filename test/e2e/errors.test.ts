/**
 * Bad input through the real CLI: every user mistake names the file (and line), says what to do, and exits
 * with the documented code (2 for config/compile, 1 for failures while running). No stack traces.
 */
import { describe, expect, it } from 'vitest';
import { makeProject, runKiln } from '../helpers/project.js';

const PROJECT = `name: shop\nprofile: shop\n`;

function noStack(text: string) {
  expect(text).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
}

describe('user errors', () => {
  it('invalid YAML in a schema file names the file and line', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/a.sql': 'select 1 as id',
      'models/schema.yml': 'version: 2\nmodels:\n  - name: a\n    description: "unterminated\n',
    });
    const r = await runKiln(['parse'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/models\/schema\.yml:\d+:\d+: invalid YAML: Missing closing "quote/);
    noStack(r.stderr);
  });

  it('invalid YAML in the project file names it', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\nmodels:\n  shop:\n   +materialized: [table\n' });
    const r = await runKiln(['parse'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/kiln_project\.yml:\d+:\d+: invalid YAML/);
  });

  it('a wrong type in YAML is an error at its line', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/a.sql': 'select 1 as id',
      'models/schema.yml': 'version: 2\nmodels:\n  - name: a\n    config:\n      enabled: maybe\n',
    });
    const r = await runKiln(['parse'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/schema.yml:5:16: 'enabled' must be a boolean, not a string");
  });

  it('an unknown ref names the file and line and suggests a close name', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/orders.sql': 'select 1 as id',
      'models/report.sql': '-- report\nselect *\nfrom {{ ref("order") }}',
    });
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/report.sql:3: model 'report' refers to 'order', which is not a model or seed in this project");
    expect(r.stderr).toContain("Did you mean 'orders'?");
    noStack(r.stderr);
  });

  it('a cycle prints the path with files', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/a.sql': "select * from {{ ref('c') }}",
      'models/b.sql': "select * from {{ ref('a') }}",
      'models/c.sql': "select * from {{ ref('b') }}",
    });
    const r = await runKiln(['build'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('dependency cycle: a -> b -> c -> a');
    expect(r.stderr).toContain('a: models/a.sql');
    expect(r.stderr).toContain('c: models/c.sql');
  });

  it('a Jinja syntax error names the model file and template line', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/a.sql': 'select 1 as id\n{% if true %}\n, 2 as two\n',
    });
    const r = await runKiln(['compile'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/models\/a\.sql(:\d+)*: Jinja error in model 'a'/);
    expect(r.stderr).toContain('{% endif %}');
  });

  it('a Jinja render error names the line', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/a.sql': 'select 1 as id\n\n  , {{ no_such_macro() }} as x\n',
    });
    const r = await runKiln(['compile'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/models\/a\.sql:3:\d+: Jinja error in model 'a'/);
    expect(r.stderr).toContain("'no_such_macro' is not a macro or function here");
  });

  it('raise_compiler_error stops with the message', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/a.sql': "select 1\n{{ exceptions.raise_compiler_error('set var x first') }}",
    });
    const r = await runKiln(['parse'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/models\/a\.sql:2: set var x first/);
  });

  it('a SQL error from DuckDB fails the model with exit 1, naming model, compiled file and line', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/good.sql': 'select 1 as id',
      'models/bad.sql': "select id,\n  missing_column\nfrom {{ ref('good') }}",
    });
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/PASS=1 WARN=0 ERROR=1 SKIP=0 TOTAL=2/);
    expect(r.stderr).toContain('Error in model bad (models/bad.sql)');
    expect(r.stderr).toMatch(/target\/compiled\/shop\/models\/bad\.sql:2: model 'bad' failed in duckdb: Binder Error: Referenced column "missing_column" not found/);
    noStack(r.stderr);
  });

  it('a missing profile names profiles.yml and the profiles there', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\nprofile: warehouse\n',
      'models/a.sql': 'select 1 as id',
      'profiles.yml': 'analytics:\n  target: dev\n  outputs:\n    dev: {type: duckdb}\n',
    });
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("profiles.yml:1:1: profile 'warehouse' is not in profiles.yml");
    expect(r.stderr).toContain('Profiles there: analytics');
  });

  it('an unknown target lists the targets', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/a.sql': 'select 1 as id',
      'profiles.yml': 'shop:\n  target: dev\n  outputs:\n    dev: {type: duckdb}\n    prod: {type: duckdb}\n',
    });
    const r = await runKiln(['run', '--target', 'prd'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("target 'prd' is not in profile 'shop'");
    expect(r.stderr).toContain("Did you mean 'prod'?");
  });

  it('no project file is a usage error', async () => {
    const dir = makeProject({ 'README.md': 'nothing here' });
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no kiln_project.yml or dbt_project.yml');
  });

  it('bad CLI usage exits 2', async () => {
    const dir = makeProject({ 'kiln_project.yml': PROJECT });
    expect((await runKiln(['frobnicate'], dir)).code).toBe(2);
    expect((await runKiln(['run', '--threads', 'zero'], dir)).code).toBe(2);
    const badVars = await runKiln(['run', '--vars', '[1, 2]'], dir);
    expect(badVars.code).toBe(2);
    expect(badVars.stderr).toContain('--vars must be a mapping');
  });

  it('an unknown selector method suggests the right one', async () => {
    const dir = makeProject({ 'kiln_project.yml': PROJECT, 'models/a.sql': 'select 1 as id' });
    const r = await runKiln(['ls', '-s', 'tags:nightly'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown selection method 'tags'");
    expect(r.stderr).toContain("Did you mean 'tag'?");
  });

  it('unknown YAML keys and misspelled configs are warnings with file:line, not errors', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\nmodels:\n  shop:\n    +materialised: table\n    stagin:\n      +materialized: view\n',
      'models/staging/a.sql': 'select 1 as id',
      'models/schema.yml': 'version: 2\nmodels:\n  - name: a\n    descripton: typo\n  - name: ghost\n',
    });
    const r = await runKiln(['parse'], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("models/schema.yml:4:5: unknown key 'descripton' in model 'a'; it is ignored");
    expect(r.stderr).toContain("Did you mean 'description'?");
    expect(r.stderr).toContain("kiln_project.yml:4:5: config 'materialised' is not a known config");
    expect(r.stderr).toContain("kiln_project.yml:5:5: configuration path 'models.shop.stagin' does not apply to any resource");
    expect(r.stderr).toContain("models/schema.yml:5:5: model 'ghost' is described in YAML but has no file");
  });
});

describe('more user errors', () => {
  it('return() outside a macro, and a broken on-run-start hook, say what and where', async () => {
    const model = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/a.sql': 'select 1 {{ return(5) }}' });
    const r1 = await runKiln(['parse'], model);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain('models/a.sql:1: return() can only be used inside a {% macro %}');
    const hook = makeProject({ 'kiln_project.yml': "name: shop\non-run-start:\n  - 'select 1'\n  - 'select {{ 1 + }}'\n", 'models/a.sql': 'select 1 as id' });
    const r2 = await runKiln(['run'], hook);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('kiln_project.yml:4:5: Jinja error in on-run-start hook 2');
  });
});

describe('errors raised inside macros', () => {
  it('name the macro and its file as well as the model line that called it', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'macros/m.sql': '{% macro outer(x) %}{{ inner(x) }}{% endmacro %}\n\n{% macro inner(x) %}\n{{ exceptions.raise_compiler_error("inner needs a list, got " ~ x) }}\n{% endmacro %}\n',
      'models/a.sql': 'select 1\n, {{ outer(1) }}\n',
    });
    const r = await runKiln(['parse'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('models/a.sql:2: inner needs a list, got 1');
    expect(r.stderr).toContain("It happened inside macro 'inner' (macros/m.sql:3).");
  });
});

describe('kiln compile with several broken models', () => {
  it('compiles the rest and reports every failure', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/a_bad.sql': "{% if execute %}{{ run_query('select * from nowhere') }}{% endif %}select 1",
      'models/b_good.sql': 'select 2 as x',
      'models/c_bad.sql': "{% if execute %}{{ exceptions.raise_compiler_error('c is broken') }}{% endif %}select 3",
    });
    const r = await runKiln(['compile'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Jinja error in model 'a_bad'");
    expect(r.stderr).toContain('models/c_bad.sql:1: c is broken');
    const { existsSync } = await import('node:fs');
    const { join } = await import('node:path');
    expect(existsSync(join(dir, 'target/compiled/shop/models/b_good.sql'))).toBe(true);
  });
});

describe('name clashes', () => {
  it('two models with one name in different folders is an error naming both files', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/a/x.sql': 'select 1', 'models/b/x.sql': 'select 2' });
    const r = await runKiln(['parse'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/b/x.sql: two resources are named 'x': models/a/x.sql and models/b/x.sql");
  });
});

describe('secrets', () => {
  it('refuses a DBT_ENV_SECRET_ variable in a model, so its value is never written to target/', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/m.sql': "select 1 as a,\n  '{{ env_var(\"DBT_ENV_SECRET_TOKEN\") }}' as t\n",
    });
    const r = await runKiln(['compile'], dir, { DBT_ENV_SECRET_TOKEN: 'hunter2-secret' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/m.sql:2: env_var('DBT_ENV_SECRET_TOKEN') is a secret, which only profiles.yml may read");
    expect(r.stdout + r.stderr).not.toContain('hunter2-secret');
  });
});
