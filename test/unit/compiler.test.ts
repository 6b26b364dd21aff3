/**
 * The Jinja dbt projects write, rendered by Kiln's Nunjucks environment, with Jinja2's exact output:
 * Python string methods, tests, filters, globals, `modules`, operators, scoping, macros with return()
 * and caller(), and template errors that name the file and line.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgateTable } from '../../src/compile/agate.js';
import { createEnvironment, type Env } from '../../src/compile/environment.js';
import { parseProject, type ParsedProject, type TargetInfo } from '../../src/compile/parse.js';
import { pyRepr } from '../../src/compile/testNodes.js';
import { KilnError } from '../../src/errors.js';
import { loadProject } from '../../src/project/loadProject.js';
import type { SqlNode } from '../../src/project/nodes.js';
import { makeProject } from '../helpers/project.js';
import { rejected } from '../helpers/errors.js';

/** [what, template, expected output, context] */
type Case = [string, string, string, Record<string, unknown>?];

const env: Env = createEnvironment();
const render = (src: string, ctx: Record<string, unknown> = {}) => env.renderString(src, ctx);

function check(cases: Case[]) {
  it.each(cases)('%s', (_what, src, expected, ctx) => {
    expect(render(src, ctx)).toBe(expected);
  });
}

describe("Python's repr(), which test ids are hashed with", () => {
  it.each([
    ['abc', "'abc'"],
    ["it's", `"it's"`],
    ['a"b', `'a"b'`],
    ['x\\y', "'x\\\\y'"],
    ['a\'b"c', `'a\\'b"c'`],
    ['tab\there', "'tab\\there'"],
    ['é', "'é'"],
    ['', "''"],
    ['a]b[c', "'a]b[c'"],
  ])('%j', (value, repr) => {
    expect(pyRepr(value)).toBe(repr);
  });

  it('of lists and dicts (of strings, as test metadata is made hashable)', () => {
    expect(pyRepr(['a', { k: 'v', n: '1', q: "it's" }])).toBe(`['a', {'k': 'v', 'n': '1', 'q': "it's"}]`);
  });
});

describe('Python string methods', () => {
  check([
    ['upper', `{{ 'MiXed'.upper() }}`, 'MIXED'],
    ['lower', `{{ 'MiXed'.lower() }}`, 'mixed'],
    ['chained methods', `{{ ' Stg_Orders '.strip().lower().replace('stg_', '') }}`, 'orders'],
    ['strip() whitespace', `[{{ '  pad \t\n'.strip() }}]`, '[pad]'],
    ['strip(chars)', `{{ '--x--'.strip('-') }}|{{ 'xyabcyx'.strip('xy') }}`, 'x|abc'],
    ['lstrip / rstrip', `[{{ '  a  '.lstrip() }}][{{ '  a  '.rstrip() }}][{{ '00120'.lstrip('0') }}]`, '[a  ][  a][120]'],
    ['split() on whitespace runs', `{{ ' a  b\tc\n'.split() }}`, "['a', 'b', 'c']"],
    ['split(sep) keeps empty fields', `{{ 'a,b,,c'.split(',') }}`, "['a', 'b', '', 'c']"],
    ['split(sep, maxsplit)', `{{ 'a.b.c'.split('.', 1) }}`, "['a', 'b.c']"],
    ['split(None, maxsplit)', `{{ 'a b  c'.split(None, 1) }}`, "['a', 'b  c']"],
    ['split()[-1]', `{{ 'db.schema.table'.split('.')[-1] }}`, 'table'],
    ['rsplit(sep, maxsplit)', `{{ 'a.b.c'.rsplit('.', 1) }}`, "['a.b', 'c']"],
    ['replace', `{{ 'a-b-c'.replace('-', '_') }}`, 'a_b_c'],
    ['replace with count', `{{ 'aaa'.replace('a', 'b', 2) }}`, 'bba'],
    ['startswith', `{{ 'stg_orders'.startswith('stg_') }}|{{ 'stg_orders'.startswith('int_') }}`, 'True|False'],
    ['startswith a tuple', `{{ 'stg_orders'.startswith(('int_', 'stg_')) }}`, 'True'],
    ['startswith a list', `{{ 'fct_orders'.startswith(['int_', 'stg_']) }}`, 'False'],
    ['endswith / endswith a tuple', `{{ 'orders.sql'.endswith('.sql') }}|{{ 'orders.csv'.endswith(('.sql', '.py')) }}`, 'True|False'],
    ['format positional', `{{ '{} and {}'.format('a', 1) }}`, 'a and 1'],
    ['format indexed', `{{ '{1}-{0}'.format('a', 'b') }}`, 'b-a'],
    ['format named', `{{ '{schema}.{table}'.format(schema='raw', table='orders') }}`, 'raw.orders'],
    ['format None and booleans', `{{ '{}/{}'.format(none, true) }}`, 'None/True'],
    ['join a list', `{{ ', '.join(['a', 'b', 'c']) }}`, 'a, b, c'],
    ['join a string', `{{ '-'.join('abc') }}`, 'a-b-c'],
    ['title', `{{ 'hello big world'.title() }}|{{ 'order_id'.title() }}`, 'Hello Big World|Order_Id'],
    ['capitalize', `{{ 'hELLO'.capitalize() }}`, 'Hello'],
    ['string methods on macro-like SafeString', `{% set s %}  Abc  {% endset %}{{ s.strip().upper() }}`, 'ABC'],
  ]);
});

describe('{% do %} mutations', () => {
  check([
    ['list.append', `{% set cols = ['a'] %}{% do cols.append('b') %}{{ cols }}`, "['a', 'b']"],
    ['list.extend', `{% set cols = ['a'] %}{% do cols.extend(['b', 'c']) %}{{ cols | join(',') }}`, 'a,b,c'],
    ['dict.update with a dict', `{% set cfg = {'a': 1} %}{% do cfg.update({'b': 2}) %}{{ cfg }}`, "{'a': 1, 'b': 2}"],
    ['dict.update with keywords', `{% set cfg = {'a': 1} %}{% do cfg.update(b=2) %}{{ cfg }}`, "{'a': 1, 'b': 2}"],
    ['list.pop', `{% set l = [1, 2, 3] %}{{ l.pop() }}{{ l.pop(0) }}{{ l }}`, '31[2]'],
    ['list.insert / remove', `{% set l = ['b'] %}{% do l.insert(0, 'a') %}{% do l.remove('b') %}{{ l }}`, "['a']"],
    ['append inside a loop', `{% set out = [] %}{% for x in [1, 2, 3] %}{% do out.append(x * 10) %}{% endfor %}{{ out }}`, '[10, 20, 30]'],
  ]);
});

describe('tests', () => {
  check([
    ['is none', `{{ none is none }}|{{ None is none }}|{{ 1 is none }}|{{ '' is none }}`, 'True|True|False|False'],
    ['is not none', `{{ 1 is not none }}|{{ none is not none }}`, 'True|False'],
    ['is string', `{{ 'a' is string }}|{{ 1 is string }}|{{ ['a'] is string }}`, 'True|False|False'],
    ['is mapping', `{{ {} is mapping }}|{{ [] is mapping }}|{{ 'a' is mapping }}|{{ none is mapping }}`, 'True|False|False|False'],
    ['namespace() is not a mapping', `{{ namespace(a=1) is mapping }}`, 'False'],
    ['is iterable', `{{ [] is iterable }}|{{ 'a' is iterable }}|{{ {} is iterable }}|{{ 1 is iterable }}`, 'True|True|True|False'],
    ['is number', `{{ 1 is number }}|{{ 1.5 is number }}|{{ '1' is number }}`, 'True|True|False'],
    ['is defined / undefined', `{{ x is defined }}|{{ y is defined }}|{{ y is undefined }}`, 'True|False|True', { x: 1 }],
    ['is defined for a None value', `{{ x is defined }}`, 'True', { x: null }],
    ['is sequence', `{{ [1] is sequence }}|{{ 'ab' is sequence }}|{{ 1 is sequence }}`, 'True|True|False'],
    ['is divisibleby with and without parentheses', `{{ 6 is divisibleby 3 }}|{{ 7 is divisibleby(3) }}`, 'True|False'],
    ['is in / is sameas with a bare argument', `{{ 'a' is in ['a', 'b'] }}|{{ none is sameas none }}`, 'True|True'],
    ['is equalto / ==', `{{ 1 is equalto 1 }}|{{ 'a' is eq 'b' }}`, 'True|False'],
    ['is odd / even / lower / upper', `{{ 3 is odd }}{{ 3 is even }}{{ 'ab' is lower }}{{ 'AB' is upper }}`, 'TrueFalseTrueTrue'],
    ['not … is', `{% if not x is none %}set{% endif %}`, 'set', { x: 0 }],
  ]);
});

describe('literals and printing', () => {
  check([
    ['capitalized None/True/False', `{{ None }}|{{ True }}|{{ False }}`, 'None|True|False'],
    ['lower-case none/true/false', `{{ none }}|{{ true }}|{{ false }}`, 'None|True|False'],
    ['in conditions', `{% if None is none and True and not False %}ok{% endif %}`, 'ok'],
    ['an undefined variable prints nothing', `[{{ nothing_here }}]`, '[]'],
    ['a list prints as Python', `{{ [None, True, 'x', 1, 2.5] }}`, "[None, True, 'x', 1, 2.5]"],
    ['a dict prints as Python', `{{ {'k': None, 'l': [1]} }}`, "{'k': None, 'l': [1]}"],
    ['string repr quoting', `{{ ["it's", 'x', 'a\\\\b'] }}`, `["it's", 'x', 'a\\\\b']`],
    ['a None from the context', `{{ x }}`, 'None', { x: null }],
    ['a JS boolean from the context', `{{ x }}`, 'True', { x: true }],
  ]);
});

describe('string literals', () => {
  check([
    ['\\d keeps its backslash (regexes)', String.raw`{{ '\d+' }}`, String.raw`\d+`],
    ['escaped backslash', String.raw`{{ 'C:\\temp' }}`, String.raw`C:\temp`],
    ['escaped quotes', String.raw`{{ 'it\'s' }}|{{ "say \"hi\"" }}`, `it's|say "hi"`],
    ['\\n and \\t', String.raw`{{ 'a\tb\nc' }}`, 'a\tb\nc'],
    ['\\x and \\u escapes', String.raw`{{ '\x41\u00e9' }}`, 'Aé'],
  ]);
});

describe('namespace and scoping', () => {
  check([
    ['namespace counter in a loop', `{% set ns = namespace(count=0) %}{% for x in ['a', 'b', 'c'] %}{% set ns.count = ns.count + 1 %}{% endfor %}{{ ns.count }}`, '3'],
    ['namespace in nested loops', `{% set ns = namespace(n=0, seen=[]) %}{% for a in [1, 2] %}{% for b in 'xy' %}{% set ns.n = ns.n + 1 %}{% endfor %}{% endfor %}{{ ns.n }}`, '4'],
    ['namespace attribute holding a list', `{% set ns = namespace(items=[]) %}{% for x in [1, 2] %}{% set ns.items = ns.items + [x] %}{% endfor %}{{ ns.items }}`, '[1, 2]'],
    ['a plain set inside a loop stays in the loop (Jinja scoping)', `{% set c = 0 %}{% for x in [1, 2] %}{% set c = c + 1 %}{{ c }}{% endfor %}{{ c }}`, '110'],
    ['a variable set in a loop is not visible after it', `{% for x in [1] %}{% set inner = 5 %}{% endfor %}[{{ inner }}]`, '[]'],
    ['set in an if block is visible after it', `{% if true %}{% set v = 'yes' %}{% endif %}{{ v }}`, 'yes'],
    ['set with tuple unpacking', `{% set a, b = 'x', 'y' %}{{ b }}{{ a }}`, 'yx'],
    ['unpacking a split', `{% set schema, table = 'raw.orders'.split('.') %}{{ table }}@{{ schema }}`, 'orders@raw'],
    ['set block', `{% set sql %}select {{ 1 + 1 }}{% endset %}[{{ sql }}]`, '[select 2]'],
    ['set block keeps whitespace', `{% set x %}\n  a\n{% endset %}[{{ x }}]`, '[\n  a\n]'],
  ]);
});

describe('control flow and whitespace', () => {
  const ifElif = `{% if n > 1 %}many{% elif n == 1 %}one{% else %}none{% endif %}`;
  check([
    ['elif: many', ifElif, 'many', { n: 5 }],
    ['elif: one', ifElif, 'one', { n: 1 }],
    ['elif: none', ifElif, 'none', { n: 0 }],
    ['Python truthiness of empty containers', `{% if [] %}x{% else %}empty{% endif %}|{% if {} %}x{% else %}empty{% endif %}|{{ [] or 'dflt' }}`, 'empty|empty|dflt'],
    ['inline if', `{{ 'a' if x else 'b' }}`, 'b', { x: '' }],
    ['whitespace control on blocks', `a\n  {%- if true -%}\n  b\n  {%- endif -%}\n  c`, 'abc'],
    ['whitespace control in a loop', `{% for x in [1, 2, 3] -%}\n  {{ x }}\n{%- endfor %}`, '123'],
    ['no trim_blocks by default', `{% if true %}\nx{% endif %}`, '\nx'],
    ['raw', `{% raw %}{{ not_rendered }} {% if %}{% endraw %}`, '{{ not_rendered }} {% if %}'],
    ['filter block', `{% filter upper %}hello {{ 'x' }}{% endfilter %}`, 'HELLO X'],
    ['loop.index / first / last', `{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ x }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}{% if not loop.last %},{% endif %}{% endfor %}`, '1aF,2b,3cL'],
    ['loop.index0 / length / revindex', `{% for x in 'ab' %}{{ loop.index0 }}{{ loop.length }}{{ loop.revindex }} {% endfor %}`, '022 121 '],
    ['for … else', `{% for x in [] %}x{% else %}empty{% endfor %}`, 'empty'],
    ['for over a tuple of pairs', `{% for a, b in [(1, 'x'), (2, 'y')] %}{{ a }}{{ b }}{% endfor %}`, '1x2y'],
  ]);
});

describe('operators', () => {
  check([
    ['list + list', `{{ [1, 2] + [3] }}`, '[1, 2, 3]'],
    ['string + string', `{{ 'a' + 'b' }}`, 'ab'],
    ['in a list / not in', `{{ 'b' in ['a', 'b'] }}|{{ 'z' in ['a'] }}|{{ 2 not in [1, 3] }}`, 'True|False|True'],
    ['in a string', `{{ 'ell' in 'hello' }}|{{ 'x' in 'hello' }}`, 'True|False'],
    ['in a dict', `{{ 'k' in {'k': 1} }}|{{ 'v' in {'k': 'v'} }}`, 'True|False'],
    ['in a tuple', `{{ 'dev' in ('dev', 'ci') }}|{{ 'd' in ('dev', 'ci') }}`, 'True|False'],
    ['in with a value from context', `{% if target in ('prod', 'ci') %}full{% else %}sample{% endif %}`, 'sample', { target: 'dev' }],
    ['integer division', `{{ 7 // 2 }}|{{ -7 // 2 }}`, '3|-4'],
    ['true division, modulo, power', `{{ 7 / 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}`, '3.5|1|2|1024'],
    ['~ concatenation', `{{ 'a' ~ 1 ~ none ~ true }}`, 'a1NoneTrue'],
    ['~ with an undefined operand', `{{ 'id_' ~ missing }}`, 'id_'],
    ['~ with a list', `{{ 'n=' ~ [1, 2] }}`, 'n=[1, 2]'],
    ['== does not coerce types', `{{ 1 == '1' }}|{{ '1' == '1' }}|{{ 0 == '' }}|{{ true == 1 }}`, 'False|True|False|True'],
    ['== compares lists and dicts by value', `{{ [1, [2]] == [1, [2]] }}|{{ {'a': 1} == {'a': 1} }}|{{ [1] != [1] }}`, 'True|True|False'],
    ['chained comparison', `{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}`, 'True|False'],
    ['string repetition', `{{ '-' * 3 }}|{{ [0] * 2 }}`, '---|[0, 0]'],
    ['% formatting', `{{ '%s.%s' % ('a', 'b') }}|{{ '%d%%' % 50 }}|{{ '%(x)s!' % {'x': 1} }}|{{ '%05.2f' % 3.14159 }}|{{ '%-3s|' % 'a' }}`, 'a.b|50%|1!|03.14|a  |'],
    ['a tuple joins', `{{ ('a', 'b') | join('|') }}`, 'a|b'],
    ['one-element tuple and trailing commas', `{{ ('a',) }}|{{ [1, 2,] }}|{{ {'a': 1,} }}|{% set l = [
  'x',
  'y',
] %}{{ l }}`, "['a']|[1, 2]|{'a': 1}|['x', 'y']"],
    ['parentheses without a comma only group', `{{ ('a') }}|{{ (1 + 2) * 3 }}`, 'a|9'],
    ['negative index', `{{ [1, 2, 3][-1] }}|{{ 'abc'[-2] }}`, '3|b'],
    ['slices', `{{ 'abcdef'[1:3] }}|{{ 'abcdef'[-2:] }}|{{ [1, 2, 3, 4][::2] }}|{{ [1, 2, 3][::-1] }}|{{ [1, 2, 3][5:] }}|{{ [1, 2, 3][:10] }}`, 'bc|ef|[1, 3]|[3, 2, 1]|[]|[1, 2, 3]'],
    ['dict key from a variable', `{% set k = 'z' %}{{ {k: 1} }}`, "{'z': 1}"],
  ]);
});

describe('dict methods', () => {
  const d = `{% set d = {'b': 2, 'a': 1} %}`;
  check([
    ['items()', `${d}{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}`, 'b=2;a=1;'],
    ['keys()', `${d}{{ d.keys() | list }}`, "['b', 'a']"],
    ['values()', `${d}{{ d.values() | list }}`, '[2, 1]'],
    ['get() with and without a default', `${d}{{ d.get('a') }}|{{ d.get('z') }}|{{ d.get('z', 'dflt') }}`, '1|None|dflt'],
    ['get() of a None value', `{{ {'a': none}.get('a', 'dflt') }}`, 'None'],
    ['subscript and attribute', `${d}{{ d['a'] }}{{ d.b }}`, '12'],
    ['iterating a dict gives keys', `${d}{% for k in d %}{{ k }}{% endfor %}`, 'ba'],
    ['pop / setdefault', `{% set d = {'a': 1} %}{{ d.pop('a') }}{{ d.setdefault('b', 5) }}{{ d }}`, "15{'b': 5}"],
  ]);
});

describe('filters', () => {
  const cols = [
    { name: 'id', pk: true, type: 'int' },
    { name: 'amount', pk: false, type: 'numeric' },
    { name: 'qty', pk: false, type: 'int' },
  ];
  check([
    ['map(attribute=)', `{{ cols | map(attribute='name') | join(', ') }}`, 'id, amount, qty', { cols }],
    ['map(attribute=) | list', `{{ cols | map(attribute='name') | list }}`, "['id', 'amount', 'qty']", { cols }],
    ['map(filter)', `{{ ['a', 'b'] | map('upper') | join }}`, 'AB'],
    ['selectattr truthy', `{{ cols | selectattr('pk') | map(attribute='name') | list }}`, "['id']", { cols }],
    ['selectattr with a test', `{{ cols | selectattr('type', 'equalto', 'int') | map(attribute='name') | join(',') }}`, 'id,qty', { cols }],
    ['selectattr with ==', `{{ cols | selectattr('type', '==', 'numeric') | map(attribute='name') | join(',') }}`, 'amount', { cols }],
    ['selectattr with in', `{{ cols | selectattr('name', 'in', ['qty', 'id']) | map(attribute='name') | join(',') }}`, 'id,qty', { cols }],
    ['rejectattr', `{{ cols | rejectattr('pk') | map(attribute='name') | join(',') }}`, 'amount,qty', { cols }],
    ['select / reject with a test', `{{ [1, 2, 3, 4] | select('odd') | list }}|{{ [1, 2, 3, 4] | reject('odd') | list }}`, '[1, 3]|[2, 4]'],
    ['unique', `{{ [1, 2, 1, 3, 2] | unique | list }}`, '[1, 2, 3]'],
    ['unique is case-insensitive by default', `{{ ['a', 'A', 'b'] | unique | list }}`, "['a', 'b']"],
    ['tojson sorts keys', `{{ {'b': [1, none, true], 'a': 'x'} | tojson }}`, '{"a": "x", "b": [1, null, true]}'],
    ['tojson escapes like Jinja', `{{ "it's <b>" | tojson }}`, '"it\\u0027s \\u003cb\\u003e"'],
    ['join with a separator', `{{ [1, 2, 3] | join('+') }}`, '1+2+3'],
    ['join prints None and booleans', `{{ [none, true] | join(',') }}`, 'None,True'],
    ['join(attribute=)', `{{ cols | join(',', attribute='name') }}`, 'id,amount,qty', { cols }],
    ['default for undefined', `{{ missing | default('fallback') }}`, 'fallback'],
    ['default keeps None', `{{ none | default('x') }}`, 'None'],
    ['default with boolean', `{{ '' | default('empty', true) }}|{{ '' | default('empty', boolean=true) }}`, 'empty|empty'],
    ['replace', `{{ 'a.b.c' | replace('.', '__') }}`, 'a__b__c'],
    ['length / count', `{{ [1, 2, 3] | length }}|{{ 'abcd' | length }}|{{ {'a': 1} | length }}|{{ [] | count }}`, '3|4|1|0'],
    ['sort', `{{ [3, 1, 2] | sort | list }}|{{ ['b', 'a'] | sort(reverse=true) | join }}`, '[1, 2, 3]|ba'],
    ['sort(attribute=)', `{{ cols | sort(attribute='name') | map(attribute='name') | join(',') }}`, 'amount,id,qty', { cols }],
    ['sum(attribute=)', `{{ [{'n': 1}, {'n': 2}] | sum(attribute='n') }}|{{ [1, 2] | sum }}`, '3|3'],
    ['format', `{{ 'x=%s y=%d' | format('a', 3) }}`, 'x=a y=3'],
    ['round / int / float', `{{ 3.14159 | round(2) }}|{{ '42' | int + 1 }}|{{ '2.5' | float * 2 }}`, '3.14|43|5'],
    ['batch', `{{ [1, 2, 3, 4, 5] | batch(2) | list }}`, '[[1, 2], [3, 4], [5]]'],
    ['list of a dict and a string', `{{ {'a': 1} | list }}|{{ 'ab' | list }}`, "['a']|['a', 'b']"],
    ['string of None', `{{ none | string }}`, 'None'],
    ['first / last / min / max', `{{ [3, 1, 2] | first }}{{ [3, 1, 2] | last }}{{ [3, 1, 2] | min }}{{ [3, 1, 2] | max }}`, '3213'],
    ['upper / lower / trim / title / capitalize', `{{ 'ab' | upper }}|{{ 'AB' | lower }}|{{ '  x ' | trim }}|{{ 'a b' | title }}|{{ 'aB' | capitalize }}`, 'AB|ab|x|A B|Ab'],
    ['indent', `{{ 'a\nb' | indent(2) }}|{{ 'a\nb' | indent(width=2, first=true) }}`, 'a\n  b|  a\n  b'],
    ['groupby', `{% for g in rows | groupby('t') %}{{ g.grouper }}:{{ g.list | map(attribute='v') | join(',') }};{% endfor %}`, 'a:2;b:1,3;',
      { rows: [{ t: 'b', v: 1 }, { t: 'a', v: 2 }, { t: 'b', v: 3 }] }],
    ['groupby unpacked', `{% for key, items in rows | groupby('t') %}{{ key }}{{ items | length }}{% endfor %}`, 'a1b2',
      { rows: [{ t: 'b' }, { t: 'a' }, { t: 'b' }] }],
    ['dictsort', `{% for k, v in {'b': 1, 'a': 2} | dictsort %}{{ k }}{{ v }}{% endfor %}`, 'a2b1'],
  ]);
});

describe('globals', () => {
  check([
    ['tojson', `{{ tojson({'a': 1, 'b': [1, 2]}) }}`, '{"a": 1, "b": [1, 2]}'],
    ['tojson keeps key order unless sort_keys', `{{ tojson({'b': 1, 'a': 2}) }}|{{ tojson({'b': 1, 'a': 2}, sort_keys=true) }}`, '{"b": 1, "a": 2}|{"a": 2, "b": 1}'],
    ['tojson of a string', `{{ tojson("it's") }}`, `"it's"`],
    ['fromjson', `{{ fromjson('{"a": [1, 2]}').a[1] }}`, '2'],
    ['fromjson default on bad input', `{{ fromjson('not json', 'dflt') }}`, 'dflt'],
    ['fromyaml', String.raw`{{ fromyaml('a: 1\nb: [x, y]').b }}`, "['x', 'y']"],
    ['toyaml (PyYAML layout)', `{{ toyaml({'a': 1, 'b': ['x']}) }}`, 'a: 1\nb:\n- x\n'],
    ['zip', `{% for k, v in zip(['a', 'b'], [1, 2]) %}{{ k }}{{ v }}{% endfor %}`, 'a1b2'],
    ['zip stops at the shortest', `{{ zip([1, 2, 3], ['x']) | length }}`, '1'],
    ['range', `{{ range(3) | list }}|{{ range(1, 10, 3) | list }}`, '[0, 1, 2]|[1, 4, 7]'],
    ['dict()', `{{ dict(a=1, b='x') }}`, "{'a': 1, 'b': 'x'}"],
  ]);
});

describe('modules', () => {
  check([
    ['datetime.strftime', `{{ modules.datetime.datetime(2024, 1, 2).strftime('%Y-%m-%d') }}`, '2024-01-02'],
    ['datetime + timedelta(days=1)', `{{ (modules.datetime.datetime(2024, 2, 28) + modules.datetime.timedelta(days=1)).strftime('%Y-%m-%d') }}`, '2024-02-29'],
    ['datetime + timedelta(hours=1) prints as Python', `{{ modules.datetime.datetime(2024, 1, 31, 23, 30) + modules.datetime.timedelta(hours=1) }}`, '2024-02-01 00:30:00'],
    ['datetime - timedelta', `{{ (modules.datetime.datetime(2024, 3, 1) - modules.datetime.timedelta(days=1)).day }}`, '29'],
    ['datetime - datetime', `{{ (modules.datetime.datetime(2024, 1, 3) - modules.datetime.datetime(2024, 1, 1)).days }}`, '2'],
    ['timedelta prints as Python', `{{ modules.datetime.timedelta(days=1, hours=2) }}|{{ modules.datetime.timedelta(minutes=90) }}`, '1 day, 2:00:00|1:30:00'],
    ['strptime with a format', `{{ modules.datetime.datetime.strptime('05/03/2024', '%d/%m/%Y').strftime('%Y-%m-%d') }}`, '2024-03-05'],
    ['strptime compact', `{{ modules.datetime.datetime.strptime('20240305', '%Y%m%d').day }}`, '5'],
    ['date', `{{ modules.datetime.date(2024, 1, 2) }}|{{ modules.datetime.date(2024, 1, 2).isoformat() }}`, '2024-01-02|2024-01-02'],
    ['re.match group', String.raw`{{ modules.re.match('(\w+)_(\d+)', 'orders_2024').group(2) }}`, '2024'],
    ['re.match anchors at the start', String.raw`{{ modules.re.match('\d+', 'a1') }}`, 'None'],
    ['re.search', String.raw`{{ modules.re.search('\d+', 'a12b').group(0) }}`, '12'],
    ['re.search in a condition', String.raw`{% if modules.re.search('^stg_', name) %}staging{% endif %}`, 'staging', { name: 'stg_orders' }],
    ['re.sub', `{{ modules.re.sub('[^a-z0-9]+', '_', 'order items-2024') }}`, 'order_items_2024'],
    ['re.sub with group references', String.raw`{{ modules.re.sub('(\w+)@(\w+)', '\\2 at \\1', 'me@host') }}`, 'host at me'],
    ['re.sub count and a literal $', `{{ modules.re.sub('a', 'o', 'banana', 2) }}|{{ modules.re.sub('a', '$', 'banana') }}`, 'bonona|b$n$n$'],
    ['re.findall', String.raw`{{ modules.re.findall('\d+', 'a1b22c333') }}`, "['1', '22', '333']"],
    ['re inline flag and IGNORECASE', `{{ modules.re.match('(?i)ORDERS', 'orders') is not none }}|{{ modules.re.match('ORDERS', 'orders', modules.re.IGNORECASE) is not none }}`, 'True|True'],
    ['re named groups', String.raw`{{ modules.re.match('(?P<y>\d{4})-(?P<m>\d{2})', '2024-05').group('m') }}`, '05'],
  ]);
});

describe('run_started_at (a JS Date) behaves like dbt\'s datetime', () => {
  const ctx = { run_started_at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) };
  check([
    ['strftime', `{{ run_started_at.strftime('%Y%m%d %H:%M') }}`, '20240102 03:04', ctx],
    ['prints as Python', `{{ run_started_at }}`, '2024-01-02 03:04:05+00:00', ctx],
    ['attributes', `{{ run_started_at.year }}-{{ run_started_at.month }}`, '2024-1', ctx],
    ['minus a timedelta', `{{ (run_started_at - modules.datetime.timedelta(days=1)).strftime('%Y-%m-%d') }}`, '2024-01-01', ctx],
  ]);
});

describe('errors Python would raise', () => {
  const cases: [string, string, RegExp][] = [
    ['too few % arguments', `{{ '%s %s' % ('a',) }}`, /not enough arguments for format string/],
    ['too many values to unpack', `{% set a, b = [1, 2, 3] %}`, /too many values to unpack \(expected 2\)/],
    ['not enough values to unpack', `{% set a, b, c = 'ab' %}`, /not enough values to unpack \(expected 3, got 2\)/],
    ['pop from an empty list', `{{ [].pop() }}`, /pop from empty list/],
    ['modulo by zero', `{{ 1 % 0 }}`, /modulo by zero/],
    ['strptime mismatch', `{{ modules.datetime.datetime.strptime('2024-01', '%Y%m') }}`, /does not match format/],
  ];
  it.each(cases)('%s', (_what, src, message) => {
    expect(() => render(src)).toThrow(message);
  });
});

describe('query results (agate)', () => {
  const table = new AgateTable({
    columns: [{ name: 'name', dataType: 'text' }, { name: 'amount', dataType: 'integer' }],
    rows: [{ name: 'a', amount: 1 }, { name: 'b', amount: 2 }],
  });
  check([
    ['rows by index and name', `{{ t.rows[0][0] }}{{ t.rows[1]['amount'] }}{{ t.rows[1].name }}`, 'a2b', { t: table }],
    ['columns by index and name', `{{ t.columns[0].values() }}|{{ t.columns['amount'].values() }}`, "['a', 'b']|[1, 2]", { t: table }],
    ['length and iteration', `{{ t | length }}:{% for r in t %}{{ r.name }}{% endfor %}`, '2:ab', { t: table }],
    ['column_names', `{{ t.column_names | join(',') }}`, 'name,amount', { t: table }],
    ['row.dict()', `{{ t.rows[0].dict() }}`, "{'name': 'a', 'amount': 1}", { t: table }],
  ]);
});

// ---------------------------------------------------------------------------------------------------------
// Through the project pipeline: models and macro files, as `kiln compile` parses them.
// ---------------------------------------------------------------------------------------------------------

const TARGET: TargetInfo = { name: 'dev', type: 'duckdb', schema: 'main', database: 'db', threads: 1, profileName: 'p', fields: {} };
const PROJECT_FILE = "name: jinja_proj\nversion: '1'\nprofile: p\n";

function parseDir(projectDir: string): Promise<ParsedProject> {
  const project = loadProject({ projectDir });
  return parseProject({
    project,
    target: TARGET,
    adapterPrefixes: ['duckdb'],
    shared: { invocationId: 'x', runStartedAt: new Date(), log: () => {}, flags: {}, env: process.env, fullRefresh: false },
  });
}

const MACROS_A = `
{% macro get_cols() %}{{ return(['id', 'amount']) }}{% endmacro %}
{% macro get_cfg() %}{{ return({'schema': 'stg', 'tags': ['a']}) }}{% endmacro %}
{% macro get_name() %}{{ return('orders') }}{% endmacro %}
{% macro more_cols() %}{{ return(get_cols() + ['status']) }}{% endmacro %}
{% macro early(flag) %}{% if flag %}{{ return('early') }}{% endif %}late{% endmacro %}
{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}
{% macro each(items) %}{% for i in items %}{{ caller(i, loop.index) }}{% endfor %}{% endmacro %}
{% macro ws(x) -%}
    [{{ x }}]
{%- endmacro %}
{% macro kw(a, b='B', c=none) %}{{ a }}{{ b }}{{ c }}{% endmacro %}
{% macro count_over(xs, n) %}
  {%- set ns = namespace(c=0) -%}
  {%- for x in xs -%}{%- if x > n -%}{%- set ns.c = ns.c + 1 -%}{%- endif -%}{%- endfor -%}
  {{ return(ns.c) }}
{% endmacro %}
`;

const MACROS_B = `
{% macro col_list() %}{{ return(get_cols() | join(', ')) }}{% endmacro %}
{% macro shout(s) %}{{ return(s.upper() ~ '!') }}{% endmacro %}
`;

const MODELS: [string, string, string][] = [
  ['m_return_list', `{{ get_cols() | join(',') }}|{{ get_cols() | length }}|{{ get_cols()[1] }}`, 'id,amount|2|amount'],
  ['m_return_dict', `{{ get_cfg().schema }}|{{ get_cfg()['tags'] }}|{{ get_cfg() is mapping }}`, "stg|['a']|True"],
  ['m_return_str', `{{ get_name() }}|{{ get_name() is string }}|{{ get_name().upper() }}`, 'orders|True|ORDERS'],
  ['m_return_number', `{{ count_over([1, 5, 10], 2) }}|{{ count_over([1, 5, 10], 2) + 1 }}`, '2|3'],
  ['m_same_file', `{{ more_cols() }}`, "['id', 'amount', 'status']"],
  ['m_other_file', `{{ col_list() }}|{{ shout('hi') }}`, 'id, amount|HI!'],
  ['m_early_return', `{{ early(true) }}|{{ early(false) }}`, 'early|late'],
  ['m_call', `{% call wrap('b') %}bold{% endcall %}`, '<b>bold</b>'],
  ['m_call_args', `{% call(item, n) each(['x', 'y']) %}{{ n }}={{ item }};{% endcall %}`, '1=x;2=y;'],
  ['m_whitespace', `select\n  {{- ws(1) }}\nfrom t`, 'select[1]\nfrom t'],
  ['m_macro_output_is_string', `{{ ws(2) is string }}|{{ ws(2) ~ '!' }}`, 'True|[2]!'],
  ['m_kwargs', `{{ kw('a') }}|{{ kw('a', c='C') }}|{{ kw(b='x', a='y') }}`, 'aBNone|aBC|yxNone'],
  ['m_set_block_from_macro', `{% set cols %}{{ col_list() }}{% endset %}select {{ cols }} from t`, 'select id, amount from t'],
];

describe('macros through the project pipeline', () => {
  let dir: string;
  let parsed: ParsedProject;

  beforeAll(async () => {
    const files: Record<string, string> = { 'dbt_project.yml': PROJECT_FILE, 'macros/a.sql': MACROS_A, 'macros/b.sql': MACROS_B };
    for (const [name, sql] of MODELS) files[`models/${name}.sql`] = sql;
    dir = makeProject(files);
    parsed = await parseDir(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(MODELS)('%s', (name, _sql, expected) => {
    const node = parsed.nodes.get(`model.jinja_proj.${name}`) as SqlNode;
    expect(node.parsedSql).toBe(expected);
  });

  it('records the macros a model uses', () => {
    const node = parsed.nodes.get('model.jinja_proj.m_other_file') as SqlNode;
    expect(node.macros).toEqual(expect.arrayContaining(['col_list', 'shout']));
  });
});

describe('template errors name the file and line', () => {
  const cases: [string, string, number, RegExp][] = [
    ['unclosed if', 'select 1\n{% if true %}\nx\n', 2, /never closed/],
    ['unclosed for', 'select\n\n{% for x in [1] %}\n{{ x }}\n', 3, /never closed/],
    ['unknown tag', 'select 1\n\n{% frobnicate %}\n', 3, /unknown block tag: frobnicate/],
    ['bad expression', 'select\n{{ 1 + }}\n', 2, /unexpected token/],
    ['undefined macro at render time', 'select 1\n-- c\n{{ no_such_macro() }}\n', 3, /no_such_macro/],
    ['raise_compiler_error', "select 1\n{{ exceptions.raise_compiler_error('boom') }}\n", 2, /boom/],
  ];
  it.each(cases)('%s', async (_what, sql, line, message) => {
    const dir = makeProject({ 'dbt_project.yml': PROJECT_FILE, 'models/bad.sql': sql, 'models/good.sql': 'select 1' });
    try {
      const err = await rejected(() => parseDir(dir));
      expect(err.message).toMatch(message);
      expect(err.location?.file).toBe('models/bad.sql');
      expect(err.location?.line).toBe(line);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unclosed block in a macro file names the macro file, the line Jinja stops at, and the open block', async () => {
    const dir = makeProject({
      'dbt_project.yml': PROJECT_FILE,
      'macros/broken.sql': '{% macro broken() %}\n  {% for x in [1] %}\n    {{ x }}\n{% endmacro %}\n',
      'models/uses.sql': 'select {{ broken() }}',
    });
    try {
      const err = await rejected(() => parseDir(dir));
      expect(err.location?.file).toBe('macros/broken.sql');
      expect(err.location?.line).toBe(4);
      expect(err.message).toMatch(/unknown block tag: endmacro \(the '\{% for %\}' block opened at line 2 is not closed\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('loop filters ({% for x in xs if cond %})', () => {
  const cases: [string, string][] = [
    ["{% for x in [1,2,3,4] if x is even %}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", '2,4'],
    ["{% for k, v in {'a': 1, 'b': 2, 'c': 3}.items() if v != 2 %}{{ loop.index }}:{{ k }}={{ v }} {% endfor %}", '1:a=1 2:c=3 '],
    ["{% for x in [] if x %}{{ x }}{% else %}empty{% endfor %}", 'empty'],
    ["{% for x in [0, ''] if x %}{{ x }}{% else %}none kept{% endfor %}", 'none kept'],
    ["{% macro m(cols) %}{% for c in cols if c != 'b' %}{{ c }}{% endfor %}{% endmacro %}{{ m(['a','b','c']) }}{{ m(['b','d']) }}", 'acd'],
    ["{% for x in ([1] if true else [2]) %}{{ x }}{% endfor %}", '1'],
    ["{% for x in [1, 2] %}{% for y in [1, 2, 3] if y != x %}{{ x }}{{ y }} {% endfor %}{% endfor %}", '12 13 21 23 '],
  ];
  it.each(cases)('%s', (template, expected) => {
    expect(env.renderString(template, {})).toBe(expected);
  });
});
