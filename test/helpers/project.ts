/** Test helpers: throwaway projects on disk, the real CLI as a child process, and DuckDB queries. */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

export const REPO = resolve(__dirname, '..', '..');
export const KILN_BIN = join(REPO, 'bin', 'kiln.js');

/** Write `files` (path → content) into a new temp dir and return it. */
export function makeProject(files: Record<string, string>, name = 'kiln-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), name));
  writeFiles(dir, files);
  return dir;
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    const abs = join(dir, path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
}

/** Copy a fixture project from test/fixtures/<name> to a temp dir. */
export function copyFixture(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `kiln-${name}-`));
  cpSync(join(REPO, 'test', 'fixtures', name), dir, { recursive: true });
  return dir;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `kiln <args>` in `cwd` with a clean HOME (no ~/.dbt profiles leak in). */
export function runKiln(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliResult> {
  const home = mkdtempSync(join(tmpdir(), 'kiln-home-'));
  const cleanEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('KILN_') && !k.startsWith('DBT_')) cleanEnv[k] = v;
  }
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [KILN_BIN, ...args], {
      cwd,
      env: { ...cleanEnv, HOME: home, NO_COLOR: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

/** Rows of `sql` against a DuckDB file (opened read-only, closed after). */
export async function queryDuckdb(path: string, sql: string): Promise<Record<string, unknown>[]> {
  const inst = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  try {
    const conn = await inst.connect();
    const reader = await conn.runAndReadAll(sql);
    const rows = reader.getRowObjectsJS().map((r) =>
      Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])),
    );
    conn.closeSync();
    return rows;
  } finally {
    inst.closeSync();
  }
}
