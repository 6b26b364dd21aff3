/**
 * Snowflake connections on snowflake-sdk: a pool of sessions sized to the run's threads. Opening logs in
 * once (retrying transient failures `connect_retries` times) so that a wrong account or password fails
 * before anything runs. Each session gets the profile's query tag once. Text with several statements
 * (hooks, sql_header, a model's `use warehouse` prefix) is split and run one statement at a time; the last
 * result is returned.
 *
 * Errors keep Snowflake's error code, SQLSTATE and query id; a `error line n at position m` becomes a
 * `LINE n:` line counted in the text Kiln sent (the engine maps it onto the compiled file). `cancelAll`
 * cancels every in-flight statement through the driver (its abort request), then `SYSTEM$CANCEL_QUERY` for
 * statements whose query id is known, and waits for them to stop.
 *
 * snowflake-sdk probes cloud metadata addresses when it loads (platform detection, for telemetry only):
 * unless the environment says otherwise, that is switched off before the module loads.
 *
 * @example
 * const pool = await SnowflakePool.open(settings, 4);
 * await pool.withConnection((c) => c.execute('select ? as answer', { params: [42] }));
 */
import type { Connection, ExecuteOptions, QueryResult } from '../../src/adapter.js';
import { KilnError } from '../../src/errors.js';
import { snowflakeLiteral } from './ddl.js';
import { driverColumnType, type DriverColumn } from './types.js';

/** What the adapter needs of snowflake-sdk (loaded lazily, after the environment is set). */
type SnowflakeSdk = typeof import('snowflake-sdk');
type SdkConnection = ReturnType<SnowflakeSdk['createConnection']>;
type SdkStatement = ReturnType<SdkConnection['execute']>;

export interface SnowflakeSettings {
  /** Options for snowflake-sdk's createConnection (account, username, authenticator, credentials, accessUrl …). */
  connection: Record<string, unknown>;
  queryTag?: string;
  connectRetries: number;
  /** For messages: account and user. */
  account: string;
  user: string;
}

let sdkPromise: Promise<SnowflakeSdk> | undefined;

/** snowflake-sdk, loaded once with platform detection off and its logger quiet. */
export function loadSnowflakeSdk(): Promise<SnowflakeSdk> {
  if (!sdkPromise) {
    process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION ??= 'true';
    sdkPromise = import('snowflake-sdk').then((m) => {
      const sdk = ((m as unknown as { default?: SnowflakeSdk }).default ?? m) as SnowflakeSdk;
      sdk.configure({ logLevel: 'OFF', additionalLogToConsole: false } as Parameters<SnowflakeSdk['configure']>[0]);
      return sdk;
    });
  }
  return sdkPromise;
}

/** A Snowflake error: message with code, SQLSTATE and query id; `LINE n:` when Snowflake named a line. */
export class SnowflakeQueryError extends Error {
  constructor(message: string, readonly code: string | undefined, readonly sqlState: string | undefined, readonly queryId: string | undefined) {
    super(message);
    this.name = 'SnowflakeQueryError';
  }
}

interface SdkError extends Error {
  code?: string | number;
  sqlState?: string;
  data?: { queryId?: string };
}

/** Build the error Kiln reports from a driver error; `sql` is the whole text sent, `startLine` where the statement began. */
export function describeSnowflakeError(e: unknown, sql?: string, startLine = 1, queryId?: string): Error {
  const err = e as SdkError;
  if (!err || typeof err !== 'object' || err.message === undefined) return e instanceof Error ? e : new Error(String(e));
  const code = err.code === undefined || err.code === null ? undefined : String(err.code).padStart(6, '0');
  const qid = queryId ?? err.data?.queryId;
  const tags = [code ? `code ${code}` : '', err.sqlState ? `SQLSTATE ${err.sqlState}` : '', qid ? `query id ${qid}` : ''].filter(Boolean).join(', ');
  let text = `${err.message.trim()}${tags ? ` (${tags})` : ''}`;
  const at = /error line (\d+) at position (\d+)/i.exec(err.message);
  if (sql && at) {
    const line = startLine + Number(at[1]) - 1;
    text += `\nLINE ${line}: ${sql.split('\n')[line - 1]?.trim() ?? ''}`;
  }
  return new SnowflakeQueryError(text, code, err.sqlState, qid);
}

/** One statement of a multi-statement text, with the line it starts on (1-based). */
export interface SplitStatement {
  sql: string;
  line: number;
}

/**
 * Split text into statements at `;` outside string literals, quoted identifiers, `$$` blocks and comments.
 * Pieces that hold only comments and whitespace are dropped.
 */
export function splitStatements(text: string): SplitStatement[] {
  const out: SplitStatement[] = [];
  let start = 0;
  let i = 0;
  let hasCode = false;
  const push = (end: number) => {
    const piece = text.slice(start, end);
    if (hasCode) {
      const lead = /^\s*/.exec(piece)![0];
      const line = text.slice(0, start + lead.length).split('\n').length;
      out.push({ sql: piece.trim(), line });
    }
    hasCode = false;
  };
  while (i < text.length) {
    const ch = text[i];
    const next = text[i + 1];
    if (ch === '-' && next === '-') {
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? text.length : nl + 1;
    } else if (ch === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (ch === "'") {
      hasCode = true;
      i++;
      while (i < text.length) {
        if (text[i] === '\\') i += 2;
        else if (text[i] === "'" && text[i + 1] === "'") i += 2;
        else if (text[i] === "'") { i++; break; } else i++;
      }
    } else if (ch === '"') {
      hasCode = true;
      const end = text.indexOf('"', i + 1);
      i = end < 0 ? text.length : end + 1;
      while (text[i] === '"') {
        const again = text.indexOf('"', i + 1);
        i = again < 0 ? text.length : again + 1;
      }
    } else if (ch === '$' && next === '$') {
      hasCode = true;
      const end = text.indexOf('$$', i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (ch === ';') {
      push(i);
      start = i + 1;
      i++;
    } else {
      if (!/\s/.test(ch)) hasCode = true;
      i++;
    }
  }
  push(text.length);
  return out;
}

const USE_WAREHOUSE = /^\s*use\s+warehouse\b/i;
const QUERY_TAG = /^\s*alter\s+session\s+(un)?set\s+query_tag\b/i;

/** Plain JS values: SfDate/SfTimestamp objects become Dates. */
function plainValue(v: unknown): unknown {
  if (v instanceof Date) return new Date(v.getTime());
  return v;
}

/**
 * A result row with the column names Snowflake reports (unquoted aliases come back upper-case: FAILURES),
 * plus non-enumerable lower-case aliases of the upper-case ones, so that code reading `row.failures` finds
 * the value while listings of the row's columns stay as Snowflake named them.
 */
function resultRow(r: Record<string, unknown>): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) row[k] = plainValue(v);
  for (const k of Object.keys(row)) {
    const lower = k.toLowerCase();
    if (lower !== k && k === k.toUpperCase() && !(lower in row)) Object.defineProperty(row, lower, { value: row[k], enumerable: false });
  }
  return row;
}

export class SnowflakeSession implements Connection {
  /** The session's warehouse or query tag was changed by a model (restored on release). */
  changedWarehouse = false;
  changedQueryTag = false;

  constructor(readonly conn: SdkConnection, private readonly pool: SnowflakePool) {}

  async execute(sql: string, opts: ExecuteOptions = {}): Promise<QueryResult> {
    const statements = splitStatements(sql);
    if (statements.length === 0) return { columns: [], rows: [], message: 'OK' };
    if (statements.length > 1 && opts.params?.length) throw new Error('parameters cannot be bound to several statements at once');
    let last: QueryResult | undefined;
    for (const s of statements) last = await this.run(s.sql, sql, s.line, opts);
    return last!;
  }

  /** Run one statement; `binds` may be an array of rows (array binding). */
  run(statement: string, whole: string, line: number, opts: ExecuteOptions & { binds?: unknown[][]; force?: boolean } = {}): Promise<QueryResult> {
    if (this.pool.cancelled && !opts.force) {
      return Promise.reject(new SnowflakeQueryError('SQL execution canceled (code 000604, SQLSTATE 57014)', '000604', '57014', undefined));
    }
    if (USE_WAREHOUSE.test(statement)) this.changedWarehouse = true;
    if (QUERY_TAG.test(statement)) this.changedQueryTag = true;
    return new Promise<QueryResult>((resolve, reject) => {
      let stmt: SdkStatement | undefined;
      const done = (err: SdkError | undefined, s: SdkStatement, rows: Record<string, unknown>[] | undefined) => {
        this.pool.inFlight.delete(stmt!);
        if (err) {
          reject(describeSnowflakeError(err, whole, line, safe(() => s?.getQueryId())));
          return;
        }
        const columns = (s.getColumns() ?? []).map((c) => ({ name: c.getName(), dataType: driverColumnType(c as unknown as DriverColumn) }));
        let out = (rows ?? []).map(resultRow);
        if (opts.limit !== undefined) out = out.slice(0, opts.limit);
        const n = safe(() => s.getNumUpdatedRows());
        const updated = n === undefined || n < 0 ? undefined : n;
        const queryId = safe(() => s.getQueryId());
        resolve({
          columns,
          rows: out,
          message: updated === undefined ? 'SUCCESS' : `SUCCESS ${updated}`,
          code: 'SUCCESS',
          rowsAffected: updated ?? undefined,
          queryId,
        });
      };
      stmt = this.conn.execute({
        sqlText: statement,
        binds: (opts.binds ?? (opts.params ? [...opts.params] : undefined)) as never,
        complete: done as never,
      });
      this.pool.inFlight.add(stmt);
    });
  }
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn() ?? undefined;
  } catch {
    return undefined;
  }
}

const TRANSIENT = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|socket hang up|Network error|timed? ?out/i;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SnowflakePool {
  cancelled = false;
  readonly inFlight = new Set<SdkStatement>();
  private readonly idle: SnowflakeSession[] = [];
  private readonly all: SnowflakeSession[] = [];
  private readonly waiters: ((s: SnowflakeSession) => void)[] = [];
  private opening = 0;
  private readonly busy = new Set<Promise<unknown>>();
  /** The session's warehouse after login (what a model's `use warehouse` is undone to). */
  private defaultWarehouse: string | undefined;

  private constructor(private readonly sdk: SnowflakeSdk, private readonly settings: SnowflakeSettings, private readonly size: number) {}

  static async open(settings: SnowflakeSettings, size: number): Promise<SnowflakePool> {
    const sdk = await loadSnowflakeSdk();
    const pool = new SnowflakePool(sdk, settings, Math.max(1, size));
    const first = await pool.connect();
    pool.idle.push(first);
    return pool;
  }

  private async connect(): Promise<SnowflakeSession> {
    for (let attempt = 0; ; attempt++) {
      const conn = this.sdk.createConnection(this.settings.connection as Parameters<SnowflakeSdk['createConnection']>[0]);
      try {
        // connectAsync: the browser flow (authenticator externalbrowser) needs it; the others work with it too.
        // Its promise settles before the login does on some paths; the callback carries the outcome.
        await new Promise<void>((ok, fail) => {
          conn.connectAsync((err) => (err ? fail(err) : ok())).catch(fail);
        });
        const session = new SnowflakeSession(conn, this);
        if (this.settings.queryTag !== undefined) await session.execute(`alter session set query_tag = ${snowflakeLiteral(this.settings.queryTag)}`);
        if (this.defaultWarehouse === undefined && this.settings.connection.warehouse === undefined) {
          const res = await session.execute('select current_warehouse() as warehouse');
          const w = res.rows[0]?.WAREHOUSE ?? res.rows[0]?.warehouse;
          this.defaultWarehouse = typeof w === 'string' ? w : undefined;
        }
        session.changedQueryTag = false;
        this.all.push(session);
        return session;
      } catch (e) {
        conn.destroy(() => undefined);
        if (attempt < this.settings.connectRetries && TRANSIENT.test(String((e as Error).message))) {
          await sleep(Math.min(8000, 500 * 2 ** attempt));
          continue;
        }
        throw connectError(this.settings, e, attempt + 1);
      }
    }
  }

  private async checkout(): Promise<SnowflakeSession> {
    const s = this.idle.pop();
    if (s) return s;
    if (this.all.length + this.opening < this.size) {
      this.opening++;
      try {
        return await this.connect();
      } finally {
        this.opening--;
      }
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(s: SnowflakeSession): void {
    const next = this.waiters.shift();
    if (next) next(s);
    else this.idle.push(s);
  }

  /** Undo a model's `use warehouse` / query tag before the session serves another node. */
  private async restore(s: SnowflakeSession): Promise<void> {
    const warehouse = (this.settings.connection.warehouse as string | undefined) ?? this.defaultWarehouse;
    if (s.changedWarehouse && warehouse) await s.execute(`use warehouse ${/^[A-Za-z_][A-Za-z0-9_$]*$/.test(warehouse) ? warehouse : `"${warehouse.replace(/"/g, '""')}"`}`);
    if (s.changedQueryTag) {
      await s.execute(this.settings.queryTag !== undefined ? `alter session set query_tag = ${snowflakeLiteral(this.settings.queryTag)}` : 'alter session unset query_tag');
    }
    s.changedWarehouse = false;
    s.changedQueryTag = false;
  }

  async withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    const session = await this.checkout();
    const work = fn(session);
    const tracked = work.catch(() => undefined);
    this.busy.add(tracked);
    try {
      return await work;
    } finally {
      this.busy.delete(tracked);
      let healthy = !this.cancelled;
      if (healthy) await this.restore(session).catch(() => (healthy = false));
      if (healthy) this.release(session);
      else this.discard(session);
    }
  }

  private discard(s: SnowflakeSession): void {
    const i = this.all.indexOf(s);
    if (i >= 0) this.all.splice(i, 1);
    s.conn.destroy(() => undefined);
  }

  /** Cancel every in-flight statement (driver abort, then SYSTEM$CANCEL_QUERY); wait until the work stops. */
  async cancelAll(): Promise<void> {
    this.cancelled = true;
    const statements = [...this.inFlight];
    const ids = statements.map((s) => safe(() => s.getQueryId())).filter((q): q is string => typeof q === 'string' && q !== '');
    await Promise.all(statements.map((s) => new Promise<void>((r) => {
      try {
        s.cancel(() => r());
      } catch {
        r();
      }
    })));
    if (ids.length && this.inFlight.size) {
      // A statement the abort request did not stop: ask Snowflake from a session of its own.
      const idle = this.idle[0];
      if (idle) {
        for (const id of ids) await idle.run(`select system$cancel_query(${snowflakeLiteral(id)})`, '', 1, { force: true }).catch(() => undefined);
      }
    }
    await Promise.race([Promise.all(this.busy), new Promise((r) => setTimeout(r, 15_000).unref())]);
  }

  async close(): Promise<void> {
    const sessions = this.all.splice(0);
    this.idle.length = 0;
    await Promise.all(sessions.map((s) => new Promise<void>((r) => s.conn.destroy(() => r()))));
  }
}

function connectError(s: SnowflakeSettings, e: unknown, attempts: number): KilnError {
  const err = describeSnowflakeError(e);
  return new KilnError('database', `could not connect to snowflake account '${s.account}' as '${s.user}' after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${err.message}`, {
    hint: 'Check account, user, the credentials (password, private_key_path, authenticator) and role of this target in profiles.yml.',
  });
}
