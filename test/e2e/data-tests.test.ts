/**
 * Data tests through the real CLI on DuckDB: the four generic tests passing and failing, their configs,
 * custom and singular tests, `kiln test` selection, and `kiln build`'s skip-downstream semantics.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, queryDuckdb, runKiln, writeFiles } from '../helpers/project.js';

const db = (dir: string) => join(dir, 'target', 'shop.duckdb');

interface RunResult { unique_id: string; status: string; failures: number | null; message: string }
function runResults(dir: string): Map<string, RunResult> {
  const data = JSON.parse(readFileSync(join(dir, 'target', 'run_results.json'), 'utf8')) as { results: RunResult[] };
  return new Map(data.results.map((r) => [r.unique_id.split('.').slice(0, 3).join('.'), r]));
}
const statusOf = (dir: string) => Object.fromEntries([...runResults(dir)].map(([id, r]) => [id, r.failures === null ? r.status : `${r.status} ${r.failures}`]));

/** A small shop: orders with one duplicate id, one unknown status, one orphan customer and one null customer. */
const SHOP = {
  'kiln_project.yml': 'name: shop\n',
  'seeds/customers.csv': 'id,name\n1,ann\n2,bob\n',
  'models/orders.sql': [
    "select 1 as order_id, 1 as customer_id, 'placed' as status, 10 as amount",
    "union all select 2, 2, 'shipped', 20",
    "union all select 2, 3, 'lost', 30",
    "union all select 4, null, 'placed', 40",
  ].join('\n'),
};

describe('generic tests', () => {
  it('run the four built-in tests with dbt names, counts and failing rows', async () => {
    const dir = makeProject({
      ...SHOP,
      'models/schema.yml': `
version: 2
models:
  - name: orders
    columns:
      - name: order_id
        data_tests: [unique, not_null]
      - name: customer_id
        tests:
          - not_null
          - relationships:
              to: ref('customers')
              field: id
      - name: status
        data_tests:
          - accepted_values:
              values: [placed, shipped]
      - name: amount
        data_tests:
          - accepted_values:
              arguments: {values: [10, 20, 30, 40], quote: false}
seeds:
  - name: customers
    columns:
      - name: id
        data_tests: [unique, not_null]
`,
    });
    const r = await runKiln(['build', '--threads', '1'], dir);
    expect(r.code).toBe(1);
    expect(statusOf(dir)).toEqual({
      'model.shop.orders': 'success',
      'seed.shop.customers': 'success',
      'test.shop.unique_orders_order_id': 'fail 1',
      'test.shop.not_null_orders_order_id': 'pass 0',
      'test.shop.not_null_orders_customer_id': 'fail 1',
      'test.shop.relationships_orders_customer_id__id__ref_customers_': 'fail 1',
      'test.shop.accepted_values_orders_status__placed__shipped': 'fail 1',
      'test.shop.accepted_values_orders_amount__False__10__20__30__40': 'pass 0',
      'test.shop.unique_customers_id': 'pass 0',
      'test.shop.not_null_customers_id': 'pass 0',
    });
    // The failing rows are shown with the compiled SQL path to rerun by hand.
    expect(r.stderr).toContain([
      'Failure in test accepted_values_orders_status__placed__shipped (models/schema.yml): got 1 failing row (configured to fail if != 0)',
      '  | value_field | n_records |',
      '  |-------------|-----------|',
      '  | lost        | 1         |',
      '  See them all with the SQL in target/compiled/shop/models/schema.yml/accepted_values_orders_status__placed__shipped.sql.',
    ].join('\n'));
    expect(r.stderr).toContain('| from_field |\n  |------------|\n  | 3          |');
    expect(readFileSync(join(dir, 'target/compiled/shop/models/schema.yml/unique_orders_order_id.sql'), 'utf8')).toContain('group by order_id');
    expect(r.stdout).toMatch(/FAIL 1 test unique_orders_order_id \.+ \[FAIL 1 in/);
    expect(r.stdout).toContain('PASS=6 WARN=0 ERROR=4 SKIP=0 TOTAL=10');
    expect(r.stdout).toMatch(/test\s+PASS=4 ERROR=4/);
    // The manifest has the test nodes with dbt's unique ids, metadata and attached node.
    const manifest = JSON.parse(readFileSync(join(dir, 'target/manifest.json'), 'utf8'));
    const rel = manifest.nodes['test.shop.relationships_orders_customer_id__id__ref_customers_.' + [...Object.keys(manifest.nodes)].find((k: string) => k.startsWith('test.shop.relationships'))!.split('.').pop()];
    expect(rel.test_metadata).toEqual({ name: 'relationships', namespace: null, kwargs: { to: "ref('customers')", field: 'id', column_name: 'customer_id', model: "{{ get_where_subquery(ref('orders')) }}" } });
    expect(rel.attached_node).toBe('model.shop.orders');
    expect(rel.depends_on.nodes.sort()).toEqual(['model.shop.orders', 'seed.shop.customers']);
  });

  it('name long tests with a hash, and accept test_name/name and custom test names', async () => {
    const dir = makeProject({
      ...SHOP,
      'models/schema.yml': `
models:
  - name: orders
    columns:
      - name: status
        data_tests:
          - accepted_values:
              values: [placed, shipped, lost, returned, cancelled, pending_review]
          - test_name: not_null
            name: status_is_always_set
`,
    });
    const r = await runKiln(['build'], dir);
    expect(r.code).toBe(0);
    const ids = [...runResults(dir).keys()];
    expect(ids).toContain('test.shop.accepted_values_orders_status__placed__shipped__lost__returned__cancelled__pending_review');
    expect(ids).toContain('test.shop.status_is_always_set');
    // The compiled file and the stored-failures table use the short name.
    const full = 'accepted_values_orders_status__placed__shipped__lost__returned__cancelled__pending_review';
    const short = `accepted_values_orders_${createHash('md5').update(full).digest('hex')}`;
    expect(readFileSync(join(dir, `target/compiled/shop/models/schema.yml/${short}.sql`), 'utf8')).toContain("'pending_review'");
  });
});

describe('test configs', () => {
  it('severity, warn_if/error_if, fail_calc, where, limit — in YAML, in the project file and in the test block', async () => {
    const dir = makeProject({
      ...SHOP,
      'kiln_project.yml': `name: shop
data_tests:
  shop:
    +severity: warn
    strict:
      +severity: error
`,
      'models/schema.yml': `
models:
  - name: orders
    columns:
      - name: customer_id
        data_tests:
          - not_null                                     # warn from the project tree
          - relationships:
              to: ref('customers')
              field: id
              config: {severity: error, where: "order_id < 2"}   # the orphan has order_id 2: passes
      - name: order_id
        data_tests:
          - unique:
              config: {severity: error, error_if: ">5", warn_if: ">0"}
          - not_null:
              config: {severity: error, fail_calc: "sum(case when true then 7 else 0 end)"}
      - name: amount
        data_tests:
          - at_most:
              max: 25
              config: {severity: error, limit: 1}
`,
      'tests/generic/at_most.sql': `{% test at_most(model, column_name, max) %}
{{ config(error_if='>= 1') }}
select * from {{ model }} where {{ column_name }} > {{ max }}
{% endtest %}`,
      'tests/strict/no_big_orders.sql': 'select * from {{ ref("orders") }} where amount > 35',
    });
    const r = await runKiln(['build', '--threads', '1'], dir);
    expect(statusOf(dir)).toMatchObject({
      'test.shop.not_null_orders_customer_id': 'warn 1',
      'test.shop.relationships_orders_customer_id__id__ref_customers_': 'pass 0',
      'test.shop.unique_orders_order_id': 'warn 1',
      'test.shop.not_null_orders_order_id': 'pass 0', // fail_calc over zero rows is null, not a failure
      'test.shop.at_most_orders_amount__25': 'fail 1', // limit 1 caps the two failing rows
      'test.shop.no_big_orders': 'fail 1', // severity error from the strict/ folder of the tree
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Warning in test unique_orders_order_id (models/schema.yml): got 1 failing row (configured to warn if >0)');
  });

  it('store_failures keeps failing rows in the audit schema as a table or view; --store-failures turns it on for all', async () => {
    const dir = makeProject({
      ...SHOP,
      'models/schema.yml': `
models:
  - name: orders
    columns:
      - name: order_id
        data_tests:
          - unique:
              config: {store_failures: true}
          - not_null:
              config: {store_failures: true, store_failures_as: view, schema: audit}
      - name: status
        data_tests:
          - accepted_values: {values: [placed]}
`,
    });
    await runKiln(['build'], dir);
    expect(await queryDuckdb(db(dir), 'select unique_field, n_records from main_dbt_test__audit.unique_orders_order_id')).toEqual([{ unique_field: 2, n_records: 2 }]);
    expect(await queryDuckdb(db(dir), "select table_schema, table_name, table_type from information_schema.tables where table_schema like '%audit%' order by 2"))
      .toEqual([
        { table_schema: 'main_audit', table_name: 'not_null_orders_order_id', table_type: 'VIEW' },
        { table_schema: 'main_dbt_test__audit', table_name: 'unique_orders_order_id', table_type: 'BASE TABLE' },
      ]);
    const r = await runKiln(['test', '--store-failures'], dir);
    expect(r.stderr).toContain('Failing rows are stored in "shop"."main_dbt_test__audit"."accepted_values_orders_status__placed"');
    expect(await queryDuckdb(db(dir), 'select value_field from main_dbt_test__audit.accepted_values_orders_status__placed order by 1')).toEqual([{ value_field: 'lost' }, { value_field: 'shipped' }]);
  });

  it('enabled: false, tags and meta', async () => {
    const dir = makeProject({
      ...SHOP,
      'models/schema.yml': `
models:
  - name: orders
    columns:
      - name: order_id
        tags: [keys]
        data_tests:
          - unique:
              config: {enabled: false}
          - not_null:
              config: {tags: [nightly], meta: {owner: data}}
`,
    });
    await runKiln(['run'], dir);
    const r = await runKiln(['test', '-s', 'tag:nightly'], dir);
    expect(r.code).toBe(0);
    expect([...runResults(dir).keys()]).toEqual(['test.shop.not_null_orders_order_id']);
    const manifest = JSON.parse(readFileSync(join(dir, 'target/manifest.json'), 'utf8'));
    const node = Object.values(manifest.nodes as Record<string, { name: string; tags: string[]; meta: unknown }>).find((n) => n.name === 'not_null_orders_order_id')!;
    expect(node.tags.sort()).toEqual(['keys', 'nightly']);
    expect(node.meta).toEqual({ owner: 'data' });
    expect(Object.keys(manifest.nodes).some((k) => k.startsWith('test.shop.unique_orders'))).toBe(false);
  });
});

describe('custom and singular tests', () => {
  it('custom generic tests, adapter dispatch, overriding a built-in, and singular tests with ref/source/macros', async () => {
    const dir = makeProject({
      ...SHOP,
      'models/schema.yml': `
sources:
  - name: raw
    schema: main
    tables:
      - name: customers
        columns:
          - name: id
            data_tests: [positive]
models:
  - name: orders
    data_tests:
      - row_count_between: {low: 1, high: 3}
    columns:
      - name: amount
        data_tests: [positive, not_null]
`,
      'macros/tests.sql': `
{% test positive(model, column_name) %}{{ adapter.dispatch('test_positive')(model, column_name) }}{% endtest %}
{% macro default__test_positive(model, column_name) %}select 'default' as impl where false{% endmacro %}
{% macro duckdb__test_positive(model, column_name) %}select * from {{ model }} where {{ column_name }} <= 0{% endmacro %}
{% test row_count_between(model, low, high) %}
select n from (select count(*) as n from {{ model }}) t where n < {{ low }} or n > {{ high }}
{% endtest %}
{% macro default__test_not_null(model, column_name) %}select * from {{ model }} where {{ column_name }} is null or {{ column_name }} = 40{% endmacro %}
{% macro big(col) %}{{ col }} > 25{% endmacro %}
`,
      'tests/big_orders_have_customers.sql': "select * from {{ ref('orders') }} o left join {{ source('raw', 'customers') }} c on o.customer_id = c.id where {{ big('o.amount') }} and c.id is null",
    });
    const r = await runKiln(['build', '--threads', '1'], dir);
    expect(statusOf(dir)).toMatchObject({
      'test.shop.source_positive_raw_customers_id': 'pass 0',
      'test.shop.positive_orders_amount': 'pass 0',
      'test.shop.row_count_between_orders_3__1': 'fail 1', // arguments in name order: high, low
      'test.shop.not_null_orders_amount': 'fail 1', // the project's default__test_not_null wins over Kiln's
      'test.shop.big_orders_have_customers': 'fail 2',
    });
    expect(r.code).toBe(1);
    // Source tests run before the models that read the source.
    const order = [...runResults(dir).keys()];
    expect(order.indexOf('test.shop.source_positive_raw_customers_id')).toBeLessThan(order.indexOf('test.shop.big_orders_have_customers'));
  });
});

describe('kiln build skips downstream of a failed test', () => {
  const diamond = (severity: string) => ({
    'kiln_project.yml': 'name: shop\n',
    'models/a.sql': 'select 1 as id union all select 1',
    'models/b.sql': "select * from {{ ref('a') }}",
    'models/c.sql': "select * from {{ ref('a') }}",
    'models/d.sql': "select * from {{ ref('b') }} union all select * from {{ ref('c') }}",
    'models/other.sql': 'select 2 as id',
    'models/schema.yml': `models:\n  - name: b\n    columns:\n      - name: id\n        data_tests:\n          - unique: {config: {severity: ${severity}}}\n  - name: other\n    columns:\n      - name: id\n        data_tests: [not_null]\n`,
  });

  it('a failing error test skips what is downstream, while the other branches continue', async () => {
    const dir = makeProject(diamond('error'));
    const r = await runKiln(['build', '--threads', '2'], dir);
    expect(r.code).toBe(1);
    expect(statusOf(dir)).toEqual({
      'model.shop.a': 'success', 'model.shop.b': 'success', 'model.shop.c': 'success', 'model.shop.other': 'success',
      'test.shop.unique_b_id': 'fail 1', 'model.shop.d': 'skipped', 'test.shop.not_null_other_id': 'pass 0',
    });
    expect(runResults(dir).get('model.shop.d')!.message).toBe('SKIP (test unique_b_id failed)');
    expect(r.stdout).toContain('PASS=5 WARN=0 ERROR=1 SKIP=1 TOTAL=7');
    expect(r.stdout).toMatch(/model\s+PASS=4 SKIP=1\n.*test\s+PASS=1 ERROR=1/);
  });

  it('a warning never skips', async () => {
    const dir = makeProject(diamond('warn'));
    const r = await runKiln(['build'], dir);
    expect(r.code).toBe(0);
    expect(statusOf(dir)['model.shop.d']).toBe('success');
    expect(statusOf(dir)['test.shop.unique_b_id']).toBe('warn 1');
    expect(r.stdout).toContain('Completed with 1 warning');
  });

  it('kiln run does not run tests; kiln test runs only tests', async () => {
    const dir = makeProject(diamond('error'));
    await runKiln(['run'], dir);
    expect([...runResults(dir).keys()].every((id) => id.startsWith('model.'))).toBe(true);
    const r = await runKiln(['test'], dir);
    expect(r.code).toBe(1);
    expect(statusOf(dir)).toEqual({ 'test.shop.unique_b_id': 'fail 1', 'test.shop.not_null_other_id': 'pass 0' });
  });
});

describe('selecting tests', () => {
  const project = () => makeProject({
    ...SHOP,
    'models/stg.sql': "select * from {{ ref('orders') }}",
    'models/schema.yml': `
models:
  - name: orders
    columns:
      - name: customer_id
        data_tests:
          - relationships: {to: ref('customers'), field: id}
      - name: order_id
        data_tests: [not_null]
  - name: stg
    columns:
      - name: order_id
        data_tests: [unique]
`,
    'tests/singular_check.sql': "select * from {{ ref('stg') }} where false",
  });
  const selected = async (dir: string, args: string[]) => {
    const r = await runKiln(['test', ...args], dir);
    if (r.code !== 0 && !r.stdout.includes("TOTAL=")) throw new Error(`kiln test ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
    return [...runResults(dir).keys()].map((k) => k.split('.')[2]).sort();
  };

  it('test_type, test_name and indirect selection modes', async () => {
    const dir = project();
    await runKiln(['build'], dir);
    expect(await selected(dir, ['-s', 'test_type:singular'])).toEqual(['singular_check']);
    expect(await selected(dir, ['-s', 'test_type:generic'])).toEqual(['not_null_orders_order_id', 'relationships_orders_customer_id__id__ref_customers_', 'unique_stg_order_id']);
    expect(await selected(dir, ['-s', 'test_name:not_null'])).toEqual(['not_null_orders_order_id']);
    expect(await selected(dir, ['-s', 'orders'])).toEqual(['not_null_orders_order_id', 'relationships_orders_customer_id__id__ref_customers_']);
    expect(await selected(dir, ['-s', 'orders', '--indirect-selection', 'cautious'])).toEqual(['not_null_orders_order_id']);
    expect(await selected(dir, ['-s', 'orders', 'customers', '--indirect-selection', 'cautious'])).toEqual(['not_null_orders_order_id', 'relationships_orders_customer_id__id__ref_customers_']);
    // buildable: orders is upstream of stg, customers is not.
    expect(await selected(dir, ['-s', 'stg', '--indirect-selection', 'buildable'])).toEqual(['not_null_orders_order_id', 'singular_check', 'unique_stg_order_id']);
    expect(await selected(dir, ['-s', '+stg', 'customers', '--indirect-selection', 'buildable'])).toEqual(['not_null_orders_order_id', 'relationships_orders_customer_id__id__ref_customers_', 'singular_check', 'unique_stg_order_id']);
    expect(await selected(dir, ['-s', 'orders', '--indirect-selection', 'empty'])).toEqual([]);
    expect(await selected(dir, ['-s', 'orders', '--exclude', 'test_name:relationships'])).toEqual(['not_null_orders_order_id']);
  });
});

describe('test errors', () => {
  it('an unknown test name, and a bad test entry, name the YAML line', async () => {
    const dir = makeProject({ ...SHOP, 'models/schema.yml': 'models:\n  - name: orders\n    columns:\n      - name: order_id\n        data_tests: [uniqe]\n' });
    let r = await runKiln(['test'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/schema.yml:5:22: unknown generic test 'uniqe'");
    expect(r.stderr).toContain("Did you mean 'unique'?");
    writeFiles(dir, { 'models/schema.yml': 'models:\n  - name: orders\n    data_tests:\n      - {unique: {}, not_null: {}}\n' });
    r = await runKiln(['test'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/schema.yml:4:9: a test on 'orders' has 2 keys (unique, not_null); a test entry names one test");
  });

  it('a test whose SQL fails is an error naming the test and its compiled file', async () => {
    const dir = makeProject({ ...SHOP, 'models/schema.yml': 'models:\n  - name: orders\n    columns:\n      - name: nope\n        data_tests: [not_null]\n' });
    const r = await runKiln(['build'], dir);
    expect(r.code).toBe(1);
    expect(statusOf(dir)['test.shop.not_null_orders_nope']).toBe('error');
    expect(r.stderr).toContain("test 'not_null_orders_nope' failed in duckdb");
    expect(r.stderr).toContain('target/compiled/shop/models/schema.yml/not_null_orders_nope.sql');
  });
});

describe('unit tests through the CLI', () => {
  const files = (expectedTotal: number) => ({
    ...SHOP,
    'models/totals.sql': "select customer_id, sum(amount) as total from {{ ref('orders') }} group by 1",
    'models/report.sql': "select * from {{ ref('totals') }}",
    'models/unit.yml': `
unit_tests:
  - name: sums_per_customer
    model: totals
    given:
      - input: ref('orders')
        rows:
          - {customer_id: 1, amount: 5}
          - {customer_id: 1, amount: 7}
          - {customer_id: 2, amount: 1}
    expect:
      rows:
        - {customer_id: 1, total: ${expectedTotal}}
        - {customer_id: 2, total: 1}
`,
  });

  it('run before their model in build; a failing unit test skips the model and what is downstream', async () => {
    const dir = makeProject(files(99));
    const r = await runKiln(['build', '--threads', '1'], dir);
    expect(r.code).toBe(1);
    expect(statusOf(dir)).toMatchObject({
      'unit_test.shop.totals': 'fail 2', 'model.shop.totals': 'skipped', 'model.shop.report': 'skipped', 'model.shop.orders': 'success',
    });
    expect(runResults(dir).get('model.shop.totals')!.message).toBe('SKIP (unit_test sums_per_customer failed)');
    expect(r.stderr).toContain([
      'Failure in unit_test sums_per_customer (models/unit.yml): 2 rows differ',
      '  actual differs from expected: expected 2 rows, got 2 rows; 1 expected row is missing, 1 actual row was not expected',
    ].join('\n'));
    expect(r.stderr).toContain('| customer_id | total |\n    |-------------|-------|\n    | 1           | 99    |');
    expect(r.stdout).toMatch(/unit_test ERROR=1\n/);
  });

  it('pass, are selected with their model, and are listed in the manifest', async () => {
    const dir = makeProject(files(12));
    let r = await runKiln(['build'], dir);
    expect(r.code).toBe(0);
    expect(statusOf(dir)['unit_test.shop.totals']).toBe('pass 0');
    r = await runKiln(['test', '-s', 'totals'], dir);
    expect([...runResults(dir).keys()]).toEqual(['unit_test.shop.totals']);
    r = await runKiln(['test', '-s', 'test_type:unit'], dir);
    expect([...runResults(dir).keys()]).toEqual(['unit_test.shop.totals']);
    const manifest = JSON.parse(readFileSync(join(dir, 'target/manifest.json'), 'utf8'));
    expect(Object.keys(manifest.unit_tests)).toEqual(['unit_test.shop.totals.sums_per_customer']);
    const unit = manifest.unit_tests['unit_test.shop.totals.sums_per_customer'];
    expect(unit.depends_on.nodes).toEqual(['model.shop.totals', 'model.shop.orders']);
    // The fields dbt writes for given/expect, and not where Kiln found them in the YAML.
    for (const entry of [...unit.given, unit.expect]) expect(Object.keys(entry)).not.toContain('location');
    r = await runKiln(['test', '--log-format', 'json'], dir);
    const finish = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'node_finish' && e.node.resource_type === 'unit_test');
    expect(finish).toMatchObject({ status: 'pass', failures: 0 });
  });
});
