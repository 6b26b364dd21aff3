/**
 * An existing dbt project runs unchanged: dbt_project.yml with older keys, a profiles.yml, an installed
 * package in dbt_packages/ whose macros use the Jinja that packages such as dbt_utils rely on (private
 * `_macros` across files, expression dict keys, keyword arguments for positional parameters, Python
 * truthiness, multi-line strings with .format, load_relation, Column predicates, dispatch by namespace).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, queryDuckdb, runKiln } from '../helpers/project.js';

const files: Record<string, string> = {
  'dbt_project.yml': [
    "name: 'legacy_shop'",
    'config-version: 2',
    "version: '0.1'",
    "profile: 'legacy'",
    'source-paths: ["models"]',
    'data-paths: ["data"]',
    'require-dbt-version: [">=1.0.0", "<2.0.0"]',
    'on-run-start: ["create or replace table main.people_src as select * from (values (1), (2), (3)) t(id)"]',
    'models:',
    '  legacy_shop:',
    '      materialized: table',
    '      staging:',
    '        materialized: view',
    '  helpers:',
    '    pkg_from_source:',
    '      +schema: pkg',
    'dispatch:',
    '  - macro_namespace: helpers',
    "    search_order: ['legacy_shop', 'helpers']",
  ].join('\n'),
  'profiles.yml': 'legacy:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: legacy.duckdb\n      threads: 2\n',
  'data/raw_people.csv': 'id,name,score\n1,ann,10\n2,bob,\n3,cy,7\n',
  'models/staging/stg_people.sql': "select id, name, score from {{ ref('raw_people') }}",
  'models/people_wide.sql': [
    "{{ config(materialized='table') }}",
    'select',
    "  {{ helpers.star_except(ref('stg_people'), exclude=['score']) }},",
    "  {{ helpers.describe({'a': 1}) }} as described,",
    "  {{ helpers.join_keys(keys=['id', 'name']) }} as key_text,",
    "  {{ helpers.greeting() }} as greeting",
    "from {{ ref('stg_people') }}",
  ].join('\n'),
  'macros/overrides.sql': "{% macro default__greeting() %}'hello from the project'{% endmacro %}",
  'dbt_packages/helpers/dbt_project.yml': "name: 'helpers'\nversion: '1.0'\nconfig-version: 2\nvars:\n  pkg_factor: 3\nmodels:\n  helpers:\n    +materialized: table\n",
  'dbt_packages/helpers/models/pkg_numbers.sql': "select {{ var('pkg_factor') }} * 2 as n",
  // A source is not built by the run, so it must exist before it (here: created by on-run-start).
  'dbt_packages/helpers/models/pkg_schema.yml': 'version: 2\nsources:\n  - name: ext\n    schema: main\n    tables: [{name: people_src}]\n',
  'dbt_packages/helpers/models/pkg_from_source.sql': "select count(*) as people from {{ source('ext', 'people_src') }}",
  'models/uses_package.sql': "select n, people from {{ ref('helpers', 'pkg_numbers') }} cross join {{ ref('pkg_from_source') }}",
  'dbt_packages/helpers/macros/_checks.sql': [
    '{% macro _is_relation(obj, macro) %}',
    "  {%- if not (obj is mapping and obj.get('metadata', {}).get('type', '').endswith('Relation')) -%}",
    '    {%- do exceptions.raise_compiler_error("Macro " ~ macro ~ " expected a Relation but received: " ~ obj) -%}',
    '  {%- endif -%}',
    '{% endmacro %}',
  ].join('\n'),
  'dbt_packages/helpers/macros/star.sql': [
    '{% macro star_except(from, exclude=[]) -%}',
    "  {{ return(adapter.dispatch('star_except', 'helpers')(from, exclude)) }}",
    '{%- endmacro %}',
    '{% macro default__star_except(from, exclude=[]) -%}',
    '  {%- do helpers._is_relation(from, "star_except") -%}',
    "  {%- if not execute -%}{{ return('*') }}{%- endif -%}",
    '  {%- set lowered = {} -%}',
    '  {%- for col in exclude -%}{%- do lowered.update({col.lower(): true}) -%}{%- endfor -%}',
    '  {%- set relation = load_relation(from) -%}',
    '  {%- set picked = [] -%}',
    '  {%- for col in adapter.get_columns_in_relation(relation) if true -%}',
    '    {%- if col.name.lower() not in lowered and (col.is_string() or col.is_number()) -%}{%- do picked.append(col.quoted) -%}{%- endif -%}',
    '  {%- endfor -%}',
    "  {{ picked | join(', ') }}",
    '{%- endmacro %}',
  ].join('\n'),
  'dbt_packages/helpers/macros/misc.sql': [
    '{% macro describe(value) -%}',
    '  {%- if [] or {} or "" or 0 -%}{{ return("\'python truthiness is broken\'") }}{%- endif -%}',
    "  {%- set msg = '",
    "a dict with {} key,",
    "'.format(value | length) -%}",
    "  '{{ msg | trim | replace(\"\\n\", \" \") }}'",
    '{%- endmacro %}',
    '{% macro join_keys(keys, sep="-") -%}',
    "  {{ keys | join(\" || '\" ~ sep ~ \"' || \") }}",
    '{%- endmacro %}',
    "{% macro greeting() %}{{ return(adapter.dispatch('greeting', 'helpers')()) }}{% endmacro %}",
    "{% macro default__greeting() %}'hello from the package'{% endmacro %}",
  ].join('\n'),
};

describe('an existing dbt project', () => {
  it('builds unchanged, with an installed package', async () => {
    const dir = makeProject(files);
    const r = await runKiln(['build'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('PASS=6');
    // The package's model takes the package's own var default and project config, and the root
    // project's tree configures package models too (schema), as dbt does.
    expect(await queryDuckdb(join(dir, 'legacy.duckdb'), 'select * from main.uses_package')).toEqual([{ n: 6, people: 3 }]);
    expect(await queryDuckdb(join(dir, 'legacy.duckdb'), "select table_schema, table_type from information_schema.tables where table_name = 'pkg_from_source'")).toEqual([
      { table_schema: 'main_pkg', table_type: 'BASE TABLE' },
    ]);
    const rows = await queryDuckdb(join(dir, 'legacy.duckdb'), 'select * from main.people_wide order by id');
    expect(rows).toEqual([
      { id: 1, name: 'ann', described: 'a dict with 1 key,', key_text: '1-ann', greeting: 'hello from the project' },
      { id: 2, name: 'bob', described: 'a dict with 1 key,', key_text: '2-bob', greeting: 'hello from the project' },
      { id: 3, name: 'cy', described: 'a dict with 1 key,', key_text: '3-cy', greeting: 'hello from the project' },
    ]);
    const compiled = readFileSync(join(dir, 'target/compiled/legacy_shop/models/people_wide.sql'), 'utf8');
    expect(compiled).toContain('"id", "name",');
    const kinds = await queryDuckdb(join(dir, 'legacy.duckdb'), "select table_name, table_type from information_schema.tables where table_schema='main' order by 1");
    expect(kinds).toEqual([
      { table_name: 'people_src', table_type: 'BASE TABLE' },
      { table_name: 'people_wide', table_type: 'BASE TABLE' },
      { table_name: 'pkg_numbers', table_type: 'BASE TABLE' },
      { table_name: 'raw_people', table_type: 'BASE TABLE' },
      { table_name: 'stg_people', table_type: 'VIEW' },
      { table_name: 'uses_package', table_type: 'BASE TABLE' },
    ]);
  });
});
