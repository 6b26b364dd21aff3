/** Contract pieces without a warehouse: DuckDB type normalisation, column comparison, constraint DDL and planning. */
import { describe, expect, it } from 'vitest';
import { duckdbDdl } from '../../adapters/duckdb/ddl.js';
import { duckdbTypesMatch, normalizeDuckdbType } from '../../adapters/duckdb/types.js';
import type { Adapter, AdapterCapabilities } from '../../src/adapter.js';
import type { RefCall, SqlNode } from '../../src/project/nodes.js';
import type { ColumnSpec } from '../../src/project/schemaYaml.js';
import { contractSpec } from '../../src/project/contracts.js';
import { compareColumns, planConstraints, type ContractServices } from '../../src/run/contracts.js';

describe('DuckDB type names', () => {
  it.each([
    ['int', 'INTEGER'], ['INT4', 'INTEGER'], ['integer', 'INTEGER'], ['bigint', 'BIGINT'], ['int8', 'BIGINT'], ['long', 'BIGINT'],
    ['text', 'VARCHAR'], ['string', 'VARCHAR'], ['varchar(20)', 'VARCHAR'], ['char(3)', 'VARCHAR'], ['character varying', 'VARCHAR'],
    ['numeric(10,2)', 'DECIMAL(10,2)'], ['decimal( 10 , 2 )', 'DECIMAL(10,2)'], ['numeric', 'DECIMAL(18,3)'], ['numeric(5)', 'DECIMAL(5,0)'],
    ['bool', 'BOOLEAN'], ['float', 'FLOAT'], ['real', 'FLOAT'], ['float8', 'DOUBLE'], ['double precision', 'DOUBLE'],
    ['timestamptz', 'TIMESTAMP WITH TIME ZONE'], ['timestamp  with time zone', 'TIMESTAMP WITH TIME ZONE'], ['datetime', 'TIMESTAMP'],
    ['bytea', 'BLOB'], ['date', 'DATE'], ['uuid', 'UUID'],
    ['int[]', 'INTEGER[]'], ['varchar(3)[][]', 'VARCHAR[][]'], ['int[3]', 'INTEGER[3]'],
    ['struct(a int, "B" text)', 'STRUCT("a" INTEGER, "B" VARCHAR)'], ['map(text, int8)', 'MAP(VARCHAR, BIGINT)'],
    ["enum('a','b')", "ENUM('a', 'b')"],
  ])('%s → %s', (written, canonical) => {
    expect(normalizeDuckdbType(written)).toBe(canonical);
  });

  it('matches declared types against reported ones without comparing precision or scale', () => {
    expect(duckdbTypesMatch('int', 'INTEGER')).toBe(true);
    expect(duckdbTypesMatch('text', 'VARCHAR')).toBe(true);
    expect(duckdbTypesMatch('numeric(10,2)', 'DECIMAL(10,2)')).toBe(true);
    expect(duckdbTypesMatch('numeric(10,2)', 'DECIMAL(18,3)')).toBe(true);
    expect(duckdbTypesMatch('struct(a numeric(4,1))', 'STRUCT("a" DECIMAL(18,3))')).toBe(true);
    expect(duckdbTypesMatch('int', 'BIGINT')).toBe(false);
    expect(duckdbTypesMatch('timestamp', 'TIMESTAMP WITH TIME ZONE')).toBe(false);
    expect(duckdbTypesMatch('int[]', 'INTEGER')).toBe(false);
  });
});

describe('column comparison', () => {
  const adapter = { typesMatch: duckdbTypesMatch };
  it('reports missing, mismatched and extra columns, names compared without case', () => {
    expect(compareColumns(adapter,
      [{ name: 'id', dataType: 'int' }, { name: 'Label', dataType: 'text' }, { name: 'gone', dataType: 'date' }],
      [{ name: 'ID', dataType: 'BIGINT' }, { name: 'label', dataType: 'VARCHAR' }, { name: 'extra', dataType: 'BOOLEAN' }],
    )).toEqual([
      { column: 'id', expected: 'int', actual: 'BIGINT', problem: 'type mismatch' },
      { column: 'gone', expected: 'date', problem: 'missing' },
      { column: 'extra', actual: 'BOOLEAN', problem: 'extra' },
    ]);
  });
});

describe('constraint DDL (DuckDB)', () => {
  it('writes column and table clauses as dbt does', () => {
    expect(duckdbDdl.columnConstraint({ type: 'not_null' })).toBe('not null');
    expect(duckdbDdl.columnConstraint({ type: 'check', expression: 'x > 0', name: 'pos' })).toBe('constraint "pos" check (x > 0)');
    expect(duckdbDdl.columnConstraint({ type: 'foreign_key', to: '"main"."c"', toColumns: ['id'] })).toBe('references "main"."c" (id)');
    expect(duckdbDdl.columnConstraint({ type: 'foreign_key', expression: 'c (id)' })).toBe('references c (id)');
    expect(duckdbDdl.columnConstraint({ type: 'custom', expression: 'default 0' })).toBe('default 0');
    expect(duckdbDdl.tableConstraint({ type: 'primary_key', columns: ['a', 'b'], name: 'pk' })).toBe('constraint "pk" primary key (a, b)');
    expect(duckdbDdl.tableConstraint({ type: 'unique', columns: ['a'] })).toBe('unique (a)');
    expect(duckdbDdl.tableConstraint({ type: 'foreign_key', columns: ['cid'], to: 'c', toColumns: ['id'] })).toBe('foreign key (cid) references c (id)');
    expect(duckdbDdl.tableConstraint({ type: 'not_null', columns: ['a'] })).toBeUndefined();
    expect(duckdbDdl.createTable({ schema: 'main', identifier: 't' }, [{ name: 'id', type: 'int', constraints: ['not null'] }, { name: 'Odd Name', type: 'text', quote: true }], false, { constraints: ['primary key (id)'] }))
      .toBe('create table "main"."t" (\n    id int not null,\n    "Odd Name" text,\n    primary key (id)\n)');
    expect(duckdbDdl.createTable({ schema: 'main', identifier: 't' }, [{ name: 'a', type: 'INTEGER' }], true)).toBe('create table "main"."t" ("a" INTEGER)');
  });
});

describe('constraint planning', () => {
  const node = (columns: SqlNode['columns'], constraints: unknown[] = []): SqlNode => ({
    uniqueId: 'model.shop.orders', name: 'orders', resourceType: 'model', originalFilePath: 'models/orders.sql', patchPath: 'models/schema.yml',
    config: { materialized: 'table', contract: { enforced: true } }, columns, constraints,
  } as Partial<SqlNode> as SqlNode);
  // Only what contracts read; the rest of ColumnSpec is the YAML loader's business.
  const col = (name: string, dataType: string, constraints: unknown[] = []) =>
    ({ name, dataType, constraints, description: '', meta: {}, tests: [], tags: [] } as Partial<ColumnSpec> as ColumnSpec);
  const services = (support: Partial<AdapterCapabilities['constraintSupport']>): { s: ContractServices; refs: RefCall[] } => {
    const refs: RefCall[] = [];
    const capabilities = {
      constraintSupport: { not_null: 'enforced', unique: 'enforced', primary_key: 'enforced', foreign_key: 'enforced', check: 'enforced', custom: 'enforced', ...support },
    } as AdapterCapabilities;
    const adapter = { type: 'fakehouse', capabilities, ddl: duckdbDdl } as Partial<Adapter> as Adapter;
    const render = (text: string) => ({ render: () => text });
    const compiler = {
      resolversFor: () => ({
        ref: (call: RefCall) => { refs.push(call); return render(`"main"."${call.name}"`); },
        source: (s: string, t: string) => render(`"raw"."${s}_${t}"`),
      }),
    } as unknown as ContractServices['compiler'];
    return { s: { adapter, compiler, materializer: undefined as unknown as ContractServices['materializer'] }, refs };
  };

  it('declares not-enforced constraints with a warning, leaves unsupported ones out, resolves ref() in to:', () => {
    const n = node([
      col('id', 'int', [{ type: 'primary_key' }, { type: 'check', expression: 'id > 0', warn_unsupported: false }]),
      col('customer_id', 'int', [{ type: 'foreign_key', to: "ref('customers')", to_columns: ['id'] }]),
      col('code', 'text'),
    ], [{ type: 'not_null', columns: ['code', 'id'] }, { type: 'unique', columns: ['code'], warn_unenforced: false }]);
    const { s, refs } = services({ primary_key: 'not_enforced', unique: 'not_enforced', check: 'not_supported' });
    const plan = planConstraints(s, n, contractSpec(n)!);
    expect(refs).toEqual([{ name: 'customers', package: undefined, version: undefined }]);
    expect(plan.columns.map((c) => [c.name, c.constraints])).toEqual([
      ['id', ['primary key', 'not null']],
      ['customer_id', ['references "main"."customers" (id)']],
      ['code', ['not null']],
    ]);
    expect(plan.constraints).toEqual(['unique (code)']);
    expect(plan.warnings.map((w) => w.message)).toEqual(['constraint primary_key on orders.id is not enforced by fakehouse']);
    expect(plan.warnings[0].hint).toBe('Set warn_unenforced: false on the constraint to silence this.');
  });

  it('refuses model-level constraints naming undeclared columns', () => {
    const n = node([col('id', 'int')], [{ type: 'primary_key', columns: ['idd'] }]);
    expect(() => contractSpec(n)).toThrow("constraint 1 of model 'orders' names a column the YAML does not declare: idd");
  });
});
