/**
 * The Snowflake adapter end to end against the fake service: the CLI's requests (protocol contract: login,
 * authorized queries, array-bound seeds, per-model warehouse and query tag restored afterwards, session
 * close), key-pair and password logins, profile validation at profiles.yml, errors with Snowflake's code
 * and the model's line, quoting, and cancellation of an in-flight statement.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { snowflakeAdapterFactory } from '../../adapters/snowflake/index.js';
import { startFakeSnowflake } from '../fakes/snowflake/server.js';
import { makeProject, runKiln } from '../helpers/project.js';

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const fake = await startFakeSnowflake({
  users: { KILN: { password: 'pw' }, KEYUSER: { publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() } },
});
const guardLog = join(mkdtempSync(join(tmpdir(), 'kiln-netguard-')), 'violations.log');
writeFileSync(guardLog, '');
const env = { NODE_OPTIONS: `--import=${pathToFileURL(resolve(__dirname, '..', 'fakes', 'snowflake', 'netGuard.mjs')).href}`, KILN_NET_GUARD_LOG: guardLog };
afterAll(async () => {
  await fake.close();
});

let n = 0;
function project(files: Record<string, string>, target: Record<string, unknown> = {}) {
  const schema = `e2e_${process.pid}_${++n}`;
  const fields = { type: 'snowflake', account: 'kiln-fake', user: 'KILN', password: 'pw', database: 'KILN_E2E', schema, warehouse: 'TRANSFORMING', access_url: fake.url, threads: 1, ...target };
  const yaml = Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`).join('\n');
  const dir = makeProject({ 'kiln_project.yml': 'name: sf\nprofile: sf\n', 'profiles.yml': `sf:\n  target: dev\n  outputs:\n    dev:\n${yaml}\n`, ...files }, 'kiln-sf-');
  return { dir, schema, kiln: (args: string[]) => runKiln([...args, '--profiles-dir', dir], dir, env) };
}

describe('snowflake adapter against the fake service', () => {
  it('speaks the protocol: login, authorized queries, array-bound seeds, per-model warehouse and query tag, session close', async () => {
    const p = project({
      'seeds/people.csv': 'id,name,joined\n1,"Ann, A",2024-01-02\n2,Bob,\n3,\'Cy\',2024-03-04\n',
      'models/tagged.sql': "{{ config(materialized='table', query_tag='nightly', snowflake_warehouse='BIG_WH', cluster_by=['id']) }}select id, name from {{ ref('people') }}",
      'models/plain.sql': "select id from {{ ref('tagged') }}",
    }, { query_tag: 'kiln-dev' });
    const before = fake.requests.length;
    const r = await p.kiln(['build']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const log = fake.requests.slice(before);

    const logins = log.filter((q) => q.path === '/session/v1/login-request');
    expect(logins.length).toBeGreaterThan(0);
    expect(logins[0].login).toMatchObject({ account: 'kiln-fake', user: 'KILN', database: 'KILN_E2E', schema: p.schema, warehouse: 'TRANSFORMING' });
    expect(logins.every((q) => q.outcome === 'success')).toBe(true);
    const queries = log.filter((q) => q.path === '/queries/v1/query-request');
    expect(queries.every((q) => q.authorized)).toBe(true);
    expect(log.filter((q) => q.path === '/session').length).toBe(logins.length);
    expect(log.every((q) => ['/session/v1/login-request', '/queries/v1/query-request', '/session', '/telemetry/send', '/session/heartbeat'].includes(q.path))).toBe(true);

    // Seeds: array binds, values never in the SQL text.
    const seedInserts = queries.filter((q) => /^insert into .*people/i.test(q.sqlText ?? ''));
    expect(seedInserts).toHaveLength(1);
    expect(seedInserts[0].sqlText).toMatch(/values \(\?, \?, \?\)$/);
    expect(seedInserts[0].bindRows).toBe(3);
    expect(seedInserts[0].sqlText).not.toContain('Ann');
    expect(seedInserts[0].bindings?.['2'].value).toEqual(['Ann, A', 'Bob', "'Cy'"]);

    // The profile's query tag on every session; the model's warehouse and tag for its build, then restored.
    const build = queries.find((q) => /create or replace transient table .*tagged/i.test(q.sqlText ?? ''))!;
    expect(build).toMatchObject({ warehouse: 'BIG_WH', queryTag: 'nightly' });
    expect(build.stripped).toEqual(expect.arrayContaining(['transient', 'cluster by (id)']));
    const after = queries.slice(queries.indexOf(build) + 1);
    expect(after.some((q) => /^use warehouse TRANSFORMING$/i.test(q.sqlText ?? ''))).toBe(true);
    expect(after.some((q) => q.sqlText === "alter session set query_tag = 'kiln-dev'")).toBe(true);
    const plain = queries.find((q) => /create or replace view .*plain/i.test(q.sqlText ?? ''))!;
    expect(plain).toMatchObject({ warehouse: 'TRANSFORMING', queryTag: 'kiln-dev' });

    const rows = await fake.duckdb(`select "ID", "NAME", cast("JOINED" as varchar) as j from "KILN_E2E"."${p.schema.toUpperCase()}"."PEOPLE" order by 1`);
    expect(rows).toEqual([{ ID: 1, NAME: 'Ann, A', j: '2024-01-02' }, { ID: 2, NAME: 'Bob', j: null }, { ID: 3, NAME: "'Cy'", j: '2024-03-04' }]);
    expect(readFileSync(guardLog, 'utf8')).toBe('');
  });

  it('reports a Snowflake error with its code and the line in the compiled model', async () => {
    const p = project({ 'models/bad.sql': "{{ config(materialized='table') }}\nselect 1 as a,\n  no_such_column as b" });
    const r = await p.kiln(['run']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.sql:3: model 'bad' failed in snowflake: SQL compilation error: error line \d+ at position \d+ invalid identifier 'NO_SUCH_COLUMN' \(code 000904, SQLSTATE 42000, query id [\w-]+\)/);
  });

  it('honours quoting: from the project file', async () => {
    const p = project({ 'models/Mixed.sql': "{{ config(materialized='table') }}select 1 as v" });
    writeFileSync(join(p.dir, 'kiln_project.yml'), 'name: sf\nprofile: sf\nquoting:\n  identifier: true\n');
    const r = await p.kiln(['run']);
    expect(r.stderr).toBe('');
    expect(fake.queries().some((q) => q.sqlText?.includes(`.${p.schema}."Mixed"`))).toBe(true);
    expect(await fake.duckdb(`select table_name from information_schema.tables where table_schema = '${p.schema.toUpperCase()}'`)).toEqual([{ table_name: 'Mixed' }]);
  });

  it('logs in with a key pair, and refuses a wrong password before anything runs', async () => {
    const keyFile = join(mkdtempSync(join(tmpdir(), 'kiln-sf-key-')), 'rsa_key.p8');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }));
    const ok = project({ 'models/m.sql': 'select 1 as v' }, { user: 'KEYUSER', password: undefined, private_key_path: keyFile, private_key_passphrase: 'secret' });
    const r = await ok.kiln(['run']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(fake.requests.filter((q) => q.login?.user === 'KEYUSER').map((q) => [q.login?.authenticator, q.outcome])).toContainEqual(['SNOWFLAKE_JWT', 'success']);

    const bad = project({ 'models/m.sql': 'select 1 as v' }, { password: 'wrong' });
    const b = await bad.kiln(['run']);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toContain("could not connect to snowflake account 'kiln-fake' as 'KILN'");
    expect(b.stderr).toContain('Incorrect username or password was specified. (code 390100');
    expect(b.stderr).not.toContain('wrong');
  });

  it('validates the profile with errors at the target in profiles.yml', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ password: undefined }, /field 'password' is required/],
      [{ authenticator: 'okta' }, /authenticator 'okta' is not supported/],
      [{ authenticator: 'oauth', password: undefined }, /authenticator oauth needs 'token'/],
      [{ authenticator: 'externalbrowser' }, /field 'password' does not belong with authenticator externalbrowser/],
      [{ private_key_path: 'k.p8', private_key: 'x', password: undefined }, /either 'private_key_path' or 'private_key'/],
      [{ account: 'x.snowflakecomputing.com' }, /not a Snowflake account identifier/],
      [{ access_url: 'ftp://x' }, /not an http\(s\) URL/],
      [{ warehous: 'X' }, /unknown field 'warehous'/],
    ];
    for (const [over, message] of cases) {
      const p = project({ 'models/m.sql': 'select 1 as v' }, over);
      const r = await p.kiln(['compile']);
      expect(r.code, JSON.stringify(over)).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/profiles\.yml:\d+/);
    }
    // Accepted without a connection: externalbrowser and oauth validate.
    const loc = { file: 'profiles.yml', line: 3 };
    const base = { type: 'snowflake', account: 'a', user: 'u', database: 'd', schema: 's' };
    expect(snowflakeAdapterFactory.validateTarget({ ...base, authenticator: 'externalbrowser' }, loc, { dir: '.', name: 'x' }).fields.authenticator).toBe('externalbrowser');
    expect(snowflakeAdapterFactory.validateTarget({ ...base, authenticator: 'oauth', token: 't' }, loc, { dir: '.', name: 'x' }).secretFields).toContain('token');
  });

  it('cancels an in-flight statement (driver abort, 333333 polling in between)', async () => {
    const config = snowflakeAdapterFactory.validateTarget(
      { type: 'snowflake', account: 'kiln-fake', user: 'KILN', password: 'pw', database: 'KILN_E2E', schema: 'cancel', access_url: fake.url },
      { file: 'profiles.yml' }, { dir: tmpdir(), name: 'x' },
    );
    const adapter = await snowflakeAdapterFactory.open(config, { threads: 2, projectDir: tmpdir(), projectName: 'x' });
    try {
      const started = Date.now();
      const slow = adapter.withConnection((c) => c.execute('select system$wait(30) as w'));
      await new Promise((r) => setTimeout(r, 800));
      await adapter.cancelAll();
      await expect(slow).rejects.toThrow(/SQL execution canceled \(code 000604, SQLSTATE 57014/);
      expect(Date.now() - started).toBeLessThan(10_000);
      const paths = fake.requests.map((q) => q.path);
      expect(paths.some((p) => /^\/queries\/[^/]+\/result$/.test(p))).toBe(true);
      expect(paths.some((p) => /abort-request$/.test(p))).toBe(true);
    } finally {
      await adapter.close();
    }
  });
});
