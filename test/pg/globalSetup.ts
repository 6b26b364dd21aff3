/**
 * Vitest global setup for the Postgres suites: a throwaway PostgreSQL server for one test run.
 *
 * - `KILN_TEST_PG_URL` (postgres://user@127.0.0.1:port/db) uses an existing server instead.
 * - Otherwise the binaries are found with `pg_config --bindir`, then `/usr/lib/postgresql/<newest>/bin`, then
 *   `initdb` on PATH. `initdb` runs into a temp dir with trust auth for the user `kiln`, and `pg_ctl start`
 *   listens on a free port on 127.0.0.1 only (no Unix socket). fsync is off: the data is thrown away.
 * - initdb refuses to run as root. As root, the server runs as the unprivileged user `postgres` (the Debian
 *   package creates it) or `KILN_TEST_PG_OS_USER`; when neither exists, a system user `kiln_pg` is created
 *   with `useradd`. Commands run through `runuser -u <user> --`.
 * - Teardown stops the server (`pg_ctl stop -m immediate`) and deletes the directory, also when tests fail;
 *   a server left behind by a killed run (its owner process gone) is stopped at the next start.
 * - Without binaries and URL: under CI=true the run fails; otherwise the suites skip with one line.
 *
 * Tests read the connection with `inject('pg')` (see test/pg/server.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

export interface PgTestServer {
  /** postgres://user@127.0.0.1:port/db when a server is available. */
  url?: string;
  host?: string;
  port?: number;
  user?: string;
  database?: string;
  /** Why there is no server, when there is none. */
  unavailable?: string;
}

declare module 'vitest' {
  interface ProvidedContext {
    pg: PgTestServer;
  }
}

const DIR_PREFIX = 'kiln-pg-';

function run(cmd: string, args: string[], osUser: string | undefined): string {
  const [c, a] = osUser ? ['runuser', ['-u', osUser, '--', cmd, ...args]] : [cmd, args];
  const r = spawnSync(c, a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout || r.error?.message}`);
  return r.stdout;
}

function findBinDir(): string | undefined {
  const has = (dir: string) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'));
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (dir && has(dir)) return dir;
  } catch {
    // no pg_config
  }
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (has(join(root, v, 'bin'))) return join(root, v, 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) {
    const real = spawnSync('readlink', ['-f', which.stdout.trim()], { encoding: 'utf8' }).stdout.trim();
    const dir = real.slice(0, real.lastIndexOf('/'));
    if (has(dir)) return dir;
  }
  return undefined;
}

/** The OS user to run the server as: undefined when we are not root (run as ourselves). */
function serverOsUser(): { name: string; uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const lookup = (name: string) => {
    const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    if (r.status !== 0) return undefined;
    const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout.trim());
    return { name, uid: Number(r.stdout.trim()), gid };
  };
  const wanted = process.env.KILN_TEST_PG_OS_USER;
  if (wanted) {
    const u = lookup(wanted);
    if (!u) throw new Error(`KILN_TEST_PG_OS_USER=${wanted}: no such user`);
    return u;
  }
  const found = lookup('postgres') ?? lookup('kiln_pg');
  if (found) return found;
  run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'kiln_pg'], undefined);
  return lookup('kiln_pg');
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolvePort(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stop servers whose vitest process died without tearing down (kill -9, OOM). */
function reapStale(binDir: string, osUser: string | undefined): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const base = join(tmpdir(), name);
    const ownerFile = join(base, 'owner.pid');
    if (!existsSync(ownerFile)) continue;
    const owner = Number(readFileSync(ownerFile, 'utf8'));
    if (alive(owner)) continue;
    try {
      if (existsSync(join(base, 'data', 'postmaster.pid'))) run(join(binDir, 'pg_ctl'), ['stop', '-D', join(base, 'data'), '-m', 'immediate'], osUser);
    } catch {
      // already stopped
    }
    rmSync(base, { recursive: true, force: true });
  }
}

export default async function setup(project: TestProject): Promise<(() => void) | undefined> {
  const override = process.env.KILN_TEST_PG_URL;
  if (override) {
    const u = new URL(override);
    if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') throw new Error(`KILN_TEST_PG_URL must point at 127.0.0.1, not ${u.hostname}`);
    project.provide('pg', {
      url: override, host: '127.0.0.1', port: Number(u.port || 5432), user: decodeURIComponent(u.username),
      database: u.pathname.slice(1) || decodeURIComponent(u.username),
    });
    return undefined;
  }
  const binDir = findBinDir();
  if (!binDir) {
    const why = 'no PostgreSQL binaries (initdb, pg_ctl) found and KILN_TEST_PG_URL is not set';
    if (process.env.CI === 'true') throw new Error(`Postgres test suites cannot run: ${why}. Install postgresql (apt-get install -y postgresql).`);
    console.warn(`[postgres] Postgres suites skipped: ${why}.`);
    project.provide('pg', { unavailable: why });
    return undefined;
  }
  const started = performance.now();
  const os = serverOsUser();
  reapStale(binDir, os?.name);
  const base = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  writeFileSync(join(base, 'owner.pid'), String(process.pid));
  const data = join(base, 'data');
  mkdirSync(data, { mode: 0o700 });
  if (os) {
    chownSync(base, os.uid, os.gid);
    chownSync(data, os.uid, os.gid);
  }
  const user = 'kiln';
  const port = await freePort();
  let running = false;
  const stop = () => {
    if (!running) return;
    running = false;
    try {
      run(join(binDir, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w'], os?.name);
    } catch (e) {
      console.warn(`[postgres] stopping the test server: ${(e as Error).message}`);
    }
    rmSync(base, { recursive: true, force: true });
  };
  // Also on an abrupt exit of the vitest process (teardown does not run then).
  process.once('exit', stop);
  try {
    run(join(binDir, 'initdb'), ['-D', data, '-U', user, '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], os?.name);
    const opts = [
      '-c', 'listen_addresses=127.0.0.1', '-p', String(port), '-c', "unix_socket_directories=''",
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=100',
    ].join(' ');
    run(join(binDir, 'pg_ctl'), ['start', '-D', data, '-w', '-t', '30', '-l', join(base, 'server.log'), '-o', opts], os?.name);
    running = true;
  } catch (e) {
    stop();
    rmSync(base, { recursive: true, force: true });
    throw e;
  }
  const database = 'postgres';
  console.log(`[postgres] test server ${binDir} on 127.0.0.1:${port}${os ? ` as OS user ${os.name}` : ''}, up in ${((performance.now() - started) / 1000).toFixed(1)}s`);
  project.provide('pg', { url: `postgres://${user}@127.0.0.1:${port}/${database}`, host: '127.0.0.1', port, user, database });
  return () => {
    process.off('exit', stop);
    stop();
  };
}
