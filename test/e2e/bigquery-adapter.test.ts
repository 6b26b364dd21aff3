/**
 * The BigQuery adapter end to end: the real CLI and the real @google-cloud/bigquery client against the fake
 * service. Besides results, these tests pin the protocol (the fake's request log): jobs are inserted with
 * Kiln's job ids and GoogleSQL, results read with getQueryResults, statistics with jobs.get, seeds sent as a
 * multipart load job (never INSERT statements), cancellation with jobs.cancel.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bigqueryAdapterFactory } from '../../adapters/bigquery/index.js';
import { BigQueryHarness, FAKE_PROJECT, FAKE_TOKEN, uniqueDataset } from '../fakes/bigquery/harness.js';
import { KILN_BIN, makeProject, runKiln, writeFiles } from '../helpers/project.js';

let h: BigQueryHarness;
beforeAll(async () => {
  h = await BigQueryHarness.start();
});
afterAll(async () => {
  expect(h.childViolations()).toEqual([]);
  await h?.stop();
});

function profile(fields: Record<string, unknown>): string {
  const yaml = Object.entries(fields).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`).join('\n');
  return `bq:\n  target: dev\n  outputs:\n    dev:\n${yaml}\n`;
}

function bqProject(files: Record<string, string>, dataset = uniqueDataset('e2e'), extra: Record<string, unknown> = {}) {
  const dir = makeProject({ 'kiln_project.yml': 'name: bqe2e\nprofile: bq\n', 'profiles.yml': profile(h.target(dataset, extra)), ...files }, 'kiln-bq-');
  return { dir, dataset, kiln: (args: string[]) => runKiln([...args, '--profiles-dir', dir], dir, h.env()) };
}

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const config = bigqueryAdapterFactory.validateTarget(h.target('unused'), { file: 'profiles.yml' }, { dir: tmpdir(), name: 'q' });
  const adapter = await bigqueryAdapterFactory.open(config, { threads: 1, projectDir: tmpdir(), projectName: 'q' });
  try {
    return (await adapter.withConnection((c) => c.execute(sql))).rows;
  } finally {
    await adapter.close();
  }
}

describe('bigquery adapter', () => {
  it('builds tables with partitioning, clustering, labels and options, and reports bytes per node', async () => {
    const p = bqProject({
      'seeds/events.csv': 'id,day,kind,amount\n1,2024-01-01,a,1.5\n2,2024-01-02,b,2\n3,2024-01-02,,\n',
      'models/daily.sql': `{{ config(materialized='table', partition_by={'field': 'day', 'data_type': 'date'}, cluster_by=['kind'],
  labels={'team': 'data'}, require_partition_filter=true, partition_expiration_days=30, kms_key_name='projects/p/locations/us/keyRings/r/cryptoKeys/k',
  persist_docs={'relation': true, 'columns': true}) }}
select day, kind, count(*) as n, sum(amount) as total from {{ ref('events') }} group by day, kind`,
      'models/monthly.sql': `{{ config(materialized='table', partition_by={'field': 'ts', 'data_type': 'timestamp', 'granularity': 'month'}) }}
select cast(day as timestamp) as ts, n from {{ ref('daily') }}`,
      'models/ranged.sql': `{{ config(materialized='table', partition_by={'field': 'id', 'data_type': 'int64', 'range': {'start': 0, 'end': 100, 'interval': 10} }) }}
select id from {{ ref('events') }}`,
      'models/schema.yml': 'models:\n  - name: daily\n    description: "Events per day"\n    columns:\n      - name: n\n        description: "how many"\n',
    });
    const start = h.fake.requests.length;
    const r = await p.kiln(['build']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/OK loaded seed .*events.*\[LOAD 3 in/);
    expect(r.stdout).toMatch(/OK created sql table model .*daily.*\[CREATE TABLE \(\d+(\.\d)? (Bytes|KiB) processed\) in/);

    const daily = await h.fake.table(FAKE_PROJECT, p.dataset, 'daily');
    expect(daily.timePartitioning).toEqual({ type: 'DAY', field: 'day', expirationMs: String(30 * 86_400_000) });
    expect(daily.clustering).toEqual({ fields: ['kind'] });
    expect(daily.labels).toEqual({ team: 'data' });
    expect(daily.requirePartitionFilter).toBe(true);
    expect(daily.encryptionConfiguration).toEqual({ kmsKeyName: 'projects/p/locations/us/keyRings/r/cryptoKeys/k' });
    expect(daily.description).toBe('Events per day');
    expect(daily.schema.fields.find((f: { name: string }) => f.name === 'n').description).toBe('how many');
    expect((await h.fake.table(FAKE_PROJECT, p.dataset, 'monthly')).timePartitioning).toEqual({ type: 'MONTH', field: 'ts' });
    expect((await h.fake.table(FAKE_PROJECT, p.dataset, 'ranged')).rangePartitioning).toEqual({ field: 'id', range: { start: '0', end: '100', interval: '10' } });

    const results = JSON.parse(readFileSync(join(p.dir, 'target', 'run_results.json'), 'utf8')).results as { unique_id: string; adapter_response: Record<string, unknown> }[];
    const daily_ = results.find((x) => x.unique_id === 'model.bqe2e.daily')!.adapter_response;
    expect(daily_).toMatchObject({ code: 'CREATE_TABLE_AS_SELECT', bytes_processed: expect.any(Number), bytes_billed: 10 * 1024 * 1024, project_id: FAKE_PROJECT, location: 'US' });
    expect(daily_.bytes_processed as number).toBeGreaterThan(0);
    expect(String(daily_.job_id)).toMatch(/^kiln_/);

    // The protocol: every call authenticated; queries as jobs.insert with Kiln's job id, GoogleSQL, location.
    const calls = h.fake.requests.slice(start);
    expect(calls.every((c) => c.auth === `Bearer ${FAKE_TOKEN}`)).toBe(true);
    const inserts = calls.filter((c) => c.method === 'POST' && /^\/bigquery\/v2\/projects\/kiln-test\/jobs$/.test(c.path));
    expect(inserts.length).toBeGreaterThan(3);
    for (const c of inserts) {
      const body = c.body as { jobReference: { jobId: string; location: string; projectId: string }; configuration: { query: { useLegacySql: boolean; priority: string } ; labels?: Record<string, string> } };
      expect(body.jobReference).toMatchObject({ jobId: expect.stringMatching(/^kiln_[0-9a-f_]+$/), location: 'US', projectId: FAKE_PROJECT });
      expect(body.configuration.query).toMatchObject({ useLegacySql: false, priority: 'INTERACTIVE' });
      expect(body.configuration.labels).toEqual({ kiln_project: 'bqe2e' });
      // Every inserted job's results and statistics are read back.
      const id = body.jobReference.jobId;
      expect(calls.some((x) => x.method === 'GET' && x.path.endsWith(`/queries/${id}`) && x.query.location === 'US')).toBe(true);
      expect(calls.some((x) => x.method === 'GET' && x.path.endsWith(`/jobs/${id}`))).toBe(true);
    }
    const queries = inserts.map((c) => (c.body as { configuration: { query: { query: string } } }).configuration.query.query);
    expect(queries).toContain(`create schema if not exists \`kiln-test\`.\`${p.dataset}\`\noptions(location='US')`);
    // Seeds: a multipart load job with an explicit schema; no INSERT carries their values.
    const loads = calls.filter((c) => c.method === 'POST' && c.path === '/upload/bigquery/v2/projects/kiln-test/jobs');
    expect(loads).toHaveLength(1);
    expect(loads[0].query.uploadType).toBe('multipart');
    expect((loads[0].body as { metadata: { configuration: { load: Record<string, unknown> } } }).metadata.configuration.load).toMatchObject({
      sourceFormat: 'CSV', skipLeadingRows: 1, writeDisposition: 'WRITE_APPEND', createDisposition: 'CREATE_NEVER',
      schema: { fields: [{ name: 'id', type: 'INTEGER', mode: 'NULLABLE' }, { name: 'day', type: 'DATE', mode: 'NULLABLE' }, { name: 'kind', type: 'STRING', mode: 'NULLABLE' }, { name: 'amount', type: 'FLOAT', mode: 'NULLABLE' }] },
      destinationTable: { projectId: FAKE_PROJECT, datasetId: p.dataset, tableId: expect.stringMatching(/^events__kiln_tmp$/) },
    });
    expect(queries.some((q) => /insert into[\s\S]*events[\s\S]*values/i.test(q))).toBe(false);
    expect(await query(`select id, kind, amount from \`kiln-test\`.\`${p.dataset}\`.\`events\` order by id`)).toEqual([
      { id: 1, kind: 'a', amount: 1.5 }, { id: 2, kind: 'b', amount: 2 }, { id: 3, kind: null, amount: null },
    ]);
  });

  it('runs insert_overwrite with static and dynamic partitions, and merge, over several runs', async () => {
    const overwrite = (extra: string) => `{{ config(materialized='incremental', incremental_strategy='insert_overwrite', partition_by={'field': 'day', 'data_type': 'date'}${extra}) }}
select id, day, v from {{ ref('src') }}`;
    const p = bqProject({
      'seeds/src.csv': 'id,day,v\n1,2024-01-01,a\n2,2024-01-02,b\n',
      'models/dyn.sql': overwrite(''),
      'models/stat.sql': overwrite(`, partitions=["date('2024-01-02')"]`),
      'models/mrg.sql': `{{ config(materialized='incremental', unique_key='id', incremental_predicates=["DBT_INTERNAL_DEST.day >= date '2024-01-01'"]) }}select id, day, v from {{ ref('src') }}`,
    });
    expect((await p.kiln(['build'])).code).toBe(0);
    writeFiles(p.dir, { 'seeds/src.csv': 'id,day,v\n3,2024-01-02,c\n4,2024-01-03,d\n' });
    const start = h.fake.requests.length;
    const r = await p.kiln(['build']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = (t: string) => query(`select id, cast(day as string) as day, v from \`kiln-test\`.\`${p.dataset}\`.\`${t}\` order by id`);
    // Dynamic: the partitions of the new rows (01-02, 01-03) are replaced; 01-01 stays.
    expect(await rows('dyn')).toEqual([{ id: 1, day: '2024-01-01', v: 'a' }, { id: 3, day: '2024-01-02', v: 'c' }, { id: 4, day: '2024-01-03', v: 'd' }]);
    // Static: only the listed partition is emptied; every new row is inserted (dbt-bigquery's semantics).
    expect(await rows('stat')).toEqual([{ id: 1, day: '2024-01-01', v: 'a' }, { id: 3, day: '2024-01-02', v: 'c' }, { id: 4, day: '2024-01-03', v: 'd' }]);
    expect(await rows('mrg')).toEqual([
      { id: 1, day: '2024-01-01', v: 'a' }, { id: 2, day: '2024-01-02', v: 'b' }, { id: 3, day: '2024-01-02', v: 'c' }, { id: 4, day: '2024-01-03', v: 'd' },
    ]);
    const sent = h.fake.requests.slice(start).filter((c) => c.method === 'POST' && c.path.endsWith('/jobs')).map((c) => (c.body as { configuration?: { query?: { query: string } } }).configuration?.query?.query ?? '');
    expect(sent.find((q) => q.includes('declare dbt_partitions_for_replacement array<date>'))).toContain('in unnest(dbt_partitions_for_replacement)');
    expect(sent.find((q) => q.includes("in (date('2024-01-02'))"))).toMatch(/^merge into `kiln-test`\.`[^`]+`\.`stat` as DBT_INTERNAL_DEST/);
    expect(sent.find((q) => q.includes('`mrg` as DBT_INTERNAL_DEST'))).toContain("on (DBT_INTERNAL_DEST.day >= date '2024-01-01')\n  and (DBT_INTERNAL_SOURCE.id = DBT_INTERNAL_DEST.id)");
  });

  it('reports an error with BigQuery reason and location, at the compiled line', async () => {
    const p = bqProject({ 'models/bad.sql': "{{ config(materialized='table') }}\nselect 1 as a,\n  no_such_column as b" });
    const r = await p.kiln(['run']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Unrecognized name: no_such_column at [5:3] (reason: invalidQuery, location: query); at line 5, column 3; job kiln_');
    // The job's statement puts `create or replace table …` and `as (` before the compiled SQL (whose line 1 is the
    // config call's empty line): line 5 of the job is line 3 of the compiled model.
    expect(r.stderr).toMatch(/target\/compiled\/bqe2e\/models\/bad\.sql:3: model 'bad' failed in bigquery/);
    const results = JSON.parse(readFileSync(join(p.dir, 'target', 'run_results.json'), 'utf8')).results;
    expect(results[0].status).toBe('error');
  });

  it('writes unit-test fixture text with BigQuery\'s string escapes', async () => {
    const p = bqProject({
      'models/names.sql': "select upper(name) as name from {{ ref('people') }}",
      'models/people.sql': "select 'x' as name",
      'models/unit.yml': `unit_tests:\n  - name: quotes\n    model: names\n    given:\n      - input: ref('people')\n        rows: [{name: "O'Hara \\\\ back"}]\n    expect:\n      rows: [{name: "O'HARA \\\\ BACK"}]\n`,
    });
    const r = await p.kiln(['test']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const sent = JSON.stringify(h.fake.requests.map((x) => x.body ?? null));
    // In the job's SQL: 'O\'Hara \\ back' (BigQuery escapes); JSON doubles each backslash once more.
    expect(sent).toContain("'O\\\\'Hara \\\\\\\\ back'");
  });

  it('refuses a job over maximum_bytes_billed with BigQuery\'s reason', async () => {
    const p = bqProject({ 'models/t.sql': "{{ config(materialized='table') }}select 1 as a" }, uniqueDataset('e2e'), { maximum_bytes_billed: 1000 });
    expect((await p.kiln(['run'])).code).toBe(0); // a constant select reads no table: nothing billed
    writeFiles(p.dir, { 'models/u.sql': "{{ config(materialized='table') }}select * from {{ ref('t') }}" });
    const r = await p.kiln(['run', '-s', 'u']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Query exceeded limit for bytes billed: 1000. 10485760 or higher required. (reason: bytesBilledLimitExceeded)');
    const insert = h.fake.requests.filter((c) => c.method === 'POST' && c.path.endsWith('/jobs')).pop()!;
    expect((insert.body as { configuration: { query: { maximumBytesBilled: string } } }).configuration.query.maximumBytesBilled).toBe('1000');
  });

  it('cancels running jobs with jobs.cancel on SIGINT', async () => {
    const p = bqProject({ 'models/slow.sql': "{{ config(materialized='table') }}select 1 as a /* fake:sleep_ms=60000 */" });
    const child = spawn(process.execPath, [KILN_BIN, 'run', '--profiles-dir', p.dir], {
      cwd: p.dir, env: { ...process.env, ...h.env(), HOME: mkdtempSync(join(tmpdir(), 'kiln-home-')), NO_COLOR: '1' },
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const started = Date.now();
    while (!h.fake.calls('POST', /\/jobs$/).some((c) => String((c.body as { configuration?: { query?: { query: string } } }).configuration?.query?.query).includes('fake:sleep_ms') && c.query !== undefined)) {
      if (Date.now() - started > 20_000) throw new Error('the slow job never started');
      await new Promise((r) => setTimeout(r, 100));
    }
    const slow = h.fake.calls('POST', /\/jobs$/).find((c) => String((c.body as { configuration?: { query?: { query: string } } }).configuration?.query?.query).includes('fake:sleep_ms'))!;
    const jobId = (slow.body as { jobReference: { jobId: string } }).jobReference.jobId;
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(h.fake.calls('POST', new RegExp(`/jobs/${jobId}/cancel$`))).toHaveLength(1);
    expect(h.fake.jobs.get(`${FAKE_PROJECT}:${jobId}`)?.error?.reason).toBe('stopped');
    void stdout;
  });

  it('authenticates a service account key with a self-signed JWT, offline', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const key = {
      type: 'service_account', project_id: FAKE_PROJECT, private_key_id: 'k1', private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: 'kiln@kiln-test.iam.gserviceaccount.com', client_id: '1', token_uri: 'https://oauth2.googleapis.com/token',
    };
    const dataset = uniqueDataset('e2e');
    const fields = { ...h.target(dataset), method: 'service-account-json', keyfile_json: key };
    delete (fields as Record<string, unknown>).token;
    const p = bqProject({ 'models/t.sql': 'select 1 as a' }, dataset);
    writeFiles(p.dir, { 'profiles.yml': profile(fields) });
    const start = h.fake.requests.length;
    const r = await p.kiln(['run']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const auth = h.fake.requests.slice(start).map((c) => c.auth ?? '');
    expect(auth.length).toBeGreaterThan(0);
    for (const a of auth) {
      const payload = JSON.parse(Buffer.from(a.replace(/^Bearer /, '').split('.')[1], 'base64url').toString());
      expect(payload).toMatchObject({ iss: key.client_email, sub: key.client_email, scope: expect.stringContaining('https://www.googleapis.com/auth/bigquery') });
    }
    // The key never reaches logs or artifacts.
    expect(readFileSync(join(p.dir, 'target', 'run_results.json'), 'utf8')).not.toContain('PRIVATE KEY');
  });

  it('checks profile fields with the target\'s place in profiles.yml', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ project: FAKE_PROJECT, dataset: 'd', method: 'service-account' }, "method service-account needs 'keyfile'"],
      [{ project: FAKE_PROJECT, dataset: 'd', method: 'oauth', priority: 'urgent' }, "field 'priority' must be one of interactive, batch, not 'urgent'"],
      [{ dataset: 'd' }, "field 'project' is required"],
      [{ project: FAKE_PROJECT, dataset: 'd', api_endpoint: '127.0.0.1:9050' }, "field 'api_endpoint' must be a URL with its scheme"],
      [{ project: FAKE_PROJECT, dataset: 'd', job_retries: -1 }, "field 'job_retries' must be a whole number from 0 to 20"],
      [{ project: FAKE_PROJECT, dataset: 'd', colour: 'red' }, "unknown field 'colour' in a bigquery target"],
    ];
    for (const [fields, message] of cases) {
      const dir = makeProject({ 'kiln_project.yml': 'name: bqe2e\nprofile: bq\n', 'models/t.sql': 'select 1 as a', 'profiles.yml': profile({ type: 'bigquery', ...fields }) }, 'kiln-bq-');
      const r = await runKiln(['run', '--profiles-dir', dir], dir, h.env());
      expect(r.code, message).not.toBe(0);
      expect(r.stderr).toContain(message);
      expect(r.stderr).toMatch(/profiles\.yml:\d+/);
    }
  });
});
