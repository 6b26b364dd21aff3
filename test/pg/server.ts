/**
 * Helpers for tests against the throwaway PostgreSQL server that test/pg/globalSetup.ts starts: whether it
 * is there, a client on it, fresh schemas, profile fields for Kiln, and the CLI as a killable child.
 *
 * @example
 * const pg = pgServer();
 * describe.skipIf(!pg)('postgres …', () => { … });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { KILN_BIN } from '../helpers/project.js';
import type { PgTestServer } from './globalSetup.js';

export type { PgTestServer };

/** The server, or undefined when the suites are skipped (globalSetup printed why). */
export function pgServer(): Required<Omit<PgTestServer, 'unavailable'>> | undefined {
  const info = inject('pg');
  if (!info?.url) return undefined;
  return info as Required<Omit<PgTestServer, 'unavailable'>>;
}

/** A connected client on the test server; end it after use. */
export async function pgClient(): Promise<pg.Client> {
  const s = pgServer();
  if (!s) throw new Error('no Postgres test server');
  const client = new pg.Client({ host: s.host, port: s.port, user: s.user, database: s.database });
  await client.connect();
  return client;
}

/** Rows of one query on a fresh client. */
export async function pgQuery(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const c = await pgClient();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/** A schema name nobody else uses in this run: `<prefix>_<random>`. */
export function uniqueSchema(prefix: string): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
}

/** Drop every schema whose name starts with `schema` (the target schema and its `_dbt_test__audit` twin). */
export async function dropSchemas(schema: string): Promise<void> {
  const c = await pgClient();
  try {
    const { rows } = await c.query('select nspname from pg_namespace where left(nspname, length($1)) = $1', [schema]);
    for (const r of rows) await c.query(`drop schema if exists "${String(r.nspname).replace(/"/g, '""')}" cascade`);
  } finally {
    await c.end();
  }
}

/** Postgres profile fields for a Kiln target on the test server. */
export function postgresTarget(schema: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const s = pgServer()!;
  return { type: 'postgres', host: s.host, port: s.port, user: s.user, dbname: s.database, schema, threads: 2, ...extra };
}

/** Redshift profile fields pointing at the test server (run with {@link REDSHIFT_ON_POSTGRES_ENV}). */
export function redshiftTarget(schema: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const s = pgServer()!;
  return { type: 'redshift', host: s.host, port: s.port, user: s.user, password: 'unused-trust-auth', dbname: s.database, schema, threads: 2, sslmode: 'disable', ...extra };
}

/** The test-only switch that makes the redshift adapter leave out what PostgreSQL cannot parse. */
export const REDSHIFT_ON_POSTGRES_ENV = { KILN_TEST_REDSHIFT_ON_POSTGRES: '1' };

/** `kiln <args>` as a child process the test can signal; `done` resolves with its exit and output. */
export function spawnKiln(args: string[], cwd: string, env: Record<string, string> = {}): {
  child: ChildProcess; output: () => string; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
} {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('KILN_') && !k.startsWith('DBT_')) clean[k] = v;
  const child = spawn(process.execPath, [KILN_BIN, ...args], { cwd, env: { ...clean, HOME: mkdtempSync(join(tmpdir(), 'kiln-home-')), NO_COLOR: '1', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, output: () => stdout + stderr, done };
}
