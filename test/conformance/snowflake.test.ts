/**
 * The conformance suite through the real CLI and snowflake-sdk against the fake Snowflake service
 * (test/fakes/snowflake: HTTP on 127.0.0.1, SQL executed on DuckDB). Each project gets its own schema. The
 * CLI child processes load the network guard too (NODE_OPTIONS), and log any attempt to leave the machine
 * to a file that must stay empty.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { snowflakeAdapterFactory } from '../../adapters/snowflake/index.js';
import { startFakeSnowflake } from '../fakes/snowflake/server.js';
import { conformanceSuite } from './suite.js';

const fake = await startFakeSnowflake({ users: { KILN: { password: 'fake-password' } } });
const guardLog = join(mkdtempSync(join(tmpdir(), 'kiln-netguard-')), 'violations.log');
writeFileSync(guardLog, '');
const guard = pathToFileURL(resolve(__dirname, '..', 'fakes', 'snowflake', 'netGuard.mjs')).href;
let n = 0;

conformanceSuite({
  name: 'snowflake',
  factory: snowflakeAdapterFactory,
  target: () => ({
    type: 'snowflake', account: 'kiln-fake', user: 'KILN', password: 'fake-password', role: 'TRANSFORMER', warehouse: 'TRANSFORMING',
    database: 'KILN_TEST', schema: `conform_${process.pid}_${++n}`, access_url: fake.url, threads: 2,
  }),
  env: { NODE_OPTIONS: `--import=${guard}`, KILN_NET_GUARD_LOG: guardLog },
});

describe('conformance: snowflake protocol', () => {
  it('sent every query authenticated, and nothing left the machine', () => {
    const queries = fake.queries();
    expect(queries.length).toBeGreaterThan(50);
    expect(queries.every((q) => q.authorized)).toBe(true);
    expect(readFileSync(guardLog, 'utf8')).toBe('');
  });
});

afterAll(async () => {
  await fake.close();
});
