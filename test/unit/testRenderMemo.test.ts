/**
 * Generic tests given a kept render of their shape (TestRenderMemo) must get exactly what rendering them
 * would give: every test of a project is rendered both ways and compared, and the shapes that must not be
 * reused (a render that logs, inspects a relation, or names the tested model twice) are rendered each time.
 */
import { describe, expect, it } from 'vitest';
import { nodeIdentity, parseProject, type ParsedProject, type TargetInfo } from '../../src/compile/parse.js';
import { renderParseEntry } from '../../src/compile/parseRender.js';
import { columnGenericTests, TestRenderMemo } from '../../src/compile/testRenderMemo.js';
import { loadProject } from '../../src/project/loadProject.js';
import type { SqlNode } from '../../src/project/nodes.js';
import { makeProject } from '../helpers/project.js';

const TARGET: TargetInfo = { name: 'dev', type: 'duckdb', schema: 'main', database: 'db', threads: 1, profileName: 'p', fields: {} };

const SCHEMA = `
sources:
  - name: raw
    tables:
      - name: t1
        columns: [{name: id, tests: [not_null, unique]}]
      - name: t2
        columns: [{name: id, tests: [not_null, unique]}]
models:
  - name: a
    columns:
      - name: id
        tests: [unique, not_null, logs_it, names_model]
      - name: parent_id
        tests: [{relationships: {to: ref('a'), field: id}}]
      - name: b_id
        tests: [{relationships: {to: ref('b'), field: id}}]
      - name: status
        tests: [{accepted_values: {values: [x, y]}}]
      - name: amount
        tests: [{at_most: {max_value: .inf}}]
      - name: e
        tests: [unique, not_null]
      - name: Odd Col
        quote: true
        tests: [not_null]
  - name: b
    columns:
      - name: id
        tests: [unique, not_null, logs_it, names_model]
      - name: parent_id
        tests: [{relationships: {to: ref('a'), field: id}}]
      - name: b_id
        tests: [{relationships: {to: ref('b'), field: id}}]
      - name: status
        tests: [{accepted_values: {values: [x, y]}}, {accepted_values: {values: [x, z]}}]
      - name: amount
        tests: [{at_most: {max_value: ~}}]
  - name: c
    columns:
      - name: id
        tests: [unique, {not_null: {config: {where: "id > 0"}}}, names_model]
      - name: amount
        tests: [{at_most: {max_value: .inf}}]
      - name: parent_id
        tests: [{relationships: {to: ref('a'), field: id}}]
  - name: d
    latest_version: 2
    versions: [{v: 1}, {v: 2}]
    columns:
      - name: id
        tests: [unique, not_null]
`;

const MACROS = `
{% test logs_it(model, column_name) %}{{ log('checking ' ~ column_name) }}select 1 from {{ model }}{% endtest %}
{% test names_model(model, column_name) %}select '{{ model.identifier }}' as name from {{ model }}{% endtest %}
{% test at_most(model, column_name, max_value) %}select * from {{ model }} where {% if max_value is none %}false{% else %}{{ column_name }} > {{ max_value }}{% endif %}{% endtest %}
`;

async function parsed(schema = SCHEMA, macros = MACROS): Promise<ParsedProject> {
  const dir = makeProject({
    'dbt_project.yml': "name: memo\nversion: '1'\nprofile: p\n",
    'models/a.sql': 'select 1 as id',
    'models/b.sql': 'select 1 as id',
    'models/c.sql': 'select 1 as id',
    'models/d_v1.sql': 'select 1 as id',
    'models/d_v2.sql': 'select 1 as id',
    'models/schema.yml': schema,
    'macros/tests.sql': macros,
  });
  return parseProject({
    project: loadProject({ projectDir: dir }),
    target: TARGET,
    adapterPrefixes: ['duckdb'],
    shared: { invocationId: 'x', runStartedAt: new Date(), log: () => {}, flags: {}, env: process.env, fullRefresh: false },
  });
}

describe('generic tests of one shape', () => {
  it('get, from the kept render, exactly the entry a render of their own gives', async () => {
    const p = await parsed();
    const tests = [...p.nodes.values()].filter((n): n is SqlNode => n.resourceType === 'test');
    expect(tests.length).toBe(33);
    const memo = new TestRenderMemo();
    const acrossColumns = new TestRenderMemo(columnGenericTests(p.renderer.macros.allDefinitions()));
    for (const t of tests) {
      const identity = nodeIdentity(t);
      const direct = renderParseEntry(p.renderer, identity);
      for (const m of [memo, acrossColumns]) {
        const kept = m.render(p.renderer, identity);
        expect({ test: t.name, ...kept }, t.name).toEqual({ test: t.name, ...direct });
      }
      // What the parse itself made of the node is the same too.
      expect([t.parsedSql, t.refs, t.sources, t.placeholders], t.name).toEqual([direct.sql, direct.refs, direct.sources, direct.placeholders]);
    }
    // Kiln's own unique/not_null/accepted_values/relationships share shapes across columns too: the first
    // of each (per config) is rendered with a stand-in column.
    expect(acrossColumns.hits).toBeGreaterThan(memo.hits);
    expect(tests.find((t) => t.name.startsWith('not_null_a_') && t.name.includes('Odd_Col'))?.parsedSql).toContain('"Odd Col" is null');
    // Kept renders served: not_null and unique on t2 (from t1); unique on b and c (from a); not_null on b
    // (c's has another config, d's versions another ref); relationships to a from c (from b: a's own names a
    // twice and is not kept); relationships to b from b (from a); accepted_values [x, y] on b; at_most .inf
    // on c (from a; b's ~ is another value, though JSON writes both as null). Never served: logs_it (it
    // logs) and names_model (it inspects the relation).
    expect(memo.hits).toBe(9);
  });

  it('fail at the first test that fails, in the order they are declared', async () => {
    const schema = 'models:\n' + ['a', 'b', 'c'].map((m) => `  - name: ${m}\n    columns: [{name: id, tests: [${m === 'c' ? 'always_fails' : 'not_b'}]}]\n`).join('');
    const macros = `
{% test not_b(model, column_name) %}{% if model.name == 'b' %}{{ exceptions.raise_compiler_error('model b is not allowed') }}{% endif %}select 1{% endtest %}
{% test always_fails(model, column_name) %}{{ exceptions.raise_compiler_error('never allowed') }}{% endtest %}
`;
    await expect(parsed(schema, macros)).rejects.toThrow('model b is not allowed');
  });

  it('across columns only while Kiln\'s own test macros are in use, and with errors that name their column', async () => {
    // The k_ columns' tests print text that looks like a stand-in for the column: it must stay as written.
    const lookalike = "[{accepted_values: {values: ['__kiln_column_name__']}}, {relationships: {to: ref('a'), field: __kiln_column_name__}}]";
    const schema = 'models:\n' + ['a', 'b', 'c'].map((m) => `  - name: ${m}\n    columns:\n      - {name: x_${m}, tests: [unique, not_null]}\n      - {name: k_${m}, tests: ${lookalike}}\n      - {name: s_${m}, tests: [{accepted_values: {values: ${m === 'c' ? '[]' : '[p, q]'}}}]}\n`).join('');
    const own = '{% macro default__test_unique(model, column_name) %}select {{ column_name | upper }} as u from {{ model }}{% endmacro %}\n';
    const p = await parsed(schema.replace(/values: \[\]/, 'values: [r]'), MACROS + own);
    const generic = columnGenericTests(p.renderer.macros.allDefinitions());
    expect([...generic].sort()).toEqual(['test_accepted_values', 'test_not_null', 'test_relationships']);
    const memo = new TestRenderMemo(generic);
    for (const t of [...p.nodes.values()].filter((n): n is SqlNode => n.resourceType === 'test')) {
      expect(memo.render(p.renderer, nodeIdentity(t)), t.name).toEqual(renderParseEntry(p.renderer, nodeIdentity(t)));
    }
    expect(([...p.nodes.values()].find((n) => n.name === 'unique_b_x_b') as SqlNode).parsedSql).toContain('select X_B as u');
    expect(memo.hits).toBeGreaterThan(0);
    // accepted_values with no values fails at c's column, not at the stand-in's.
    await expect(parsed(schema)).rejects.toThrow("accepted_values on 's_c' needs `values:`");
  });

  it('keep a render apart per config: a `where` changes what the test selects from', async () => {
    const p = await parsed();
    const c = [...p.nodes.values()].find((n) => n.name === 'not_null_c_id') as SqlNode;
    expect(c.parsedSql).toContain('where id > 0');
    const a = [...p.nodes.values()].find((n) => n.name === 'not_null_a_id') as SqlNode;
    expect(a.parsedSql).not.toContain('where id > 0');
  });

  it('name the tested model in the refs once, also when the test refers to it again', async () => {
    const p = await parsed();
    const self = [...p.nodes.values()].find((n) => n.name.startsWith('relationships_b_b_id__id__ref_b_')) as SqlNode;
    expect(self.refs.map((r) => r.name)).toEqual(['b']);
    expect(self.placeholders).toHaveLength(2);
    const other = [...p.nodes.values()].find((n) => n.name.startsWith('relationships_c_parent_id__id__ref_a_')) as SqlNode;
    expect(other.refs.map((r) => r.name)).toEqual(['c', 'a']);
  });
});
