/**
 * Postgres connections: a `pg` Pool sized to the run's threads. Opening connects once (with retries and
 * backoff on transient errors) so that a wrong host, port or password fails before anything runs. Each
 * pooled session gets `role` and `search_path` set once. Server errors keep their SQLSTATE, and their
 * position becomes a `LINE n:` line the engine maps onto the compiled file. `cancelAll` sends
 * `pg_cancel_backend` for every busy session from a separate connection, then waits for them to stop.
 *
 * @example
 * const pool = await PgPool.open(settings, 4);
 * await pool.withConnection((c) => c.execute('select $1::int as answer', { params: [42] }));
 */
import pg from 'pg';
import type { Connection, ExecuteOptions, QueryResult } from '../../src/adapter.js';
import { KilnError } from '../../src/errors.js';
import { columnTypeNames, pgTypeParsers } from './types.js';

export interface PgSettings {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  /** false, or what `pg` takes as `ssl`; `prefer` tries TLS first and falls back to plain. */
  ssl: false | pg.ConnectionConfig['ssl'];
  sslPrefer: boolean;
  connectTimeoutSeconds: number;
  keepalivesIdleSeconds: number;
  applicationName: string;
  searchPath?: string;
  role?: string;
  retries: number;
  /** Adapter name for messages (`postgres`, `redshift`). */
  label: string;
}

/** A server error: the message with its SQLSTATE, and the code for callers that branch on it. */
export class PgQueryError extends Error {
  constructor(message: string, readonly sqlState: string | undefined) {
    super(message);
    this.name = 'PgQueryError';
  }
}

/** `message (SQLSTATE x)`, then `LINE n: …` from the error position within `sql`. */
export function describePgError(e: unknown, sql?: string): Error {
  const err = e as pg.DatabaseError;
  if (!err || typeof err !== 'object' || !('code' in err) || typeof err.code !== 'string' || !/^[0-9A-Z]{5}$/.test(err.code)) {
    return e instanceof Error ? e : new Error(String(e));
  }
  let text = `${err.message} (SQLSTATE ${err.code})`;
  if (err.detail) text += `; ${err.detail}`;
  if (err.hint) text += `; hint: ${err.hint}`;
  const pos = Number(err.position);
  if (sql && pos > 0) {
    const before = sql.slice(0, pos - 1);
    const line = before.split('\n').length;
    text += `\nLINE ${line}: ${sql.split('\n')[line - 1]?.trim() ?? ''}`;
  }
  return new PgQueryError(text, err.code);
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', '57P03', '53300', '08000', '08001', '08004', '08006']);

function isTransient(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  if (code && TRANSIENT_CODES.has(code)) return true;
  return /timeout|terminated unexpectedly|Connection terminated/i.test((e as Error).message ?? '');
}

function clientConfig(s: PgSettings, ssl: PgSettings['ssl']): pg.ClientConfig {
  return {
    host: s.host,
    port: s.port,
    user: s.user,
    password: s.password,
    database: s.database,
    ssl: ssl === false ? undefined : ssl,
    connectionTimeoutMillis: s.connectTimeoutSeconds * 1000,
    keepAlive: true,
    keepAliveInitialDelayMillis: s.keepalivesIdleSeconds * 1000,
    application_name: s.applicationName,
    types: pgTypeParsers,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class PgSession implements Connection {
  constructor(readonly client: pg.PoolClient, private readonly pool: PgPool) {}

  async execute(sql: string, opts: ExecuteOptions = {}): Promise<QueryResult> {
    if (this.pool.cancelled && !/^\s*rollback\b/i.test(sql)) {
      throw new PgQueryError('canceling statement due to user request (SQLSTATE 57014)', '57014');
    }
    let res: pg.QueryResult | pg.QueryResult[];
    try {
      // Without parameters, the simple protocol runs several statements at once (hooks, sql_header).
      res = opts.params ? await this.client.query({ text: sql, values: [...opts.params] }) : await this.client.query(sql);
    } catch (e) {
      throw describePgError(e, sql);
    }
    const last = Array.isArray(res) ? res[res.length - 1] : res;
    const fields = last?.fields ?? [];
    const columns = fields.length ? await columnTypeNames(this.client, fields) : [];
    let rows = (last?.rows ?? []) as Record<string, unknown>[];
    if (opts.limit !== undefined) rows = rows.slice(0, opts.limit);
    const command = last?.command ?? 'OK';
    const rowCount = last?.rowCount ?? undefined;
    return {
      columns,
      rows,
      message: rowCount === undefined || rowCount === null ? command : `${command} ${rowCount}`,
      code: command,
      rowsAffected: rowCount ?? undefined,
    };
  }
}

export class PgPool {
  /** Set by cancelAll: statements still to come on busy sessions fail at once. */
  cancelled = false;
  private readonly busy = new Map<PgSession, Promise<unknown>>();
  private readonly prepared = new WeakSet<pg.PoolClient>();

  private constructor(private readonly pool: pg.Pool, private readonly config: pg.ClientConfig, private readonly settings: PgSettings) {}

  /** Connect once to check the settings (retrying transient failures), then keep a pool of `size`. */
  static async open(settings: PgSettings, size: number): Promise<PgPool> {
    let ssl = settings.ssl;
    let config = clientConfig(settings, ssl);
    for (let attempt = 0; ; attempt++) {
      const probe = new pg.Client(config);
      try {
        await probe.connect();
        await probe.end();
        break;
      } catch (e) {
        await probe.end().catch(() => undefined);
        // sslmode prefer: the server has no TLS, so connect in plain text as libpq does.
        if (settings.sslPrefer && ssl && /does not support SSL/i.test((e as Error).message)) {
          ssl = false;
          config = clientConfig(settings, ssl);
          attempt--;
          continue;
        }
        if (attempt < settings.retries && isTransient(e)) {
          await sleep(Math.min(8000, 500 * 2 ** attempt));
          continue;
        }
        throw connectError(settings, e, attempt + 1);
      }
    }
    const pool = new pg.Pool({ ...config, max: Math.max(1, size), idleTimeoutMillis: 0 });
    // An idle client that loses its connection must not crash the process.
    pool.on('error', () => undefined);
    return new PgPool(pool, config, settings);
  }

  private async checkout(): Promise<pg.PoolClient> {
    for (let attempt = 0; ; attempt++) {
      try {
        const client = await this.pool.connect();
        if (!this.prepared.has(client)) {
          client.on('error', () => undefined);
          const setup: string[] = [];
          if (this.settings.role) setup.push(`set role ${pg.escapeIdentifier(this.settings.role)}`);
          if (this.settings.searchPath) setup.push(`set search_path to ${this.settings.searchPath}`);
          if (setup.length) {
            try {
              await client.query(setup.join(';\n'));
            } catch (e) {
              client.release(true);
              throw new KilnError('config', `could not set up the ${this.settings.label} session: ${describePgError(e).message}`, {
                hint: 'Check `role` and `search_path` of this target in profiles.yml.',
              });
            }
          }
          this.prepared.add(client);
        }
        return client;
      } catch (e) {
        if (e instanceof KilnError) throw e;
        if (attempt < this.settings.retries && isTransient(e)) {
          await sleep(Math.min(8000, 500 * 2 ** attempt));
          continue;
        }
        throw connectError(this.settings, e, attempt + 1);
      }
    }
  }

  async withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    const client = await this.checkout();
    const session = new PgSession(client, this);
    let broken = false;
    const work = fn(session);
    this.busy.set(session, work.catch(() => undefined));
    try {
      return await work;
    } catch (e) {
      broken = this.cancelled || !(client as unknown as { _connected?: boolean })._connected;
      throw e;
    } finally {
      // A transaction left open — by a failure, or by a hook that ran `begin` without `commit` — must not
      // leak into the next user of this connection: it is rolled back.
      const status = client.getTransactionStatus?.() ?? (client as unknown as { _txStatus?: string })._txStatus;
      if (!broken && (status === 'E' || status === 'T')) {
        try {
          await client.query('rollback');
        } catch {
          broken = true;
        }
      }
      this.busy.delete(session);
      client.release(broken);
    }
  }

  /** Cancel the statement of every busy session, from a connection of its own; wait until they return. */
  async cancelAll(): Promise<void> {
    this.cancelled = true;
    const pids = [...this.busy.keys()]
      .map((s) => (s.client as unknown as { processID?: number }).processID)
      .filter((p): p is number => typeof p === 'number');
    if (pids.length) {
      const canceller = new pg.Client({ ...this.config, connectionTimeoutMillis: 5000 });
      try {
        await canceller.connect();
        await canceller.query('select pg_cancel_backend(pid) from unnest($1::int[]) as pid', [pids]);
      } catch {
        // the sessions may already be gone
      } finally {
        await canceller.end().catch(() => undefined);
      }
    }
    // The timer must not keep the process alive once everything else is done.
    await Promise.race([Promise.all(this.busy.values()), new Promise((r) => setTimeout(r, 15_000).unref())]);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function connectError(s: PgSettings, e: unknown, attempts: number): KilnError {
  const err = describePgError(e);
  const where = `${s.host}:${s.port}`;
  return new KilnError('database', `could not connect to ${s.label} at ${where} (database '${s.database}', user '${s.user}') after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${err.message}`, {
    hint: 'Check host, port, user, password, dbname and sslmode of this target in profiles.yml; is the server running and reachable?',
  });
}
