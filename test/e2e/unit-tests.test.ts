/**
 * The unit test engine (dbt 1.8 `unit_tests:`) on DuckDB, through the library until `kiln test` runs them:
 * load the project, build UnitTestNodes from the loader, run executeUnitTest and assert exact outcomes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KilnError, resolveLocation } from '../../src/errors.js';
import { Diagnostics } from '../../src/project/diagnostics.js';
import { isSqlNode, type SqlNode, type UnitTestNode } from '../../src/project/nodes.js';
import { loadUnitTests, parseInput, unitTestNodes } from '../../src/project/unitTests.js';
import type { ExecuteServices } from '../../src/run/executeNode.js';
import { Invocation } from '../../src/run/invocation.js';
import { MemoryReporter } from '../../src/run/reporter.js';
import type { TestOutcome } from '../../src/run/results.js';
import { executeUnitTest } from '../../src/run/unitTest.js';
import { sqlLiteral, sqlStringLiteral } from '../../src/run/unitTestFixtures.js';
import { diffRows } from '../../src/run/unitTestDiff.js';
import { makeProject, runKiln } from '../helpers/project.js';

const BASE = {
  'kiln_project.yml': 'name: shop\n',
  'profiles.yml': 'shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/shop.duckdb\n',
  'models/stg_orders.sql': "select 1 as order_id, 10 as customer_id, cast(12.5 as decimal(6,2)) as amount, 'placed' as status, date '2024-01-01' as ordered_at",
  'models/customers.sql': [
    'select customer_id, count(*) as orders, count(status) as with_status, sum(amount) as total',
    "from {{ ref('stg_orders') }}",
    'group by customer_id',
  ].join('\n'),
};

const open: Invocation[] = [];
afterEach(async () => {
  for (const inv of open.splice(0)) await inv.close();
});

interface Harness {
  dir: string;
  inv: Invocation;
  tests: UnitTestNode[];
  run(name: string): Promise<TestOutcome>;
}

async function load(dir: string): Promise<Harness> {
  const inv = await Invocation.load({
    command: 'test', projectDir: dir, profilesDir: dir, vars: {}, fullRefresh: false, failFast: false, select: [], exclude: [],
    reporter: new MemoryReporter(), partialParse: false,
  });
  open.push(inv);
  const specs = loadUnitTests(inv.project, new Diagnostics());
  const tests = specs.flatMap((s) => unitTestNodes(s, inv.parsed.nodes, { disabled: inv.parsed.disabled }));
  return {
    dir, inv, tests,
    async run(name) {
      const test = tests.find((t) => t.name === name);
      if (!test) throw new Error(`no unit test ${name}`);
      const wh = await inv.openWarehouse();
      const services: ExecuteServices = { parsed: inv.parsed, ...wh, runDir: join(inv.targetDir, 'run') };
      const model = [...inv.parsed.nodes.values()].find((n): n is SqlNode => isSqlNode(n) && n.uniqueId === test.dependsOn[0])!;
      return executeUnitTest(services, test, model);
    },
  };
}

async function project(files: Record<string, string>, build?: string[]): Promise<Harness> {
  const dir = makeProject({ ...BASE, ...files });
  if (build) {
    const r = await runKiln(build, dir);
    expect(r.stdout).toMatch(/ERROR=0/);
    expect(r.code).toBe(0);
  }
  return load(dir);
}

/** The KilnError `fn` throws, as `file:line: message`. */
async function errorOf(fn: () => Promise<unknown> | unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof KilnError)) throw e;
    return `${e.location?.file}:${e.location?.line}: ${e.message}`;
  }
  throw new Error('expected an error');
}

const yml = (body: string) => ({ 'models/unit.yml': `unit_tests:\n${body}` });

describe('unit tests: inputs and typing', () => {
  it('types dict rows from the built upstream; left-out columns are NULL of their type', async () => {
    const h = await project(yml(`
  - name: counts_orders
    model: customers
    given:
      - input: ref('stg_orders')
        rows:
          - {order_id: 1, customer_id: 1, amount: 10.25}
          - {order_id: 2, customer_id: 1, amount: "20.5", status: shipped}
          - {order_id: 3, customer_id: 2}
    expect:
      rows:
        - {customer_id: 1, orders: 2, with_status: 1, total: 30.75}
        - {customer_id: 2, orders: 1, with_status: 0, total: null}
`), ['run', '--select', 'stg_orders']);
    const out = await h.run('counts_orders');
    expect(out).toMatchObject({ status: 'pass', failures: 0, message: 'PASS', compiledPath: 'target/run/shop/models/unit.yml/counts_orders.sql' });
    const sql = readFileSync(join(h.dir, out.compiledPath!), 'utf8');
    // The file holds the comparison query as it ran (no column probes), to rerun by hand.
    expect(sql.startsWith("-- unit test 'counts_orders' of model 'customers' (models/unit.yml)\nwith dbt_internal_unit_test_actual as (")).toBe(true);
    expect(sql.trim().endsWith('select * from dbt_internal_unit_test_expected;')).toBe(true);
    // Typed from the real columns: amount is DECIMAL(6,2), status VARCHAR, ordered_at a NULL DATE.
    expect(sql).toContain(`select cast(1 as INTEGER) as "order_id", cast(1 as INTEGER) as "customer_id", cast(10.25 as DECIMAL(6,2)) as "amount", cast(null as VARCHAR) as "status", cast(null as DATE) as "ordered_at"`);
    expect(sql).toContain('__dbt__cte__stg_orders as (');
    expect(out.compiledCode).toContain(`'expected' as "actual_or_expected"`);
  });

  it('types rows from their values when the upstream is not in the warehouse', async () => {
    const h = await project(yml(`
  - name: from_values
    model: customers
    given:
      - input: ref('stg_orders')
        rows:
          - {customer_id: 1, amount: 1.5, status: a}
          - {customer_id: 1, amount: 2, status: null}
    expect:
      rows: [{customer_id: 1, orders: 2, with_status: 1, total: 3.5}]
`));
    const out = await h.run('from_values');
    expect(out.status).toBe('pass');
    expect(out.compiledCode).toContain(`select cast(1 as BIGINT) as "customer_id", cast(1.5 as DOUBLE) as "amount", cast('a' as VARCHAR) as "status"`);
  });

  it('csv inline rows (empty fields are NULL), sql rows, and fixture files', async () => {
    const h = await project({
      ...yml(`
  - name: csv_inline
    model: customers
    given:
      - input: ref('stg_orders')
        format: csv
        rows: |
          customer_id,amount,status
          7,1.5,
          7,2.5,x
    expect:
      format: csv
      rows: |
        customer_id,orders,with_status,total
        7,2,1,4
  - name: sql_inline
    model: customers
    given:
      - input: ref('stg_orders')
        format: sql
        rows: |
          select 1 as order_id, 5 as customer_id, 2.0 as amount, 's' as status, date '2024-01-02' as ordered_at
          union all select 2, 5, 3.0, null, null
    expect:
      format: sql
      rows: select 5 as customer_id, 2 as orders, 1 as with_status
  - name: fixture_files
    model: customers
    given:
      - input: ref('stg_orders')
        format: csv
        fixture: some_orders
    expect:
      format: sql
      fixture: expected_customers
`),
      'tests/fixtures/some_orders.csv': 'customer_id,amount,status\n3,1,a\n3,2,b\n4,5,\n',
      'tests/fixtures/expected_customers.sql': 'select 3 as customer_id, 2 as orders, 2 as with_status, 3 as total\nunion all\nselect 4, 1, 0, 5\n',
    });
    expect(await h.run('csv_inline')).toMatchObject({ status: 'pass' });
    expect(await h.run('sql_inline')).toMatchObject({ status: 'pass' });
    expect(await h.run('fixture_files')).toMatchObject({ status: 'pass' });
    expect(h.tests.find((t) => t.name === 'fixture_files')!.given[0].fixture).toBe('tests/fixtures/some_orders.csv');
  });

  it('source inputs, and an ephemeral upstream replaced by its fixture', async () => {
    const h = await project({
      'models/sources.yml': 'sources:\n  - name: raw\n    tables:\n      - name: payments\n',
      'models/eph.sql': "{{ config(materialized='ephemeral') }}select * from {{ source('raw', 'payments') }} where amount > 0",
      'models/paid.sql': "select count(*) as n from {{ ref('eph') }}",
      'models/from_source.sql': "select sum(amount) as s from {{ source('raw', 'payments') }}",
      ...yml(`
  - name: eph_given
    model: paid
    given:
      - input: ref('eph')
        rows: [{amount: 1}, {amount: 2}, {amount: 3}]
    expect:
      rows: [{n: 3}]
  - name: source_given
    model: from_source
    given:
      - input: source('raw', 'payments')
        rows: [{amount: 1}, {amount: 2}]
    expect:
      rows: [{s: 3}]
`),
    });
    const eph = await h.run('eph_given');
    expect(eph.status).toBe('pass');
    expect(eph.compiledCode).not.toContain('raw');
    expect(await h.run('source_given')).toMatchObject({ status: 'pass' });
  });
});

describe('unit tests: more inputs', () => {
  it('columns declared in the upstream YAML and left out of the rows are NULL of their data_type', async () => {
    const h = await project({
      'models/staging.yml': 'models:\n  - name: stg_orders\n    columns:\n      - name: status\n        data_type: varchar\n      - name: amount\n        data_type: decimal(10,2)\n',
      ...yml(`
  - name: yaml_columns
    model: customers
    given:
      - input: ref('stg_orders')
        rows: [{customer_id: 1}, {customer_id: 1}]
    expect:
      rows: [{customer_id: 1, orders: 2, with_status: 0, total: null}]
`),
    });
    const out = await h.run('yaml_columns');
    expect(out.status).toBe('pass');
    expect(out.compiledCode).toContain('select cast(1 as BIGINT) as "customer_id", cast(null as varchar) as "status", cast(null as decimal(10,2)) as "amount"');
  });

  it('a versioned model gets one unit test per version, narrowed by versions: include', async () => {
    const h = await project({
      'models/orders_v1.sql': "select customer_id from {{ ref('stg_orders') }}",
      'models/orders_v2.sql': "select customer_id * 10 as customer_id from {{ ref('stg_orders') }}",
      'models/versions.yml': 'models:\n  - name: orders\n    latest_version: 2\n    versions:\n      - v: 1\n      - v: 2\n',
      ...yml(`
  - name: all_versions
    model: orders
    given:
      - input: ref('stg_orders')
        rows: [{customer_id: 1}]
    expect:
      rows: [{customer_id: 10}]
  - name: only_v2
    model: orders
    versions: {include: [2]}
    given:
      - input: ref('stg_orders')
        rows: [{customer_id: 1}]
    expect:
      rows: [{customer_id: 10}]
`),
    });
    expect(h.tests.map((t) => t.uniqueId).sort()).toEqual([
      'unit_test.shop.orders.all_versions.v1', 'unit_test.shop.orders.all_versions.v2', 'unit_test.shop.orders.only_v2.v2',
    ]);
    const wh = await h.inv.openWarehouse();
    const services: ExecuteServices = { parsed: h.inv.parsed, ...wh, runDir: join(h.inv.targetDir, 'run') };
    const outcomes: Record<string, string> = {};
    for (const t of h.tests) {
      const model = h.inv.parsed.nodes.get(t.dependsOn[0]) as SqlNode;
      outcomes[t.uniqueId] = (await executeUnitTest(services, t, model)).message;
    }
    expect(outcomes).toEqual({
      'unit_test.shop.orders.all_versions.v1': 'FAIL 2', 'unit_test.shop.orders.all_versions.v2': 'PASS', 'unit_test.shop.orders.only_v2.v2': 'PASS',
    });
    expect(existsSync(join(h.dir, 'target/run/shop/models/unit.yml/all_versions_v1.sql'))).toBe(true);
  });
});

describe('unit tests: comparison', () => {
  const passthrough = {
    'models/ids.sql': "select customer_id from {{ ref('stg_orders') }}",
  };

  it('a failing test gives the exact diff: missing and unexpected rows with counts', async () => {
    const h = await project({
      ...passthrough,
      ...yml(`
  - name: totals_wrong
    model: customers
    given:
      - input: ref('stg_orders')
        rows:
          - {customer_id: 1, amount: 10, status: a}
          - {customer_id: 2, amount: 5}
    expect:
      rows:
        - {customer_id: 1, total: 10}
        - {customer_id: 2, total: 6}
        - {customer_id: 3, total: 1}
`),
    });
    const out = await h.run('totals_wrong');
    expect(out.status).toBe('fail');
    expect(out.failures).toBe(3);
    expect(out.message).toBe('FAIL 3');
    expect(out.detail).toBe([
      'actual differs from expected: expected 3 rows, got 2 rows; 2 expected rows are missing, 1 actual row was not expected',
      '',
      'expected but missing from actual (2):',
      '  | customer_id | total |',
      '  |-------------|-------|',
      '  | 2           | 6     |',
      '  | 3           | 1     |',
      '',
      'in actual but not expected (1):',
      '  | customer_id | total |',
      '  |-------------|-------|',
      '  | 2           | 5     |',
    ].join('\n'));
  });

  it('rows compare as a multiset: duplicates count, order does not', async () => {
    const h = await project({
      ...passthrough,
      ...yml(`
  - name: same_multiset
    model: ids
    given:
      - input: ref('stg_orders')
        rows: [{customer_id: 2}, {customer_id: 1}, {customer_id: 1}]
    expect:
      rows: [{customer_id: 1}, {customer_id: 2}, {customer_id: 1}]
  - name: duplicate_missing
    model: ids
    given:
      - input: ref('stg_orders')
        rows: [{customer_id: 1}, {customer_id: 1}, {customer_id: 2}]
    expect:
      rows: [{customer_id: 1}, {customer_id: 2}, {customer_id: 2}]
`),
    });
    expect(await h.run('same_multiset')).toMatchObject({ status: 'pass', failures: 0 });
    const out = await h.run('duplicate_missing');
    expect(out).toMatchObject({ status: 'fail', failures: 2 });
    expect(out.detail).toContain('expected but missing from actual (1):\n  | customer_id |\n  |-------------|\n  | 2           |');
    expect(out.detail).toContain('in actual but not expected (1):\n  | customer_id |\n  |-------------|\n  | 1           |');
  });

  it('compares only the columns expect names; expect rows: [] means no rows', async () => {
    const h = await project({
      'models/none.sql': "select customer_id from {{ ref('stg_orders') }} where customer_id < 0",
      ...yml(`
  - name: subset
    model: customers
    given:
      - input: ref('stg_orders')
        rows: [{customer_id: 1, amount: 99, status: x}]
    expect:
      rows: [{CUSTOMER_ID: 1, orders: 1}]
  - name: empty
    model: none
    given:
      - input: ref('stg_orders')
        rows: [{customer_id: 1}]
    expect:
      rows: []
`),
    });
    expect(await h.run('subset')).toMatchObject({ status: 'pass' });
    expect(await h.run('empty')).toMatchObject({ status: 'pass' });
  });
});

describe('unit tests: overrides', () => {
  it('is_incremental: true with `this` given; without the override is_incremental() is false', async () => {
    const h = await project({
      'models/inc.sql': [
        "{{ config(materialized='incremental') }}",
        "select order_id from {{ ref('stg_orders') }}",
        '{% if is_incremental() %}where order_id > (select max(order_id) from {{ this }}){% endif %}',
      ].join('\n'),
      ...yml(`
  - name: incremental_run
    model: inc
    overrides:
      macros:
        is_incremental: true
    given:
      - input: ref('stg_orders')
        rows: [{order_id: 1}, {order_id: 2}, {order_id: 3}]
      - input: this
        rows: [{order_id: 2}]
    expect:
      rows: [{order_id: 3}]
  - name: full_run
    model: inc
    given:
      - input: ref('stg_orders')
        rows: [{order_id: 1}, {order_id: 2}]
    expect:
      rows: [{order_id: 1}, {order_id: 2}]
`),
    });
    const inc = await h.run('incremental_run');
    expect(inc.status).toBe('pass');
    expect(inc.compiledCode).toContain('from __dbt__cte__this)');
    expect(await h.run('full_run')).toMatchObject({ status: 'pass' });
  });

  it('vars, env_vars and macros (plain and package-qualified) are overridden for the compile', async () => {
    const h = await project({
      'kiln_project.yml': 'name: shop\nvars:\n  wanted: placed\n',
      'macros/today.sql': '{% macro today() %}current_date{% endmacro %}',
      'dbt_packages/my_utils/dbt_project.yml': 'name: my_utils\n',
      'dbt_packages/my_utils/macros/now.sql': '{% macro now() %}current_timestamp{% endmacro %}',
      'models/filtered.sql': [
        "select order_id, '{{ env_var('KILN_UT_REGION', 'eu') }}' as region, {{ today() }} as d, {{ my_utils.now() }} as ts",
        "from {{ ref('stg_orders') }} where status = '{{ var('wanted') }}'",
      ].join('\n'),
      ...yml(`
  - name: overridden
    model: filtered
    overrides:
      vars: {wanted: shipped}
      env_vars: {KILN_UT_REGION: us}
      macros:
        today: "date '2024-02-01'"
        my_utils.now: "timestamp '2024-02-01 10:00:00'"
    given:
      - input: ref('stg_orders')
        rows: [{order_id: 1, status: placed}, {order_id: 2, status: shipped}]
    expect:
      rows: [{order_id: 2, region: us, d: "2024-02-01", ts: "2024-02-01 10:00:00"}]
  - name: defaults
    model: filtered
    given:
      - input: ref('stg_orders')
        rows: [{order_id: 1, status: placed}, {order_id: 2, status: shipped}]
    expect:
      rows: [{order_id: 1, region: eu}]
`),
    });
    expect(await h.run('overridden')).toMatchObject({ status: 'pass' });
    expect(await h.run('defaults')).toMatchObject({ status: 'pass' });
  });
});

describe('unit tests: nodes', () => {
  it('unique id, fqn, config and dependsOn', async () => {
    const h = await project({
      'models/marts/unit.yml': `unit_tests:
  - name: t1
    model: customers
    description: "{{ not rendered }}"
    config: {tags: [fast], meta: {owner: me}}
    given:
      - input: ref('stg_orders')
        rows: [{customer_id: 1}]
    expect:
      rows: [{customer_id: 1}]
  - name: off
    model: customers
    config: {enabled: false}
    given: []
    expect: {rows: []}
`,
    });
    expect(h.tests.map((t) => t.uniqueId)).toEqual(['unit_test.shop.customers.t1']);
    const t = h.tests[0];
    resolveLocation(t.location);
    expect(t).toMatchObject({
      fqn: ['shop', 'marts', 'customers', 't1'], originalFilePath: 'models/marts/unit.yml', path: 'marts/unit.yml',
      description: '{{ not rendered }}', tags: ['fast'], meta: { owner: 'me' }, dependsOn: ['model.shop.customers', 'model.shop.stg_orders'],
      location: { file: 'models/marts/unit.yml', line: 2 },
    });
    expect(resolveLocation(t.given[0].location)).toMatchObject({ file: 'models/marts/unit.yml', line: 7 });
  });

  it('parses input expressions', () => {
    expect(parseInput("ref('a')")).toEqual({ kind: 'ref', ref: { name: 'a', package: undefined, version: undefined } });
    expect(parseInput('ref("pkg", "a", v=2)')).toEqual({ kind: 'ref', ref: { name: 'a', package: 'pkg', version: 2 } });
    expect(parseInput("source('raw', 'orders')")).toEqual({ kind: 'source', source: 'raw', table: 'orders' });
    expect(parseInput(' this ')).toEqual({ kind: 'this' });
    expect(parseInput("model('a')")).toBeUndefined();
    expect(parseInput("ref(a)")).toBeUndefined();
  });

  it('literals and the multiset diff', () => {
    expect(sqlStringLiteral("O'Hara \\ \n x")).toBe("'O''Hara \\ \n x'");
    expect([null, true, false, 3, -1.5, Number.NaN, Infinity, 'a', { a: [1] }].map((v) => sqlLiteral(v)))
      .toEqual(['null', 'true', 'false', '3', '-1.5', "'NaN'", "'Infinity'", "'a'", `'{"a":[1]}'`]);
    expect(() => sqlStringLiteral('a\u0000')).toThrow(/NUL/);
    const d = diffRows(['x'], [{ x: 1 }, { x: 1 }, { x: null }], [{ x: 1 }, { x: null }, { x: 2 }]);
    expect(d.missing).toEqual([{ x: 2 }]);
    expect(d.unexpected).toEqual([{ x: 1 }]);
  });
});

describe('unit tests: errors name the YAML file and line', () => {
  const given = "    given:\n      - input: ref('stg_orders')\n        rows: [{customer_id: 1}]\n";
  const loadError = async (body: string, extra: Record<string, string> = {}) => {
    const dir = makeProject({ ...BASE, ...extra, 'models/unit.yml': `unit_tests:\n${body}` });
    return errorOf(async () => {
      const h = await load(dir);
      return h;
    });
  };

  it('unknown model', async () => {
    expect(await loadError(`  - name: t\n    model: customer\n${given}    expect: {rows: []}\n`))
      .toBe("models/unit.yml:2: unit test 't' is for model 'customer', which is not a model in shop");
  });

  it('an input the model does not read, and one that does not exist', async () => {
    const extra = { 'models/other.sql': 'select 1 as x' };
    expect(await loadError(`  - name: t\n    model: customers\n    given:\n      - input: ref('other')\n        rows: []\n    expect: {rows: []}\n`, extra))
      .toBe("models/unit.yml:5: unit test 't' gives ref('other'), which model 'customers' does not read");
    expect(await loadError(`  - name: t\n    model: customers\n    given:\n      - input: ref('nope')\n        rows: []\n    expect: {rows: []}\n`))
      .toBe("models/unit.yml:5: unit test 't' gives ref('nope'), which is not a model or seed in this project");
    expect(await loadError(`  - name: t\n    model: customers\n    given:\n      - input: model('x')\n        rows: []\n    expect: {rows: []}\n`))
      .toBe("models/unit.yml:5: input 'model('x')' of unit test 't' is not a ref(), source() or this");
  });

  it('bad format, rows not a list of mappings, csv without header, missing fixture', async () => {
    expect(await loadError(`  - name: t\n    model: customers\n    given:\n      - input: ref('stg_orders')\n        format: json\n        rows: []\n    expect: {rows: []}\n`))
      .toBe("models/unit.yml:6: format 'json' of unit test 't', input ref('stg_orders') is not dict, csv or sql");
    expect(await loadError(`  - name: t\n    model: customers\n    given:\n      - input: ref('stg_orders')\n        rows: [1, 2]\n    expect: {rows: []}\n`))
      .toBe("models/unit.yml:6: row 1 of unit test 't', input ref('stg_orders') is not a mapping (column: value)");
    expect(await loadError(`  - name: t\n    model: customers\n    given:\n      - input: ref('stg_orders')\n        rows: "customer_id\\n1"\n    expect: {rows: []}\n`))
      .toBe("models/unit.yml:6: rows of unit test 't', input ref('stg_orders') must be a list of mappings (column: value), not text");
    expect(await loadError(`  - name: t\n    model: customers\n${given}    expect:\n      format: csv\n      rows: |\n        1,2\n        3,4\n`))
      .toBe("models/unit.yml:10: the CSV rows of unit test 't', expect have no header line: '1' is not a column name");
    expect(await loadError(`  - name: t\n    model: customers\n${given}    expect:\n      format: csv\n      fixture: nowhere\n`))
      .toBe("models/unit.yml:9: fixture 'nowhere' of unit test 't', expect was not found: no nowhere.csv under tests");
  });

  it('expect columns the model does not return, and a SQL error, name the test', async () => {
    const h = await project({
      'models/broken.sql': "select customer_id, no_such_column from {{ ref('stg_orders') }}",
      ...yml(`
  - name: wrong_columns
    model: customers
    given:
      - input: ref('stg_orders')
        rows: [{customer_id: 1, amount: 1, status: x}]
    expect:
      rows: [{customer_id: 1, revenue: 3}]
  - name: sql_error
    model: broken
    given:
      - input: ref('stg_orders')
        rows: [{customer_id: 1}]
    expect:
      rows: []
  - name: missing_input
    model: customers
    given: []
    expect:
      rows: []
`),
    });
    expect(await errorOf(() => h.run('wrong_columns')))
      .toBe("models/unit.yml:9: the expected rows of unit test 'wrong_columns' name column 'revenue', which model 'customers' does not return");
    const sqlError = await errorOf(() => h.run('sql_error'));
    expect(sqlError).toMatch(/^models\/unit\.yml:10: unit test 'sql_error' of model 'broken' failed in duckdb: Binder Error: Referenced column "no_such_column" not found/);
    expect(existsSync(join(h.dir, 'target/run/shop/models/unit.yml/sql_error.sql'))).toBe(true);
    expect(await errorOf(() => h.run('missing_input')))
      .toBe("models/unit.yml:17: unit test 'missing_input' of model 'customers' gives no input for ref('stg_orders'), which the model reads");
  });
});
