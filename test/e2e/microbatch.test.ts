/**
 * Microbatch models and `kiln retry` through the real CLI on DuckDB: a 30-day backfill with one failing
 * day, then a retry that runs only that day for the original window; upstream filtering; default windows
 * (begin, lookback); concurrent batches; and retry of failed and skipped nodes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, queryDuckdb, runKiln, writeFiles } from '../helpers/project.js';

const db = (dir: string) => join(dir, 'target', 'shop.duckdb');

/** Two events a day (00:00 and 12:00) from 2024-01-01 for `days` days; v counts up from 0. */
function eventsCsv(days: number, from = new Date(Date.UTC(2024, 0, 1))): string {
  const rows = ['ts,v'];
  for (let i = 0; i < days * 2; i++) rows.push(`${new Date(from.getTime() + i * 12 * 3600_000).toISOString().slice(0, 19).replace('T', ' ')},${i}`);
  return `${rows.join('\n')}\n`;
}

const DAILY = (extra = '') => `{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='day', batch_size='day', begin='2024-01-01'${extra}) }}
{% if env_var('FAIL_DAY', '') and model.batch and model.batch.event_time_start.startswith(env_var('FAIL_DAY')) %}
select error('injected failure') as day, 0 as n
{% else %}
select cast(ts as date) as day, count(*) as n, (select count(*) from {{ ref('events').render() }}) as all_events
from {{ ref('events') }} group by 1
{% endif %}`;

function project(daily = DAILY(), csv = eventsCsv(30)) {
  return makeProject({
    'kiln_project.yml': 'name: shop\n',
    'seeds/events.csv': csv,
    'seeds/schema.yml': 'seeds:\n  - name: events\n    config: {event_time: ts}\n',
    'models/daily.sql': daily,
  });
}

const runResults = (dir: string) => JSON.parse(readFileSync(join(dir, 'target', 'run_results.json'), 'utf8')) as {
  results: { unique_id: string; status: string; message: string; batch_results: { successful: string[][]; failed: string[][] } | null }[];
  args: Record<string, unknown>;
};

describe('a backfill with a failing batch, then kiln retry', () => {
  it('keeps the finished batches, reports a partial success, and retry runs only the failed day of that window', async () => {
    const dir = project();
    await runKiln(['seed'], dir);
    const window = ['--event-time-start', '2024-01-01', '--event-time-end', '2024-01-31'];
    let r = await runKiln(['run', ...window], dir, { FAIL_DAY: '2024-01-15' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/batch 7\/30 of daily \[2024-01-07 00:00:00, 2024-01-08 00:00:00\) \.+ \[OK in/);
    expect(r.stdout).toMatch(/batch 15\/30 of daily \[2024-01-15 00:00:00, 2024-01-16 00:00:00\) \.+ \[ERROR in/);
    expect(r.stdout).toContain('PARTIAL SUCCESS creating sql incremental model main.daily');
    expect(r.stderr).toContain('1 batch failed (kiln retry runs only these):');
    expect(r.stderr).toContain('[2024-01-15 00:00:00, 2024-01-16 00:00:00): model \'daily\' failed in duckdb: Invalid Input Error: injected failure');
    const first = runResults(dir).results[0];
    expect(first.status).toBe('partial success');
    expect(first.batch_results!.failed).toEqual([['2024-01-15 00:00:00', '2024-01-16 00:00:00']]);
    expect(first.batch_results!.successful).toHaveLength(29);
    let rows = await queryDuckdb(db(dir), 'select count(*) as days, sum(n) as n from main.daily');
    expect(rows).toEqual([{ days: 29, n: 58 }]);

    // The cause is fixed; retry runs that one batch, for the original window (not "today").
    r = await runKiln(['retry'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/batch 1\/1 of daily \[2024-01-15 00:00:00, 2024-01-16 00:00:00\) \.+ \[OK in/);
    expect(r.stdout).not.toContain('batch 2/');
    rows = await queryDuckdb(db(dir), "select count(*) as days, sum(n) as n, min(day)::varchar as first, max(day)::varchar as last, min(all_events) as all_events from main.daily");
    // Each batch saw only its day of events; .render() saw them all.
    expect(rows).toEqual([{ days: 30, n: 60, first: '2024-01-01', last: '2024-01-30', all_events: 60 }]);
    expect(runResults(dir).args.event_time_start).toBe('2024-01-01 00:00:00');
    r = await runKiln(['retry'], dir);
    expect(r.stdout).toContain("Nothing to retry: every node of the previous 'run' succeeded.");
  });

  it('a rerun of a window replaces exactly that window', async () => {
    const dir = project();
    await runKiln(['seed'], dir);
    await runKiln(['run', '--event-time-start', '2024-01-01', '--event-time-end', '2024-01-11'], dir);
    writeFiles(dir, { 'seeds/events.csv': eventsCsv(30).replace(/^2024-01-0(2|3) 12:00:00,.*\n/gm, '') });
    await runKiln(['seed'], dir);
    await runKiln(['run', '--event-time-start', '2024-01-02', '--event-time-end', '2024-01-03'], dir);
    const rows = await queryDuckdb(db(dir), "select day::varchar as day, n from main.daily where day <= '2024-01-04' order by day");
    expect(rows).toEqual([{ day: '2024-01-01', n: 2 }, { day: '2024-01-02', n: 1 }, { day: '2024-01-03', n: 2 }, { day: '2024-01-04', n: 2 }]);
  });
});

describe('default windows and concurrency', () => {
  it('builds from begin to now on the first run, then the current batch and the lookback ones', async () => {
    const today = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()));
    const begin = new Date(today.getTime() - 3 * 86400_000);
    const iso = (d: Date) => d.toISOString().slice(0, 10);
    const dir = project(DAILY().replace("begin='2024-01-01'", `begin='${iso(begin)}', lookback=2`), eventsCsv(4, begin));
    await runKiln(['seed'], dir);
    let r = await runKiln(['run'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`batch 1/4 of daily [${iso(begin)} 00:00:00`);
    expect(r.stdout).toContain(`batch 4/4 of daily [${iso(today)} 00:00:00`);
    r = await runKiln(['run'], dir);
    expect(r.stdout).toContain(`batch 1/3 of daily [${iso(new Date(today.getTime() - 2 * 86400_000))} 00:00:00`);
    expect(r.stdout).not.toContain('batch 4/');
    expect(await queryDuckdb(db(dir), 'select count(*) as days, sum(n) as n from main.daily')).toEqual([{ days: 4, n: 8 }]);
  });

  it('runs batches side by side with concurrent_batches, with the same result', async () => {
    const dir = project(DAILY(', concurrent_batches=true'));
    await runKiln(['seed'], dir);
    const r = await runKiln(['run', '--threads', '4', '--event-time-start', '2024-01-01', '--event-time-end', '2024-01-31'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await queryDuckdb(db(dir), 'select count(*) as days, sum(n) as n from main.daily')).toEqual([{ days: 30, n: 60 }]);
  });

  it('names what a microbatch model is missing', async () => {
    const dir = project("{{ config(materialized='incremental', incremental_strategy='microbatch', batch_size='week') }}select 1 as x");
    const r = await runKiln(['build'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("microbatch model 'daily' has no event_time");
    writeFiles(dir, { 'models/daily.sql': "{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='d', batch_size='week') }}select 1 as x" });
    expect((await runKiln(['build'], dir)).stderr).toContain("microbatch model 'daily' has batch_size 'week'");
    expect((await runKiln(['run', '--event-time-start', 'yesterday'], dir)).stderr).toContain("--event-time-start 'yesterday' is not a date");
  });
});

describe('kiln retry', () => {
  it('reruns the failed and skipped nodes of a build, with its options, and nothing else', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: shop\n',
      'models/a.sql': 'select 1 as id',
      'models/b.sql': "select {{ var('b_value', 'no_such_column') }} as id from {{ ref('a') }}",
      'models/c.sql': "select * from {{ ref('b') }}",
      'models/other.sql': 'select 2 as id',
    });
    let r = await runKiln(['build', '--vars', '{keep: 1}'], dir);
    expect(r.code).toBe(1);
    writeFiles(dir, { 'models/b.sql': "select id from {{ ref('a') }}" });
    r = await runKiln(['retry'], dir);
    expect(r.code).toBe(0);
    const again = runResults(dir);
    expect(again.results.map((x) => `${x.unique_id}:${x.status}`)).toEqual(['model.shop.b:success', 'model.shop.c:success']);
    expect(again.args.which).toBe('build');
    expect(again.args.vars).toEqual({ keep: 1 });
  });

  it('says so when there is nothing to retry from', async () => {
    const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'models/a.sql': 'select 1 as id' });
    const r = await runKiln(['retry'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('there is no previous run to retry (target/run_results.json does not exist)');
  });
});
