/** Model contracts and constraints (dbt semantics) through the real CLI on DuckDB. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, queryDuckdb, runKiln, writeFiles } from '../helpers/project.js';

/** Error text with YAML positions (`file:12:7:`) written as `file:L:`, so tests pin the message, not the column. */
const atLine = (text: string) => text.replace(/(\.ya?ml):\d+:\d+:/g, '$1:L:');
const db = (dir: string) => join(dir, 'target', 'shop.duckdb');
const PROJECT = 'name: shop\n';

/** Rows of a table as plain objects, ordered by the first column. */
const rows = (dir: string, table: string, cols = '*') => queryDuckdb(db(dir), `select ${cols} from main.${table} order by 1`);
const columnsOf = (dir: string, table: string) =>
  queryDuckdb(db(dir), `select column_name, data_type, is_nullable from information_schema.columns where table_name = '${table}' order by ordinal_position`);
/** Run one statement against the built database; the error message, or 'ok'. */
async function attempt(dir: string, sql: string): Promise<string> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const inst = await DuckDBInstance.create(db(dir));
  try {
    const conn = await inst.connect();
    try {
      await conn.run(sql);
      return 'ok';
    } catch (e) {
      return (e as Error).message.split('\n')[0];
    } finally {
      conn.closeSync();
    }
  } finally {
    inst.closeSync();
  }
}

const ordersYaml = `
models:
  - name: orders
    config:
      materialized: table
      contract: {enforced: true}
    columns:
      - name: id
        data_type: int
        constraints:
          - type: not_null
          - type: primary_key
      - name: code
        data_type: text
        constraints:
          - type: unique
      - name: amount
        data_type: numeric(10,2)
        constraints:
          - type: check
            expression: "amount >= 0"
      - name: placed_on
        data_type: date
    constraints:
      - type: check
        name: code_not_empty
        expression: "length(code) > 0"
`;

describe('enforced contracts on tables', () => {
  it('builds the table with the YAML columns, types, order and enforced constraints', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/schema.yml': ordersYaml,
      // Columns in another order than the YAML, types written as aliases: the contract still holds.
      'models/orders.sql': "select 12.5::decimal(10,2) as amount, 'A1' as code, 1 as id, date '2024-01-02' as placed_on\n"
        + "union all select 0, 'B2', 2, date '2024-01-03'",
    });
    const r = await runKiln(['run'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/OK created sql table model main\.orders .*\[OK 2 in/);
    expect(await columnsOf(dir, 'orders')).toEqual([
      { column_name: 'id', data_type: 'INTEGER', is_nullable: 'NO' },
      { column_name: 'code', data_type: 'VARCHAR', is_nullable: 'YES' },
      { column_name: 'amount', data_type: 'DECIMAL(10,2)', is_nullable: 'YES' },
      { column_name: 'placed_on', data_type: 'DATE', is_nullable: 'YES' },
    ]);
    expect(await rows(dir, 'orders', 'id, code, amount::double as amount')).toEqual([
      { id: 1, code: 'A1', amount: 12.5 },
      { id: 2, code: 'B2', amount: 0 },
    ]);
    const ran = readFileSync(join(dir, 'target/run/shop/models/orders.sql'), 'utf8');
    expect(ran).toContain('select * from (\nselect 12.5::decimal(10,2) as amount');
    expect(ran).toContain(') as __kiln_sbq where false limit 0;');
    expect(ran).toContain([
      'create table "shop"."main"."orders__kiln_tmp" (',
      '    id int not null primary key,',
      '    code text unique,',
      '    amount numeric(10,2) check (amount >= 0),',
      '    placed_on date,',
      '    constraint "code_not_empty" check (length(code) > 0)',
      ');',
    ].join('\n'));
    expect(ran).toContain('insert into "shop"."main"."orders__kiln_tmp" (id, code, amount, placed_on)\nselect id, code, amount, placed_on from (');

    // The constraints are real: the warehouse refuses rows that break them.
    expect(await attempt(dir, "insert into main.orders values (null, 'C3', 1, null)")).toBe('Constraint Error: NOT NULL constraint failed: orders.id');
    expect(await attempt(dir, "insert into main.orders values (1, 'C3', 1, null)")).toMatch(/^Constraint Error: Duplicate key "id: 1" violates primary key constraint/);
    expect(await attempt(dir, "insert into main.orders values (3, 'A1', 1, null)")).toMatch(/^Constraint Error: Duplicate key "code: A1" violates unique constraint/);
    expect(await attempt(dir, "insert into main.orders values (3, 'C3', -1, null)")).toBe('Constraint Error: CHECK constraint failed on table orders with expression CHECK((amount >= 0))');
    expect(await attempt(dir, "insert into main.orders values (3, '', 1, null)")).toBe('Constraint Error: CHECK constraint failed on table orders with expression CHECK((length(code) > 0))');
    expect(await attempt(dir, "insert into main.orders values (3, 'C3', 1, null)")).toBe('ok');
  });

  it('a mismatch fails before anything is replaced, with a table of expected against actual', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/schema.yml': ordersYaml,
      'models/orders.sql': "select 1 as id, 'A1' as code, 12.5::decimal(10,2) as amount, date '2024-01-02' as placed_on",
    });
    expect((await runKiln(['run'], dir)).code).toBe(0);
    // id becomes text, amount disappears, an undeclared column appears; names differ in case only for CODE.
    writeFileSync(join(dir, 'models/orders.sql'), "select 'x' as id, 'A1' as CODE, date '2024-01-02' as placed_on, 7 as note");
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ERROR creating sql table model main\.orders/);
    expect(atLine(r.stderr)).toContain("models/schema.yml:L: model 'orders' does not match its enforced contract: "
      + '1 column missing, 1 extra column, 1 column of another type; nothing was replaced');
    // The table as printed under the error (indented by the reporter).
    expect(r.stderr).toContain([
      '| column | expected (YAML) | actual (SQL) | problem                           |',
      '|--------|-----------------|--------------|-----------------------------------|',
      '| id     | int             | VARCHAR      | type mismatch                     |',
      '| amount | numeric(10,2)   | -            | missing (not returned by the SQL) |',
      '| note   | -               | INTEGER      | extra (not in the YAML)           |',
    ].join('\n    '));
    expect(r.stderr).toContain("Make the SQL (models/orders.sql) return exactly the YAML's columns and types (cast where needed), or change the YAML.");
    // The previous table is untouched and nothing temporary is left behind.
    expect(await rows(dir, 'orders', 'id, code')).toEqual([{ id: 1, code: 'A1' }]);
    expect(await queryDuckdb(db(dir), "select table_name from information_schema.tables where table_name like '%kiln%'")).toEqual([]);
    const ran = readFileSync(join(dir, 'target/run/shop/models/orders.sql'), 'utf8');
    expect(ran).not.toContain('create table');
  });

  it('rows that break a constraint fail the model and keep the previous table', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/schema.yml': ordersYaml,
      'models/orders.sql': "select 1 as id, 'A1' as code, 12.5::decimal(10,2) as amount, date '2024-01-02' as placed_on",
    });
    expect((await runKiln(['run'], dir)).code).toBe(0);
    writeFileSync(join(dir, 'models/orders.sql'), "select 1 as id, 'A1' as code, -5.0::decimal(10,2) as amount, date '2024-01-02' as placed_on");
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("model 'orders' failed in duckdb: Constraint Error: CHECK constraint failed on table orders__kiln_tmp with expression CHECK((amount >= 0))");
    expect(await rows(dir, 'orders', 'id, amount::double as amount')).toEqual([{ id: 1, amount: 12.5 }]);
    expect(await queryDuckdb(db(dir), "select table_name from information_schema.tables where table_name like '%kiln%'")).toEqual([]);
  });

  it('model-level keys cover several columns; sql_header runs before the column check and the insert', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/pairs.sql': "{{ config(materialized='table', sql_header='create or replace temp macro twice(x) as x * 2') }}\n"
        + "select 1 as a, twice(1) as b, 'p' as tag union all select 1, twice(2), 'q'",
      'models/schema.yml': [
        'models:',
        '  - name: pairs',
        '    config: {contract: {enforced: true}}',
        '    columns: [{name: a, data_type: integer}, {name: b, data_type: integer}, {name: tag, data_type: varchar}]',
        '    constraints:',
        '      - {type: primary_key, columns: [a, b], name: pairs_pk}',
        '      - {type: not_null, columns: [tag]}',
      ].join('\n'),
    });
    const r = await runKiln(['run'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await rows(dir, 'pairs', 'a, b, tag')).toEqual([{ a: 1, b: 2, tag: 'p' }, { a: 1, b: 4, tag: 'q' }]);
    expect(await columnsOf(dir, 'pairs')).toEqual([
      { column_name: 'a', data_type: 'INTEGER', is_nullable: 'NO' },
      { column_name: 'b', data_type: 'INTEGER', is_nullable: 'NO' },
      { column_name: 'tag', data_type: 'VARCHAR', is_nullable: 'NO' },
    ]);
    expect(await attempt(dir, "insert into main.pairs values (1, 2, 'r')")).toMatch(/^Constraint Error: Duplicate key "a: 1, b: 2" violates primary key constraint/);
    expect(await attempt(dir, 'insert into main.pairs values (1, 3, null)')).toBe('Constraint Error: NOT NULL constraint failed: pairs.tag');
    expect(await attempt(dir, "insert into main.pairs values (1, 3, 'r')")).toBe('ok');
  });

  it('takes the contract from config() in the SQL and from the project file tree', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\nmodels:\n  shop:\n    marts:\n      +materialized: table\n      +contract: {enforced: true}\n',
      'models/marts/a.sql': "select 1 as id, 'x' as label",
      'models/b.sql': "{{ config(materialized='table', contract={'enforced': true}) }}\nselect 1 as id",
      'models/schema.yml': [
        'models:',
        '  - name: a',
        '    columns: [{name: id, data_type: integer}, {name: label, data_type: bigint}]',
        '  - name: b',
        '    columns: [{name: id, data_type: varchar}]',
      ].join('\n'),
    });
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ERROR=2/);
    expect(r.stderr).toContain("model 'a' does not match its enforced contract: 1 column of another type");
    expect(r.stderr).toContain('| label  | bigint          | VARCHAR      | type mismatch |');
    expect(r.stderr).toContain("model 'b' does not match its enforced contract: 1 column of another type");
    expect(r.stderr).toContain('| id     | varchar         | INTEGER      | type mismatch |');
  });

  it('refuses a contract whose columns lack data_type or are not declared, naming the YAML file', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/schema.yml': 'models:\n  - name: a\n    config: {contract: {enforced: true}}\n    columns:\n      - name: id\n        data_type: int\n      - name: label\n      - name: other\n',
      'models/a.sql': "select 1 as id, 'x' as label, 2 as other",
      'models/b.sql': "{{ config(contract={'enforced': true}) }}select 1 as id",
    });
    // Checked when the project is parsed, before anything runs: a config error (exit 2).
    let r = await runKiln(['run'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/schema.yml:7:9: model 'a' has an enforced contract but columns 'label', 'other' have no data_type");
    expect(r.stderr).toContain('Give every column of a contracted model a data_type');
    writeFiles(dir, { 'models/schema.yml': 'models:\n  - name: a\n    columns:\n      - name: id\n' });
    r = await runKiln(['compile'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/b.sql: model 'b' has an enforced contract but no schema YAML describes its columns");
    expect(r.stderr).toContain('List every column the model returns with its data_type');
  });

  it('rejects a malformed constraint with the YAML file and a suggestion', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/schema.yml': 'models:\n  - name: a\n    config: {contract: {enforced: true}, materialized: table}\n    columns:\n      - name: id\n        data_type: int\n        constraints: [{type: nut_null}]\n',
      'models/a.sql': 'select 1 as id',
    });
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/schema.yml:5:9: constraint 1 of column 'id' of model 'a' has an unknown type 'nut_null'");
    expect(r.stderr).toContain("Did you mean 'not_null'?");
  });
});

describe('constraint support per adapter', () => {
  const files = (fk: string) => ({
    'kiln_project.yml': PROJECT,
    'models/customers.sql': "{{ config(materialized='table') }}select 1 as id",
    'models/orders.sql': "{{ config(materialized='table') }}select 10 as id, 1 as customer_id",
    'models/schema.yml': `
models:
  - name: orders
    config: {contract: {enforced: true}}
    columns:
      - name: id
        data_type: integer
      - name: customer_id
        data_type: integer
        constraints:
          - type: foreign_key
            to: ref('customers')
            to_columns: [id]${fk}
`,
  });

  it('warns that DuckDB foreign keys are left out, and the referenced model can still be rebuilt', async () => {
    const dir = makeProject(files(''));
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('Warning'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/Warning: models\/schema\.yml:\d+:\d+: constraint foreign_key on orders\.customer_id is not supported by duckdb; it is left out of the table$/);
    expect(r.stderr).toContain('Set warn_unsupported: false on the constraint to silence this.');
    expect(readFileSync(join(dir, 'target/run/shop/models/orders.sql'), 'utf8')).not.toContain('references');
    expect(await queryDuckdb(db(dir), "select count(*) as n from duckdb_constraints() where table_name = 'orders' and constraint_type = 'FOREIGN KEY'")).toEqual([{ n: 0 }]);
    // A second run rebuilds customers (rename swap) without a dependency error.
    const again = await runKiln(['run', '--debug'], dir);
    expect(again.code).toBe(0);
    expect(await rows(dir, 'orders')).toEqual([{ id: 10, customer_id: 1 }]);
    // The nodes came from the parse snapshot this time; the YAML line is found again from the file.
    expect(again.stdout).toContain('parse snapshot');
    const withoutClock = (lines: string[]) => lines.map((l) => l.replace(/^\d\d:\d\d:\d\d\s+/, ''));
    expect(withoutClock(again.stderr.split('\n').filter((l) => l.includes('Warning')))).toEqual(withoutClock(warnings));
    const json = await runKiln(['run', '--log-format', 'json'], dir);
    const events = json.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; file?: string; line?: number });
    expect(events.find((e) => e.event === 'warning')).toMatchObject({ file: 'models/schema.yml', line: Number(/schema\.yml:(\d+)/.exec(warnings[0])![1]) });
  });

  it('warn_unsupported: false silences the warning', async () => {
    const dir = makeProject(files('\n            warn_unsupported: false'));
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('constraints without an enforced contract are ignored, without warnings', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/a.sql': "{{ config(materialized='table') }}select null::int as id, 'x' as label",
      'models/schema.yml': 'models:\n  - name: a\n    columns:\n      - name: id\n        data_type: varchar\n        constraints: [{type: not_null}, {type: foreign_key, expression: "nowhere (id)"}]\n'
        + '    constraints:\n      - {type: check, expression: "id > 0"}\n',
    });
    const r = await runKiln(['run'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // Built by create table as: the SQL's own types, no constraints.
    expect(await columnsOf(dir, 'a')).toEqual([
      { column_name: 'id', data_type: 'INTEGER', is_nullable: 'YES' },
      { column_name: 'label', data_type: 'VARCHAR', is_nullable: 'YES' },
    ]);
    expect(await rows(dir, 'a')).toEqual([{ id: null, label: 'x' }]);
  });
});

describe('contracts on views and ephemeral models', () => {
  it('a view gets the column check only, with one warning about its constraints', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/v.sql': "select 1 as id, 'x' as label",
      'models/schema.yml': [
        'models:',
        '  - name: v',
        '    config: {contract: {enforced: true}}',
        '    columns:',
        '      - {name: id, data_type: int, constraints: [{type: not_null}, {type: primary_key}]}',
        '      - {name: label, data_type: string}',
        '    constraints: [{type: check, expression: "id > 0"}]',
      ].join('\n'),
    });
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('Warning'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/Warning: models\/schema\.yml:\d+:\d+: constraints on view 'v' are not applied: a view cannot enforce constraints$/);
    expect(await queryDuckdb(db(dir), "select table_type from information_schema.tables where table_name = 'v'")).toEqual([{ table_type: 'VIEW' }]);
    expect(await rows(dir, 'v')).toEqual([{ id: 1, label: 'x' }]);

    writeFiles(dir, { 'models/v.sql': "select 1.5 as id, 'x' as label" });
    const bad = await runKiln(['run'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("model 'v' does not match its enforced contract: 1 column of another type; nothing was replaced");
    expect(bad.stderr).toContain('| id     | int             | DECIMAL(2,1) | type mismatch |');
    expect(await rows(dir, 'v')).toEqual([{ id: 1, label: 'x' }]);
  });

  it('an ephemeral model with a contract is refused', async () => {
    const dir = makeProject({
      'kiln_project.yml': PROJECT,
      'models/eph.sql': "{{ config(materialized='ephemeral') }}select 1 as id",
      'models/final.sql': 'select * from {{ ref("eph") }}',
      'models/schema.yml': 'models:\n  - name: eph\n    config: {contract: {enforced: true}}\n    columns: [{name: id, data_type: int}]\n',
    });
    const r = await runKiln(['run'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/eph.sql: model 'eph' is ephemeral and has an enforced contract");
    expect(r.stderr).toContain('Materialize it as a table or view, or set contract: {enforced: false}.');
    expect(r.stdout).not.toContain('START');
  });
});
