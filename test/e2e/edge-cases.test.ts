/**
 * Edge cases found in review, through the real CLI on DuckDB: microbatch batches when the first build fails,
 * strategy names in any case, test gates through ephemeral models, --exclude and indirect selection,
 * test_type:data, delete+insert with repeated keys, and generic test errors at their YAML lines.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, queryDuckdb, runKiln } from '../helpers/project.js';

const db = (dir: string) => join(dir, 'target', 'shop.duckdb');
const results = (dir: string) => (JSON.parse(readFileSync(join(dir, 'target', 'run_results.json'), 'utf8')) as {
  results: { unique_id: string; status: string; batch_results: { successful: string[][]; failed: string[][] } | null }[];
}).results;

describe('microbatch', () => {
  const events = ['ts,v', ...Array.from({ length: 10 }, (_, i) => `2024-01-${String(i + 1).padStart(2, '0')} 06:00:00,${i}`)].join('\n') + '\n';
  const model = (extra: string) => `{{ config(materialized='incremental', incremental_strategy=${extra}, event_time='day', batch_size='day', begin='2024-01-01') }}
{% if env_var('FAIL_DAY', '') and model.batch and model.batch.event_time_start.startswith(env_var('FAIL_DAY')) %}select error('boom') as day{% else %}
select cast(ts as date) as day, count(*) as n from {{ ref('events') }} group by 1{% endif %}`;
  const project = (extra: string) => makeProject({
    'kiln_project.yml': 'name: shop\n', 'seeds/events.csv': events,
    'seeds/schema.yml': 'seeds:\n  - name: events\n    config: {event_time: ts}\n', 'models/daily.sql': model(extra),
  });

  it('when the first batch of a first build fails, the next one builds the table and the rest follow, side by side only after', async () => {
    const dir = project("'microbatch', concurrent_batches=true");
    await runKiln(['seed'], dir);
    const r = await runKiln(['run', '--threads', '4', '--event-time-start', '2024-01-01', '--event-time-end', '2024-01-11'], dir, { FAIL_DAY: '2024-01-01' });
    expect(r.code).toBe(1);
    const batches = results(dir)[0].batch_results!;
    expect(batches.failed).toEqual([['2024-01-01 00:00:00', '2024-01-02 00:00:00']]);
    expect(batches.successful).toHaveLength(9);
    // Every batch reported OK has its rows; the failed day has none.
    expect(await queryDuckdb(db(dir), 'select count(*) as days, min(day)::varchar as first from main.daily')).toEqual([{ days: 9, first: '2024-01-02' }]);
    expect((await runKiln(['retry'], dir)).code).toBe(0);
    expect(await queryDuckdb(db(dir), 'select count(*) as days from main.daily')).toEqual([{ days: 10 }]);
  });

  it('a strategy name in another case is the same strategy (it never runs without its window)', async () => {
    const dir = project("'Microbatch'");
    await runKiln(['seed'], dir);
    await runKiln(['run', '--event-time-start', '2024-01-01', '--event-time-end', '2024-01-11'], dir);
    const r = await runKiln(['run', '--event-time-start', '2024-01-05', '--event-time-end', '2024-01-06'], dir);
    expect(r.stdout).toContain('batch 1/1 of daily [2024-01-05 00:00:00, 2024-01-06 00:00:00)');
    expect(await queryDuckdb(db(dir), 'select count(*) as days from main.daily')).toEqual([{ days: 10 }]);
  });
});

describe('test gates and selection', () => {
  const chain = {
    'kiln_project.yml': 'name: shop\n',
    'models/p.sql': "{{ config(materialized='table') }}select 1 as id union all select null",
    'models/e.sql': "{{ config(materialized='ephemeral') }}select * from {{ ref('p') }}",
    'models/m.sql': "select * from {{ ref('e') }}",
    'models/other.sql': 'select 2 as id',
    'models/schema.yml': 'models:\n  - name: p\n    columns:\n      - name: id\n        data_tests: [not_null]\n  - name: other\n    columns:\n      - name: id\n        data_tests: [unique]\n',
  };

  it('a failing test holds back what is downstream through an ephemeral model', async () => {
    const dir = makeProject(chain);
    const r = await runKiln(['build', '--threads', '1'], dir);
    expect(r.code).toBe(1);
    expect(Object.fromEntries(results(dir).map((x) => [x.unique_id.split('.').slice(0, 3).join('.'), x.status]))).toMatchObject({
      'model.shop.p': 'success', 'test.shop.not_null_p_id': 'fail', 'model.shop.m': 'skipped',
    });
  });

  it('--exclude drops the tests of what it excludes; test_type:data is every data test', async () => {
    const dir = makeProject(chain);
    await runKiln(['run'], dir);
    await runKiln(['test', '--exclude', 'p'], dir);
    expect(results(dir).map((x) => x.unique_id.split('.')[2])).toEqual(['unique_other_id']);
    const ls = await runKiln(['ls', '-s', 'test_type:data', '--output', 'name'], dir);
    expect(ls.stdout.trim().split('\n').sort()).toEqual(['not_null_p_id', 'unique_other_id']);
  });
});

describe('incremental', () => {
  it('delete+insert replaces every row of a repeated key (a day at a time), as dbt users rely on', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'seeds/src.csv': 'day,v\n2024-01-01,1\n2024-01-01,2\n2024-01-02,3\n',
      'models/m.sql': "{{ config(materialized='incremental', unique_key='day') }}select * from {{ ref('src') }}",
    });
    await runKiln(['build'], dir);
    const { writeFiles } = await import('../helpers/project.js');
    writeFiles(dir, { 'seeds/src.csv': 'day,v\n2024-01-02,30\n2024-01-02,31\n,9\n' });
    const r = await runKiln(['build'], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("model 'm': 1 new row has a null unique_key (day); delete+insert adds such rows again on every run");
    expect(await queryDuckdb(db(dir), 'select day::varchar as day, v from main.m order by all')).toEqual([
      { day: '2024-01-01', v: 1 }, { day: '2024-01-01', v: 2 }, { day: '2024-01-02', v: 30 }, { day: '2024-01-02', v: 31 }, { day: null, v: 9 },
    ]);
  });
});

describe('generic test errors at their YAML line', () => {
  it('accepted_values without values, and a relationships test to an unknown model', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/m.sql': 'select 1 as id',
      'models/schema.yml': 'models:\n  - name: m\n    columns:\n      - name: id\n        data_tests:\n          - accepted_values: {quote: false}\n',
    });
    let r = await runKiln(['parse'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/schema.yml:6:13: test 'accepted_values_m_id__False'");
    expect(r.stderr).toContain("accepted_values on 'id' needs `values:`, a list of the accepted values");
    const { writeFiles } = await import('../helpers/project.js');
    writeFiles(dir, { 'models/schema.yml': 'models:\n  - name: m\n    columns:\n      - name: id\n        data_tests:\n          - relationships: {to: "ref(\'nope\')", field: id}\n' });
    r = await runKiln(['parse'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/schema.yml:6:13: test 'relationships_m_id__id__ref_nope_' refers to 'nope', which is not a model or seed in this project");
  });
});
