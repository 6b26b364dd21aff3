/**
 * Interrupting a run on Postgres: SIGINT while a model sleeps in the server cancels the query
 * (pg_cancel_backend), writes run_results.json with the cancelled node, leaves nothing behind, exits 130.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, writeFiles } from '../helpers/project.js';
import { dropSchemas, pgQuery, pgServer, postgresTarget, spawnKiln, uniqueSchema } from '../pg/server.js';

const schema = uniqueSchema('e2e_cancel');

afterAll(async () => {
  if (pgServer()) await dropSchemas(schema).catch(() => undefined);
});

const sleeping = () => pgQuery("select pid from pg_stat_activity where query like '%pg_sleep(300)%' and pid <> pg_backend_pid()");

describe.skipIf(!pgServer())('postgres cancellation', () => {
  it('SIGINT cancels the running query, writes run_results and exits 130', async () => {
    const dir = makeProject({
      'kiln_project.yml': 'name: cancel\nprofile: cancel\n',
      'models/quick.sql': 'select 1 as v',
      'models/slow.sql': "{{ config(materialized='table') }}select v from {{ ref('quick') }} where (select true from pg_sleep(300))",
      'models/after_slow.sql': "select * from {{ ref('slow') }}",
    }, 'kiln-e2e-pgcancel-');
    const fields = Object.entries(postgresTarget(schema)).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`).join('\n');
    writeFiles(dir, { 'profiles.yml': `cancel:\n  target: dev\n  outputs:\n    dev:\n${fields}\n` });

    const run = spawnKiln(['run', '--profiles-dir', dir], dir);
    const deadline = Date.now() + 20_000;
    while ((await sleeping()).length === 0) {
      if (Date.now() > deadline) throw new Error(`the model never started sleeping:\n${run.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const sentAt = Date.now();
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    expect(Date.now() - sentAt).toBeLessThan(10_000);
    expect(result.stdout + result.stderr).toContain('Interrupted: cancelling running queries');

    expect(await sleeping()).toEqual([]);
    const file = join(dir, 'target', 'run_results.json');
    expect(existsSync(file)).toBe(true);
    const results = JSON.parse(readFileSync(file, 'utf8')).results as { unique_id: string; status: string; message: string }[];
    const byId = Object.fromEntries(results.map((r) => [r.unique_id, r]));
    expect(byId['model.cancel.quick'].status).toBe('success');
    expect(byId['model.cancel.slow'].status).toBe('error');
    expect(byId['model.cancel.slow'].message).toMatch(/canceling statement due to user request \(SQLSTATE 57014\)/);
    expect(byId['model.cancel.after_slow'].status).toBe('skipped');
    // Nothing half-built is left: no slow table, no temporary relation.
    expect(await pgQuery('select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where nspname = $1 order by 1', [schema])).toEqual([{ relname: 'quick' }]);
  });
});
